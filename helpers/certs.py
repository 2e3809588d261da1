"""The certificate inventory: every certificate the series issued, where it lives, and when it expires.

A cluster built by hand stops working the day its certificates expire, usually a year
after it was built and with no warning. This module finds every certificate the series
issued — the CAs and leaves under ``cluster_dir/pki`` and the client certificates inside
the kubeconfigs on the operator's machine, and every copy on the hosts (``*.crt`` files
and kubeconfigs under the components' directories) — and says for each one when it
expires and how many days are left:

- a leaf certificate inside the renewal window (:data:`helpers.pki.RENEW_BEFORE`) is
  renewed by the next run of the notebook that issued it, on disk and on the hosts;
- a CA is reported **a year** ahead (:data:`CA_WARNING`): replacing a CA means re-issuing
  everything under it, an operation to plan, not a re-run;
- an expired certificate, or a host holding a different certificate than the operator's
  copy for the same file, is a problem.

``python -m helpers certs --inventory FILE [--hosts]`` prints the table; 04 and 05 show it.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from helpers.kubelet.rotation import ROTATED, certificate_lines
from helpers.pki import RENEW_BEFORE
from helpers.pki.model import is_ca as _is_ca
from helpers.pki.names import common_name as _cn
from helpers.remote import Change
from helpers.verdict import Verdict

CA_WARNING = dt.timedelta(days=365)
def host_roots() -> tuple[str, ...]:
    """Where the components keep certificates and kubeconfigs on a host (each chapter's own directory).

    Of the kubelet's directory only its ``pki`` and its kubeconfig: the rest holds the pods'
    volumes, whose certificates are the workloads' (MetalLB's webhook secret, say), not the
    series', and are none of this inventory's business.
    """
    from helpers import flannel, kube_proxy  # noqa: PLC0415
    from helpers.control_plane import KUBE_DIR  # noqa: PLC0415
    from helpers.etcd.config import CONF_DIR  # noqa: PLC0415
    from helpers.kubelet.layout import KUBECONFIG, PKI  # noqa: PLC0415

    return (KUBE_DIR, CONF_DIR, PKI, KUBECONFIG, kube_proxy.PROXY_DIR, flannel.FLANNEL_DIR)
_MARK = "==kj-cert:"


@dataclass
class Found:
    """One certificate, and every place it was found (``operator:<path>`` or ``<host>:<path>``)."""

    cert: x509.Certificate
    places: list[str] = field(default_factory=list)


def fingerprint(cert: x509.Certificate) -> str:
    """The certificate's sha256 fingerprint (hex): the same certificate wherever it is."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def _certs_in_pem(data: bytes) -> list[x509.Certificate]:
    """The file's own certificate: the first; the CAs of a chain that may follow it are listed where they live."""
    try:
        return x509.load_pem_x509_certificates(data)[:1]
    except ValueError:
        return []


def _certs_in_kubeconfig(text: str) -> list[x509.Certificate]:
    found = []
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key.strip() == "client-certificate-data" and value.strip():
            try:
                found += _certs_in_pem(base64.b64decode(value.strip()))
            except ValueError:
                continue
    return found


def local_certificates(inv) -> list[tuple[str, x509.Certificate]]:
    """``(operator:<path relative to cluster_dir>, cert)`` for every certificate on the operator's machine."""
    root = Path(inv.cluster_dir)
    found = []
    for path in sorted((root / "pki").rglob("*.crt")):
        found += [(f"operator:{path.relative_to(root)}", c) for c in _certs_in_pem(path.read_bytes())]
    for path in sorted((root / "kubeconfigs").glob("*.kubeconfig")):
        found += [(f"operator:{path.relative_to(root)}", c) for c in _certs_in_kubeconfig(path.read_text())]
    org_root = getattr(getattr(inv, "pki", None), "root_ca", None)
    if org_root is not None and Path(org_root.cert).exists():
        found += [(f"operator:{org_root.cert} (pki.root_ca)", c) for c in _certs_in_pem(Path(org_root.cert).read_bytes())]
    return found


def host_certificates(fleet, roots: tuple[str, ...] | None = None) -> list[tuple[str, x509.Certificate]]:
    """``(<host>:<path>, cert)`` for every ``*.crt`` and kubeconfig under ``roots`` on every host.

    Only certificates travel: of a kubeconfig just its certificate lines are read, and no
    key file is opened.
    """
    roots = roots or host_roots()
    script = (
        f"for f in $(find {' '.join(roots)} -type f \\( -name '*.crt' -o -name '*kubeconfig*' \\) 2>/dev/null); "
        f"do echo \"{_MARK}$f\"; case \"$f\" in *.crt) cat \"$f\";; "
        "*) grep -E '^ *client-certificate-data:' \"$f\";; esac; done; "
        # the kubelet's own renewals (CSR API): the certificate blocks only, never the key beside them
        f"if [ -e {ROTATED} ]; then echo \"{_MARK}{ROTATED}\"; {certificate_lines(ROTATED)}; fi; true"
    )
    found: list[tuple[str, x509.Certificate]] = []

    def read(h) -> Change:
        current, chunk = None, []

        def flush() -> None:
            if current is None:
                return
            text = "\n".join(chunk)
            pem = current.endswith((".crt", ".pem"))
            certs = _certs_in_pem(text.encode()) if pem else _certs_in_kubeconfig(text)
            found.extend((f"{h.name}:{current}", c) for c in certs)

        for line in h.run(script).stdout.splitlines():
            if line.startswith(_MARK):
                flush()
                current, chunk = line[len(_MARK):], []
            else:
                chunk.append(line)
        flush()
        return Change(False, "read")

    fleet.step("read certificates", read)
    return found


def certificate_inventory(inv, fleet=None, now: dt.datetime | None = None) -> Verdict:
    """Every certificate, where it is, when it expires; problems for expired ones and stale host copies.

    Args:
        inv: the inventory (its cluster directory is read).
        fleet: when given, the hosts are read too (one SSH round trip each).
        now: the time to judge against (default: now).
    """
    now = now or dt.datetime.now(dt.UTC)
    places = local_certificates(inv) + (host_certificates(fleet) if fleet is not None else [])
    by_fp: dict[str, Found] = {}
    for place, cert in places:
        entry = by_fp.setdefault(fingerprint(cert), Found(cert))
        entry.places.append(place)
    rows, problems = [], []
    for entry in sorted(by_fp.values(), key=lambda e: (not _is_ca(e.cert), _cn(e.cert.subject))):
        cert = entry.cert
        left = cert.not_valid_after_utc - now
        days = left.days
        hosts = sorted({p.split(":", 1)[0] for p in entry.places if not p.startswith("operator:")})
        if left <= dt.timedelta(0):
            state = "EXPIRED"
            problems.append(f"{_cn(cert.subject)} expired {cert.not_valid_after_utc:%Y-%m-%d} ({', '.join(entry.places)})")
        elif _is_ca(cert) and left <= CA_WARNING:
            state = f"CA: plan its rotation ({days} days left)"
        elif left <= RENEW_BEFORE:
            state = "renewed by the next run"
        else:
            state = "ok"
        rotated = all(p.endswith(ROTATED) for p in entry.places)
        if rotated and state == "ok":
            state = "rotated by its kubelet (CSR API)"
        elif fleet is not None and not rotated and not any(p.startswith("operator:") for p in entry.places):
            state = "on hosts only"
            problems.append(f"{_cn(cert.subject)} on {', '.join(hosts)} is not the operator's copy "
                            f"(stale: re-run the notebook that installs it)")
        where = ", ".join(p.removeprefix("operator:") for p in entry.places if p.startswith("operator:"))
        rows.append([_cn(cert.subject), "CA" if _is_ca(cert) else _cn(cert.issuer),
                     f"{cert.not_valid_after_utc:%Y-%m-%d}", days, state, where or "-",
                     ", ".join(hosts) or "-"])
    return Verdict("certificates: expiry and where they are",
                   ["subject CN", "issuer", "not after", "days left", "state", "operator copy", "hosts"],
                   rows, problems)


def _cmd_certs(args: argparse.Namespace) -> int:
    from helpers.inventory import load_inventory  # noqa: PLC0415
    from helpers.remote import Fleet  # noqa: PLC0415

    inv = load_inventory(args.inventory)
    if args.hosts:
        with Fleet(inv) as fleet:
            table = certificate_inventory(inv, fleet)
    else:
        table = certificate_inventory(inv)
    print(table)
    return 0 if table.ok else 1


def ca_requests(inv) -> Verdict:
    """The cluster's CAs under the organisation's root: issue them, or write their requests to sign.

    The four CAs: Kubernetes and its front proxy (03/04), etcd (03), and the ingress CA
    that signs 07's web sites.

    With ``pki.root_ca.key`` the series signs the intermediates itself; without it, each CA
    not yet signed gets ``<name>.csr`` (and its key, 0600) and the row says what to do.
    """
    from helpers import k8s_pki  # noqa: PLC0415
    from helpers.errors import ConfigError  # noqa: PLC0415
    from helpers.etcd.certs import pki_dir as etcd_dir  # noqa: PLC0415
    from helpers.pki import ensure_ca, root_of  # noqa: PLC0415
    from helpers.routing.tls import CA_CN, CA_NAME  # noqa: PLC0415
    from helpers.routing.tls import pki_dir as ingress_dir  # noqa: PLC0415

    root = root_of(inv)
    if root is None:
        raise ConfigError("the inventory names no pki.root_ca: the CAs are self-signed and need no signature")
    wanted = [(k8s_pki.pki_dir(inv.cluster_dir), name, cn) for name, cn in k8s_pki.CA_SPECS.items()]
    wanted.append((etcd_dir(inv), "ca", "etcd-ca"))
    wanted.append((ingress_dir(inv), CA_NAME, CA_CN))
    rows, problems = [], []
    for directory, name, cn in wanted:
        try:
            pair = ensure_ca(directory, name, cn, root=root)
        except ConfigError as err:
            csr = directory / f"{name}.csr"
            if not csr.exists() or (directory / f"{name}.crt").exists():
                raise
            rows.append([cn, str(csr), "waiting: sign the request and save the certificate as "
                         f"{directory / f'{name}.crt'}"])
            problems.append(str(err))
        else:
            rows.append([cn, str(pair.cert_path), f"intermediate of {root.name}: {pair.detail}"])
    return Verdict(f"the cluster's CAs under {root.name}", ["CA", "file", "state"], rows, problems)


def _cmd_ca_requests(args: argparse.Namespace) -> int:
    from helpers.inventory import load_inventory  # noqa: PLC0415

    table = ca_requests(load_inventory(args.inventory))
    print(table)
    for problem in table.problems:
        print(f"- {problem}")
    return 0 if table.ok else 3


def add_cli(subparsers) -> None:
    """Register ``certs`` and ``ca-requests``."""
    requests = subparsers.add_parser(
        "ca-requests", help="the cluster's CAs as intermediates of pki.root_ca: issue them, or write their CSRs")
    requests.add_argument("--inventory", required=True, help="inventory YAML file")
    requests.set_defaults(func=_cmd_ca_requests)
    parser = subparsers.add_parser("certs", help="every certificate the series issued, where it is, when it expires")
    parser.add_argument("--inventory", required=True, help="inventory YAML file")
    parser.add_argument("--hosts", action="store_true", help="also read the copies on every host (SSH)")
    parser.set_defaults(func=_cmd_certs)

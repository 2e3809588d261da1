"""Every leaf certificate checked by ``openssl verify`` against the root of trust, as a person would.

The series' own checks use the same library that issued the certificates; this one asks
OpenSSL, independently: for each leaf under a PKI directory, ``openssl verify -CAfile
<root> -untrusted <its CA> <leaf>``. The root is the organisation's (``pki.root_ca``) when
the cluster's CAs are its intermediates, otherwise the self-signed CA itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509

from helpers.pki.files import load_cert
from helpers.pki.model import is_ca
from helpers.pki.names import common_name as _cn
from helpers.pki.root import RootCA
from helpers.verdict import Verdict


def openssl_verify(anchor: Path, untrusted: Path | None, leaf: Path) -> tuple[bool, str]:
    """``openssl verify``'s verdict and its last line (``<file>: OK`` or the error)."""
    command = ["openssl", "verify", "-CAfile", str(anchor)]
    if untrusted is not None:
        command += ["-untrusted", str(untrusted)]
    try:
        done = subprocess.run([*command, str(leaf)], capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return False, "openssl is not installed on this machine"
    lines = (done.stdout + done.stderr).strip().splitlines() or ["(no output)"]
    return done.returncode == 0, lines[-1] if done.returncode == 0 else " / ".join(lines[-2:])


def verify_chains(directory: str | Path, root: RootCA | None, title: str) -> Verdict:
    """One row per leaf of ``directory``: its chain up to the root, and whether OpenSSL accepts it."""
    directory = Path(directory)
    cas: dict[x509.Name, Path] = {}
    leaves: list[tuple[Path, x509.Certificate]] = []
    for path in sorted(directory.glob("*.crt")):
        if path.name.endswith("-chain.crt"):
            continue
        cert = load_cert(path)
        if is_ca(cert):
            cas[cert.subject] = path
        else:
            leaves.append((path, cert))
    rows, problems = [], []
    for path, cert in leaves:
        ca_path = cas.get(cert.issuer)
        if ca_path is None:
            rows.append([path.name, _cn(cert.subject), f"issuer {_cn(cert.issuer)} not in {directory}", "FAILED"])
            problems.append(f"{path.name}: its issuer {cert.issuer.rfc4514_string()} is none of the CAs in {directory}")
            continue
        ca = load_cert(ca_path)
        if root is not None:
            anchor, untrusted = root.cert_path, ca_path
            chain = f"{_cn(cert.subject)} → {_cn(ca.subject)} → {_cn(root.cert.subject)}"
        else:
            anchor, untrusted = ca_path, None
            chain = f"{_cn(cert.subject)} → {_cn(ca.subject)}"
        ok, line = openssl_verify(anchor, untrusted, path)
        rows.append([path.name, chain, Path(anchor).name, "OK" if ok else line])
        if not ok:
            problems.append(f"{path.name}: openssl verify -CAfile {anchor}: {line}")
    return Verdict(title, ["certificate", "chain", "trusted root", "openssl verify"], rows, problems)

"""etcd against the CIS Kubernetes Benchmark (v1.12): section 2, and the etcd files of section 1.1.

Read on every member in one SSH round trip: the flags of the running ``etcd`` process
(``/proc/<pid>/cmdline``) and the modes and owners of its unit and data directory. Where
the benchmark names kubeadm's ``/etc/kubernetes/manifests/etcd.yaml``, our systemd unit
plays that role. 2.7 (a CA of its own for etcd) is judged on the operator's machine: the
etcd CA must not be the Kubernetes CA, or every certificate Kubernetes issues would open etcd.
"""

from __future__ import annotations

from helpers.etcd.certs import pki_dir
from helpers.etcd.config import BIN_DIR, DATA_DIR, UNIT_PATH, USER, members
from helpers.facts.hardening import Recommendation, check_hosts, is_set, verdict
from helpers.verdict import Verdict

ETCD = f"{BIN_DIR}/etcd"


def _true(value: str | None) -> bool:
    return value == "true"


def _not_true(value: str | None) -> bool:
    return value in (None, "false")


RECOMMENDATIONS: tuple[Recommendation, ...] = (
    Recommendation("1.1.7", "etcd's unit (our static-pod manifest) is 600 or stricter, root:root", path=UNIT_PATH, want=0o600),
    Recommendation("1.1.11", "the data directory is 700 or stricter", path=DATA_DIR, want=0o700, owner=f"{USER}:{USER}"),
    Recommendation("2.1", "a serving certificate", ETCD, "cert-file", judge=is_set),
    Recommendation("2.1", "its key", ETCD, "key-file", judge=is_set),
    Recommendation("2.2", "client certificates required", ETCD, "client-cert-auth", judge=_true),
    Recommendation("2.3", "no self-signed auto TLS for clients", ETCD, "auto-tls", judge=_not_true),
    Recommendation("2.4", "a peer certificate", ETCD, "peer-cert-file", judge=is_set),
    Recommendation("2.4", "its key", ETCD, "peer-key-file", judge=is_set),
    Recommendation("2.5", "peer certificates required", ETCD, "peer-client-cert-auth", judge=_true),
    Recommendation("2.6", "no self-signed auto TLS for peers", ETCD, "peer-auto-tls", judge=_not_true),
)


def verify_cis(fleet) -> Verdict:
    """Every member's etcd flags and files (CIS 1.1.7, 1.1.11, 2.1-2.6), and 2.7 from the operator's PKI."""
    from helpers.k8s_pki import pki_dir as kubernetes_pki  # noqa: PLC0415
    from helpers.pki import load_cert  # noqa: PLC0415

    inv = fleet.inventory
    results = check_hosts(fleet, RECOMMENDATIONS, hosts=[h.name for h in members(inv)],
                          skip="not an etcd member", title="read CIS recommendations (etcd)")
    etcd_ca = load_cert(pki_dir(inv) / "ca.crt")
    kube_ca_path = kubernetes_pki(inv.cluster_dir) / "ca.crt"
    kube_ca = load_cert(kube_ca_path) if kube_ca_path.exists() else None
    unique = kube_ca is None or (kube_ca.public_key().public_numbers() != etcd_ca.public_key().public_numbers())
    seen = f"etcd CA {etcd_ca.subject.rfc4514_string()}" + ("" if kube_ca is None else
                                                            f", Kubernetes CA {kube_ca.subject.rfc4514_string()}")
    results["operator"] = [(Recommendation("2.7", "a CA of its own for etcd (not the Kubernetes CA)"), unique, seen)]
    return verdict("CIS Kubernetes Benchmark v1.12, etcd (section 2)", results)

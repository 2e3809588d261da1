"""Kubelet client certificates that renew themselves, through the CertificateSigningRequest API.

The series issues each kubelet its first client certificate (``CN=system:node:<name>``,
``O=system:nodes``, in the kubelet's kubeconfig). With ``rotateCertificates: true`` the
kubelet renews it on its own, as upstream intends. Its certificate manager treats the
kubeconfig's pair as a bootstrap credential: at the first start, with an empty store, it
keeps a copy and asks for its own certificate at once; afterwards it asks again at a
random point between 70 % and 90 % of the current certificate's life. Each time it makes
a new key, sends a CertificateSigningRequest for the same name (signer
``kubernetes.io/kube-apiserver-client-kubelet``), and once the request is approved and
signed writes the pair to ``/var/lib/kubelet/pki/kubelet-client-<time>.pem`` with the
symlink ``kubelet-client-current.pem`` pointing at it. From then on it uses that pair,
also after a restart, instead of the one in its kubeconfig.

Two pieces of the control plane make that work:

- the controller manager's ``csrapproving`` controller approves a node's request for its
  own name when the node may create ``certificatesigningrequests/selfnodeclient`` — the
  ClusterRoleBinding :data:`BINDING` grants that to the group ``system:nodes``;
- its ``csrsigning`` controller signs with the cluster CA (``--cluster-signing-cert-file``)
  for ``--cluster-signing-duration`` (the inventory's ``pki.leaf_validity``).

Creating the request needs no binding: the Node authorizer allows nodes to create and read
CSRs.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from helpers.kube import api_client
from helpers.kubelet.layout import PKI
from helpers.node_pki import node_hosts
from helpers.remote import Change
from helpers.report import Report
from helpers.verdict import Verdict

BINDING = "kj:node-client-certificate-rotation"
SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
ROTATED = f"{PKI}/kubelet-client-current.pem"


def ensure_client_rotation_rbac(inv) -> Report:
    """Let every node have the renewal of its own client certificate approved (:data:`BINDING`)."""
    from helpers.kube_apply import apply_objects, load_documents  # noqa: PLC0415

    docs = load_documents("kubelet/node-client-rotation-rbac.yaml.j2", {"binding": BINDING})
    return apply_objects(api_client(inv), docs, "kubelet client certificate rotation RBAC")


def certificate_lines(path: str) -> str:
    """A shell command printing only the certificate blocks of a PEM file (never its key)."""
    return f"sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p' {path} 2>/dev/null; true"


def client_certificates(fleet) -> dict[str, x509.Certificate | None]:
    """Each node's rotated client certificate (``kubelet-client-current.pem``), or None before the first rotation."""
    found: dict[str, x509.Certificate | None] = {}

    def read(h) -> Change:
        text = h.run(certificate_lines(ROTATED)).stdout
        found[h.name] = x509.load_pem_x509_certificates(text.encode())[0] if text.strip() else None
        return Change(False, "read")

    fleet.step("read rotated kubelet client certificates", read, hosts=[h.name for h in node_hosts(fleet.inventory)],
               skip="not a Kubernetes node (no master or worker role)")
    return found


def node_csrs(inv) -> dict[str, list]:
    """The kubelet client CSRs in the API, by node name (the requesting user ``system:node:<name>``)."""
    from kubernetes import client  # noqa: PLC0415

    by_node: dict[str, list] = {}
    for csr in client.CertificatesV1Api(api_client(inv)).list_certificate_signing_request().items:
        if csr.spec.signer_name == SIGNER and (csr.spec.username or "").startswith("system:node:"):
            by_node.setdefault(csr.spec.username.removeprefix("system:node:"), []).append(csr)
    return by_node


def csr_state(csr) -> str:
    """``Approved``, ``Denied``, ``Failed`` or ``Pending``, and ``issued`` once it carries a certificate."""
    kinds = [c.type for c in (csr.status.conditions or [])]
    state = next((k for k in ("Denied", "Failed", "Approved") if k in kinds), "Pending")
    return f"{state}, issued" if csr.status.certificate else state


def verify_client_rotation(fleet, now: dt.datetime | None = None) -> Verdict:
    """The binding is there, and each node's client certificate is its own, from the cluster CA, valid.

    A node that has not rotated yet uses the series' certificate from its kubeconfig; the
    row says so. A rotated certificate must name the node, come from the cluster CA and be
    valid now.
    """
    from kubernetes import client  # noqa: PLC0415

    from helpers.k8s_pki import pki_dir  # noqa: PLC0415
    from helpers.pki import load_cert  # noqa: PLC0415

    inv = fleet.inventory
    now = now or dt.datetime.now(dt.UTC)
    ca = load_cert(pki_dir(inv.cluster_dir) / "ca.crt")
    problems, rows = [], []
    rbac = client.RbacAuthorizationV1Api(api_client(inv))
    try:
        binding = rbac.read_cluster_role_binding(BINDING)
        subjects = [(s.kind, s.name) for s in binding.subjects or []]
        if ("Group", "system:nodes") not in subjects or not binding.role_ref.name.endswith(":selfnodeclient"):
            problems.append(f"ClusterRoleBinding {BINDING} does not grant selfnodeclient to system:nodes")
    except client.ApiException as err:
        problems.append(f"ClusterRoleBinding {BINDING}: {err.status} {err.reason}")
    csrs = node_csrs(inv)
    for node, cert in sorted(client_certificates(fleet).items()):
        states = ", ".join(sorted({csr_state(c) for c in csrs.get(node, [])})) or "none"
        if cert is None:
            rows.append([node, "kubeconfig (issued by the series)", "-", "-", states])
            continue
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        left = cert.not_valid_after_utc - now
        rows.append([node, "rotated (CSR API)", cn, f"{cert.not_valid_after_utc:%Y-%m-%d} ({left.days} d)", states])
        if cn != f"system:node:{node}":
            problems.append(f"{node}: rotated client certificate names {cn!r}")
        if cert.issuer != ca.subject:
            problems.append(f"{node}: rotated client certificate not issued by the cluster CA ({cert.issuer.rfc4514_string()})")
        if left <= dt.timedelta(0):
            problems.append(f"{node}: rotated client certificate expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M}")
    return Verdict("kubelet client certificate rotation",
                   ["node", "client certificate in use", "subject", "not after", "its CSRs"], rows, problems)

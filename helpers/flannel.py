"""flannel: the pod network, a VXLAN overlay across the nodes.

The controller manager gives every node a slice of the pod range (``node.spec.podCIDR``,
a /24 of the /16). flanneld on each node reads those slices from the API server
(``--kube-subnet-mgr``), creates a VXLAN device ``flannel.1`` whose tunnel endpoint is
the node's own address (``--iface``), and writes one route, one ARP and one FDB entry
per other node, so a packet for a pod elsewhere is wrapped in UDP (port 8472) and sent
to that node. It publishes its VTEP MAC as an annotation on its Node, which is why its
identity (``CN=system:flannel``) may patch nodes.

On each node the flannel *CNI plugin* then wires every new pod: containerd calls it
with ``/etc/cni/net.d/10-flannel.conflist``; it reads ``/run/flannel/subnet.env``
(written by flanneld) and delegates to the ``bridge`` and ``host-local`` base plugins
(pod veth on the ``cni0`` bridge, an address from the node's slice); ``portmap`` then
handles ``hostPort``.
"""

from __future__ import annotations

import json

from helpers.constants import FLANNEL_PUBLIC_IP_ANNOTATION, FLANNEL_VNI, FLANNEL_VXLAN_PORT
from helpers.ensure import render_template
from helpers.kube import api_client
from helpers.node_pki import FLANNEL_USER, node_hosts
from helpers.remote import Change
from helpers.report import Report

BINARY = "/usr/local/bin/flanneld"
CNI_PLUGIN = "/opt/cni/bin/flannel"     # beside the CNI base plugins (containerd's bin_dirs)
#: where runs before the containerd 2.x switch put the plugin (beside Debian's plugins)
LEGACY_CNI_PLUGIN = "/usr/lib/cni/flannel"
FLANNEL_DIR = "/var/lib/flannel"
KUBECONFIG = f"{FLANNEL_DIR}/kubeconfig"
NET_CONF = "/etc/kube-flannel/net-conf.json"
CNI_CONF = "/etc/cni/net.d/10-flannel.conflist"
UNIT = "/etc/systemd/system/flanneld.service"
VNI = FLANNEL_VNI
VXLAN_PORT = FLANNEL_VXLAN_PORT
PUBLIC_IP_ANNOTATION = FLANNEL_PUBLIC_IP_ANNOTATION


def render_net_conf(pod_cidr: str) -> str:
    """Render ``net-conf.json``: the whole pod range and the VXLAN backend."""
    text = render_template("flannel/net-conf.json.j2", {"pod_cidr": pod_cidr, "vni": VNI, "port": VXLAN_PORT})
    json.loads(text)  # fail here, not in flanneld, if the template is broken
    return text


def render_cni_conf() -> str:
    """Render the CNI configuration list (flannel, then portmap)."""
    text = render_template("flannel/10-flannel.conflist.j2", {})
    json.loads(text)
    return text


def render_unit(node_name: str, iface: str) -> str:
    """Render flanneld's systemd unit for one node."""
    return render_template("flannel/flanneld.service.j2", {
        "binary": BINARY, "kubeconfig": KUBECONFIG, "net_conf": NET_CONF,
        "node_name": node_name, "iface": iface,
    })


def ensure_flannel_rbac(inv) -> Report:
    """The ClusterRole and binding that let flanneld's identity read and annotate nodes."""
    from helpers.kube_apply import apply_objects, load_documents  # noqa: PLC0415

    docs = load_documents("flannel/flannel-rbac.yaml.j2", {"user": FLANNEL_USER})
    return apply_objects(api_client(inv), docs, "flannel RBAC")


def cni_plugin_artifact(inv):
    """Fetch the flannel CNI plugin release tarball (it holds the ``flannel`` binary)."""
    from helpers import artifacts  # noqa: PLC0415

    return artifacts.fetch(inv, "flannel-cni-plugin")


def ensure_flannel(fleet) -> Report:
    """Install flanneld as a systemd service and the flannel CNI plugin on every node.

    The CNI plugin binary is extracted from its release tarball on the operator's
    machine and uploaded only when the node's copy differs; flanneld is restarted only
    when its binary, kubeconfig, net-conf.json or unit changed since it last started.
    """
    from helpers import artifacts  # noqa: PLC0415
    from helpers.ensure import (  # noqa: PLC0415
        ensure_absent,
        ensure_binary,
        ensure_directory,
        ensure_file,
        ensure_unit_current,
        probe_paths,
    )
    from helpers.node_pki import node_kubeconfig  # noqa: PLC0415

    inv = fleet.inventory
    flanneld = artifacts.fetch(inv, "flanneld")
    plugin = extract_cni_plugin(cni_plugin_artifact(inv))
    kubeconfig = node_kubeconfig(inv, FLANNEL_USER, "flannel")
    net_conf = render_net_conf(str(inv.network.pod_cidr))

    def apply(h) -> Change:
        probe_paths(h, (FLANNEL_DIR, "/etc/kube-flannel", BINARY, KUBECONFIG, NET_CONF, UNIT,
                        CNI_PLUGIN, "/etc/cni/net.d", CNI_CONF, LEGACY_CNI_PLUGIN))
        changes = [
            ensure_directory(h, FLANNEL_DIR, mode=0o700),
            ensure_directory(h, "/etc/kube-flannel"),
            ensure_binary(h, BINARY, flanneld),
            ensure_file(h, KUBECONFIG, kubeconfig, mode=0o600),
            ensure_file(h, NET_CONF, net_conf),
            ensure_file(h, UNIT, render_unit(h.name, str(h.address))),
        ]
        inputs = Change.merge(*changes)
        service = ensure_unit_current(h, "flanneld", (BINARY, KUBECONFIG, NET_CONF, UNIT))
        cni = [ensure_binary(h, CNI_PLUGIN, plugin), ensure_directory(h, "/etc/cni/net.d"),
               ensure_file(h, CNI_CONF, render_cni_conf()), ensure_absent(h, LEGACY_CNI_PLUGIN)]
        merged = Change.merge(inputs, service, *cni)
        return Change(merged.changed, merged.detail or "up to date")

    return fleet.step("flannel", apply, hosts=[h.name for h in node_hosts(inv)],
                      skip="not a Kubernetes node (no master or worker role)")


def extract_cni_plugin(tarball):
    """Return an Artifact for the ``flannel`` binary inside the CNI plugins tarball.

    The binary is extracted once into the cache beside the tarball (named after the
    tarball's sha256, so a new tarball means a new extraction).
    """
    import hashlib  # noqa: PLC0415
    import tarfile  # noqa: PLC0415
    from dataclasses import replace  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from helpers.errors import ConfigError  # noqa: PLC0415
    from helpers.localfiles import write_atomic  # noqa: PLC0415

    out = Path(tarball.path).with_name(f"flannel-{tarball.sha256[:16]}")
    if not out.exists():
        with tarfile.open(tarball.path) as tar:
            member = next((m for m in tar.getmembers()
                           if m.isfile() and Path(m.name).name == "flannel"), None)
            if member is None:
                raise ConfigError(f"failed to extract the flannel CNI plugin: no 'flannel' in {tarball.path}")
            data = tar.extractfile(member).read()
        write_atomic(out, data, 0o755)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    return replace(tarball, name="flannel-cni", path=out, sha256=digest)

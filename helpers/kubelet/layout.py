"""Where the kubelet's files live on a node."""

from __future__ import annotations

BINARY = "/usr/local/bin/kubelet"
KUBELET_DIR = "/var/lib/kubelet"
PKI = f"{KUBELET_DIR}/pki"
CONFIG_FILE = f"{KUBELET_DIR}/config.yaml"
KUBECONFIG = f"{KUBELET_DIR}/kubeconfig"
UNIT = "/etc/systemd/system/kubelet.service"
# what the kubelet reads at start: a change to any of them restarts it
INPUTS = (BINARY, f"{PKI}/ca.crt", f"{PKI}/kubelet.crt", f"{PKI}/kubelet.key", KUBECONFIG, CONFIG_FILE, UNIT)

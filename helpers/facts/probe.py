"""The one command that reads a host's facts, and parsing what it prints.

:data:`_GATHER` prints ``key=value`` lines (OS, kernel, CPUs, memory, cgroup, machine-id,
host name, init, virtualization, swap, CA files found among :data:`HOST_CA_FILES`), then
``ss -Htlnp``'s listening sockets; :func:`parse_facts` turns that into :class:`HostFacts`.
"""

from __future__ import annotations

import re

from helpers.facts.model import HostFacts

# Where a cluster CA may already sit on a host (this series, kubeadm, The Hard Way).
HOST_CA_FILES = (
    "/etc/kubernetes/pki/ca.crt",
    "/etc/kubernetes/pki/etcd/ca.crt",
    "/etc/etcd/pki/ca.crt",
    "/etc/etcd/ca.crt",
    "/var/lib/kubernetes/ca.pem",
)

_GATHER = r"""
. /etc/os-release 2>/dev/null
echo "os_id=${ID:-unknown}"
echo "os_version=${VERSION_ID:-unknown}"
echo "os_name=${PRETTY_NAME:-unknown}"
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
echo "cpus=$(nproc)"
awk '/^MemTotal:/ {print "mem_kib=" $2}' /proc/meminfo
echo "cgroup_fs=$(stat -fc %T /sys/fs/cgroup 2>/dev/null)"
echo "machine_id=$(cat /etc/machine-id 2>/dev/null)"
echo "hostname=$(hostname)"
echo "init=$(cat /proc/1/comm)"
echo "virt=$(systemd-detect-virt 2>/dev/null)"
awk 'NR > 1 {n++; kib += $3} END {print "swap_kib=" kib + 0; print "swap_devices=" n + 0}' /proc/swaps
for f in {ca_files}; do [ -f "$f" ] && echo "ca_file=$f"; done
echo "--- ports"
ss -Htlnp 2>/dev/null || true
"""


def parse_facts(name: str, output: str) -> HostFacts:
    """Parse the gather script's output into :class:`HostFacts` (clock and CAs filled separately)."""
    head, _, ports = output.partition("--- ports")
    values: dict[str, str] = {}
    ca_files: list[str] = []
    for line in head.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "ca_file":
            ca_files.append(value.strip())
        else:
            values[key.strip()] = value.strip()
    cgroup_fs = values.get("cgroup_fs", "")
    facts = HostFacts(
        name=name,
        os_id=values.get("os_id", ""),
        os_version=values.get("os_version", ""),
        os_name=values.get("os_name", ""),
        kernel=values.get("kernel", ""),
        arch=values.get("arch", ""),
        cpus=_int(values.get("cpus")),
        memory_mib=_int(values.get("mem_kib")) // 1024,
        cgroup_version={"cgroup2fs": "v2", "tmpfs": "v1"}.get(cgroup_fs, cgroup_fs or "unknown"),
        machine_id=values.get("machine_id", ""),
        hostname=values.get("hostname", ""),
        init=values.get("init", ""),
        virtualization=values.get("virt", "") or "none",
        swap_mib=_int(values.get("swap_kib")) // 1024,
        swap_devices=_int(values.get("swap_devices")),
        listening=parse_listening(ports),
    )
    facts.ca_files = {path: "" for path in ca_files}
    return facts


_PROC = re.compile(r'\("([^"]+)",pid=\d+')


def parse_listening(ss_output: str) -> dict[int, str]:
    """Map each listening TCP port to the process holding it, from ``ss -Htlnp`` output.

    Local addresses look like ``*:22``, ``0.0.0.0:22``, ``[::]:22``, ``127.0.0.53%lo:53``
    or ``192.168.4.20:6443``; the port follows the last colon. A port held on several
    addresses by different processes keeps the first process seen.
    """
    ports: dict[int, str] = {}
    for line in ss_output.splitlines():
        cols = line.split()
        if len(cols) < 4 or not cols[0].startswith("LISTEN"):
            continue
        local = cols[3]
        port_text = local.rsplit(":", 1)[-1]
        if not port_text.isdigit():
            continue
        proc = _PROC.search(line)
        ports.setdefault(int(port_text), proc.group(1) if proc else "")
    return ports


def _int(value: str | None) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0

"""Host preparation: what every machine needs before any Kubernetes component arrives.

Steps (each probes first, changes only what differs, and returns a Report):

1. :func:`ensure_hostname` - ``/etc/hostname`` and the running name are the inventory name;
2. :func:`ensure_hosts_file` - a managed block in ``/etc/hosts`` naming every cluster host
   (short name and FQDN) and the API endpoint ``kube-api.<domain>`` on the VIP;
3. :func:`ensure_apt_proxy` - apt goes through the inventory's package proxy, if it sets one;
4. :func:`ensure_base_packages` - the tools later chapters call (iptables, conntrack, ...);
5. :func:`ensure_kernel_features` - overlay, br_netfilter, vxlan: loaded now and at boot,
   or built into the kernel;
6. :func:`ensure_sysctls` - IP forwarding and bridged traffic through iptables, persisted;
7. :func:`ensure_swap_off` - swap off now and after a reboot;
8. :func:`ensure_time_sync` - chrony keeps the clock (certificates and etcd need it).

Checks: :func:`check_name_resolution`, :func:`check_swap`, :func:`check_sysctls`.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from helpers.topology import API_HOSTNAME, api_fqdn

NODE_ROLES = ("master", "worker")
"""Hosts that may run pods or the pod network get the kernel features and sysctls."""

BASE_PACKAGES = [
    "ca-certificates",  # TLS to the release mirror and registries
    "curl",  # health checks and downloads from the host itself
    "iproute2",  # ip, ss, tc
    "iptables",  # kube-proxy and flannel program iptables (nft backend on Debian 12+)
    "conntrack",  # kube-proxy clears stale UDP conntrack entries
    "ipset",  # network policy implementations and kube-proxy's ipset use
    "socat",  # kubectl port-forward runs through the node's socat
    "ethtool",  # flannel and kubelet's checks read/adjust NIC offloads
]
KERNEL_FEATURES = ["overlay", "br_netfilter", "vxlan"]
SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
}
SYSCTL_FILE = "/etc/sysctl.d/90-kubernetes.conf"
APT_PROXY_FILE = "/etc/apt/apt.conf.d/01proxy"  # the same file remote.ensure_packages keeps
CHRONY_DROPIN = "/etc/systemd/system/chrony.service.d/kubernetes-journey-container.conf"
BLOCK_BEGIN = "# BEGIN kubernetes-journey"
BLOCK_END = "# END kubernetes-journey"
FSTAB_MARK = "#kubernetes-journey: swap off: "


def _node_hosts(inv: Any) -> list[str]:
    return [h.name for h in inv.hosts if any(r in h.roles for r in NODE_ROLES)]


# ----------------------------------------------------------------------------- host name


def ensure_hostname(fleet: Any) -> Any:
    """Step: ``/etc/hostname`` holds the inventory name and the running host name matches it."""
    from helpers.ensure import ensure_file
    from helpers.remote import Change

    def run(h: Any) -> Any:
        name = h.host.name
        change = ensure_file(h, "/etc/hostname", f"{name}\n", mode=0o644)
        current = h.run("hostname").stdout.strip()
        if current != name:
            h.run(f"hostname {shlex.quote(name)}")
            change = Change.merge(change, Change(True, f"running name {current} -> {name}"))
        return change if change.changed else Change(False, f"already {name}")

    return fleet.step("set host names", run)


# ----------------------------------------------------------------------------- /etc/hosts


def hosts_block(inv: Any) -> str:
    """Return the managed ``/etc/hosts`` block: the API name on the VIP, then every host."""
    from helpers.ensure import render_template

    entries = []
    if inv.network.vip is not None:
        entries.append({"address": str(inv.network.vip), "names": [api_fqdn(inv), API_HOSTNAME]})
    entries += [{"address": str(h.address), "names": [h.fqdn, h.name]} for h in inv.hosts]
    return render_template("hostprep/hosts-block.j2", {"cluster": inv.cluster.name, "entries": entries})


def merge_hosts_file(current: str, block: str, names: list[str]) -> str:
    """Return ``current`` with the managed block replaced (or appended) and stale self-mappings disabled.

    Debian maps its own host name to 127.0.1.1 when it has no fixed address; glibc would
    answer that loopback address for the name before reaching the managed block, so a
    ``127.0.1.1`` line naming any cluster host is commented out (kept, marked, reversible).

    Args:
        current: the file as it is.
        block: the managed block (``# BEGIN ...`` to ``# END ...``) to put in.
        names: every cluster host name and FQDN.
    """
    lines = current.splitlines()
    out: list[str] = []
    inside = False
    wanted = set(names)
    for line in lines:
        if line.startswith(BLOCK_BEGIN):
            inside = True
            continue
        if inside:
            if line.startswith(BLOCK_END):
                inside = False
            continue
        fields = line.split("#", 1)[0].split()
        if fields and fields[0] == "127.0.1.1" and wanted.intersection(fields[1:]):
            out.append(f"#kubernetes-journey: the managed block names this host: {line}")
            continue
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out + ["", block.rstrip("\n"), ""]).lstrip("\n")


def ensure_hosts_file(fleet: Any) -> Any:
    """Step: every host resolves every cluster host name and ``kube-api.<domain>`` from ``/etc/hosts``."""
    from helpers.ensure import ensure_file
    from helpers.remote import Change

    inv = fleet.inventory
    block = hosts_block(inv)
    names = [n for h in inv.hosts for n in (h.name, h.fqdn)]

    def run(h: Any) -> Any:
        current = (h.read_file("/etc/hosts") or b"").decode()
        wanted = merge_hosts_file(current, block, names)
        if wanted == current:
            return Change(False, f"{len(inv.hosts) + (inv.network.vip is not None)} names already mapped")
        ensure_file(h, "/etc/hosts", wanted, mode=0o644)
        return Change(True, "managed block written")

    return fleet.step("map cluster names in /etc/hosts", run)


def check_name_resolution(fleet: Any) -> dict[str, dict[str, str]]:
    """Return host -> {name: address it resolves to} for every cluster name, as ``getent`` sees it."""
    inv = fleet.inventory
    names = [h.fqdn for h in inv.hosts] + [h.name for h in inv.hosts]
    if inv.network.vip is not None:
        names.append(api_fqdn(inv))
    command = "for n in " + " ".join(names) + '; do echo "$n $(getent ahostsv4 $n | head -n1 | cut -d" " -f1)"; done'
    report = fleet.step("resolve cluster names", lambda h: _resolved(h, command))
    return report.data()


def _resolved(h: Any, command: str) -> Any:
    from helpers.report import Result

    out = h.run(command).stdout
    table = dict(line.split(" ", 1) if " " in line else (line, "") for line in out.splitlines())
    return Result(h.name, "ok", f"{len(table)} names", data={k: v.strip() for k, v in table.items()})


# ----------------------------------------------------------------------------- apt proxy


def ensure_apt_proxy(fleet: Any) -> Any:
    """Step: apt uses the inventory's ``sources.apt_proxy``; without one, the managed file is absent."""
    from helpers.ensure import ensure_absent, ensure_template
    from helpers.remote import Change

    inv = fleet.inventory
    proxy = inv.sources.apt_proxy

    def run(h: Any) -> Any:
        if proxy:
            change = ensure_template(h, APT_PROXY_FILE, "hostprep/apt-proxy.conf.j2", {"proxy": proxy})
            return change if change.changed else Change(False, f"apt already uses {proxy}")
        change = ensure_absent(h, APT_PROXY_FILE)
        return change if change.changed else Change(False, "no proxy in the inventory; none configured")

    return fleet.step("configure the apt proxy", run)


# ----------------------------------------------------------------------------- packages


def ensure_base_packages(fleet: Any, packages: list[str] | None = None) -> Any:
    """Step: install the base tools later chapters rely on (see ``BASE_PACKAGES``)."""
    from helpers.ensure import ensure_packages

    wanted = packages or BASE_PACKAGES
    return fleet.step("install base packages", lambda h: ensure_packages(h, wanted))


# ----------------------------------------------------------------------------- kernel


def ensure_kernel_features(fleet: Any) -> Any:
    """Step: overlay (container images), br_netfilter (bridged pod traffic through iptables) and vxlan (flannel)."""
    from helpers.ensure import ensure_kernel_feature
    from helpers.remote import Change

    inv = fleet.inventory
    return fleet.step(
        "enable kernel features",
        lambda h: Change.merge(*(ensure_kernel_feature(h, f) for f in KERNEL_FEATURES)),
        hosts=_node_hosts(inv), skip="not a Kubernetes node (no pods, no overlay network)",
    )


def ensure_sysctls(fleet: Any) -> Any:
    """Step: forward IP packets and pass bridged traffic through iptables; persisted in sysctl.d."""
    from helpers.ensure import ensure_sysctl

    inv = fleet.inventory
    return fleet.step(
        "set kernel parameters",
        lambda h: ensure_sysctl(h, SYSCTLS, persist_file=SYSCTL_FILE),
        hosts=_node_hosts(inv), skip="not a Kubernetes node (no pods, no overlay network)",
    )


def check_sysctls(fleet: Any) -> dict[str, dict[str, str]]:
    """Return host -> {sysctl: live value} for the Kubernetes sysctls on the node hosts."""
    from helpers.report import Result

    inv = fleet.inventory
    keys = " ".join(SYSCTLS)

    def read(h: Any) -> Any:
        out = h.run(f"sysctl -n {keys}", check=False).stdout.split()
        return Result(h.name, "ok", " ".join(out), data=dict(zip(SYSCTLS, out, strict=False)))

    return fleet.step("read kernel parameters", read, hosts=_node_hosts(inv)).data()


# ----------------------------------------------------------------------------- swap


def disable_swap_lines(fstab: str) -> str:
    """Return ``fstab`` with every active swap entry commented out (marked, reversible)."""
    out = []
    for line in fstab.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#") and len(fields) >= 3 and fields[2] == "swap":
            out.append(FSTAB_MARK + line)
        else:
            out.append(line)
    if out == fstab.splitlines():
        return fstab
    return "\n".join(out) + ("\n" if fstab.endswith("\n") else "")


def ensure_swap_off(fleet: Any) -> Any:
    """Step: no active swap, no swap entry in ``/etc/fstab``, every swap unit masked.

    The kubelet refuses to start with swap on (unless told otherwise); turning it off now
    is not enough, so fstab entries are commented out and systemd's swap units (also the
    ones generated for GPT swap partitions or zram) masked.

    > In a container the swap devices in ``/proc/swaps`` are the machine's that runs it:
    > they are reported, never switched off from inside.
    """
    from helpers.ensure import ensure_file
    from helpers.remote import Change

    def run(h: Any) -> Any:
        changes = []
        active = [line.split()[0] for line in h.run("cat /proc/swaps").stdout.splitlines()[1:] if line.strip()]
        container = h.run("systemd-detect-virt --container", check=False).ok
        if active and container:
            changes.append(Change(False, f"container: {len(active)} swap device(s) belong to its host, not touched"))
        elif active:
            for device in active:
                h.run(f"swapoff {shlex.quote(device)}")
            changes.append(Change(True, f"swapoff {' '.join(active)}"))
        fstab = (h.read_file("/etc/fstab") or b"").decode()
        fixed = disable_swap_lines(fstab)
        if fixed != fstab:
            ensure_file(h, "/etc/fstab", fixed, mode=0o644)
            changes.append(Change(True, "swap lines commented out in /etc/fstab"))
        units = h.run("systemctl list-units --type=swap --all --plain --no-legend", check=False).stdout
        unmasked = [line.split()[0] for line in units.splitlines()
                    if line.strip() and line.split()[1:2] != ["masked"]]
        if unmasked:
            h.run("systemctl mask " + " ".join(shlex.quote(u) for u in unmasked))
            changes.append(Change(True, f"masked {' '.join(unmasked)}"))
        merged = Change.merge(*changes) if changes else Change(False, "")
        if not merged.changed:
            return Change(False, merged.detail or "swap already off, no swap in fstab, no swap units")
        return merged

    return fleet.step("turn swap off", run)


def check_swap(fleet: Any) -> dict[str, int]:
    """Return host -> number of active swap devices the host itself owns (0 everywhere is right)."""
    from helpers.report import Result

    def read(h: Any) -> Any:
        count = int(h.run("tail -n +2 /proc/swaps | grep -c . || true").stdout.strip() or 0)
        if count and h.run("systemd-detect-virt --container", check=False).ok:
            return Result(h.name, "ok", f"{count} device(s) of the container's host", data=0)
        return Result(h.name, "ok", f"{count} swap device(s)", data=count)

    return fleet.step("read swap state", read).data()


# ----------------------------------------------------------------------------- time


def ensure_time_sync(fleet: Any) -> Any:
    """Step: chrony installed, enabled and running; in a container it only monitors (``-x``).

    chrony (Debian's default sources, ``pool 2.debian.pool.ntp.org``) disciplines the
    clock. A container shares the kernel clock of the machine running it: two daemons
    steering one clock fight, so there chronyd runs with ``-x`` (track, never adjust) and
    the running machine keeps the time. Whether the clock is right is checked from the
    outside: the facts of 01-architecture measure each host's offset to the operator.
    """
    from helpers.ensure import (
        ensure_absent,
        ensure_directory,
        ensure_file,
        ensure_packages,
        ensure_unit_current,
    )
    from helpers.remote import Change

    dropin = _template_text("hostprep/chrony-container.conf.j2")

    def run(h: Any) -> Any:
        container = h.run("systemd-detect-virt --container", check=False).ok
        changes = []
        if container:  # before the package, so chronyd never starts steering the shared clock
            changes.append(ensure_directory(h, CHRONY_DROPIN.rsplit("/", 1)[0]))
            changes.append(ensure_file(h, CHRONY_DROPIN, dropin, mode=0o644))
        else:
            changes.append(ensure_absent(h, CHRONY_DROPIN))
        changes.append(ensure_packages(h, ["chrony"]))
        changes.append(ensure_unit_current(h, "chrony", [CHRONY_DROPIN]))
        merged = Change.merge(*changes)
        state = _chrony_state(h)
        mode = "monitor only (-x, container)" if container else "disciplines the clock"
        return Change(merged.changed, f"{merged.detail + '; ' if merged.changed else ''}chronyd {mode}; {state}")

    return fleet.step("keep time with chrony", run)


def _template_text(name: str) -> str:
    from helpers.ensure import render_template

    return render_template(name, {})


def _chrony_state(h: Any) -> str:
    out = h.run("chronyc -n tracking", check=False).stdout
    match = re.search(r"Leap status\s*:\s*(.+)", out)
    sources = h.run("chronyc -n sources 2>/dev/null | grep -c '^\\^' || true", check=False).stdout.strip()
    return f"leap status {match.group(1).strip() if match else 'unknown'}, {sources or 0} source(s)"

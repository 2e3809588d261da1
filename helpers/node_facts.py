"""What a node is like, read from the node itself before anything is configured.

The node components are configured from facts, not from guesses about the platform:

- **cgroup version and init**: ``stat -fc %T /sys/fs/cgroup`` prints ``cgroup2fs`` on a
  unified (v2) hierarchy. With cgroup v2 and systemd as PID 1, containerd and the kubelet
  use the *systemd* cgroup driver (systemd owns the tree, the runtime asks it for
  slices); on cgroup v1 (the one-box lab) they use *cgroupfs* and the kubelet must be
  told ``failCgroupV1: false`` (Kubernetes >= 1.35 refuses v1 otherwise).
- **sysfs writable**: kube-proxy resizes the conntrack table through
  ``/sys/module/nf_conntrack/parameters/hashsize``; where ``/sys`` is read-only (a
  container such as a lab machine) it must not try (``conntrack.maxPerCore: 0``).
- **the kubelet's filesystem**: the kubelet sizes its node filesystem (for ephemeral-storage
  limits and evictions) through cAdvisor, which finds no device behind an overlay or tmpfs
  mount and then refuses to start ("failed to get rootfs info"). Where ``/var/lib/kubelet``
  is on such a filesystem (a lab machine's root is an overlay) the kubelet is told
  ``localStorageCapacityIsolation: false``; a real host keeps it on.
- **CAP_SYS_RESOURCE**: a pod's sandbox asks for ``oom_score_adj`` -998 (the last thing
  to be killed when memory runs out); lowering it needs CAP_SYS_RESOURCE, which a
  container host (a lab machine) may not hold. There containerd is told
  ``restrict_oom_score_adj = true`` (never go below its own score) instead of failing
  every sandbox with "permission denied".
- **resolv.conf**: with systemd-resolved the real upstream servers are in
  ``/run/systemd/resolve/resolv.conf`` (``/etc/resolv.conf`` points at a loopback stub
  that would loop inside a pod); otherwise ``/etc/resolv.conf``.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.remote import Change

PROBE = (
    'echo "cgroupfs=$(stat -fc %T /sys/fs/cgroup)"; '
    'if [ -d /run/systemd/system ]; then echo init=systemd; else echo init=other; fi; '
    'echo "sysfs=$(findmnt -no OPTIONS /sys | cut -d, -f1)"; '
    "if systemctl is-active -q systemd-resolved 2>/dev/null && [ -e /run/systemd/resolve/resolv.conf ]; "
    "then echo resolv=/run/systemd/resolve/resolv.conf; else echo resolv=/etc/resolv.conf; fi; "
    'echo "capbnd=$(sed -n "s/^CapBnd:[[:space:]]*//p" /proc/self/status)"; '
    'd=/var/lib/kubelet; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; echo "kubeletfs=$(stat -fc %T "$d")"'
)

#: Filesystems cAdvisor cannot find a block device for (the kubelet's rootfs check fails).
DEVICELESS_FS = ("overlayfs", "tmpfs", "ramfs", "nfs", "fuseblk")


@dataclass(frozen=True)
class NodeFacts:
    """The facts node configuration depends on.

    Attributes:
        cgroup_v2: the host mounts the unified cgroup v2 hierarchy.
        systemd_init: systemd is PID 1.
        sysfs_writable: ``/sys`` is mounted read-write.
        resolv_conf: the resolv.conf with the node's real name servers.
        kubelet_fs: filesystem type under ``/var/lib/kubelet`` (``stat -fc %T``).
        sys_resource: CAP_SYS_RESOURCE is in the bounding set (may lower oom_score_adj).
    """

    cgroup_v2: bool
    systemd_init: bool = True
    sysfs_writable: bool = True
    resolv_conf: str = "/etc/resolv.conf"
    kubelet_fs: str = "ext2/ext3"
    sys_resource: bool = True

    @property
    def local_storage_isolation(self) -> bool:
        """Whether the kubelet can account ephemeral storage (its directory is on a real device)."""
        return self.kubelet_fs not in DEVICELESS_FS

    @property
    def cgroup_driver(self) -> str:
        """``systemd`` on cgroup v2 with systemd as init, else ``cgroupfs``."""
        return "systemd" if self.cgroup_v2 and self.systemd_init else "cgroupfs"


def parse_facts(text: str) -> NodeFacts:
    """Parse the output of :data:`PROBE` into :class:`NodeFacts`.

    Raises:
        ValueError: a line is missing (the probe did not run as expected).
    """
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    missing = [k for k in ("cgroupfs", "init", "sysfs", "resolv") if k not in values]
    if missing:
        raise ValueError(f"node facts probe printed no {', '.join(missing)} (output: {text.strip()!r})")
    return NodeFacts(
        cgroup_v2=values["cgroupfs"].strip() == "cgroup2fs",
        systemd_init=values["init"].strip() == "systemd",
        sysfs_writable=values["sysfs"].strip() == "rw",
        resolv_conf=values["resolv"].strip(),
        kubelet_fs=values.get("kubeletfs", "").strip() or "unknown",
        sys_resource=_has_cap(values.get("capbnd", ""), CAP_SYS_RESOURCE),
    )


CAP_SYS_RESOURCE = 24


def _has_cap(mask: str, bit: int) -> bool:
    """Whether capability ``bit`` is set in a ``/proc/*/status`` hex mask (unknown: assume yes)."""
    try:
        return bool(int(mask.strip(), 16) >> bit & 1)
    except ValueError:
        return True


def gather_node_facts(h) -> NodeFacts:
    """Read :class:`NodeFacts` from one host (read-only), once per connection.

    The facts (cgroup version and driver, a writable ``/sys``, capabilities) do not
    change while a notebook runs, and containerd, the kubelet and kube-proxy all need
    them: the first step to ask reads them, the others reuse the answer.
    """
    known = h.__dict__.get("_node_facts")
    if known is None:
        known = h.__dict__["_node_facts"] = parse_facts(h.run(PROBE).stdout)
    return known


# --- the restart detector (05 and the tests read it) ------------------------------------

NODE_UNITS = ("containerd", "kubelet", "kube-proxy", "flanneld")


def check_node_units(fleet) -> dict[str, dict[str, str]]:
    """When each node unit last started (``ActiveEnterTimestamp``): the restart detector.

    No side effects. A re-run that restarted nothing leaves every timestamp unchanged.
    """
    inv = fleet.inventory
    out: dict[str, dict[str, str]] = {}

    def read(h) -> Change:
        cmd = " ; ".join(f"systemctl show -p ActiveEnterTimestamp --value {u}.service" for u in NODE_UNITS)
        stamps = h.run(cmd).stdout.splitlines()
        out[h.name] = dict(zip(NODE_UNITS, (s.strip() for s in stamps), strict=False))
        return Change(False, "read")

    from helpers.node_pki import node_hosts  # noqa: PLC0415

    fleet.step("read node unit start times", read, hosts=[h.name for h in node_hosts(inv)])
    return out


def restarted_units(before: dict | None, now: dict) -> list[str]:
    """``host/unit`` for every unit whose start time differs from ``before`` (none on a first run)."""
    if not before:
        return []
    return sorted(f"{host}/{unit}" for host, units in now.items() for unit, when in units.items()
                  if before.get(host, {}).get(unit) not in (None, when))

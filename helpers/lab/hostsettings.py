"""Host-wide settings the lab needs, recorded with their previous values and restored.

The lab changes exactly these on the host, and restores them when the last lab goes
down:

* sysctls kubelet insists on: ``vm.overcommit_memory=1``, ``kernel.panic=10``,
  ``kernel.panic_on_oops=1`` (host-wide: a machine cannot set them itself);
* inotify limits raised to at least ``fs.inotify.max_user_instances=1024`` and
  ``fs.inotify.max_user_watches=524288`` (every machine's systemd, journald and
  kubelet take instances from the same per-user budget; at the default 128 the
  20th-odd machine's systemd dies with "Too many open files");
* a tmpfs on ``/run/systemd/nspawn`` (systemd-nspawn keeps its mount propagation
  directories there; the host's PID 1 is not systemd, so nothing else provides it);
* the ``/run/netns`` bind mount that ``ip netns add`` creates when it first runs.

The host namespace's ``net.ipv4.ip_forward`` is never written: ``up`` only asserts it is 0.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers.errors import LabError
from helpers.lab.files import is_mountpoint
from helpers.lab.network import NETNS_DIR, ip_forward
from helpers.lab.state import HostRecord

SYSCTLS = {
    "vm.overcommit_memory": "1",
    "kernel.panic": "10",
    "kernel.panic_on_oops": "1",
}
#: Raised to at least these values (never lowered).
SYSCTL_MINIMUMS = {
    "fs.inotify.max_user_instances": 1024,
    "fs.inotify.max_user_watches": 524288,
}
NSPAWN_DIR = Path("/run/systemd/nspawn")


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def read_sysctl(key: str) -> str:
    """Current value of a sysctl of the host."""
    return _sysctl_path(key).read_text().strip()


def _mkdirs(path: Path, rec: HostRecord) -> None:
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o755)
        rec.dirs.append(str(d))


def ensure_host(lab: str) -> list[str]:
    """Apply the host-wide settings for ``lab`` (call with the host lock held).

    Returns:
        What changed, one line per setting.

    Raises:
        LabError: when the host forwards IPv4 (the lab would not be air-gapped).
    """
    if ip_forward() != "0":
        raise LabError(
            "host net.ipv4.ip_forward is not 0: lab machines could reach beyond the bridge; "
            "the lab does not change it, turn it off first"
        )
    rec = HostRecord.load()
    changes = []
    if lab not in rec.labs:
        rec.labs.append(lab)
    for key, want in SYSCTLS.items():
        have = read_sysctl(key)
        if key not in rec.sysctls:
            rec.sysctls[key] = have
        if have != want:
            _sysctl_path(key).write_text(want)
            changes.append(f"sysctl {key}: {have} -> {want}")
    for key, least in SYSCTL_MINIMUMS.items():
        have = read_sysctl(key)
        if key not in rec.sysctls:
            rec.sysctls[key] = have
        if int(have) < least:
            _sysctl_path(key).write_text(str(least))
            changes.append(f"sysctl {key}: {have} -> {least}")
    if not is_mountpoint(NSPAWN_DIR):
        _mkdirs(NSPAWN_DIR, rec)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", str(NSPAWN_DIR)],
            check=True,
        )
        rec.mounts.append(str(NSPAWN_DIR))
        changes.append(f"tmpfs on {NSPAWN_DIR}")
    if not NETNS_DIR.exists():
        _mkdirs(NETNS_DIR, rec)
    if not is_mountpoint(NETNS_DIR):
        # what `ip netns add` would do itself; done here so the mount is recorded
        subprocess.run(["mount", "--bind", str(NETNS_DIR), str(NETNS_DIR)], check=True)
        subprocess.run(["mount", "--make-shared", str(NETNS_DIR)], check=True)
        rec.mounts.append(str(NETNS_DIR))
        changes.append(f"shared bind mount on {NETNS_DIR}")
    rec.save()
    return changes


def release_host(lab: str) -> list[str]:
    """Forget ``lab``; when no lab is left, restore every recorded host setting."""
    rec = HostRecord.load()
    if lab in rec.labs:
        rec.labs.remove(lab)
    changes = []
    if rec.labs:
        rec.save()
        return changes
    for key, old in rec.sysctls.items():
        if read_sysctl(key) != old:
            _sysctl_path(key).write_text(old)
            changes.append(f"sysctl {key} restored to {old}")
    rec.sysctls = {}
    for target in list(reversed(rec.mounts)):
        path = Path(target)
        if path == NETNS_DIR and any(path.iterdir()):
            continue  # someone else's namespaces live there now
        if is_mountpoint(path):
            subprocess.run(["umount", target], check=True)
            changes.append(f"unmounted {target}")
        rec.mounts.remove(target)
    for d in list(reversed(rec.dirs)):
        try:
            Path(d).rmdir()
            changes.append(f"removed {d}")
        except FileNotFoundError:
            pass
        except OSError:
            continue
        rec.dirs.remove(d)
    rec.save()
    return changes

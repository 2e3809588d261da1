"""The lab's base image: a Debian root built once with debootstrap and shared read-only.

The image lives outside the repository (``<cache>/lab/base-<release>``), is built in a
temporary directory and renamed into place atomically, and carries a stamp
(``/etc/kubernetes-journey-base.json``) recording release and package list; it is
rebuilt only when that stamp differs. Machines never write to it: each one boots an
overlay whose lower layer is this directory.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from helpers import paths
from helpers.errors import LabError
from helpers.lab.files import mounts, render, write_file

log = logging.getLogger(__name__)

#: What a machine needs to boot, be reached over SSH and be driven by the runbook.
#: Everything else the runbook installs itself, through the lab's apt proxy.
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "iputils-ping",
    "python3",
    "sudo",
    "ca-certificates",
    "curl",
)
#: Bump when the customisation below changes, so cached images are rebuilt.
LAYOUT = 1
MASKED = (
    "systemd-modules-load.service",  # no kmod or /lib/modules: every feature is built in
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "fstrim.timer",
)
STAMP = "etc/kubernetes-journey-base.json"


def host_mirror() -> str:
    """The Debian archive URL of the host's own apt sources (not the security archive).

    Reads ``/etc/apt/sources.list`` (one-line form) and ``/etc/apt/sources.list.d/*``
    (``.list`` and deb822 ``.sources``).

    Raises:
        LabError: when no Debian archive source is configured.
    """
    apt = Path(os.environ.get("KJ_APT_ETC", "/etc/apt"))
    candidates: list[tuple[str, str]] = []  # (uri, suites)
    one_line = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for f in one_line:
        if not f.is_file():
            continue
        for line in f.read_text().splitlines():
            line = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
            if len(line) >= 3 and line[0] == "deb":
                candidates.append((line[1], line[2]))
    for f in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text()):
            fields: dict[str, str] = {}
            for raw in stanza.splitlines():
                if raw.startswith("#") or ":" not in raw or raw[0].isspace():
                    continue
                key, _, value = raw.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                candidates.append((uri, fields.get("suites", "")))
    for uri, suites in candidates:
        if uri.startswith(("http://", "https://")) and "security" not in suites + uri:
            return uri.rstrip("/")
    raise LabError(
        f"no Debian archive found in the host's apt sources under {apt}: "
        "the lab builds its machines and its apt proxy from that mirror"
    )


def base_dir(release: str) -> Path:
    """Where the base image of ``release`` lives."""
    return paths.cache_dir() / "lab" / f"base-{release}"


def _wanted(release: str) -> dict:
    return {"release": release, "packages": sorted(PACKAGES), "layout": LAYOUT}


def read_stamp(root: Path) -> dict | None:
    """The stamp of a base image, or None when there is none."""
    try:
        return json.loads((root / STAMP).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _in_use(root: Path) -> bool:
    return any(f"lowerdir={root}" in opts for _t, opts in mounts().values())


def ensure_base(release: str) -> tuple[Path, bool]:
    """Return the base image of ``release``, building it first when missing or outdated.

    Returns:
        ``(path, built)``: built is True when debootstrap ran.
    """
    root = base_dir(release)
    stamp = read_stamp(root)
    want = _wanted(release)
    if stamp and all(stamp.get(k) == v for k, v in want.items()):
        return root, False
    if root.exists() and _in_use(root):
        raise LabError(
            f"base image {root} is outdated but running machines use it: "
            "bring their labs down first (python -m helpers lab down --all)"
        )
    mirror = host_mirror()
    cache = paths.cache_dir() / "lab"
    tmp = cache / f".base-{release}.tmp-{os.getpid()}"
    for stale in cache.glob(f".base-{release}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    (cache / "debs").mkdir(parents=True, exist_ok=True)
    logfile = cache / f"debootstrap-{release}.log"
    cmd = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        f"--cache-dir={cache / 'debs'}",
        release,
        str(tmp),
        mirror,
    ]
    log.info(
        "lab: building the %s base image with debootstrap from %s (about a minute)", release, mirror
    )
    started = time.monotonic()
    with open(logfile, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(logfile.read_text().splitlines()[-15:])
        shutil.rmtree(tmp, ignore_errors=True)
        raise LabError(
            f"failed to build the {release} base image (debootstrap exited {proc.returncode}; log {logfile}):\n{tail}"
        )
    customise(tmp)
    stamp = dict(
        want,
        mirror=mirror,
        built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        seconds=round(time.monotonic() - started, 1),
    )
    write_file(tmp / STAMP, json.dumps(stamp, indent=2) + "\n")
    if root.exists():
        old = cache / f".base-{release}.old-{os.getpid()}"
        root.rename(old)
        shutil.rmtree(old)
    tmp.rename(root)
    log.info("lab: base image ready at %s (%.0f s)", root, time.monotonic() - started)
    return root, True


def customise(root: Path) -> None:
    """Make a fresh debootstrap root a machine template (no identity, lab units)."""
    system = root / "etc/systemd/system"
    for unit in MASKED:
        for wants in system.glob(f"*.wants/{unit}"):
            wants.unlink()
        target = system / unit
        target.unlink(missing_ok=True)
        target.symlink_to("/dev/null")
    unit = "kj-cgroup-rw.service"
    write_file(system / unit, render(unit))
    wants = system / "sysinit.target.wants"
    wants.mkdir(exist_ok=True)
    if not (wants / unit).is_symlink():
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")
    write_file(root / "etc/ssh/sshd_config.d/kubernetes-journey-lab.conf", render("sshd-lab.conf"))
    # no identity in the template: each machine gets its own
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    dbus_id.unlink(missing_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/hostname").write_text("")
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()

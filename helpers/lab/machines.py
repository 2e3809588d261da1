"""Lab machines: systemd-nspawn containers booting Debian with systemd and sshd.

A machine is an overlay root (lower = the shared base image, upper = the machine's
own disk), a network namespace made by ``network``, a cgroup subtree made by
``cgroups``, and one systemd-nspawn process the lab records by PID. Its identity
(machine-id, hostname, SSH host keys) is written to its upper layer once and kept
until ``down`` removes the machine.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

from helpers.errors import LabError
from helpers.lab import cgroups, keys
from helpers.lab.base import host_mirror
from helpers.lab.files import mounts, render, write_file
from helpers.lab.network import NETNS_DIR
from helpers.lab.plan import LabPlan, MachinePlan
from helpers.lab.state import LabState, record
from helpers.waiting import WaitTimeout, poll_until

SSH_PORT = 22
UMOUNT_WAIT = 5.0
"""Seconds ``stop`` retries unmounting a machine's root (released just after its last process)."""


def proc_key(m: MachinePlan) -> str:
    """Key of the machine's nspawn process in the lab state."""
    return f"machine:{m.name}"


def ensure_root(m: MachinePlan, base: Path) -> bool:
    """Mount the machine's overlay root (lower = base, upper = its disk); True if mounted now."""
    for d in (m.upper, m.work, m.root, *m.binds.values()):
        d.mkdir(parents=True, exist_ok=True)
    want = f"lowerdir={base},upperdir={m.upper},workdir={m.work}"
    current = mounts().get(str(m.root))
    if current is not None:
        fstype, opts = current
        if fstype == "overlay" and f"lowerdir={base}," in opts and f"upperdir={m.upper}," in opts:
            return False
        subprocess.run(["umount", str(m.root)], check=True)
    proc = subprocess.run(
        ["mount", "-t", "overlay", f"kj-{m.lab}-{m.name}", "-o", want, str(m.root)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise LabError(f"failed to mount the root of {m.name} at {m.root}: {proc.stderr.strip()}")
    return True


def ensure_identity(plan: LabPlan, m: MachinePlan) -> list[str]:
    """Seed the machine's own files into its root; return the names of files written.

    Each file is written only while the machine has no copy of its own on its upper
    layer: once seeded, the machine (and the runbook, which manages hostname, hosts,
    resolver and apt settings on real hosts too) owns it, and ``up`` never reverts it.
    """
    root = m.root
    changed = []
    machine_id = root / "etc/machine-id"
    if len(machine_id.read_text().strip()) != 32:
        write_file(machine_id, uuid.uuid4().hex + "\n", 0o444)
        changed.append("machine-id")
    if keys.ensure_host_keys(root):
        changed.append("ssh host keys")
    mirror = host_mirror()
    files = {
        "etc/hostname": (f"{m.name}\n", 0o644),
        "etc/hosts": (render("hosts.j2", name=m.name, fqdn=m.fqdn, address=m.address), 0o644),
        "etc/resolv.conf": (f"nameserver {plan.gateway}\nsearch {plan.domain}\n", 0o644),
        "etc/apt/sources.list": (
            render("sources.list.j2", mirror=mirror, release=plan.release),
            0o644,
        ),
        "etc/apt/apt.conf.d/01-lab-proxy": (render("01-lab-proxy.j2", gateway=plan.gateway), 0o644),
        "root/.ssh/authorized_keys": (keys.public_key(plan) + "\n", 0o600),
    }
    for rel, (content, mode) in files.items():
        if (m.upper / rel).exists() or (m.upper / rel).is_symlink():
            continue
        if rel.startswith("root/.ssh/"):
            (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
        if write_file(root / rel, content, mode):
            changed.append(rel)
    return changed


def nspawn_argv(m: MachinePlan) -> list[str]:
    """The systemd-nspawn command line of one machine."""
    argv = [
        "systemd-nspawn",
        "--quiet",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--settings=no",
        f"--machine={m.unit}",
        f"--hostname={m.name}",
        f"--directory={m.root}",
        f"--network-namespace-path={NETNS_DIR / m.netns}",
        "--capability=all",
        "--system-call-filter=@keyring @privileged bpf",
        "--bind=/dev/kmsg",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
    ]
    argv += [f"--bind={host}:{inside}" for inside, host in m.binds.items()]
    return argv


def start(m: MachinePlan, state: LabState) -> int:
    """Boot the machine: enter its cgroups, then exec systemd-nspawn; return the PID."""
    cgroups.ensure_machine_cgroups(m.lab, m.name)
    targets = " ".join(
        shlex.quote(str(d / "cgroup.procs")) for d in cgroups.machine_dirs(m.lab, m.name)
    )
    enter = f'for f in {targets}; do echo $$ > "$f" || exit 111; done; exec "$@"'
    argv = nspawn_argv(m)
    env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="network")
    log = m.run_dir / "console.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", enter, "kj-enter", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
            env=env,
        )
    state.procs[proc_key(m)] = record(proc.pid, argv)
    state.save()
    return proc.pid


def ssh_banner(m: MachinePlan, timeout: float = 1.0) -> str | None:
    """The machine's SSH banner, or None when sshd does not answer."""
    try:
        with socket.create_connection((str(m.address), SSH_PORT), timeout=timeout) as s:
            s.settimeout(timeout)
            data = s.recv(256)
    except OSError:
        return None
    text = data.decode(errors="replace").strip()
    return text if text.startswith("SSH-") else None


def wait_ssh(m: MachinePlan, state: LabState, timeout: float = 90.0) -> float:
    """Wait until sshd of the machine answers; return seconds waited.

    Raises:
        LabError: when the nspawn process exits or sshd stays silent, with the console tail.
    """
    started = time.monotonic()
    rec = state.procs.get(proc_key(m))
    while ssh_banner(m) is None:
        if rec is None or not rec.alive() or time.monotonic() - started > timeout:
            log = m.run_dir / "console.log"
            tail = ""
            if log.exists():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            why = (
                "its nspawn process exited"
                if not (rec and rec.alive())
                else f"no sshd after {timeout:.0f} s"
            )
            raise LabError(f"failed to boot lab machine {m.name} ({m.address}): {why}\n{tail}")
        time.sleep(0.1)
    return time.monotonic() - started


def stop(m: MachinePlan, state: LabState, timeout: float = 20.0) -> list[str]:
    """Power the machine off (SIGTERM to nspawn), end anything left in its cgroups, unmount."""
    done = []
    rec = state.procs.get(proc_key(m))
    if rec and rec.stop(timeout=timeout):
        done.append(f"stopped {m.name} (pid {rec.pid})")
    if rec:
        try:
            os.waitpid(rec.pid, os.WNOHANG)
        except ChildProcessError:
            pass
    killed = cgroups.kill_all(m.lab, m.name)
    if killed:
        done.append(f"killed {killed} leftover process(es) of {m.name}")
    state.procs.pop(proc_key(m), None)
    state.save()
    if str(m.root) in mounts():
        def umount() -> subprocess.CompletedProcess[str]:
            return subprocess.run(["umount", str(m.root)], capture_output=True, text=True)

        def said(res: subprocess.CompletedProcess[str]) -> str:
            return f"umount exited {res.returncode}: {res.stderr.strip() or '(no message)'}"

        try:
            poll_until(umount, lambda res: res.returncode == 0,
                       what=f"the root of {m.name} at {m.root} unmounted", where="the lab host",
                       timeout=UMOUNT_WAIT, interval=0.1, describe=said)
        except WaitTimeout as err:
            raise LabError(
                f"failed to unmount the root of {m.name} at {m.root}: still mounted after "
                f"{err.seconds:.0f}s of retries; last error: {err.last}"
            ) from err
        done.append(f"unmounted {m.root}")
    cgroups.remove_machine(m.lab, m.name)
    return done


def remove_disk(m: MachinePlan) -> None:
    """Delete the machine's disk and runtime directory (refuses while anything is mounted there)."""
    held = [t for t in mounts() if t.startswith((str(m.data_dir) + "/", str(m.run_dir) + "/"))]
    if held:
        raise LabError(
            f"refusing to delete {m.name}'s directories: still mounted: {', '.join(held)}"
        )
    for d in (m.data_dir, m.run_dir):
        if d.exists():
            shutil.rmtree(d)

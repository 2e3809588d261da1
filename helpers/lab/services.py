"""The site services an air-gapped datacenter offers, on the lab gateway address only.

* apt-cacher-ng on ``<gateway>:3142``: the machines' only package source, backed by
  the host's own Debian mirror, with its cache kept across runs under
  ``<cache>/lab/apt-cacher-ng/<lab>``;
* an HTTP server for the offline release mirror (``paths.mirror_dir()``) on
  ``<gateway>:8080``;
* dnsmasq on ``<gateway>:53`` answering for the lab domain only (every host's name and
  FQDN, ``kubernetes.<domain>`` for the VIP, ``gateway.<domain>``); no upstream, no DHCP.

Each runs in the foreground as a child the lab records (PID and start time), under an
unprivileged user where the program does not drop privileges itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import random
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from urllib.parse import urlparse

from helpers import paths
from helpers.errors import LabError
from helpers.lab.base import host_mirror
from helpers.lab.files import render, write_file
from helpers.lab.plan import LabPlan
from helpers.lab.state import LabState, record

log = logging.getLogger(__name__)

APT_PORT = 3142
MIRROR_PORT = 8080
DNS_PORT = 53
READY_WAIT = 15.0
"""Seconds a freshly started service has to pass its readiness check."""


@dataclass
class Service:
    """A foreground daemon: how to start it, its config files and how to tell it is ready."""

    name: str
    argv: list[str]
    files: dict[Path, str] = field(default_factory=dict)
    ready: tuple[str, int] = ("tcp", 0)
    prepare_dirs: dict[Path, str] = field(default_factory=dict)  # dir -> owner

    def digest(self) -> str:
        """Fingerprint of command and configuration: a change means a restart."""
        h = hashlib.sha256(repr(self.argv).encode())
        for path in sorted(self.files):
            h.update(str(path).encode() + b"\0" + self.files[path].encode())
        return h.hexdigest()[:16]


def _as_user(user: str) -> list[str]:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--init-groups"]


def acng_root(plan: LabPlan) -> Path:
    """apt-cacher-ng's directory (config, cache, logs) for this lab; kept across runs."""
    return paths.cache_dir() / "lab" / "apt-cacher-ng" / plan.name


def services(plan: LabPlan) -> list[Service]:
    """The lab's site services."""
    gw = str(plan.gateway)
    run = plan.run_dir
    mirror = host_mirror()
    url = urlparse(mirror)
    acng = acng_root(plan)
    acng_conf = acng / "conf" / "acng.conf"
    acng_text = render(
        "acng.conf.j2",
        lab=plan.name,
        cache_dir=acng / "cache",
        log_dir=acng / "log",
        gateway=gw,
        pid_file=run / "apt-cacher-ng.pid",
        socket=run / "apt-cacher-ng.socket",
        mirror=mirror,
        mirror_key=f"{url.netloc}{url.path}".rstrip("/"),
    )
    dns_conf = run / "dnsmasq.conf"
    dns_text = render(
        "dnsmasq.conf.j2",
        lab=plan.name,
        gateway=gw,
        domain=plan.domain,
        vip=plan.vip,
        hosts=[(m.name, m.fqdn, m.address) for m in plan.machines],
        pid_file=run / "dnsmasq.pid",
        log_file=run / "dnsmasq.log",
    )
    mirror_dir = paths.mirror_dir()
    return [
        Service(
            name="apt-cacher-ng",
            argv=[*_as_user("apt-cacher-ng"), "apt-cacher-ng", "-c", str(acng_conf.parent)],
            files={acng_conf: acng_text},
            ready=("tcp", APT_PORT),
            prepare_dirs={acng / "cache": "apt-cacher-ng", acng / "log": "apt-cacher-ng", run: ""},
        ),
        Service(
            name="mirror-http",
            argv=[
                *_as_user("nobody"),
                "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable,
                "-m",
                "http.server",
                str(MIRROR_PORT),
                "--bind",
                gw,
                "--directory",
                str(mirror_dir),
            ],
            ready=("tcp", MIRROR_PORT),
            prepare_dirs={mirror_dir: ""},
        ),
        Service(
            name="dnsmasq",
            argv=["dnsmasq", "--keep-in-foreground", f"--conf-file={dns_conf}"],
            files={dns_conf: dns_text},
            ready=("dns", DNS_PORT),
        ),
    ]


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    if path.stat().st_uid == entry.pw_uid:
        return
    for dirpath, dirs, files in os.walk(path):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirs + files)]:
            os.lchown(name, entry.pw_uid, entry.pw_gid)


def ensure_service(plan: LabPlan, state: LabState, svc: Service) -> str:
    """Start ``svc`` unless its recorded process runs with the same config; return a status line."""
    digest = svc.digest()
    rec = state.procs.get(svc.name)
    if rec and rec.alive() and state.config.get(svc.name) == digest and _is_ready(plan, svc):
        return f"{svc.name}: running (pid {rec.pid})"
    restarted = False
    if rec and rec.alive():
        rec.stop()
        restarted = True
    for d, owner in svc.prepare_dirs.items():
        d.mkdir(parents=True, exist_ok=True)
        if owner:
            try:
                _chown_tree(d, owner)
            except KeyError:
                pass
    for path, text in svc.files.items():
        write_file(path, text)
    logfile = plan.run_dir / f"{svc.name}.log"
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            svc.argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
        )
    state.procs[svc.name] = record(proc.pid, svc.argv)
    state.config[svc.name] = digest
    state.save()
    deadline = time.monotonic() + READY_WAIT
    while not _is_ready(plan, svc):
        code = proc.poll()
        if code is not None or time.monotonic() > deadline:
            why = (
                f"it exited with code {code} before {_ready_probe(plan, svc)} succeeded"
                if code is not None
                else f"{_ready_probe(plan, svc)} did not succeed within {READY_WAIT:.0f}s"
            )
            tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-10:])
            raise LabError(
                f"failed to start {svc.name} of lab {plan.name}: {why} (log {logfile}):\n{tail}"
            )
        time.sleep(0.05)
    return f"{svc.name}: {'restarted' if restarted else 'started'} (pid {proc.pid})"


def _ready_probe(plan: LabPlan, svc: Service) -> str:
    """The readiness check of ``svc`` in words, for error messages."""
    kind, port = svc.ready
    if kind == "tcp":
        return f"a TCP connection to {plan.gateway}:{port}"
    name = plan.machines[0].fqdn if plan.machines else "(no machine)"
    return f"a DNS answer for {name} from {plan.gateway}:{DNS_PORT}"


def _is_ready(plan: LabPlan, svc: Service) -> bool:
    kind, port = svc.ready
    if kind == "tcp":
        try:
            with socket.create_connection((str(plan.gateway), port), timeout=0.5):
                return True
        except OSError:
            return False
    if not plan.machines:
        return True
    try:
        return bool(resolve(plan.gateway, plan.machines[0].fqdn, timeout=0.5))
    except OSError:
        return False


def stop_services(state: LabState) -> list[str]:
    """Stop every recorded service process; return what was stopped."""
    stopped = []
    for svc in ("dnsmasq", "mirror-http", "apt-cacher-ng"):
        rec = state.procs.get(svc)
        if rec and rec.stop():
            stopped.append(f"{svc} (pid {rec.pid})")
        _reap(rec.pid if rec else None)
        state.procs.pop(svc, None)
        state.config.pop(svc, None)
    return stopped


def _reap(pid: int | None) -> None:
    if pid is None:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def resolve(
    server: IPv4Address | str, name: str, timeout: float = 2.0, port: int = DNS_PORT
) -> list[str]:
    """Ask one DNS server for the A records of ``name`` (no resolver library, no fallback).

    Returns:
        The addresses; empty when the server answers with none (NXDOMAIN, REFUSED, ...).
    """
    qid = random.randrange(65536)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(query, (str(server), port))
        data, _ = s.recvfrom(4096)
    rid, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    if rid != qid or flags & 0x000F:
        return []
    pos = 12 + len(question) + 4
    found = []
    for _ in range(an):
        if data[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            found.append(socket.inet_ntoa(data[pos : pos + 4]))
        pos += rdlen
    return found

"""Tools of the lab tests: SSH into machines, snapshots of every host resource the lab
may touch, and a tiny busybox image for nested containers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from helpers import paths
from helpers.lab import cgroups, hostsettings, lab
from helpers.lab.plan import CGROUP_PARENT, LabPlan, MachinePlan
from helpers.lab.state import HostRecord, LabState, known_labs

SMALL = paths.REPO / "inventories" / "small.yaml"
SMALL_LAB = "kube-small"


@dataclass
class Lab:
    """A lab under test, with SSH into its machines."""

    plan: LabPlan
    report: lab.LabReport

    def ssh(
        self,
        m: MachinePlan,
        command: str,
        check: bool = True,
        timeout: float = 300,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess:
        """Run a command on a machine over real SSH with a verified host key."""
        return ssh(self.plan, m, command, check=check, timeout=timeout, input=input)


def ssh(plan: LabPlan, m: MachinePlan, command: str, check: bool = True, timeout: float = 300,
        input: bytes | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    cmd = [
        "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={plan.known_hosts}", "-o", "ConnectTimeout=10",
        "-i", str(plan.identity_file), f"root@{m.address}", command,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{m.name}: `{command}` exited {proc.returncode}\n{proc.stdout.decode(errors='replace')}"
            f"\n{proc.stderr.decode(errors='replace')}"
        )
    return proc


def snapshot() -> dict[str, object]:
    """Every host resource kind the lab touches, as comparable sets (all labs included)."""
    mounts = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mounts.add(line.split()[4])
    links = {
        item["ifname"]
        for item in json.loads(
            subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout
        )
    }
    netns = set(os.listdir("/run/netns")) if Path("/run/netns").is_dir() else set()
    cg = set()
    for h in cgroups.hierarchies():
        top = h / CGROUP_PARENT
        if top.is_dir():
            cg |= {str(Path(d)) for d, _s, _f in os.walk(top)}
    procs = set()  # processes that name the small lab (others run their own labs here)
    markers = (f"/{SMALL_LAB}/", f"--machine={SMALL_LAB}-", "192.168.5.1 ", "192.168.5.1:")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = b" ".join(argv).decode(errors="replace") + " "
        if any(k in text for k in markers) and "pytest" not in text:
            procs.add(text)
    sysctls = {
        k: hostsettings.read_sysctl(k)
        for k in (*hostsettings.SYSCTLS, *hostsettings.SYSCTL_MINIMUMS, "net.ipv4.ip_forward")
    }
    return {
        "mounts": mounts, "links": links, "netns": netns, "cgroups": cg, "procs": procs,
        "sysctls": sysctls, "others": _other_labs(),
    }  # fmt: skip


def _other_labs() -> dict[str, tuple[str, list[str]]]:
    """Labs of other people on this shared host: name -> (bridge, machine names)."""
    found = {}
    for name in set(known_labs()) | set(HostRecord.load().labs):
        if name == SMALL_LAB:
            continue
        st = LabState.load(name)
        found[name] = (st.bridge, st.machines)
    return found


def differences(before: dict, after: dict) -> dict[str, set]:
    """Resources that differ between two snapshots, ignoring other labs' own resources.

    Several labs may run at once on a shared host; anything another lab named (its
    bridge, veths, netns, mounts, cgroups, processes) is left out of the comparison.
    When another lab holds the shared host settings, those are compared as they are.
    """
    others = {**before["others"], **after["others"]}
    names = set(others)
    own_links = {b for b, _ in others.values()} | {
        MachinePlan(n, m, m, IPv4Address(0), ()).veth for n, (_b, ms) in others.items() for m in ms
    }

    def foreign(kind: str, item: str) -> bool:
        if kind == "links":
            return item in own_links
        if kind == "netns":
            return any(item.startswith(f"kj-{n}-") for n in names)
        if kind == "mounts":
            return any(
                f"/kubernetes-journey/{n}/" in item or item.startswith(f"/run/netns/kj-{n}-")
                for n in names
            ) or (bool(names) and item in ("/run/netns", "/run/systemd/nspawn"))
        if kind == "cgroups":
            return any(f"/{CGROUP_PARENT}/{n}" in item for n in names) or (
                bool(names) and item.endswith(CGROUP_PARENT)
            )
        return False

    diff = {}
    for kind in ("mounts", "links", "netns", "cgroups", "procs"):
        a = {x for x in before[kind] if not foreign(kind, x)}
        b = {x for x in after[kind] if not foreign(kind, x)}
        if a != b:
            diff[kind] = a ^ b
    if not names and before["sysctls"] != after["sysctls"]:
        diff["sysctls"] = {
            f"{k}: {before['sysctls'][k]} -> {v}" for k, v in after["sysctls"].items()
        }
    return diff


def busybox_image(tag: str = "docker.io/kj/busybox:test") -> bytes:
    """A one-layer docker-archive image built from the host's static busybox."""
    busybox = Path("/bin/busybox")
    data = busybox.read_bytes() if busybox.exists() else b""
    if not data.startswith(b"\x7fELF") or b"/lib64/ld-linux" in data:
        pytest.fail(
            "the nested-container test needs a static /bin/busybox (Debian package busybox-static)"
        )
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for d in ("bin", "tmp", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for tool in ("sh", "echo", "sleep", "cat", "hostname"):
            info = tarfile.TarInfo(f"bin/{tool}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    layer_bytes = layer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
    }).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{diff_id}/layer.tar"]}]
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, blob in (
            (f"{diff_id}/layer.tar", layer_bytes),
            (config_name, config),
            ("manifest.json", manifest),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return out.getvalue()


def require(reason: str) -> None:
    """Skip with ``reason``; under ``KJ_REQUIRE_ALL=1`` (CI) fail instead: CI never passes by skipping."""
    if os.environ.get("KJ_REQUIRE_ALL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)

"""Host facts and preflight checks: what each machine is, and whether it can join the cluster.

:func:`gather_facts` connects to every host (verified host keys, through the Fleet) and
reads, in one command per host, what later steps depend on: OS and version, kernel,
CPUs, memory, cgroup version, machine-id, host name, swap, listening TCP ports and any
cluster CA already installed; it also measures each host's clock offset to the
operator's machine. :func:`preflight` then evaluates those facts without touching a
host and returns one pass/fail line per host and check, each with its reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.tables import Table

SUPPORTED_OS = {("debian", "12"), ("debian", "13"), ("ubuntu", "22.04"), ("ubuntu", "24.04")}
MIN_KERNEL = (4, 19)  # the oldest LTS kernel Kubernetes still documents support for
MAX_CLOCK_OFFSET = 1.0  # seconds; etcd warns at 1 s of drift between members

# Honest per-role minimums. CPUs: the largest of the host's roles (stacked components
# share cores); memory: the sum (they do not share memory). Memory is compared with
# 10 % slack because the kernel keeps part of the RAM: a "2 GiB" VM reports ~1.9 GiB.
MIN_CPUS = {"lb": 1, "etcd": 1, "master": 2, "worker": 1}
MIN_MEMORY_MIB = {"lb": 512, "etcd": 1024, "master": 2048, "worker": 1024}
MEMORY_SLACK = 0.9

STATS_PORT = 8404
"""HAProxy's stats page on each load balancer's own address (see helpers.loadbalancer)."""

# Ports each role's services will listen on, and the process expected to hold them once
# the cluster is built (names as ``ss`` shows them: the kernel cuts them to 15 chars).
ROLE_PORTS: dict[str, dict[int, str]] = {
    "lb": {6443: "haproxy", STATS_PORT: "haproxy"},
    "master": {6443: "kube-apiserver", 10257: "kube-controller-manager", 10259: "kube-scheduler"},
    "etcd": {2379: "etcd", 2380: "etcd"},
    "worker": {10250: "kubelet", 10256: "kube-proxy"},
}

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


@dataclass
class HostFacts:
    """What one host is, as read over SSH by :func:`gather_facts`."""

    name: str
    os_id: str = ""
    os_version: str = ""
    os_name: str = ""
    kernel: str = ""
    arch: str = ""
    cpus: int = 0
    memory_mib: int = 0
    cgroup_version: str = ""  # "v2", "v1" or what stat reported
    machine_id: str = ""
    hostname: str = ""
    init: str = ""
    virtualization: str = ""
    swap_mib: int = 0
    swap_devices: int = 0
    clock_offset: float = 0.0  # host clock minus operator clock, seconds
    clock_uncertainty: float = 0.0  # half the round trip of the best sample
    listening: dict[int, str] = field(default_factory=dict)  # port -> process ("" when unknown)
    ca_files: dict[str, str] = field(default_factory=dict)  # path -> sha256 of the DER certificate


@dataclass
class Check:
    """One preflight verdict: ``passed`` with a reason either way."""

    host: str
    check: str
    passed: bool
    detail: str


# ----------------------------------------------------------------------------- parsing


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


# ----------------------------------------------------------------------------- gathering


def gather_facts(fleet: Any, hosts: Any = None) -> Any:
    """Step: read every host's facts over SSH; the report's data maps host to :class:`HostFacts`.

    Args:
        fleet: the :class:`~helpers.remote.Fleet` (connections with verified host keys).
        hosts: optional selector (role, name or list of names); all hosts by default.

    Returns:
        The step's Report; an unreachable host is a failed result naming it, raised once
        at the end with every other failure.
    """
    script = _GATHER.replace("{ca_files}", " ".join(HOST_CA_FILES))

    def run(h: Any) -> Any:
        from helpers.report import Result

        out = h.run(script, check=False)
        facts = parse_facts(h.name, out.stdout)
        facts.clock_offset, facts.clock_uncertainty = measure_clock_offset(h)
        for path in list(facts.ca_files):
            facts.ca_files[path] = _cert_fingerprint(h.read_file(path) or b"")
        detail = (
            f"{facts.os_name}, kernel {facts.kernel}, {facts.cpus} CPUs, "
            f"{facts.memory_mib / 1024:.1f} GiB, cgroup {facts.cgroup_version}, "
            f"clock {facts.clock_offset * 1000:+.0f} ms"
        )
        return Result(h.name, "ok", detail, data=facts)

    return fleet.step("gather host facts", run, hosts=hosts)


def measure_clock_offset(h: Any, samples: int = 3) -> tuple[float, float]:
    """Return (offset, uncertainty) in seconds of the host's clock against this machine's.

    Each sample reads the host's ``date +%s.%N`` between two local readings and takes
    the midpoint as the matching local time; the sample with the shortest round trip
    wins, its half round trip is the uncertainty.
    """
    best: tuple[float, float] | None = None
    for _ in range(samples):
        t0 = time.time()
        out = h.run("date +%s.%N")
        t1 = time.time()
        remote = float(out.stdout.strip())
        sample = (remote - (t0 + t1) / 2, (t1 - t0) / 2)
        if best is None or sample[1] < best[1]:
            best = sample
    assert best is not None
    return best


def _cert_fingerprint(pem: bytes) -> str:
    """Return the sha256 of the first certificate's DER in ``pem`` ("" when none parses)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return ""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def local_ca_fingerprints(cluster_dir: Path) -> dict[str, str]:
    """Return sha256 of DER -> file for every CA certificate under ``cluster_dir/pki``."""
    from cryptography import x509

    found: dict[str, str] = {}
    pki = Path(cluster_dir) / "pki"
    if not pki.is_dir():
        return found
    for path in sorted(pki.rglob("*.crt")):
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except (ValueError, x509.ExtensionNotFound):
            continue
        if is_ca:
            found[_cert_fingerprint(path.read_bytes())] = str(path)
    return found


def facts_table(facts: dict[str, HostFacts], inv: Any = None) -> Table:
    """Return the facts as a table, one row per host."""
    rows = []
    for name, f in facts.items():
        roles = ", ".join(inv.host(name).roles) if inv is not None else ""
        rows.append([
            name, roles, f.os_name, f.kernel, f.cpus, f"{f.memory_mib / 1024:.1f} GiB", f.cgroup_version,
            f.machine_id[:12] + ("…" if len(f.machine_id) > 12 else ""),
            f"{f.clock_offset * 1000:+.1f} ± {f.clock_uncertainty * 1000:.1f} ms", f.virtualization,
        ])
    return Table(
        ["host", "roles", "OS", "kernel", "CPUs", "memory", "cgroup", "machine-id", "clock offset", "virtualization"],
        rows, title="host facts",
    )


def check_host_keys(fleet: Any) -> Table:
    """Return, per host, the SSH host key it presented and whether known_hosts lists exactly it.

    The Fleet already refuses a key that known_hosts does not list; this shows the
    evidence: key type, SHA256 fingerprint (as ``ssh-keygen -lf`` prints it) and the
    known_hosts entry it matched (by address, or by name or FQDN).
    """
    import base64

    import paramiko

    known = paramiko.HostKeys(str(fleet.known_hosts))
    rows = []
    for h in fleet.hosts():
        key = h.connect().client.get_transport().get_remote_server_key()
        fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
        match = ""
        for name in (h.address, h.name, h.host.fqdn):
            lookup = name if h.port == 22 else f"[{name}]:{h.port}"
            entry = known.lookup(lookup)
            if entry is not None and entry.get(key.get_name()) == key:
                match = lookup
                break
        rows.append([h.name, key.get_name(), fingerprint, match or "NOT LISTED"])
    return Table(["host", "key type", "fingerprint", "known_hosts entry"], rows,
                 title=f"SSH host keys, verified against {fleet.known_hosts}")


# ----------------------------------------------------------------------------- preflight


def preflight(inv: Any, facts: dict[str, HostFacts], cluster_dir: Path | None = None) -> list[Check]:
    """Evaluate the gathered facts against what the cluster needs; no host is contacted.

    Args:
        inv: the loaded inventory (roles, names).
        facts: host name to :class:`HostFacts`, as :func:`gather_facts` reported them.
        cluster_dir: the cluster directory whose CAs installed CAs must match
            (default: ``inv.cluster_dir``).

    Returns:
        One :class:`Check` per host and check, in host order; a host without facts
        fails a ``facts`` check instead.
    """
    local_cas = local_ca_fingerprints(Path(cluster_dir) if cluster_dir else inv.cluster_dir)
    machine_ids: dict[str, list[str]] = {}
    for name, f in facts.items():
        machine_ids.setdefault(f.machine_id, []).append(name)
    by_address_name = {h.name: h for h in inv.hosts}
    checks: list[Check] = []
    for host in inv.hosts:
        f = facts.get(host.name)
        if f is None:
            checks.append(Check(host.name, "facts", False, "no facts gathered: the host did not answer"))
            continue
        for name, fn in _CHECKS:
            passed, detail = fn(host, f, machine_ids=machine_ids, names=by_address_name, local_cas=local_cas)
            checks.append(Check(host.name, name, passed, detail))
    return checks


def _check_os(host, f, **_):
    if (f.os_id, f.os_version) in SUPPORTED_OS:
        return True, f.os_name
    supported = ", ".join(f"{o.capitalize()} {v}" for o, v in sorted(SUPPORTED_OS))
    return False, f"{f.os_name or f.os_id + ' ' + f.os_version} is not supported (supported: {supported})"


def _check_arch(host, f, **_):
    if f.arch == "x86_64":
        return True, "x86_64 (amd64 binaries)"
    return False, f"{f.arch}: the release artifacts of this series are built for amd64 (x86_64) only"


def _check_kernel(host, f, **_):
    numbers = tuple(int(n) for n in re.findall(r"\d+", f.kernel)[:2])
    if numbers >= MIN_KERNEL:
        return True, f.kernel
    return False, f"kernel {f.kernel} is older than {MIN_KERNEL[0]}.{MIN_KERNEL[1]}"


def _check_init(host, f, **_):
    if f.init == "systemd":
        return True, "systemd is PID 1"
    return False, f"PID 1 is {f.init!r}: the services of this series are systemd units"


def _check_cpu(host, f, **_):
    need = max(MIN_CPUS[r] for r in host.roles)
    if f.cpus >= need:
        return True, f"{f.cpus} CPUs (need {need} for {', '.join(host.roles)})"
    return False, f"{f.cpus} CPUs, but {', '.join(host.roles)} need at least {need}"


def _check_memory(host, f, **_):
    need = sum(MIN_MEMORY_MIB[r] for r in host.roles)
    text = f"{f.memory_mib / 1024:.1f} GiB (need {need / 1024:.1f} GiB for {', '.join(host.roles)})"
    return f.memory_mib >= need * MEMORY_SLACK, text if f.memory_mib >= need * MEMORY_SLACK else "only " + text


def _check_cgroup(host, f, **_):
    if f.cgroup_version == "v2":
        return True, "cgroup v2 (unified)"
    if f.cgroup_version == "v1":
        return True, "cgroup v1 (hybrid): supported with kubelet failCgroupV1: false and the cgroupfs driver"
    return False, f"cannot tell the cgroup version (/sys/fs/cgroup is {f.cgroup_version!r})"


def _check_machine_id(host, f, machine_ids, **_):
    if not re.fullmatch(r"[0-9a-f]{32}", f.machine_id):
        return False, f"/etc/machine-id is {f.machine_id!r}, not 32 hex digits: run systemd-machine-id-setup"
    twins = [n for n in machine_ids.get(f.machine_id, []) if n != host.name]
    if twins:
        return False, (f"machine-id {f.machine_id[:12]}… is shared with {', '.join(twins)} (cloned image?): "
                       "give each host its own (rm /etc/machine-id; systemd-machine-id-setup)")
    return True, f"{f.machine_id[:12]}… unique"


def _check_hostname(host, f, names, **_):
    current = f.hostname.split(".")[0]
    if current == host.name:
        return True, f"{f.hostname}"
    if current in names:
        return False, (f"{host.address} calls itself {f.hostname}, the name of another inventory host: "
                       "are two addresses swapped in the inventory?")
    return True, f"currently {f.hostname!r}; 02-network renames it {host.name}"


def _check_clock(host, f, **_):
    text = f"{f.clock_offset * 1000:+.0f} ms ± {f.clock_uncertainty * 1000:.0f} ms against the operator's clock"
    if abs(f.clock_offset) - f.clock_uncertainty <= MAX_CLOCK_OFFSET:
        return True, text
    return False, f"{text}, more than {MAX_CLOCK_OFFSET:.0f} s: fix time sync before certificates are issued"


def _check_ports(host, f, **_):
    wanted: dict[int, tuple[str, str]] = {}
    problems, notes = [], []
    for role in host.roles:
        for port, proc in ROLE_PORTS[role].items():
            if port in wanted and wanted[port][1] != proc:
                problems.append(f"{port} is needed by both {wanted[port][0]} ({wanted[port][1]}) and {role} ({proc})")
            wanted.setdefault(port, (role, proc))
    for port, (_role, proc) in sorted(wanted.items()):
        holder = f.listening.get(port)
        if holder is None:
            notes.append(f"{port} free")
        elif holder and holder[:15] == proc[:15]:
            notes.append(f"{port} held by {holder} (expected)")
        else:
            problems.append(f"{port} is in use by {holder or 'an unknown process'}; {proc} needs it")
    if problems:
        return False, "; ".join(problems)
    return True, ", ".join(notes)


def _check_swap(host, f, **_):
    if f.swap_devices == 0:
        return True, "off"
    return True, f"on ({f.swap_devices} device(s), {f.swap_mib} MiB): 02-network turns it off"


def _check_ca(host, f, local_cas, **_):
    if not f.ca_files:
        return True, "no cluster CA on the host"
    foreign = [p for p, fp in f.ca_files.items() if fp not in local_cas]
    if not foreign:
        return True, "installed CA(s) are this cluster's: " + ", ".join(f.ca_files)
    if not local_cas:
        return False, (f"{', '.join(foreign)} exists but the cluster directory has no CA: another cluster "
                       "runs here (reset the host or point KJ_CLUSTER_DIR at that cluster's state)")
    return False, (f"{', '.join(foreign)} is a different CA from this cluster directory's: another cluster "
                   "runs here (reset the host or use that cluster's directory)")


_CHECKS = [
    ("os", _check_os),
    ("architecture", _check_arch),
    ("kernel", _check_kernel),
    ("init", _check_init),
    ("cpu", _check_cpu),
    ("memory", _check_memory),
    ("cgroup", _check_cgroup),
    ("machine-id", _check_machine_id),
    ("hostname", _check_hostname),
    ("clock", _check_clock),
    ("ports", _check_ports),
    ("swap", _check_swap),
    ("cluster CA", _check_ca),
]


def preflight_table(checks: list[Check]) -> Table:
    """Return the checks as a pass/fail table (host, check, result, reason)."""
    return Table(["host", "check", "result", "detail"],
                 [[c.host, c.check, "pass" if c.passed else "fail", c.detail] for c in checks],
                 title=f"preflight: {sum(c.passed for c in checks)} of {len(checks)} checks pass")


def failures(checks: list[Check]) -> list[str]:
    """Return one readable line per failed check ("host: check: reason")."""
    return [f"{c.host}: {c.check}: {c.detail}" for c in checks if not c.passed]


# ----------------------------------------------------------------------------- saved result


def inventory_digest(inv: Any) -> str:
    """Return the sha256 of the inventory file, to tell whether it changed since preflight."""
    return hashlib.sha256(Path(inv.path).read_bytes()).hexdigest() if inv.path else ""


def save_preflight(inv: Any, checks: list[Check], facts: dict[str, HostFacts] | None = None) -> Path:
    """Write the preflight result to ``cluster_dir/preflight.json`` for later notebooks; return the path."""
    path = inv.cluster_dir / "preflight.json"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = {
        "inventory": str(inv.path),
        "inventory_sha256": inventory_digest(inv),
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "checks": [asdict(c) for c in checks],
        "facts": {n: asdict(f) for n, f in (facts or {}).items()},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    tmp.replace(path)
    return path


def load_preflight(inv: Any) -> dict[str, Any]:
    """Return the saved preflight record, or raise ConfigError saying why it cannot be used.

    Raises:
        ConfigError: no record (01-architecture has not run), the inventory changed
            since, or a check failed.
    """
    from helpers.errors import ConfigError

    path = inv.cluster_dir / "preflight.json"
    if not path.exists():
        raise ConfigError(f"no preflight result at {path}: run notebooks/01-architecture first")
    record = json.loads(path.read_text())
    if record.get("inventory_sha256") != inventory_digest(inv):
        raise ConfigError(f"inventory {inv.path} changed since preflight ran ({record.get('time')}): re-run 01-architecture")
    failed = [c for c in record["checks"] if not c["passed"]]
    if failed:
        lines = "; ".join(f"{c['host']}: {c['check']}: {c['detail']}" for c in failed)
        raise ConfigError(f"preflight failed ({record.get('time')}): {lines}")
    missing = sorted({h.name for h in inv.hosts} - {c["host"] for c in record["checks"]})
    if missing:
        raise ConfigError(f"preflight has no result for {', '.join(missing)}: re-run 01-architecture")
    return record

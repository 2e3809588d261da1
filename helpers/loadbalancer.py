"""The load-balancer tier: HAProxy in front of the API servers, keepalived holding the VIP.

Steps (each probes first and changes only what differs):

1. :func:`ensure_lb_credentials` - the stats page password and the VRRP password,
   generated once on the operator's machine (``cluster_dir/loadbalancer``, 0600), reused after;
2. :func:`ensure_haproxy` - HAProxy on every ``lb`` host: a TCP frontend on VIP:6443
   balancing over every master's :6443 with a ``/readyz`` health check, and a stats page
   on the host's own address;
3. :func:`ensure_keepalived` - keepalived VRRP (unicast, authenticated) holding the VIP on
   the highest-priority load balancer whose HAProxy runs.

Checks (no side effects): :func:`check_vip_holders`, :func:`check_tcp`, :func:`check_tcp_session`,
:func:`check_stats`.
Verification that briefly stops a service and restores it: :func:`measure_failover`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import socket
import string
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.facts import STATS_PORT
from helpers.topology import API_PORT, api_fqdn
from helpers.waiting import WaitTimeout, settle

HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CFG = "/etc/keepalived/keepalived.conf"
NONLOCAL_BIND_FILE = "/etc/sysctl.d/90-haproxy-nonlocal-bind.conf"
STATS_USER = "kj-stats"
VRRP_INSTANCE = "kube_api"


# ----------------------------------------------------------------------------- credentials


@dataclass
class LBCredentials:
    """Generated secrets of the load-balancer tier (stored 0600 in the cluster directory)."""

    stats_user: str
    stats_password: str
    vrrp_auth_pass: str  # VRRP PASS authentication carries at most 8 characters


def credentials_path(inv: Any) -> Path:
    """Where the load-balancer secrets live: ``cluster_dir/loadbalancer/credentials.json``."""
    return inv.cluster_dir / "loadbalancer" / "credentials.json"


def load_credentials(inv: Any, create: bool = False) -> tuple[LBCredentials, bool]:
    """Return (credentials, created): read them, or generate and store them once when ``create``.

    Raises:
        ConfigError: the file is missing and ``create`` is false, or it is unreadable.
    """
    from helpers.errors import ConfigError

    path = credentials_path(inv)
    if path.exists():
        try:
            return LBCredentials(**json.loads(path.read_text())), False
        except (ValueError, TypeError) as err:
            raise ConfigError(f"failed to read load-balancer credentials {path}: {err}") from err
    if not create:
        raise ConfigError(f"no load-balancer credentials at {path}: run ensure_lb_credentials (02-network)")
    alphabet = string.ascii_letters + string.digits
    creds = LBCredentials(
        stats_user=STATS_USER,
        stats_password=secrets.token_urlsafe(18),
        vrrp_auth_pass="".join(secrets.choice(alphabet) for _ in range(8)),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(creds), fh, indent=1)
    tmp.replace(path)
    return creds, True


def ensure_lb_credentials(inv: Any) -> Any:
    """Step (local): generate the stats and VRRP passwords once; later runs reuse them unchanged."""
    from helpers.report import OPERATOR, Report, Result

    started = time.monotonic()
    _, created = load_credentials(inv, create=True)
    path = credentials_path(inv)
    mode = oct(path.stat().st_mode & 0o777)
    if mode != "0o600":
        os.chmod(path, 0o600)
        created = True
    detail = f"{'generated' if created else 'reused'} {path} (mode 0600)"
    result = Result(OPERATOR, "changed" if created else "ok", detail, time.monotonic() - started)
    return Report("load-balancer credentials", {OPERATOR: result})


# ----------------------------------------------------------------------------- configuration


def router_id(inv: Any) -> int:
    """Return the VRRP virtual router id (1-255), derived from the cluster name.

    Every VRRP group on one L2 segment needs its own id; deriving it from the cluster
    name keeps two clusters on one network apart without another inventory field.
    """
    return zlib.crc32(inv.cluster.name.encode()) % 255 + 1


def frontend_address(inv: Any, host: Any) -> str:
    """Where HAProxy's API frontend binds: the VIP (non-local bind), or the host's address without one."""
    return str(inv.network.vip) if inv.network.vip is not None else str(host.address)


def haproxy_config(inv: Any, host: Any, creds: LBCredentials) -> str:
    """Render ``haproxy.cfg`` for load balancer ``host``."""
    from helpers.remote import render_template

    return render_template("loadbalancer/haproxy.cfg.j2", {
        "frontend_address": frontend_address(inv, host),
        "api_port": API_PORT,
        "api_name": api_fqdn(inv),
        "masters": [{"name": m.name, "address": str(m.address)} for m in inv.hosts_with("master")],
        "stats_address": str(host.address),
        "stats_port": STATS_PORT,
        "stats_user": creds.stats_user,
        "stats_password": creds.stats_password,
    })


def keepalived_config(inv: Any, host: Any, creds: LBCredentials, interface: str) -> str:
    """Render ``keepalived.conf`` for load balancer ``host`` on network ``interface``.

    Priorities follow inventory order: the first load balancer gets 150, the next 140, ....
    All start as BACKUP; the election (highest priority wins) and preemption (keepalived's
    default) put the VIP on the first whenever it is healthy.
    """
    from helpers.remote import render_template

    lbs = inv.hosts_with("lb")
    index = [h.name for h in lbs].index(host.name)
    return render_template("loadbalancer/keepalived.conf.j2", {
        "name": host.name,
        "instance": VRRP_INSTANCE,
        "state": "BACKUP",
        "interface": interface,
        "router_id": router_id(inv),
        "priority": 150 - 10 * index,
        "address": str(host.address),
        "peers": [str(h.address) for h in lbs if h.name != host.name],
        "auth_pass": creds.vrrp_auth_pass,
        "vip": str(inv.network.vip),
        "prefix": inv.network.node_subnet.prefixlen,
    })


def _inv(fleet: Any) -> Any:
    return getattr(fleet, "inventory", None) or getattr(fleet, "inv", None) or fleet.hosts()[0].inventory


def _validate(h: Any, command: str, content: str, what: str) -> None:
    """Check a config on the host before it replaces the live one; raise naming the host on error."""
    from helpers.errors import CommandFailed

    tmp = h.run("mktemp /tmp/kj-config.XXXXXX").stdout.strip()
    try:
        h.run(f"cat > {tmp}", input=content)
        out = h.run(command.format(path=tmp), check=False)
        if not out.ok:
            raise CommandFailed(h.name, f"validate {what}", command.format(path=tmp), out.exit_code,
                                out.stdout + out.stderr)
    finally:
        h.run(f"rm -f {tmp}", check=False)


def ensure_haproxy(fleet: Any) -> Any:
    """Step: HAProxy installed, configured (validated with ``haproxy -c`` first) and running on every lb."""
    from helpers.remote import (
        Change,
        ensure_file,
        ensure_packages,
        ensure_sysctl,
        ensure_unit_current,
    )

    inv = _inv(fleet)
    creds, _ = load_credentials(inv)
    one_at_a_time = threading.Lock()  # never both load balancers restarting at once

    def run(h: Any) -> Any:
        changes = [ensure_packages(h, ["haproxy"])]
        if inv.network.vip is not None:  # bind the VIP even on the host that does not hold it
            changes.append(ensure_sysctl(h, {"net.ipv4.ip_nonlocal_bind": "1"}, persist_file=NONLOCAL_BIND_FILE))
        content = haproxy_config(inv, h.host, creds)
        current = h.read_file(HAPROXY_CFG)
        if current is None or current.decode(errors="replace") != content:
            _validate(h, "haproxy -c -q -f {path}", content, "haproxy.cfg")
        config = ensure_file(h, HAPROXY_CFG, content, mode=0o640, owner="root", group="haproxy")
        changes.append(config)
        changes.append(ensure_unit_current(h, "haproxy", [HAPROXY_CFG], lock=one_at_a_time))
        merged = Change.merge(*changes)
        return merged if merged.changed else Change(False, f"{frontend_address(inv, h.host)}:{API_PORT} -> "
                                                    f"{len(inv.hosts_with('master'))} masters, stats on "
                                                    f"{h.host.address}:{STATS_PORT}")

    return fleet.step("HAProxy in front of the API servers", run, hosts="lb", skip="not a load balancer")


def ensure_keepalived(fleet: Any) -> Any:
    """Step: keepalived installed, configured (validated with ``keepalived -t`` first) and running on every lb."""
    from helpers.errors import HostError
    from helpers.remote import Change, ensure_file, ensure_packages, ensure_unit_current

    inv = _inv(fleet)
    creds, _ = load_credentials(inv)
    one_at_a_time = threading.Lock()  # a restart moves the VIP: never both at once
    if inv.network.vip is None:
        raise HostError("operator", "configure keepalived", "the inventory sets no network.vip to hold")

    def run(h: Any) -> Any:
        changes = [ensure_packages(h, ["keepalived"])]
        interface = h.run(f"ip -o -4 addr show to {h.host.address} | awk '{{print $2; exit}}'").stdout.strip()
        if not interface:
            raise HostError(h.name, "find the interface of its address", f"no interface holds {h.host.address}")
        content = keepalived_config(inv, h.host, creds, interface)
        current = h.read_file(KEEPALIVED_CFG)
        if current is None or current.decode(errors="replace") != content:
            _validate(h, "keepalived -t -f {path}", content, "keepalived.conf")
        config = ensure_file(h, KEEPALIVED_CFG, content, mode=0o600)
        changes.append(config)
        changes.append(ensure_unit_current(h, "keepalived", [KEEPALIVED_CFG], lock=one_at_a_time))
        merged = Change.merge(*changes)
        if merged.changed:
            return merged
        index = [x.name for x in inv.hosts_with("lb")].index(h.name)
        return Change(False, f"VRRP id {router_id(inv)} on {interface}, priority {150 - 10 * index}")

    report = fleet.step("keepalived holding the VIP", run, hosts="lb", skip="not a load balancer")
    if report.changed:  # let the election settle: the primary preempts within a few seconds
        primary = inv.hosts_with("lb")[0].name
        holders = wait_for_holder(fleet, primary)
        if not (holders.get(primary) and sum(holders.values()) == 1):
            raise WaitTimeout(f"VIP {inv.network.vip}", f"{primary} alone holding the VIP", 20.0,
                              _holders_text(holders))
    return report


# ----------------------------------------------------------------------------- checks


def _holds(h: Any, vip: Any) -> bool:
    return bool(h.run(f"ip -o -4 addr show to {vip}/32", check=False).stdout.strip())


def check_vip_holders(fleet: Any) -> dict[str, bool]:
    """Return lb name -> whether it holds the VIP right now (exactly one True is healthy)."""
    inv = _inv(fleet)
    return {h.name: _holds(h, inv.network.vip) for h in fleet.hosts("lb")}


def _holders_text(holders: dict[str, bool]) -> str:
    held = [n for n, v in holders.items() if v]
    return f"held by {', '.join(held)}" if held else "held by nobody"


def wait_for_single_holder(fleet: Any, timeout: float = 15.0) -> dict[str, bool]:
    """Poll until exactly one lb holds the VIP (or ``timeout`` passes); return the last answer."""
    return settle(lambda: check_vip_holders(fleet), lambda h: sum(h.values()) == 1,
                  within=timeout, interval=0.2).value


def wait_for_holder(fleet: Any, name: str | None = None, timeout: float = 20.0) -> dict[str, bool]:
    """Poll until ``name`` (default: the first lb, highest priority) alone holds the VIP; return the last answer.

    After keepalived starts, a backup may hold the VIP for a few seconds until the
    primary's master-down timer runs out and it preempts; this waits for that.
    """
    name = name or _inv(fleet).hosts_with("lb")[0].name
    return settle(lambda: check_vip_holders(fleet), lambda h: bool(h.get(name)) and sum(h.values()) == 1,
                  within=timeout, interval=0.2).value


def wait_for_tcp(address: Any, port: int = API_PORT, timeout: float = 10.0) -> tuple[bool, str]:
    """Poll :func:`check_tcp` until a connection opens or ``timeout`` passes; return the last answer."""
    return settle(lambda: check_tcp(address, port), lambda r: r[0], within=timeout, interval=0.2).value


def check_tcp(address: Any, port: int = API_PORT, timeout: float = 1.0) -> tuple[bool, str]:
    """Open a TCP connection from this machine; return (connected, reason)."""
    try:
        with socket.create_connection((str(address), port), timeout=timeout):
            return True, f"connected to {address}:{port}"
    except OSError as err:
        return False, f"{address}:{port}: {err.strerror or err}"


def check_tcp_session(address: Any, port: int = API_PORT, timeout: float = 3.0) -> tuple[bool, str]:
    """Open a TCP connection, send one byte of a TLS handshake and wait for the far end to answer or close.

    Unlike :func:`check_tcp` this waits until the load balancer has handled the
    connection, so its session counters include it afterwards. Returns (connected, what happened).
    """
    try:
        with socket.create_connection((str(address), port), timeout=timeout) as sock:
            sock.sendall(b"\x16")
            try:
                data = sock.recv(64)
            except TimeoutError:
                return True, f"connected to {address}:{port}; still open after {timeout:g} s"
            if not data:
                return True, f"connected to {address}:{port}; closed by the far end (no API server ready behind it)"
            return True, f"connected to {address}:{port}; received {len(data)} bytes"
    except OSError as err:
        return False, f"{address}:{port}: {err.strerror or err}"


def check_stats(inv: Any, host: Any, auth: bool = True, timeout: float = 5.0) -> tuple[int, list[dict[str, str]]]:
    """Fetch HAProxy's stats (CSV) from ``host``'s own address; return (HTTP status, rows).

    Args:
        inv: the inventory (for the stored credentials).
        host: the load balancer (an inventory Host).
        auth: send the generated credentials (False shows that the page refuses strangers).
        timeout: seconds to wait for the answer.
    """
    import requests

    creds, _ = load_credentials(inv)
    url = f"http://{host.address}:{STATS_PORT}/stats;csv"
    resp = requests.get(url, auth=(creds.stats_user, creds.stats_password) if auth else None, timeout=timeout)
    if resp.status_code != 200:
        return resp.status_code, []
    text = resp.text.lstrip("# ")
    return 200, list(csv.DictReader(io.StringIO(text)))


def stats_table(inv: Any, host: Any) -> Any:
    """Return the API frontend, backend and servers as HAProxy's stats page reports them."""
    from helpers.tables import Table

    _, rows = check_stats(inv, host)
    keep = [r for r in rows if r.get("pxname") == "kube-apiserver"]
    return Table(["proxy", "server", "status", "last check", "sessions total"],
                 [[r["pxname"], r["svname"], r["status"], r.get("check_status", ""), r.get("stot", "")] for r in keep],
                 title=f"HAProxy stats on {host.name} ({host.address}:{STATS_PORT})")


def frontend_sessions(inv: Any, host: Any) -> int:
    """Return how many connections HAProxy's API frontend on ``host`` has accepted so far."""
    _, rows = check_stats(inv, host)
    for row in rows:
        if row.get("pxname") == "kube-apiserver" and row.get("svname") == "FRONTEND":
            return int(row.get("stot") or 0)
    return 0


def wait_for_sessions(inv: Any, host: Any, above: int, timeout: float = 5.0) -> int:
    """Poll HAProxy's API frontend counter on ``host`` until it exceeds ``above``; return its value.

    HAProxy updates the counter once it has handled a connection, which can be a moment
    after the client's socket closed; returns the last value seen when ``timeout`` passes.
    """
    return settle(lambda: frontend_sessions(inv, host), lambda n: n > above, within=timeout, interval=0.2).value


# ----------------------------------------------------------------------------- failover


@dataclass
class Failover:
    """One failover drill: which service stopped where, and what the operator saw when."""

    service: str
    primary: str
    secondary: str = ""
    failover_seconds: float | None = None  # stop -> VIP on another lb and TCP connect works
    failback_seconds: float | None = None  # start -> VIP back on the primary and TCP works
    restart_at: float = 0.0
    samples: list[tuple[float, str, bool]] = field(default_factory=list)  # (t, holder, tcp ok)


def measure_failover(fleet: Any, service: str = "keepalived", timeout: float = 30.0, interval: float = 0.1) -> Failover:
    """Stop ``service`` on the VIP holder, time the VIP's move, start it again, time its return.

    The clock starts at the stop command; the failover is complete when another lb
    holds the VIP *and* a TCP connection from this machine to VIP:6443 succeeds (the
    operator's neighbour table has learned the new MAC from keepalived's gratuitous
    ARP). The service is always started again, also when the measurement fails.

    Args:
        fleet: the Fleet.
        service: ``keepalived`` (a clean handover: it sends a priority-0 advert on stop)
            or ``haproxy`` (a failure: the tracking script notices, the holder goes FAULT).
        timeout: seconds to wait for each transition.
        interval: seconds between samples.
    """
    from helpers.errors import HostError

    inv = _inv(fleet)
    vip = inv.network.vip
    lbs = fleet.hosts("lb")
    holders = wait_for_single_holder(fleet, timeout=timeout)
    if sum(holders.values()) != 1:
        raise HostError("lb", "measure failover", f"expected exactly one VIP holder before the drill, saw {holders}")
    primary = next(h for h in lbs if holders[h.name])
    result = Failover(service=service, primary=primary.name)

    def sample(t0: float) -> tuple[float, str, bool]:
        held = [h.name for h in lbs if _holds(h, vip)]
        ok, _ = check_tcp(vip, timeout=0.3)
        s = (round(time.monotonic() - t0, 3), ",".join(held) or "-", ok)
        result.samples.append(s)
        return s

    t0 = time.monotonic()
    primary.run(f"systemctl stop --no-block {service}")  # sample while it stops
    try:
        while time.monotonic() - t0 < timeout:
            t, holder, ok = sample(t0)
            if ok and holder not in ("-", primary.name) and "," not in holder:
                result.failover_seconds, result.secondary = t, holder
                break
            time.sleep(interval)
    finally:
        result.restart_at = round(time.monotonic() - t0, 3)
        primary.run(f"systemctl start {service}")
    while time.monotonic() - t0 < result.restart_at + timeout:
        t, holder, ok = sample(t0)
        if ok and holder == primary.name:
            result.failback_seconds = round(t - result.restart_at, 3)
            break
        time.sleep(interval)
    # a few more samples so the plot shows the settled state
    for _ in range(5):
        sample(t0)
        time.sleep(interval)
    return result


DRILL_WHEN = ("auto", "always", "never")


@dataclass
class DrillRecord:
    """The failover drills shown by 02: measured by this run, or the record of the last measurement."""

    drills: list[Failover]
    measured_at: str           # UTC time of the measurement
    measured_now: bool         # False: read back from the record of an earlier run
    why: str                   # why it was measured, or why not

    def __str__(self) -> str:
        how = "measured now" if self.measured_now else f"recorded at {self.measured_at}"
        return f"failover drills {how}: {self.why}"


def drill_record_path(inv: Any) -> Path:
    """Where the last failover measurement is kept: ``cluster_dir/loadbalancer/failover.json``."""
    return inv.cluster_dir / "loadbalancer" / "failover.json"


def failover_drills(fleet: Any, when: str = "auto", lb_changed: bool = False,
                    services: tuple[str, ...] = ("keepalived", "haproxy")) -> DrillRecord:
    """Run the failover drills when they are due; otherwise return the last measurement.

    A drill takes the VIP away from its holder for real: connections through the VIP
    break for a second or two. That belongs to a fresh build, a changed load-balancer
    configuration, or an explicit request, not to every idempotent re-run (a re-run that
    changes nothing must not interrupt the API). So with ``when="auto"`` the drills run
    when this run changed HAProxy or keepalived (``lb_changed``) or no measurement is on
    record; ``"always"`` runs them; ``"never"`` only reads the record.

    Raises:
        ValueError: ``when`` is not one of :data:`DRILL_WHEN`.
        ConfigError: ``"never"`` and nothing on record.
    """
    import datetime as dt  # noqa: PLC0415

    from helpers.errors import ConfigError  # noqa: PLC0415

    if when not in DRILL_WHEN:
        raise ValueError(f"failover_drill must be one of {', '.join(DRILL_WHEN)}, not {when!r}")
    inv = _inv(fleet)
    path = drill_record_path(inv)
    saved = json.loads(path.read_text()) if path.exists() else None
    if when == "always":
        why = "asked for (failover_drill='always')"
    elif when == "auto" and saved is None:
        why = "no earlier measurement on record"
    elif when == "auto" and lb_changed:
        why = "this run changed HAProxy or keepalived"
    elif saved is None:
        raise ConfigError(f"failover_drill='never' but no measurement is recorded in {path}")
    else:
        drills = [Failover(**{**d, "samples": [tuple(x) for x in d["samples"]]}) for d in saved["drills"]]
        reason = ("nothing changed on the load balancers; set failover_drill='always' (or "
                  "KJ_FAILOVER_DRILL=always) to measure again" if when == "auto" else "failover_drill='never'")
        return DrillRecord(drills, saved["measured_at"], False, reason)
    drills = [measure_failover(fleet, service) for service in services]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"measured_at": stamp, "drills": [asdict(d) for d in drills]}, indent=1))
    tmp.replace(path)
    return DrillRecord(drills, stamp, True, why)


def failover_table(drills: list[Failover]) -> Any:
    """Return one row per drill: what stopped, where the VIP went, how long each move took."""
    from helpers.tables import Table

    def secs(v: float | None) -> str:
        return f"{v:.2f} s" if v is not None else "did not happen"

    return Table(["stopped", "on", "VIP moved to", "failover", "failback (after restart)"],
                 [[d.service, d.primary, d.secondary or "-", secs(d.failover_seconds), secs(d.failback_seconds)]
                  for d in drills], title="VIP failover, seen from the operator's machine")


def plot_failover(drills: list[Failover], lbs: list[str]) -> Any:
    """Return a matplotlib Figure: per drill, which lb held the VIP over time and when TCP worked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 2.6 * len(drills)), dpi=100)
    axes = fig.subplots(len(drills), 1, squeeze=False)[:, 0]
    lanes = {name: i for i, name in enumerate(lbs)}
    for ax, d in zip(axes, drills, strict=True):
        for name, lane in lanes.items():
            xs = [t for t, holder, _ in d.samples if name in holder.split(",")]
            ax.scatter(xs, [lane] * len(xs), s=14, marker="s", color="#5b8def", label="holds VIP" if lane == 0 else None)
        bad = [t for t, _, ok in d.samples if not ok]
        ax.scatter(bad, [-1] * len(bad), s=14, marker="x", color="#c62828", label="TCP to VIP:6443 fails")
        good = [t for t, _, ok in d.samples if ok]
        ax.scatter(good, [-1] * len(good), s=10, marker="o", color="#2e7d32", label="TCP to VIP:6443 works")
        ax.axvline(0, color="#555555", ls="--", lw=1)
        ax.axvline(d.restart_at, color="#555555", ls=":", lw=1)
        ax.text(0, len(lanes) - 0.4, f" stop {d.service}", fontsize=8)
        ax.text(d.restart_at, len(lanes) - 0.75, f" start {d.service}", fontsize=8)
        ax.set_yticks([-1, *lanes.values()], ["operator TCP", *lanes.keys()])
        ax.set_ylim(-1.6, len(lanes) - 0.1)
        ax.set_xlabel("seconds since the stop command")
        fo = f"{d.failover_seconds:.2f} s" if d.failover_seconds is not None else "none"
        ax.set_title(f"stop {d.service} on {d.primary}: failover {fo}", fontsize=10, loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig

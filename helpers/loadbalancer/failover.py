"""The failover drill: stop a service on the VIP holder, time the VIP's move and its return.

:func:`measure_failover` runs one drill (it briefly stops a service and always starts it
again); :func:`failover_drills` runs them when they are due and otherwise returns the
record of the last measurement (``cluster_dir/loadbalancer/failover.json``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.loadbalancer.checks import _holds, check_tcp, wait_for_single_holder
from helpers.localfiles import write_atomic


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

    inv = fleet.inventory
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
    inv = fleet.inventory
    if len(inv.hosts_with("lb")) < 2:
        # one load balancer holds the VIP alone: there is nowhere for it to move
        return DrillRecord([], "-", False, f"{len(inv.hosts_with('lb'))} load balancer: no other machine to take "
                           "the VIP over, so no failover to measure (add a second lb host for that)")
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
    write_atomic(path, json.dumps({"measured_at": stamp, "drills": [asdict(d) for d in drills]}, indent=1), 0o644)
    return DrillRecord(drills, stamp, True, why)

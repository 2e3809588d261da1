"""The address-failover drill of 07: the node announcing a Service's address drops off the network.

The drill Service ``echo-local`` has ``externalTrafficPolicy: Local``: only nodes with a
ready echo pod announce it, and kube-proxy there sends its traffic to that local pod, so
what is measured is the address's move alone, not a connection that happened to be
forwarded to a pod on the lost node. The drill takes the announcing node off the network
(``fail``), asks ``GET /hostname`` from this machine every :data:`INTERVAL` seconds and
reads which node's MAC this machine's neighbour table holds for the address, until
another node answers; then it brings the node back (``restore``, always, also when the
measurement fails) and waits for the address to settle. How a node is taken off the
network is the caller's: on the lab, its veth is set down on the host (a pulled cable).

Like 02's VIP drill, it interrupts the address, so it runs on a fresh build or when
asked; a re-run shows the last measurement (``cluster_dir/metallb/failover.json``) and
moves nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from helpers.localfiles import write_atomic
from helpers.metallb.checks import http_get, neighbour_mac, node_macs
from helpers.metallb.services import Wanted, announcers, ensure_services, wait_address

DRILL_SERVICE = "echo-local"
INTERVAL = 0.2
WHEN = ("auto", "always", "never")


@dataclass
class AddressMove:
    """One drill: the address, who announced it before and after, and what this machine saw when."""

    service: str
    address: str
    primary: str
    secondary: str = ""
    failover_seconds: float | None = None  # node lost -> the address answers again, through another node
    failback_seconds: float | None = None  # node back -> announced by it again (None: it stayed on the other)
    watched_after: float = 0.0  # how long after the node came back the drill kept watching
    restore_at: float = 0.0
    samples: list[tuple[float, str, bool]] = field(default_factory=list)  # (t, node by ARP, answered)
    measured_at: str = ""

    @property
    def longest_outage(self) -> float:
        """The longest run of unanswered probes, in seconds (what a client of the address lived through)."""
        longest, start = 0.0, None
        for t, _, ok in self.samples:
            if not ok and start is None:
                start = t
            elif ok and start is not None:
                longest, start = max(longest, t - start), None
        if start is not None and self.samples:
            longest = max(longest, self.samples[-1][0] - start)
        return round(longest, 2)


def drill_service() -> Wanted:
    """``echo-local``: the echo pods, announced only from nodes that run one (externalTrafficPolicy Local)."""
    return Wanted(DRILL_SERVICE, 80, {}, local=True)


def record_path(inv) -> Any:
    """Where the last measurement is kept."""
    return inv.cluster_dir / "metallb" / "failover.json"


def measure(fleet, fail: Callable[[str], None], restore: Callable[[str], None], timeout: float = 60.0,
            failback_timeout: float = 45.0) -> AddressMove:
    """Take the announcing node of :data:`DRILL_SERVICE` off the network, time the move, bring it back.

    Whether the address returns to the first node once it is back is watched for
    ``failback_timeout`` seconds and recorded, not required: the announcer is the hash's
    choice among the speakers memberlist sees alive, and a node cut off the network is
    taken back into memberlist only when the gossip reaches it again.
    """
    inv = fleet.inventory
    ensure_services(inv, names=[], extra=[drill_service()])
    address = wait_address(inv, DRILL_SERVICE)
    macs = node_macs(fleet)

    def sample(t0: float) -> tuple[float, str, bool]:
        ok, _ = http_get(address, 80, timeout=0.5)
        mac = neighbour_mac(address)
        s = (round(time.monotonic() - t0, 2), macs.get(mac or "", "-"), ok)
        move.samples.append(s)
        return s

    from helpers.waiting import poll_until  # noqa: PLC0415

    # a Service created just now may not answer yet: start from an address that answers
    poll_until(lambda: http_get(address, 80, timeout=0.5), lambda r: r[0], what=f"{address} to answer before the drill",
               where=DRILL_SERVICE, timeout=30, interval=INTERVAL, describe=lambda r: r[1])
    # who answers, as this machine's neighbour table says (MetalLB's ServiceL2Status can be stale)
    primary = macs.get(neighbour_mac(address) or "") or announcers(inv).get(DRILL_SERVICE, "")
    if not primary:
        raise RuntimeError(f"no node answers ARP for {DRILL_SERVICE} ({address}) before the drill")
    move = AddressMove(DRILL_SERVICE, str(address), primary,
                       measured_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    t0 = time.monotonic()
    for _ in range(5):
        sample(t0)
        time.sleep(INTERVAL)
    t_fail = time.monotonic()
    fail(primary)
    try:
        while time.monotonic() - t_fail < timeout:
            t, holder, ok = sample(t0)
            if ok and holder not in ("-", primary):
                move.failover_seconds, move.secondary = round(time.monotonic() - t_fail, 2), holder
                break
            time.sleep(INTERVAL)
    finally:
        move.restore_at = round(time.monotonic() - t0, 2)
        restore(primary)
    t_back = time.monotonic()
    while time.monotonic() - t_back < failback_timeout:
        t, holder, ok = sample(t0)
        if ok and holder == primary:
            move.failback_seconds = round(time.monotonic() - t_back, 2)
            break
        time.sleep(INTERVAL)
    move.watched_after = round(time.monotonic() - t_back, 1)
    for _ in range(5):
        sample(t0)
        time.sleep(INTERVAL)
    return move


def failover_drill(fleet, fail, restore, when: str = "auto") -> tuple[AddressMove, bool, str]:
    """Run the drill when due (no record yet, or ``when="always"``); else the last record.

    Returns:
        ``(move, measured_now, why)``.
    """
    if when not in WHEN:
        raise ValueError(f"failover_drill must be one of {', '.join(WHEN)}, not {when!r}")
    path = record_path(fleet.inventory)
    if path.exists() and when != "always":
        saved = json.loads(path.read_text())
        saved["samples"] = [tuple(s) for s in saved["samples"]]
        return AddressMove(**saved), False, "on record; set failover_drill='always' (KJ_FAILOVER_DRILL=always) to measure again"
    if when == "never":
        raise RuntimeError(f"failover_drill='never' but no measurement is recorded in {path}")
    move = measure(fleet, fail, restore)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(asdict(move), indent=1), 0o644)
    return move, True, "measured now" + (" (asked for)" if when == "always" else " (no earlier measurement)")


def plot_move(move: AddressMove, nodes: list[str]) -> Any:
    """Which node's MAC answered for the address over time, and which probes were answered."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(12, 3.2), dpi=100)
    ax = fig.subplots()
    lanes = {name: i for i, name in enumerate(nodes)}
    for name, lane in lanes.items():
        xs = [t for t, holder, _ in move.samples if holder == name]
        ax.scatter(xs, [lane] * len(xs), s=14, marker="s", color="#5b8def",
                   label="its MAC answers for the address" if lane == 0 else None)
    bad = [t for t, _, ok in move.samples if not ok]
    good = [t for t, _, ok in move.samples if ok]
    ax.scatter(bad, [-1] * len(bad), s=16, marker="x", color="#c62828", label="GET /hostname fails")
    ax.scatter(good, [-1] * len(good), s=10, marker="o", color="#2e7d32", label="GET /hostname answers")
    start = move.samples[4][0] if len(move.samples) > 4 else 0.0
    ax.axvspan(start, move.restore_at, color="#fbe9e7", label=f"{move.primary} off the network", zorder=0)
    ax.set_yticks([-1, *lanes.values()], ["HTTP from here", *lanes])
    ax.set_xlabel("seconds")
    ax.set_title(f"{move.service} {move.address}: {move.primary} lost, answering again after "
                 f"{move.failover_seconds} s through {move.secondary or '-'} (longest outage {move.longest_outage} s)")
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return fig

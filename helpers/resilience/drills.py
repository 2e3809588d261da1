"""11's six drills, each a failure the HA design claims to survive (framed by :func:`runner.run`).

=================  =========================================  ======================================
drill              the failure                                what it shows
=================  =========================================  ======================================
``lb-machine``     the load balancer holding the VIP is lost  the other one takes the VIP
``master-machine`` a master is lost (API server + etcd member) HAProxy drops it, etcd keeps quorum
``etcd-leader``    etcd's leader is killed (SIGKILL)          a new leader in a higher term
``controllers``    the active controller manager and          their leases move to another master
                   scheduler are killed
``worker-machine`` a worker is lost                           its pods come back on the other worker
``quorum``         two of three etcd members stop             reads and writes fail, then resume
=================  =========================================  ======================================

"Lost" means the whole machine: ``ctx.switch`` says how (the lab cuts its power; on
real hosts the notebook stops the role's services instead and says so).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from helpers.resilience import observe, workload
from helpers.resilience.runner import Drill, Switch, resumed_after, run
from helpers.waiting import poll_until

#: how long a lost machine stays lost before it is brought back (seconds after the failure)
HOLD = 25.0


@dataclass
class Context:
    """What every drill needs: the inventory, SSH, the probes, the application probe, the power switch."""

    inv: Any
    fleet: Any
    probes: Any
    app: Any
    switch: Switch
    app_address: str = ""


def _host(ctx, name):
    return ctx.fleet.hosts(name)[0]


def _hold_until(ctx, d: Drill, seconds: float = HOLD) -> None:
    left = d.t_fail + seconds - ctx.probes.now()
    if left > 0:
        time.sleep(left)


def _mark(ctx, d: Drill, label: str) -> float:
    t = ctx.probes.now()
    d.marks.append((t, label))
    return t


def _power_off(ctx, d: Drill, name: str) -> None:
    said = ctx.switch.off(name)
    d.facts["how"] = said if isinstance(said, str) else ctx.switch.what
    _host(ctx, name).close()  # its SSH session died with it; the next use reconnects


def _power_on(ctx, d: Drill, name: str) -> None:
    ctx.switch.on(name)
    _mark(ctx, d, f"{name} back")


def lb_machine(ctx) -> Drill:
    """The VIP's holder is lost; the other load balancer takes the address (keepalived, VRRP)."""
    held = observe.vip_holder(ctx.fleet)
    holder = next(k for k, v in held.items() if v == "holds")
    d = Drill("lb-machine", "the load balancer holding the VIP is lost", holder, "outage")

    def watch(d: Drill) -> None:
        others = [n for n in held if n != holder]
        seen = poll_until(lambda: observe.vip_holder(ctx.fleet, others),
                          lambda v: "holds" in v.values(), what=f"another load balancer holding {ctx.inv.network.vip}",
                          where=holder, timeout=30, interval=0.2).value
        d.facts["taken_over_by"] = next(n for n, v in seen.items() if v == "holds")
        d.t_recovered = _mark(ctx, d, f"VIP on {d.facts['taken_over_by']}")
        _hold_until(ctx, d)

    run(ctx, d, lambda d: _power_off(ctx, d, holder), watch, lambda d: _power_on(ctx, d, holder))
    d.facts["holder_after"] = next((k for k, v in observe.vip_holder(ctx.fleet).items() if v == "holds"), None)
    return d


def master_machine(ctx) -> Drill:
    """A master that is not etcd's leader is lost: HAProxy marks its API server DOWN, etcd runs on two."""
    leader = observe.etcd_leader(observe.etcd_members(ctx.inv))
    announcer = _announcer(ctx)
    masters = [m.name for m in ctx.inv.hosts_with("master") if m.name != leader]
    victim = next((m for m in reversed(masters) if m != announcer), masters[-1])
    d = Drill("master-machine", "a master machine is lost", victim, "answered")
    d.facts["not chosen"] = f"{leader} (etcd's leader: drill 3)" + (f", {announcer} (announces the application's "
                                                                    f"address: 07's drill)" if announcer else "")

    def watch(d: Drill) -> None:
        def state():
            return observe.haproxy_backends(ctx.inv), observe.etcd_members(ctx.inv)

        def done(seen) -> bool:
            backends, members = seen
            return (all(v.get(victim) not in (None, "UP") for v in backends.values())
                    and observe.etcd_leader(members) is not None)
        seen = poll_until(state, done, what=f"HAProxy marking {victim} DOWN and etcd running on two", where=victim,
                          timeout=60, interval=0.5).value
        d.t_recovered = _mark(ctx, d, f"{victim} DOWN in HAProxy")
        d.facts["haproxy"] = seen[0]
        d.facts["etcd_leader"] = observe.etcd_leader(seen[1])
        _hold_until(ctx, d)

    run(ctx, d, lambda d: _power_off(ctx, d, victim), watch, lambda d: _power_on(ctx, d, victim))
    return d


def etcd_leader(ctx) -> Drill:
    """Etcd's leader dies a word (SIGKILL); the other two elect a leader in a new term."""
    before = observe.etcd_members(ctx.inv)
    leader = observe.etcd_leader(before)
    term = max(m.term for m in before)
    d = Drill("etcd-leader", "the etcd leader is killed", leader, "answered")
    d.facts["before"] = {"leader": leader, "term": term}

    def fail(d: Drill) -> None:
        # SIGKILL: no leadership hand-over; systemd starts it again (Restart=on-failure, 1 s)
        _host(ctx, leader).run("systemctl kill --signal=SIGKILL etcd.service")
        d.facts["how"] = f"`systemctl kill --signal=SIGKILL etcd` on {leader}; systemd restarts it after 1 s"

    def watch(d: Drill) -> None:
        def done(members) -> bool:
            new = observe.etcd_leader(members)
            return new is not None and new != leader and max(m.term for m in members if m.up) > term
        members = poll_until(lambda: observe.etcd_members(ctx.inv), done, what="a new etcd leader in a higher term",
                             where=leader, timeout=30, interval=0.2).value
        d.t_recovered = _mark(ctx, d, f"{observe.etcd_leader(members)} leads, term "
                                      f"{max(m.term for m in members if m.up)}")
        d.facts["after"] = {"leader": observe.etcd_leader(members), "term": max(m.term for m in members if m.up)}
        back = poll_until(lambda: observe.etcd_members(ctx.inv), lambda ms: all(m.up for m in ms),
                          what=f"{leader} restarted by systemd and back as a follower", where=leader,
                          timeout=60, interval=0.5)
        _mark(ctx, d, f"{leader} rejoined")
        d.facts["members_after"] = [m.__dict__ for m in back.value]

    run(ctx, d, fail, watch, lambda d: _host(ctx, leader).run("systemctl start etcd.service", timeout=120))
    return d


def controllers(ctx) -> Drill:
    """The controller manager and scheduler that hold the leases are killed; another master takes each lease."""
    held = observe.leases(ctx.inv)
    holders = {name: v["holder"] for name, v in held.items()}
    victim = ", ".join(f"{svc.removeprefix('kube-')} on {h}" for svc, h in holders.items())
    d = Drill("controllers", "the active controller manager and scheduler are killed", victim, "answered")
    d.facts["before"] = held

    def fail(d: Drill) -> None:
        for svc, host in holders.items():  # killed, then kept down (stop cancels systemd's restart)
            _host(ctx, host).run(f"systemctl kill --signal=SIGKILL {svc}.service; sleep 0.2; "
                                 f"systemctl stop {svc}.service")
        d.facts["how"] = "SIGKILL, then `systemctl stop` so that systemd does not restart it"

    def watch(d: Drill) -> None:
        moved: dict[str, float] = {}

        def probe():
            now = observe.leases(ctx.inv)
            for svc, v in now.items():
                if svc not in moved and v["holder"] and v["holder"] != holders[svc]:
                    moved[svc] = ctx.probes.now()
                    d.marks.append((moved[svc], f"{svc.removeprefix('kube-')} lease → {v['holder']}"))
            return now
        after = poll_until(probe, lambda _now: len(moved) == len(holders), what="both leases taken by other masters",
                           where=victim, timeout=60, interval=0.5).value
        d.t_recovered = max(moved.values())
        d.facts["after"] = after
        d.facts["moved_after"] = {svc: round(t - d.t_fail, 1) for svc, t in moved.items()}

    def restore(d: Drill) -> None:
        for svc, host in holders.items():
            _host(ctx, host).run(f"systemctl start {svc}.service")

    run(ctx, d, fail, watch, restore)
    return d


def _announcer(ctx) -> str | None:
    from helpers.metallb.checks import http_get, neighbour_mac, node_macs  # noqa: PLC0415

    if not ctx.app_address:
        return None
    http_get(ctx.app_address, 80, "/healthz")  # so that this machine's neighbour table holds the address
    mac = neighbour_mac(ctx.app_address)
    return node_macs(ctx.fleet).get(mac) if mac else None


def worker_machine(ctx) -> Drill:
    """A worker is lost: the node goes NotReady, its pods of :mod:`workload` come back on the other worker."""
    workload.respread(ctx.inv)
    announcer = _announcer(ctx)
    workers = workload.workers(ctx.inv)
    victim = next((w for w in reversed(workers) if w != announcer), workers[-1])
    if not workload.placement(ctx.inv).get(victim):
        raise RuntimeError(f"no {workload.NAME} pod runs on {victim}: the drill would show nothing")
    d = Drill("worker-machine", "a worker machine is lost", victim, "answered")
    d.facts["not chosen"] = f"{announcer} (announces the application's address: 07's drill)" if announcer in workers \
        else "-"
    d.facts["placement_before"] = workload.placement(ctx.inv)

    def watch(d: Drill) -> None:
        poll_until(lambda: observe.nodes(ctx.inv).get(victim, ""), lambda s: s != "Ready",
                   what=f"node {victim} no longer Ready", where=victim, timeout=120, interval=1)
        d.facts["not_ready_after"] = round(_mark(ctx, d, f"{victim} NotReady") - d.t_fail, 1)
        placed = poll_until(lambda: workload.placement(ctx.inv),
                            lambda p: sum(len(v) for v in p.values()) >= workload.REPLICAS and victim not in p,
                            what=f"{workload.REPLICAS} Ready {workload.NAME} pods, none on {victim}", where=victim,
                            timeout=120, interval=1).value
        d.t_recovered = _mark(ctx, d, f"{workload.NAME} whole again")
        d.facts["placement_after"] = placed
        d.facts["rescheduled_after"] = round(d.t_recovered - d.t_fail, 1)

    run(ctx, d, lambda d: _power_off(ctx, d, victim), watch, lambda d: _power_on(ctx, d, victim))
    return d


def quorum(ctx) -> Drill:
    """Two of three etcd members stop: the API can neither read nor write; one comes back and both resume."""
    members = [h.name for h in ctx.inv.hosts_with("etcd")]
    victims = members[1:]
    d = Drill("quorum", "etcd quorum is lost (two of three members stopped)", " and ".join(victims), "shown")

    def fail(d: Drill) -> None:
        # both at once, and at once: a graceful stop waits for the API server's watches to end
        # (about 10 s), so one after the other would lose the quorum some seconds late
        ctx.fleet.step("stop etcd (quorum lost)", lambda h: h.run(
            "systemctl kill --signal=SIGKILL etcd.service; sleep 0.2; systemctl stop etcd.service"), hosts=victims)
        _mark(ctx, d, "both members stopped")
        d.facts["how"] = f"SIGKILL to etcd on {' and '.join(victims)} at once, then `systemctl stop` (kept down)"

    def watch(d: Drill) -> None:
        def failed_both(_):
            return all(any(not s.ok for s in ctx.probes.samples(k, d.t_fail)) for k in ("reads", "writes"))
        poll_until(lambda: None, failed_both, what="a read and a write refused", where="the API", timeout=60,
                   interval=0.5)
        _mark(ctx, d, "reads and writes fail")
        _hold_until(ctx, d, 20)
        back = _mark(ctx, d, f"etcd on {victims[0]} started")
        _host(ctx, victims[0]).run("systemctl start etcd.service", timeout=120)

        def resumed(_):
            return all(resumed_after(ctx.probes.samples(k), d.t_fail) is not None
                       and any(s.ok for s in ctx.probes.samples(k, back)) for k in ("reads", "writes"))
        poll_until(lambda: None, resumed, what="reads and writes answered again", where="the API", timeout=90,
                   interval=0.5)
        d.t_recovered = _mark(ctx, d, "reads and writes answered")
        for k in ("reads", "writes"):
            first = next(s for s in ctx.probes.samples(k, back) if s.ok)
            d.facts[f"{k}_resumed_after"] = round(first.t - back, 2)

    def restore(d: Drill) -> None:
        for name in victims:
            _host(ctx, name).run("systemctl start etcd.service", timeout=120)

    run(ctx, d, fail, watch, restore)
    return d


DRILLS = {"lb-machine": lb_machine, "master-machine": master_machine, "etcd-leader": etcd_leader,
          "controllers": controllers, "worker-machine": worker_machine, "quorum": quorum}

"""Starting etcd: bootstrap once, start what is stopped, restart one member at a time.

Step :func:`ensure_etcd_running`, after :func:`check_etcd_data` and
:func:`bootstrap_state` decide between a new cluster, an existing one, and a refused join.
"""

from __future__ import annotations

import threading

from helpers.errors import CommandFailed, HostError, StepFailed
from helpers.etcd.client import etcdctl
from helpers.etcd.config import BIN_DIR, DATA_DIR, PKI_DIR, UNIT_PATH, members
from helpers.report import Report, Result
from helpers.waiting import WaitTimeout, poll_until


def _has_data(h) -> bool:
    return h.exists(f"{DATA_DIR}/member")


def check_etcd_data(fleet) -> dict[str, bool]:
    """Whether each member's data directory holds etcd data (``/var/lib/etcd/member``)."""
    inv = fleet.inventory

    def probe(h):
        has = _has_data(h)
        return Result(h.name, "ok", f"{DATA_DIR}: {'has data' if has else 'empty'}", data=has)

    return dict(fleet.step("probe etcd data", probe, hosts=[h.name for h in members(inv)]).data())


def bootstrap_state(data: dict[str, bool]) -> str:
    """Decide from each member's data: ``new`` (all empty) or ``existing`` (all have data).

    Raises:
        StepFailed: some members have data and others not. That is a join (``etcdctl
            member add`` then start with ``--initial-cluster-state=existing``), which
            is a deliberate operation, not something to guess; every empty member is named.
    """
    full = sorted(n for n, has in data.items() if has)
    empty = sorted(n for n, has in data.items() if not has)
    if not full:
        return "new"
    if not empty:
        return "existing"
    cause = (
        f"its data directory {DATA_DIR} is empty while {', '.join(full)} already hold "
        "cluster data: starting it would be a join (etcdctl member add, then "
        "--initial-cluster-state=existing), which this runbook does not guess; add the member "
        "deliberately, or restore its data directory"
    )
    raise StepFailed("check etcd data before starting", {n: HostError(n, "start etcd", cause) for n in empty})


# what etcd reads at start: a change to any of them restarts the member (one at a time)
INPUTS = (UNIT_PATH, f"{BIN_DIR}/etcd", *(f"{PKI_DIR}/{n}" for n in
                                         ("ca.crt", "server.crt", "server.key", "peer.crt", "peer.key")))


def _wait_local_healthy(h, seconds: float = 60) -> None:
    """Poll the member on ``h`` (``etcdctl endpoint health``) until it answers healthy.

    Raises:
        CommandFailed: not healthy after ``seconds``; names the wait and etcdctl's last output.
    """
    try:
        poll_until(lambda: h.run(etcdctl("endpoint health"), check=False), lambda r: r.ok,
                   what="etcd healthy", where=h.name, timeout=seconds, interval=1.0)
    except WaitTimeout:
        res = h.run(etcdctl("endpoint health"), check=False)
        raise CommandFailed(h.name, f"wait {seconds:.0f}s for etcd to become healthy", etcdctl("endpoint health"),
                            res.exit_code, res.stdout + res.stderr) from None


def ensure_etcd_running(fleet) -> Report:
    """Start etcd everywhere; bootstrap once; restart only members with newer config.

    First the data directories of all members are probed: all empty means a bootstrap
    (every member starts at once: the first ones wait for quorum); all full means the
    cluster exists (``--initial-cluster-*`` are ignored by etcd); a mix is refused
    (see :func:`bootstrap_state`). A running member whose unit, certificates or binary
    changed since it last started is restarted (:func:`~helpers.ensure.ensure_unit_current`),
    one member at a time, each waiting until it is healthy again, so quorum is kept.
    """
    from helpers.ensure import ensure_unit_current
    from helpers.remote import Change

    inv = fleet.inventory
    state = bootstrap_state(check_etcd_data(fleet))
    # a new cluster starts every member at once (the first ones wait for quorum); an
    # existing one restarts one member at a time, each healthy again before the next
    restart_lock = threading.Lock() if state != "new" else None

    def run(h):
        change = ensure_unit_current(h, "etcd", INPUTS, lock=restart_lock, after_start=lambda: _wait_local_healthy(h))
        if change.changed and state == "new":
            return Change(True, f"bootstrapped new cluster ({change.detail})".replace(" ()", ""))
        return change

    title = "bootstrap etcd cluster" if state == "new" else "ensure etcd running"
    return fleet.step(title, run, hosts=[h.name for h in members(inv)], skip="not an etcd member")

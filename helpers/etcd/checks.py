"""Checks of a running etcd cluster, run with etcdctl or curl from the checking master.

No side effects, except the round trip's own key (written, read back, deleted).
"""

from __future__ import annotations

import shlex
import time
from typing import Any

from helpers.etcd.client import (
    _json,
    _tls_error,
    _version_verdict,
    anonymous_verdict,
    etcdctl,
    health_problems,
    parse_health,
    parse_status,
    status_settled,
)
from helpers.etcd.config import (
    HEALTHCHECK,
    PKI_DIR,
    checker_host,
    client_url,
    endpoints,
    members,
)
from helpers.tables import Table
from helpers.verdict import Verdict
from helpers.waiting import settle


def _checker(fleet):
    inv = fleet.inventory
    name = checker_host(inv).name
    return inv, fleet.hosts(name)[0]


def check_etcd_health(fleet, within: float = 0.0) -> Table:
    """Ask every member's health over TLS with etcdctl from a master.

    Args:
        fleet: the fleet (the check runs etcdctl on a master).
        within: ask again for up to this many seconds while a member is unhealthy (after a
            rolling restart, a member may still be catching up); 0 asks once.

    Returns:
        A table: member, endpoint, health (``healthy`` / ``UNHEALTHY``), took, error.
        Use :func:`health_problems` to turn it into assertion messages.
    """
    inv, h = _checker(fleet)
    hosts = members(inv)

    def ask() -> Table:
        res = h.run(etcdctl("endpoint health -w json", endpoints(hosts)), check=False, timeout=60)
        return Table(["member", "endpoint", "health", "took", "error"],
                     parse_health(res.stdout, res.stderr, hosts),
                     title=f"etcd endpoint health (etcdctl on {h.name})")

    return settle(ask, lambda t: not health_problems(t), within=within).value


def check_etcd_status(fleet, within: float = 0.0) -> Table:
    """Member list and leader: id, name, leader flag, raft term, db size, version.

    Unreachable members appear with empty status columns. With ``within`` > 0 it asks
    again, for up to that many seconds, until :func:`status_settled` holds (an election
    after a restart takes a moment); 0 asks once.
    """
    inv, h = _checker(fleet)
    hosts = members(inv)

    def ask() -> Table:
        status = _json(h.run(etcdctl("endpoint status -w json", endpoints(hosts)), check=False,
                             timeout=60).stdout) or []
        mlist = _json(h.run(etcdctl("member list -w json", endpoints(hosts)), check=False,
                            timeout=60).stdout) or {}
        return Table(["member", "id", "leader", "raft term", "raft index", "db size", "version"],
                     parse_status(status, mlist, hosts),
                     title=f"etcd members and leader (etcdctl on {h.name})")

    return settle(ask, status_settled, within=within).value


def check_etcd_roundtrip(fleet, key: str = "/kubernetes-journey/roundtrip") -> dict[str, Any]:
    """Write a key through the first member and read it back through the last one.

    The key is deleted afterwards; the only trace is etcd's revision counter.

    Returns:
        ``{"key", "written", "read", "via_put", "via_get", "ok"}``.
    """
    inv, h = _checker(fleet)
    hosts = members(inv)
    value = f"written-at-{time.time():.3f}"
    first, last = hosts[0], hosts[-1]
    h.run(etcdctl(f"put {shlex.quote(key)} {shlex.quote(value)}", client_url(first)))
    got = h.run(etcdctl(f"get {shlex.quote(key)} --print-value-only", client_url(last))).stdout.strip()
    h.run(etcdctl(f"del {shlex.quote(key)}", client_url(first)))
    return {"key": key, "written": value, "read": got, "via_put": first.name, "via_get": last.name,
            "ok": got == value}


def check_etcd_rejects_anonymous(fleet) -> Table:
    """Call every member's ``/version`` with curl, trusting the CA but showing no certificate.

    Each attempt must be refused with a TLS alert (``certificate required`` in TLS 1.3);
    as a control, the same request with the health-check certificate must succeed, so
    the refusal is about the missing certificate, not the network. curl runs on the
    checking master (02-network installs it).

    Returns:
        A table: member, URL, without cert (``refused`` / ``ACCEPTED`` / ``no TLS answer``),
        error, with cert (``accepted`` plus the version it reports, or ``refused``).
    """
    inv, h = _checker(fleet)
    rows = []
    for m in members(inv):
        url = f"{client_url(m)}/version"
        base = f"curl -sS --max-time 5 --cacert {PKI_DIR}/ca.crt"
        anon = h.run(f"{base} {url}", check=False, timeout=30)
        good = h.run(f"{base} --cert {PKI_DIR}/{HEALTHCHECK}.crt --key {PKI_DIR}/{HEALTHCHECK}.key {url}",
                     check=False, timeout=30)
        rows.append([m.name, url, anonymous_verdict(anon.exit_code, anon.stderr),
                     _tls_error(anon.stderr), _version_verdict(good.exit_code, good.stdout)])
    return Table(["member", "url", "without cert", "error", "with cert"], rows,
                 title=f"clients without a certificate are refused (curl on {h.name})")


def verify_health(fleet, within: float = 30.0) -> Verdict:
    """Every member answers healthy over TLS (asking again for up to ``within`` seconds).

    Returns:
        A :class:`~helpers.verdict.Verdict`: the health table, and one problem per
        unhealthy member naming its endpoint and etcdctl's error.
    """
    table = check_etcd_health(fleet, within=within)
    return Verdict(table.title, table.columns, table.rows, health_problems(table))


def verify_leader(fleet, within: float = 30.0) -> Verdict:
    """Every member answers its status, exactly one is the leader, all agree on the raft term.

    Asks again for up to ``within`` seconds (an election after a restart takes a moment).
    """
    table = check_etcd_status(fleet, within=within)
    return Verdict(table.title, table.columns, table.rows, leader_problems(table))


def leader_problems(table: Table) -> list[str]:
    """What is wrong in a :func:`check_etcd_status` table: silent members, not one leader, split terms."""
    rows = table.as_dicts()
    problems = [f"etcd member {r['member']} did not answer its status" for r in rows if r["leader"] == "unreachable"]
    leaders = [r["member"] for r in rows if r["leader"] == "yes"]
    if len(leaders) != 1:
        problems.append(f"expected exactly one etcd leader, found {', '.join(leaders) or 'none'}")
    terms = sorted({str(r["raft term"]) for r in rows if r["leader"] != "unreachable"})
    if len(terms) > 1:
        problems.append(f"etcd members disagree on the raft term: {', '.join(terms)}")
    return problems

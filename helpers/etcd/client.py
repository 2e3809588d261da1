"""etcdctl's command line, and reading etcdctl's and curl's answers (no host contacted).

:func:`etcdctl` builds the command the steps and checks run; the parsers turn its JSON
(and its errors) into table rows, and classify curl's anonymous attempts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from helpers.etcd.config import BIN_DIR, CLIENT_PORT, HEALTHCHECK, PKI_DIR, client_url
from helpers.tables import Table


def etcdctl(args: str, endpoints_: str | None = None, cert: bool = True, timeout: str = "5s") -> str:
    """An etcdctl command line using the health-check client certificate.

    Args:
        args: the etcdctl subcommand and its flags, e.g. ``"endpoint health -w json"``.
        endpoints_: the ``--endpoints`` value (default: the local member).
        cert: present the client certificate (False: only trust the CA).
        timeout: etcdctl's command timeout.
    """
    parts = [f"{BIN_DIR}/etcdctl", f"--endpoints={endpoints_ or f'https://127.0.0.1:{CLIENT_PORT}'}",
             f"--cacert={PKI_DIR}/ca.crt", "--dial-timeout=3s", f"--command-timeout={timeout}"]
    if cert:
        parts += [f"--cert={PKI_DIR}/{HEALTHCHECK}.crt", f"--key={PKI_DIR}/{HEALTHCHECK}.key"]
    return " ".join(parts) + " " + args


def _json(text: str) -> Any:
    text = text.strip()
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except ValueError:
        return None


def parse_health(stdout: str, stderr: str, hosts) -> list[list[Any]]:
    """Rows of the health table from ``etcdctl endpoint health -w json`` output, in member order."""
    by_endpoint = {e.get("endpoint"): e for e in (_json(stdout) or []) if isinstance(e, dict)}
    rows = []
    for m in hosts:
        e = by_endpoint.get(client_url(m), {})
        healthy = bool(e.get("health"))
        error = e.get("error", "") if e else (_tls_error(stderr) or "no answer")
        rows.append([m.name, client_url(m), "healthy" if healthy else "UNHEALTHY", e.get("took", ""),
                     error])
    return rows


def health_problems(table: Table) -> list[str]:
    """One line per unhealthy member of a :func:`check_etcd_health` table (empty: all good)."""
    return [f"etcd member {r['member']} ({r['endpoint']}) is unhealthy: {r['error'] or 'no detail'}"
            for r in table.as_dicts() if r["health"] != "healthy"]


def status_settled(table: Table) -> bool:
    """Every member answers, exactly one is the leader, and all agree on the raft term."""
    rows = table.as_dicts()
    return (not any(r["leader"] == "unreachable" for r in rows)
            and sum(r["leader"] == "yes" for r in rows) == 1 and len({r["raft term"] for r in rows}) == 1)


def parse_status(status: Any, member_list: Any, hosts) -> list[list[Any]]:
    """Rows of the status table from parsed ``endpoint status`` and ``member list`` JSON.

    A member missing from the status answer gets ``leader = "unreachable"``.
    """
    names = {m.get("ID"): m.get("name") for m in (member_list or {}).get("members", [])}
    by_endpoint = {s.get("Endpoint"): s.get("Status", {}) for s in (status or []) if isinstance(s, dict)}
    rows = []
    for m in hosts:
        s = by_endpoint.get(client_url(m))
        if not s:
            rows.append([m.name, "", "unreachable", "", "", "", ""])
            continue
        member_id = s.get("header", {}).get("member_id")
        rows.append([
            names.get(member_id, m.name),
            f"{member_id:x}" if isinstance(member_id, int) else str(member_id),
            "yes" if member_id is not None and s.get("leader") == member_id else "no",
            s.get("raftTerm", s.get("header", {}).get("raft_term", "")),
            s.get("raftIndex", ""),
            _size(s.get("dbSize")),
            s.get("version", ""),
        ])
    return rows


def _size(n: Any) -> str:
    if not isinstance(n, int):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def anonymous_verdict(exit_code: int, stderr: str) -> str:
    """Classify an anonymous curl: ``refused`` only for a TLS-level refusal, not a network error."""
    if exit_code == 0:
        return "ACCEPTED"
    if re.search(r"alert|SSL|TLS", stderr):
        return "refused"
    return "no TLS answer"


def _version_verdict(exit_code: int, stdout: str) -> str:
    doc = _json(stdout) if exit_code == 0 else None
    if isinstance(doc, dict) and doc.get("etcdserver"):
        return f"accepted (etcd {doc['etcdserver']})"
    return "refused"


def _tls_error(text: str) -> str:
    """The TLS reason in etcdctl's output (e.g. ``remote error: tls: certificate required``)."""
    found = re.search(r"remote error: tls: [a-z ]+|tlsv1\d alert [a-z ]+|alert [a-z ]+|tls: [a-z' ]+", text)
    if found:
        return found.group(0).strip()
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:120] if lines else ""

"""Is the guestbook working? Asked from the operator's machine, through its LoadBalancer address.

:func:`verify_guestbook` does what a visitor does and then looks behind the page: the page
answers; an entry written through the frontend comes back through it, read from a
follower (its ``ROLE`` is ``slave``); each follower has it (``redis-cli`` in the pod); the
leader counts both followers connected; and a dozen reads are answered by more than one
frontend pod (the Service spreads them).
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

from helpers.guestbook.objects import FOLLOWER, LEADER, REPLICAS
from helpers.guestbook.redis import redis_cli, replication
from helpers.verdict import Verdict

USER_AGENT = "kubernetes-journey/09"


class GuestbookError(Exception):
    """The frontend did not answer as HTTP (refused, timed out, reset)."""


def call(address, method: str, path: str, body: dict | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    """``method path`` on ``address``:80; returns (status, the JSON body, or the text when it is not JSON).

    Raises:
        GuestbookError: no HTTP answer (the reason in the message).
    """
    data = json.dumps(body).encode() if body is not None else None
    headers = {"User-Agent": USER_AGENT, **({"Content-Type": "application/json"} if data else {})}
    conn = http.client.HTTPConnection(str(address), 80, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read(1 << 20).decode(errors="replace")
    except (OSError, http.client.HTTPException) as err:
        raise GuestbookError(f"{method} http://{address}{path}: {type(err).__name__}: {err}") from err
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw


def read_entries(address, timeout: float = 5.0) -> dict[str, Any]:
    """``GET /api/entries``: the entries, the pod that served them and the Redis that was read.

    Raises:
        GuestbookError: no answer, or an answer other than 200 (its error in the message).
    """
    status, body = call(address, "GET", "/api/entries", timeout=timeout)
    if status != 200 or not isinstance(body, dict):
        raise GuestbookError(f"GET http://{address}/api/entries: {status} {str(body)[:200]}")
    return body


def verify_guestbook(inv, address=None, reads: int = 12) -> Verdict:
    """Write through the frontend, read it back from a follower, and check each Redis; rows name what was seen."""
    from helpers.guestbook.objects import address as guestbook_address  # noqa: PLC0415

    address = address or guestbook_address(inv)
    rows: list[tuple[str, str]] = []
    problems: list[str] = []
    written = False
    entry = f"verified from the operator's machine at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
    try:
        status, page = call(address, "GET", "/")
        rows.append(("GET /", f"{status}, {len(str(page))} bytes"))
        if status != 200 or "<title>Guestbook</title>" not in str(page):
            problems.append(f"http://{address}/ answered {status} without the guestbook's page: {str(page)[:200]}")
        status, wrote = call(address, "POST", "/api/entries", {"entry": entry})
        rows.append(("POST /api/entries", f"{status}: {wrote}"))
        followers = REPLICAS[FOLLOWER]
        written = status == 201
        if not written:
            problems.append(f"writing an entry through http://{address} answered {status}: {wrote}")
        elif (wrote["replicas_connected"], wrote["replicas_acknowledged"]) != (followers, followers):
            problems.append(f"the leader had {wrote['replicas_connected']} follower(s) connected and "
                            f"{wrote['replicas_acknowledged']} acknowledged the write; want {followers} and {followers}")
        served = set()
        for _ in range(reads):
            got = read_entries(address)
            served.add(got["served_by"])
        rows.append((f"GET /api/entries x{reads}", f"served by {', '.join(sorted(served))}; read from "
                     f"{got['read_from']['address']} ({got['read_from']['role']})"))
        if written and entry not in got["entries"]:
            problems.append(f"the entry written is not in what http://{address}/api/entries reads back "
                            f"({len(got['entries'])} entries)")
        if got["read_from"]["role"] != "slave":
            problems.append(f"reads were served by a Redis whose role is {got['read_from']['role']!r}, not a follower")
        if len(served) < 2:
            problems.append(f"{reads} reads were all answered by {', '.join(served)}; the Service should spread them")
    except GuestbookError as err:
        problems.append(str(err))
    problems += _check_redis(inv, entry if written else None, rows)
    return Verdict(f"the guestbook at http://{address}/", ["check", "saw"], rows, problems)


def _asked(inv, pod: str, ask):
    """``ask()``, or the reason a Redis pod could not be asked (absent, not running, exec refused)."""
    try:
        return ask(), ""
    except Exception as err:  # noqa: BLE001 - a Redis that cannot be asked is a finding
        text = str(err)
        reason = "not found" if "not found" in text else text.splitlines()[0][:160]
        return None, f"{pod} could not be asked ({reason})"


def _check_redis(inv, entry: str | None, rows: list[tuple[str, str]]) -> list[str]:
    """Ask each Redis; ``entry`` (``None`` when the write failed) must be on every follower."""
    problems = []
    leader = f"{LEADER}-0"
    info, why = _asked(inv, leader, lambda: replication(inv, leader))
    if why:
        rows.append((f"{leader} INFO replication", why))
        problems.append(why)
        info = {}
    else:
        rows.append((f"{leader} INFO replication", f"role {info.get('role')}, {info.get('connected_slaves')} follower(s)"))
    if info and (info.get("role") != "master" or info.get("connected_slaves") != str(REPLICAS[FOLLOWER])):
        problems.append(f"{leader} is {info.get('role')} with {info.get('connected_slaves')} follower(s) connected; "
                        f"want master with {REPLICAS[FOLLOWER]}")
    for n in range(REPLICAS[FOLLOWER]):
        pod = f"{FOLLOWER}-{n}"
        got, why = _asked(inv, pod, lambda pod=pod: (replication(inv, pod), redis_cli(inv, pod, "LRANGE", "guestbook",
                                                                                          "0", "-1")))
        if why:
            rows.append((f"{pod} INFO replication, LRANGE", why))
            problems.append(why)
            continue
        info, listed = got
        has = entry in listed.splitlines() if entry is not None else None
        rows.append((f"{pod} INFO replication, LRANGE", f"role {info.get('role')}, link {info.get('master_link_status')}"
                     + (f", has the entry: {has}" if entry is not None else "")))
        if info.get("role") != "slave" or info.get("master_link_status") != "up":
            problems.append(f"{pod} is {info.get('role')} with link {info.get('master_link_status')}; want slave, up")
        if has is False:
            problems.append(f"{pod} does not hold the entry written through the frontend")
    return problems

"""Checks of the load-balancer tier (no side effects): who holds the VIP, TCP through it, HAProxy's stats page."""

from __future__ import annotations

import csv
import io
import socket
from typing import Any

from helpers.facts import STATS_PORT
from helpers.loadbalancer.credentials import load_credentials
from helpers.topology import API_PORT
from helpers.waiting import settle


def _holds(h: Any, vip: Any) -> bool:
    return bool(h.run(f"ip -o -4 addr show to {vip}/32", check=False).stdout.strip())


def check_vip_holders(fleet: Any) -> dict[str, bool]:
    """Return lb name -> whether it holds the VIP right now (exactly one True is healthy)."""
    inv = fleet.inventory
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
    name = name or fleet.inventory.hosts_with("lb")[0].name
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

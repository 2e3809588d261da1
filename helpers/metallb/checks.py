"""07's checks from the outside, on the operator's machine.

Each Service's address is asked over HTTP, and this machine's own neighbour (ARP) table
shows which node's MAC answers for it.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from ipaddress import IPv4Address

from helpers.metallb.install import pool_of
from helpers.metallb.services import (
    announcers,
    events_of,
    service_addresses,
    wanted_services,
)
from helpers.node_pki import node_hosts
from helpers.remote import Change
from helpers.verdict import Verdict
from helpers.waiting import settle

ANSWER_WITHIN = 30.0  # seconds a new address gets to answer from this machine


def http_get(address, port: int, path: str = "/hostname", timeout: float = 2.0) -> tuple[bool, str]:
    """``GET http://address:port/path`` from this machine; (answered 200, body or error)."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=timeout) as resp:  # noqa: S310
            return resp.status == 200, resp.read(200).decode(errors="replace").strip()
    except (urllib.error.URLError, OSError) as err:
        return False, f"{type(err).__name__}: {getattr(err, 'reason', err)}"


def neighbour_mac(address) -> str | None:
    """The MAC this machine's neighbour table holds for ``address`` (``ip neigh``), or None."""
    out = subprocess.run(["ip", "-j", "neigh", "show", "to", str(address)], capture_output=True, text=True,
                         timeout=5, check=False).stdout
    try:
        entries = json.loads(out or "[]")
    except ValueError:
        return None
    for entry in entries:
        if entry.get("lladdr") and "FAILED" not in entry.get("state", []):
            return entry["lladdr"].lower()
    return None


def node_macs(fleet) -> dict[str, str]:
    """MAC -> node name: the interface of each node that holds its inventory address."""
    found: dict[str, str] = {}

    def read(h) -> Change:
        addrs = json.loads(h.run("ip -j -4 addr show").stdout or "[]")
        for link in addrs:
            if any(a.get("local") == str(h.host.address) for a in link.get("addr_info", [])):
                mac = h.run(f"cat /sys/class/net/{link['ifname']}/address").stdout.strip().lower()
                found[mac] = h.name
        return Change(False, "read")

    fleet.step("read the nodes' MAC addresses", read, hosts=[h.name for h in node_hosts(fleet.inventory)],
               skip="not a Kubernetes node (no master or worker role)")
    return found


def verify_services(fleet) -> Verdict:
    """Each demo Service: the address it asked for, answering from here, and which node answers ARP for it.

    Who answers for an address is read where it matters, in this machine's neighbour table
    after asking the address (on the lab this machine is on the nodes' segment, so the entry
    must be a node's MAC). MetalLB's own report, the ServiceL2Status objects, is shown beside
    it; it is not trusted alone: v0.15.3 loses or keeps stale ones after membership changes
    (07's drill shows it), so it is required only where there is no ARP entry to read.
    ``single-second`` must stay pending, with MetalLB's ``AllocationFailed`` event saying why.
    """
    inv = fleet.inventory
    first, last = pool_of(inv)
    addresses = service_addresses(inv)
    speakers = announcers(inv)
    macs = node_macs(fleet)
    rows, problems = [], []
    for w in wanted_services(inv):
        address = addresses.get(w.name)
        asked = w.annotations.get("metallb.io/loadBalancerIPs") or w.annotations.get("metallb.io/address-pool") or "any"
        if not w.gets_address:
            events = settle(lambda n=w.name: [e for e in events_of(inv, n) if e[0] == "AllocationFailed"], bool,
                            within=ANSWER_WITHIN, interval=1.0).value
            rows.append([w.name, asked, "<pending>", events[-1][2][:90] if events else "no event", "-", "-"])
            if address is not None:
                problems.append(f"{w.name} got {address}, but its pool has one address, taken by single-first")
            if not events:
                problems.append(f"{w.name} is pending without MetalLB's AllocationFailed event")
            continue
        if address is None:
            rows.append([w.name, asked, "<pending>", "-", "-", "-"])
            problems.append(f"{w.name} has no address from MetalLB")
            continue
        # also makes this machine resolve the address (ARP). A Service that got its address a moment
        # ago may not answer yet: its speaker's first announcement and kube-proxy's rules for it on
        # the announcing node follow the allocation by a second or two (more on a loaded box)
        ok, body = settle(lambda a=address, p=w.port: http_get(a, p), lambda r: r[0], within=ANSWER_WITHIN,
                          interval=0.5).value
        arp = neighbour_mac(address)
        arp_node = macs.get(arp or "", f"{arp} (not a node)" if arp else "no entry")
        status = speakers.get(w.name)
        reported = status or "missing"
        if status and arp in macs and status != arp_node:
            reported = f"{status} (stale: ARP says {arp_node})"
        rows.append([w.name, asked, f"{address}:{w.port}", body if ok else f"FAILED: {body}", arp_node, reported])
        if not first <= address <= last:
            problems.append(f"{w.name}: {address} is outside the pool {first}-{last}")
        if asked not in ("any",) and asked.count(".") == 3 and IPv4Address(asked) != address:
            problems.append(f"{w.name} asked for {asked} and got {address}")
        if not ok:
            problems.append(f"{w.name}: http://{address}:{w.port}/hostname from this machine: {body}")
        if inv.lab is not None and arp not in macs:
            # on the lab this machine shares the nodes' segment: the answer to its ARP request must be a node's
            problems.append(f"{w.name}: this machine's ARP entry for {address} is {arp_node}, not a node's MAC")
        if inv.lab is None and not status:
            problems.append(f"{w.name}: no speaker reports announcing {address} (ServiceL2Status)")
    shared = {addresses.get("shared-http"), addresses.get("shared-alt")}
    if len(shared) != 1 or None in shared:
        problems.append(f"shared-http and shared-alt do not share one address: {sorted(map(str, shared))}")
    return Verdict("LoadBalancer Services, seen from this machine",
                   ["Service", "asked for", "address", "answer (/hostname)", "ARP entry here (who answers)",
                    "MetalLB's status (ServiceL2Status)"], rows, problems)

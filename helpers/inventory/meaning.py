"""Checks of meaning: the problems that only show across fields.

Addresses inside the node subnet and off its network/broadcast/gateway addresses, no
duplicate names or addresses, no overlapping ranges, cluster DNS inside the service
range, and the role groups (a master, a worker, an odd etcd group, a VIP for the load
balancers). Every check runs on whatever values parse, so one broken field does not
hide the problems of the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from helpers.constants import API_HOSTNAME, CERT_CN_MAX, NODE_CIDR_MASK, ROLES
from helpers.inventory.fields import _LABEL, Problem, _address, _address_range, _network
from helpers.inventory.sections import Host


def _edge(net: IPv4Network, addr: IPv4Address) -> str | None:
    if net.prefixlen >= 31:
        return None
    if addr == net.network_address:
        return "network"
    if addr == net.broadcast_address:
        return "broadcast"
    return None


def _lenient(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except (ValueError, TypeError):
        return None


def _loose_network(value: Any) -> IPv4Network:
    # host bits set is reported on its own; the cross checks still use the network
    return IPv4Network(value, strict=False) if isinstance(value, str) and "/" in value else _network(value)


def network_values(raw: Any) -> dict[str, Any]:
    """Parse whatever fields of a network section are valid; the others become None."""
    raw = raw if isinstance(raw, dict) else {}
    nets = {k: _lenient(_loose_network, raw.get(k)) for k in ("node_subnet", "pod_cidr", "service_cidr")}
    addrs = {k: _lenient(_address, raw.get(k)) for k in ("gateway", "vip", "cluster_dns")}
    return nets | addrs | {"loadbalancer_pool": _lenient(_address_range, raw.get("loadbalancer_pool"))}


def host_values(raw: Any) -> tuple[str | None, IPv4Address | None]:
    """Parse the name and address of a host entry when they are valid, else None."""
    raw = raw if isinstance(raw, dict) else {}
    name = raw.get("name")
    name = name if isinstance(name, str) and _LABEL.match(name) else None
    return name, _lenient(_address, raw.get("address"))


def check_meaning(
    net: dict[str, Any],
    hosts: list[tuple[int, str | None, IPv4Address | None]],
    valid_hosts: list[Host] | None,
) -> list[Problem]:
    """Return the problems that only show across fields: addresses, ranges, role groups.

    Every check runs on whatever values are valid, so one broken field does not hide
    the problems of the others.

    Args:
        net: the network values (``network_values``); None where a field is invalid.
        hosts: ``(index, name, address)`` of every host entry, None where invalid.
        valid_hosts: all hosts when every entry validated, else None; the role-group
            checks (master, etcd quorum, lb) need the full list.
    """
    problems = _check_network(net)
    seen_names: dict[str, int] = {}
    seen_addresses: dict[IPv4Address, int] = {}
    subnet, gateway, vip = net["node_subnet"], net["gateway"], net["vip"]
    for i, name, address in hosts:
        where = f"hosts[{i}]"
        if name is not None and name in seen_names:
            problems.append((f"{where}.name", f"duplicate host name {name!r} (also hosts[{seen_names[name]}].name)"))
        elif name is not None:
            seen_names[name] = i
        if address is None:
            continue
        if address in seen_addresses:
            problems.append((f"{where}.address", f"duplicate address {address} (also hosts[{seen_addresses[address]}].address)"))
        else:
            seen_addresses[address] = i
        if subnet is not None and address not in subnet:
            problems.append((f"{where}.address", f"{address} is outside the node subnet {subnet}"))
        elif subnet is not None and (edge := _edge(subnet, address)):
            problems.append((f"{where}.address", f"{address} is the {edge} address of the node subnet {subnet}"))
        elif address == gateway:
            problems.append((f"{where}.address", f"{address} is the gateway address"))
        if vip is not None and address == vip:
            problems.append(("network.vip", f"{vip} is also the address of host {name or '?'} ({where}.address)"))
        pool = net.get("loadbalancer_pool")
        if pool is not None and address in pool:
            problems.append(("network.loadbalancer_pool", f"{pool} contains {address}, the address of host "
                             f"{name or '?'} ({where}.address): MetalLB would hand it to a Service"))
    if valid_hosts:
        problems += _check_roles(valid_hosts, net)
    return problems


def _check_network(net: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    ranges = [(k, net[k]) for k in ("node_subnet", "pod_cidr", "service_cidr") if net[k] is not None]
    for j, (name_b, b) in enumerate(ranges):
        for name_a, a in ranges[:j]:
            if a.overlaps(b):
                problems.append((f"network.{name_b}", f"{b} overlaps network.{name_a} {a}"))
    subnet, gateway, vip = net["node_subnet"], net["gateway"], net["vip"]
    if subnet is not None and gateway is not None:
        if gateway not in subnet:
            problems.append(("network.gateway", f"{gateway} is outside the node subnet {subnet}"))
        elif edge := _edge(subnet, gateway):
            problems.append(("network.gateway", f"{gateway} is the {edge} address of the node subnet {subnet}"))
    if vip is not None:
        if subnet is not None and vip not in subnet:
            problems.append(("network.vip", f"{vip} is outside the node subnet {subnet}"))
        elif subnet is not None and (edge := _edge(subnet, vip)):
            problems.append(("network.vip", f"{vip} is the {edge} address of the node subnet {subnet}"))
        elif vip == gateway:
            problems.append(("network.vip", f"{vip} is the gateway address"))
    problems += _check_pool(net)
    svc, dns = net["service_cidr"], net["cluster_dns"]
    if svc is not None and dns is not None:
        if dns not in svc:
            problems.append(("network.cluster_dns", f"{dns} is outside the service range {svc}"))
        elif edge := _edge(svc, dns):
            problems.append(("network.cluster_dns", f"{dns} is the {edge} address of the service range {svc}"))
        elif svc.num_addresses > 2 and dns == svc.network_address + 1:
            problems.append(("network.cluster_dns", f"{dns} is the first address of {svc}, which the 'kubernetes' API service takes"))
    return problems


def _check_pool(net: dict[str, Any]) -> list[Problem]:
    """The LoadBalancer pool: inside the node subnet, and none of the addresses the subnet already uses."""
    pool, subnet = net.get("loadbalancer_pool"), net["node_subnet"]
    if pool is None:
        return []
    where = "network.loadbalancer_pool"
    if subnet is not None and (pool.first not in subnet or pool.last not in subnet):
        return [(where, f"{pool} reaches outside the node subnet {subnet}: MetalLB's layer 2 mode answers ARP "
                 "only on the nodes' own network")]
    problems = []
    if subnet is not None:
        for edge in ("network", "broadcast"):
            address = getattr(subnet, f"{edge}_address")
            if subnet.prefixlen < 31 and address in pool:
                problems.append((where, f"{pool} contains {address}, the {edge} address of the node subnet {subnet}"))
    for key, what in (("gateway", "the gateway"), ("vip", "the VIP")):
        if net[key] is not None and net[key] in pool:
            problems.append((where, f"{pool} contains {net[key]}, {what} (network.{key})"))
    return problems


def _names(hosts: Iterable[Host]) -> str:
    return ", ".join(h.name for h in hosts)


def _check_roles(hosts: list[Host], net: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    by_role = {role: [h for h in hosts if role in h.roles] for role in ROLES}
    if not by_role["master"]:
        problems.append(("hosts", "no host has role master; the cluster needs at least one"))
    if not by_role["worker"]:
        problems.append(("hosts", "no host has role worker; pods (CoreDNS too) need at least one"))
    etcd = by_role["etcd"]
    if not etcd:
        problems.append(("hosts", "no host has role etcd; the etcd group needs 1, 3 or 5 members"))
    elif len(etcd) % 2 == 0:
        problems.append(("hosts", f"the etcd group has {len(etcd)} members ({_names(etcd)}); it needs an odd number (1, 3, 5) to keep quorum"))
    if by_role["lb"] and net["vip"] is None and net.get("_vip_given") is not True and not net.get("_missing"):
        problems.append(("network.vip", f"hosts with role lb ({_names(by_role['lb'])}) need a vip to share; none is set"))
    if net["vip"] is not None and not by_role["lb"]:
        problems.append(("network.vip", f"{net['vip']} has no host to hold it: no host has role lb (give two hosts "
                         "the lb role for a floating VIP, or remove vip)"))
    problems += _check_hosts(hosts)
    problems += _check_pod_ranges(hosts, net)
    return problems


def _check_hosts(hosts: list[Host]) -> list[Problem]:
    """Per host: roles that cannot share a machine, names that collide with the series' own."""
    problems: list[Problem] = []
    for i, h in enumerate(hosts):
        where = f"hosts[{i}]"
        if "lb" in h.roles and "master" in h.roles:
            problems.append((f"{where}.roles", f"{h.name} is both lb and master: HAProxy on the VIP's port 6443 and "
                             "kube-apiserver on 6443 collide; put the load balancer on other machines"))
        if h.name == API_HOSTNAME:
            problems.append((f"{where}.name", f"{h.name!r} is the API endpoint's name ({API_HOSTNAME}.<domain> "
                             "resolves to the VIP on every host); name the host differently"))
        cn = f"system:node:{h.name}"
        if ("master" in h.roles or "worker" in h.roles) and len(cn) > CERT_CN_MAX:
            problems.append((f"{where}.name", f"{h.name!r} is {len(h.name)} characters: its kubelet certificate's "
                             f"common name {cn[:20]}... would be {len(cn)}, over the limit of {CERT_CN_MAX}; "
                             f"use at most {CERT_CN_MAX - len('system:node:')}"))
    return problems


def _check_pod_ranges(hosts: list[Host], net: dict[str, Any]) -> list[Problem]:
    """The pod range must hold one per-node range (/``NODE_CIDR_MASK``) for every node."""
    pod = net["pod_cidr"]
    nodes = [h for h in hosts if "master" in h.roles or "worker" in h.roles]
    if pod is None or not nodes:
        return []
    ranges = 2 ** (NODE_CIDR_MASK - pod.prefixlen) if pod.prefixlen <= NODE_CIDR_MASK else 0
    if ranges >= len(nodes):
        return []
    need = NODE_CIDR_MASK - max(0, (len(nodes) - 1).bit_length())
    return [("network.pod_cidr", f"{pod} holds {ranges} per-node /{NODE_CIDR_MASK} range(s) (the controller "
             f"manager's node mask) for {len(nodes)} nodes, so some kubelets would get no pod range; "
             f"use a /{need} or larger")]

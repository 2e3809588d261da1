"""The cluster's shape drawn from the inventory: a topology diagram and the address plan.

Nothing here touches a host: both the matplotlib figure and the address-plan table are
computed from a loaded :class:`~helpers.inventory.Inventory` alone, so they can be shown
before the first SSH connection.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

from helpers.constants import API_HOSTNAME, API_PORT  # noqa: F401 - re-exported: the notebooks import them from here
from helpers.tables import Table

ROW_ORDER = ("lb", "master", "etcd", "worker")
ROW_TITLES = {
    "lb": "load balancers (HAProxy + keepalived)",
    "master": "control plane",
    "etcd": "etcd",
    "worker": "workers",
}
COLOURS = {"lb": "#f4a259", "master": "#5b8def", "etcd": "#9d6ad1", "worker": "#5cb85c"}


def api_fqdn(inv: Any) -> str:
    """Return the API endpoint's name, ``kube-api.<cluster domain>``."""
    return f"{API_HOSTNAME}.{inv.cluster.domain}"


def api_address(inv: Any) -> IPv4Address:
    """Return where clients reach the API server: the VIP, or the first master without one."""
    if inv.network.vip is not None:
        return inv.network.vip
    return inv.hosts_with("master")[0].address


def row_of(host: Any) -> str:
    """Return the diagram row of a host: its first role in lb, master, etcd, worker order."""
    return next(role for role in ROW_ORDER if role in host.roles)


def group_hosts(inv: Any) -> dict[str, list[Any]]:
    """Return the inventory's hosts grouped by diagram row, rows in drawing order, empty rows left out."""
    rows: dict[str, list[Any]] = {role: [] for role in ROW_ORDER}
    for host in inv.hosts:
        rows[row_of(host)].append(host)
    return {role: hosts for role, hosts in rows.items() if hosts}


def address_plan(inv: Any) -> Table:
    """Return the address plan: every host, the VIP, the gateway and the cluster's ranges.

    Args:
        inv: a loaded inventory.

    Returns:
        A table with one row per address or range: what it is, the address, its DNS
        name and a note saying who uses it.
    """
    net = inv.network
    rows: list[list[Any]] = [
        ["node network", str(net.node_subnet), "", "every host's address; one L2 segment"],
        ["gateway", str(net.gateway), "", "default gateway of the hosts"
         + ("; the operator's machine and site services in the lab" if inv.lab else "")],
    ]
    if net.vip is not None:
        rows.append(["API VIP", str(net.vip), api_fqdn(inv),
                     f"floating address held by one lb (keepalived); HAProxy listens on :{API_PORT}"])
    for host in inv.hosts:
        rows.append([f"host ({', '.join(host.roles)})", str(host.address), host.fqdn, host.name])
    services = list(net.service_cidr.hosts())
    rows += [
        ["pod range", str(net.pod_cidr), "", "one /24 per node, handed out when the node registers (flannel VXLAN)"],
        ["service range", str(net.service_cidr), "", "virtual addresses, never on a wire; kube-proxy translates them"],
        ["kubernetes service", str(services[0]), f"kubernetes.default.svc.{inv.cluster.dns_domain}",
         "first service address: the API server inside the cluster"],
        ["cluster DNS", str(net.cluster_dns), "", "CoreDNS service address every pod's resolv.conf points at"],
    ]
    return Table(["what", "address", "name", "note"], rows, title=f"address plan of {inv.cluster.name}")


def draw_topology(inv: Any, figsize: tuple[float, float] = (13, 8)) -> Any:
    """Draw the cluster topology from the inventory and return the matplotlib Figure.

    Hosts are boxes grouped in rows by role (load balancers, control plane, etcd,
    workers) inside the node network; the VIP is drawn around the load-balancer pair
    with arrows to every master's API port; the pod and service ranges are bands below.

    Args:
        inv: a loaded inventory.
        figsize: figure size in inches.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, works headless
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    net = inv.network
    rows = group_hosts(inv)
    fig = Figure(figsize=figsize, dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.axis("off")

    def box(x, y, w, h, text, face, edge="#333333", style="round,pad=0.3", ls="-", size=9, weight="normal", alpha=1.0):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=face, edgecolor=edge,
                                    linestyle=ls, linewidth=1.2, alpha=alpha))
        if text:
            ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight)

    def arrow(p, q, colour="#555555", ls="-", rad=0.0):
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=12, color=colour,
                                     linestyle=ls, linewidth=1.1, shrinkA=2, shrinkB=2,
                                     connectionstyle=f"arc3,rad={rad}"))

    # Title and the operator above the node network.
    ax.text(2, 97, f"{inv.cluster.name}: {len(inv.hosts)} hosts, domain {inv.cluster.domain}",
            fontsize=13, weight="bold", va="center")
    operator = "operator's machine" + (" (lab host)" if inv.lab else "")
    box(70, 92, 28, 5, f"{operator}\ngateway {net.gateway}", "#eeeeee", size=9)

    # The node network frame.
    top, bottom = 88.0, 22.0
    box(1.5, bottom, 97, top - bottom, "", "#fafafa", edge="#888888", style="round,pad=0.5")
    ax.text(3, top - 2, f"node network {net.node_subnet}", fontsize=10, weight="bold", va="center", color="#555555")

    # Host rows, spread evenly.
    row_h = (top - bottom - 6) / max(len(rows), 1)
    centres: dict[str, tuple[float, float]] = {}
    bws: dict[str, float] = {}
    for r, (role, hosts) in enumerate(rows.items()):
        y0 = top - 5 - (r + 1) * row_h
        ax.text(3, y0 + row_h - 1.5, ROW_TITLES[role], fontsize=9, style="italic", color="#444444", va="center")
        bw, bh = min(16.0, 80.0 / len(hosts) - 4), row_h * 0.55
        span = len(hosts) * bw + (len(hosts) - 1) * 5
        x = 50 - span / 2 + 5
        for host in hosts:
            label = f"{host.name}\n{host.address}\n{', '.join(host.roles)}"
            box(x, y0 + row_h * 0.12, bw, bh, label, COLOURS[role], size=8.5)
            centres[host.name] = (x + bw / 2, y0 + row_h * 0.12 + bh / 2)
            bws[host.name] = bw
            x += bw + 5
        if role == "lb" and net.vip is not None:
            xs = [centres[h.name][0] for h in hosts]
            box(min(xs) - bw / 2 - 2.5, y0 + row_h * 0.02, max(xs) - min(xs) + bw + 5, bh + row_h * 0.2,
                "", "none", edge="#d9534f", ls="--", style="round,pad=0.4")
            ax.text(max(xs) + bw / 2 + 4, y0 + row_h * 0.45,
                    f"VIP {net.vip}\n{api_fqdn(inv)}:{API_PORT}\n(VRRP: one lb holds it)",
                    fontsize=9, color="#d9534f", weight="bold", va="center")
            centres["__vip__"] = ((min(xs) + max(xs)) / 2, y0 + row_h * 0.02)
            centres["__vip_left__"] = (min(xs) - bw / 2 - 2.5, y0 + row_h * 0.4)

    # Traffic: operator and workers to the API endpoint; the endpoint to every master.
    masters = [h.name for h in inv.hosts_with("master")]
    if "__vip__" in centres:
        vx, vy = centres["__vip__"]
        arrow((84, 92), (vx + 6, vy + row_h * 0.75), colour="#d9534f", ls="--")
        for name in masters:
            arrow((vx, vy), (centres[name][0], centres[name][1] + row_h * 0.28), colour="#d9534f")
        workers = [h.name for h in inv.hosts_with("worker") if row_of(h) == "worker"]
        if workers:  # kubelet and kube-proxy reach the API through the VIP too
            lefts = [centres[n][0] - bws[n] / 2 for n in centres if n in bws]
            xl = min(lefts) - 3
            wx, wy = centres[workers[0]]
            tx, ty = centres["__vip_left__"]
            ax.plot([wx - bws[workers[0]] / 2, xl, xl], [wy, wy, ty], color="#d9534f", ls="--", lw=1.1)
            arrow((xl, ty), (tx, ty), colour="#d9534f", ls="--")
    for name in (h.name for h in inv.hosts_with("etcd") if "master" not in h.roles):
        for m in masters:
            arrow((centres[m][0], centres[m][1] - row_h * 0.28), (centres[name][0], centres[name][1] + row_h * 0.28),
                  colour="#9d6ad1", ls=":")

    # Ranges that live above the node network.
    services = list(net.service_cidr.hosts())
    box(3, 11, 46, 7, f"pod range {net.pod_cidr}\nflannel VXLAN overlay, a /24 per node", "#dff0d8", size=9)
    box(51, 11, 46, 7, f"service range {net.service_cidr}\nAPI service {services[0]}, cluster DNS {net.cluster_dns}",
        "#d9edf7", size=9)
    ax.text(3, 4, "roles:", fontsize=9, va="center")
    for i, role in enumerate(ROW_ORDER):
        box(10 + i * 14, 2.5, 3, 3, "", COLOURS[role], style="round,pad=0.1")
        ax.text(14.5 + i * 14, 4, role, fontsize=9, va="center")
    ax.text(70, 4, f"red: API traffic to :{API_PORT}" + ("  dotted: apiserver to etcd" if any(
        "master" not in h.roles for h in inv.hosts_with("etcd")) else ""), fontsize=9, va="center", color="#555555")
    return fig


def figure_png(fig: Any, path: Any = None) -> bytes:
    """Return a Figure as PNG bytes (for ``IPython.display.Image``); also write it to ``path`` if given."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    data = buf.getvalue()
    if path is not None:
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return data


def api_endpoint(inv) -> str:
    """The address clients use: the VIP when there is one, else the first master."""
    vip = inv.network.vip
    return str(vip) if vip is not None else str(inv.hosts_with("master")[0].address)


def api_server_url(inv) -> str:
    """``https://<VIP>:6443``: the cluster's API through the load balancers."""
    return f"https://{api_endpoint(inv)}:{API_PORT}"


#: 07 needs two automatic addresses (echo, echo-local) and four fixed ones, 09 one more
#: (:func:`fixed_addresses`).
MIN_POOL = 7


def pool_of(inv) -> tuple[IPv4Address, IPv4Address]:
    """The inventory's LoadBalancer pool as (first, last).

    Raises:
        ConfigError: no pool, or fewer than :data:`MIN_POOL` addresses.
    """
    from helpers.errors import ConfigError  # noqa: PLC0415

    pool = inv.network.loadbalancer_pool
    if pool is None:
        raise ConfigError("network.loadbalancer_pool is not set: give MetalLB a range of free addresses of the node "
                          "subnet, e.g. loadbalancer_pool: 192.168.4.100-192.168.4.119")
    if len(pool) < MIN_POOL:
        raise ConfigError(f"network.loadbalancer_pool {pool} has {len(pool)} address(es); 07 and 09 need at least "
                          f"{MIN_POOL}: two handed out automatically, and five asked for by address "
                          "(07's HTTP router, shared one, requested one and single-address pool's; 09's guestbook)")
    return pool.first, pool.last


def fixed_addresses(inv) -> dict[str, IPv4Address]:
    """The pool addresses 07 and 09 ask for by name, from the pool's end; the rest are handed out automatically."""
    _, last = pool_of(inv)
    return {"single": last, "fixed": last - 1, "shared": last - 2, "router": last - 3, "guestbook": last - 4}

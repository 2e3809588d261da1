"""Records and pictures of notebook 04: the steps table and chart, the request-flow figure."""

from __future__ import annotations

from helpers.constants import API_PORT
from helpers.control_plane.layout import api_endpoint
from helpers.report import Report
from helpers.report import steps_table as report_steps_table
from helpers.tables import Table

# ------------------------------------------------------------------ records and pictures


def steps_table(reports: list[Report]) -> Table:
    """One row per step: ok / changed / failed / skipped counts and wall time (:func:`helpers.report.steps_table`)."""
    return report_steps_table(reports)


def steps_figure(reports: list[Report]):
    """A horizontal bar chart of each step's wall time, coloured by whether it changed anything."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(8, 0.4 * len(reports) + 1))
    titles = [r.title for r in reports][::-1]
    seconds = [r.seconds for r in reports][::-1]
    colours = ["#ef6c00" if r.changed else "#2e7d32" for r in reports][::-1]
    ax.barh(titles, seconds, color=colours)
    ax.set_xlabel("seconds (orange: changed something, green: nothing to do)")
    ax.set_title("04-masters: time per step")
    fig.tight_layout()
    return fig


def request_flow_figure(inv):
    """Draw how a request reaches etcd: client -> VIP -> HAProxy -> API servers -> etcd.

    Also draws each master's controller manager and scheduler talking to their local
    API server on 127.0.0.1.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import FancyBboxPatch  # noqa: PLC0415

    lbs, masters, members = inv.hosts_with("lb"), inv.hosts_with("master"), inv.hosts_with("etcd")
    fig, ax = plt.subplots(figsize=(11, 6.5))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 7)
    ax.axis("off")

    def box(x, y, w, h, text, colour):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                    fc=colour, ec="#333333", lw=1, zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5, zorder=4)

    def arrow(x1, y1, x2, y2, text="", colour="#333333", style="-|>"):
        ax.annotate("", xy=(x2, y2), xytext=(x1, y1),
                    arrowprops={"arrowstyle": style, "color": colour, "lw": 1.2}, zorder=2)
        if text:
            ax.text((x1 + x2) / 2 + 0.05, (y1 + y2) / 2, text, fontsize=7.5, color=colour)

    def spread(n):
        return [11 * (i + 1) / (n + 1) for i in range(n)]

    box(5.5, 6.5, 3.2, 0.5, "client: kubectl / Python client / kubelet\n(admin.kubeconfig)", "#eeeeee")
    vip = api_endpoint(inv)
    box(5.5, 5.5, 3.2, 0.5, f"VIP {vip}:{API_PORT} (keepalived)", "#fde0c5")
    arrow(5.5, 6.22, 5.5, 5.78, "TLS to the VIP")
    lb_x = spread(len(lbs)) if lbs else []
    for x, h in zip(lb_x, lbs, strict=True):
        box(x, 4.4, 2.2, 0.55, f"HAProxy\n{h.name}", "#f4a259")
        arrow(5.5, 5.22, x, 4.7, "", "#999999")
    m_x = spread(len(masters))
    for x, h in zip(m_x, masters, strict=True):
        box(x, 3.0, 2.4, 0.7, f"kube-apiserver\n{h.name} {h.address}", "#5b8def")
        box(x - 0.6, 1.9, 1.05, 0.45, "controller-\nmanager", "#aac4f6")
        box(x + 0.6, 1.9, 1.05, 0.45, "scheduler", "#aac4f6")
        arrow(x - 0.62, 2.17, x - 0.45, 2.63, "", "#1f4e9c")
        arrow(x + 0.62, 2.17, x + 0.45, 2.63, "", "#1f4e9c")
        for lx in lb_x:
            arrow(lx, 4.12, x, 3.37, "", "#c07a30")
    ax.text(0.15, 2.3, "127.0.0.1:6443\n(no load balancer)", fontsize=7.5, color="#1f4e9c")
    ax.text(0.15, 3.8, "TCP passthrough,\nhealth-checked", fontsize=7.5, color="#c07a30")
    e_x = spread(len(members))
    for x, h in zip(e_x, members, strict=True):
        box(x, 0.6, 2.0, 0.5, f"etcd {h.name}", "#9d6ad1")
    for mx in m_x:
        for ex in e_x:
            arrow(mx, 2.63, ex, 0.87, "", "#6a3d9a")
    ax.text(0.15, 1.1, "mutual TLS, etcd CA\n(Secrets encrypted)", fontsize=7.5, color="#6a3d9a")
    ax.set_title(f"{inv.cluster.name}: how a request reaches the API and etcd")
    fig.tight_layout()
    return fig

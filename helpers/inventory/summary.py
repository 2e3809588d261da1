"""The address plan of an inventory as a plain-text table (``inventory check`` prints it)."""

from __future__ import annotations

from helpers.inventory.model import Inventory


def format_summary(inv: Inventory) -> str:
    """Return the address plan as a plain-text table (hosts, then VIP and ranges)."""
    rows = [("HOST", "ROLES", "ADDRESS", "FQDN")]
    rows += [(h.name, ",".join(h.roles), str(h.address), h.fqdn) for h in inv.hosts]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    net, src = inv.network, inv.sources
    lines = [
        f"cluster {inv.cluster.name} (domain {inv.cluster.domain}, kubernetes {inv.cluster.kubernetes_version}), "
        f"{len(inv.hosts)} hosts",
        "",
        *("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows),
        "",
        f"node subnet   {net.node_subnet}   gateway {net.gateway}   vip {net.vip or '-'}",
        f"pod range     {net.pod_cidr}",
        f"service range {net.service_cidr}   cluster dns {net.cluster_dns}",
        f"releases      {src.release_mirror}   images {src.images}"
        + (f" ({src.registry_mirror})" if src.registry_mirror else "")
        + f"   apt proxy {src.apt_proxy or '-'}",
        f"ssh           user {inv.ssh.user}, port {inv.ssh.port}"
        + (f", via {inv.ssh.bastion.host}" if inv.ssh.bastion else "")
        + f"   key {inv.ssh.identity_file}   known_hosts {inv.ssh.known_hosts}",
    ]
    if inv.lab:
        lines.append(f"lab           {inv.lab.name} on bridge {inv.lab.bridge} (Debian {inv.lab.release})")
    return "\n".join(lines)

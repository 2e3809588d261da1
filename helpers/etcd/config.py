"""etcd's layout and membership: paths, ports, certificate names, who is a member, URLs, the unit.

Pure functions of the inventory (no host is contacted): which hosts run a member or get
etcdctl, the URLs and ``--initial-cluster`` string derived from their addresses, and the
systemd unit of one member (:class:`MemberConfig`, :func:`render_unit`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

USER = "etcd"
BIN_DIR = "/usr/local/bin"
DATA_DIR = "/var/lib/etcd"
CONF_DIR = "/etc/etcd"
PKI_DIR = "/etc/etcd/pki"
UNIT_PATH = "/etc/systemd/system/etcd.service"
CLIENT_PORT = 2379
PEER_PORT = 2380
METRICS_PORT = 2381
SERVER_BINARIES = ("etcd", "etcdutl")
CLIENT_BINARIES = ("etcdctl",)
HEALTHCHECK = "healthcheck-client"
APISERVER_CLIENT = "apiserver-etcd-client"


def members(inv) -> list:
    """The inventory hosts that run an etcd member (role ``etcd``), in file order."""
    return inv.hosts_with("etcd")


def client_hosts(inv) -> list:
    """Hosts that get etcdctl and the health-check client certificate: members and masters."""
    wanted = {h.name for h in inv.hosts_with("etcd")} | {h.name for h in inv.hosts_with("master")}
    return [h for h in inv.hosts if h.name in wanted]


def checker_host(inv):
    """The host the checks run etcdctl from: the first master, else the first member."""
    masters = inv.hosts_with("master")
    return (masters or members(inv))[0]


def client_url(host) -> str:
    """The member's advertised client URL (``https://<address>:2379``)."""
    return f"https://{host.address}:{CLIENT_PORT}"


def peer_url(host) -> str:
    """The member's peer URL (``https://<address>:2380``)."""
    return f"https://{host.address}:{PEER_PORT}"


def initial_cluster(hosts) -> str:
    """The ``--initial-cluster`` value: ``name=https://address:2380`` for every member."""
    return ",".join(f"{h.name}={peer_url(h)}" for h in hosts)


def endpoints(hosts) -> str:
    """The ``--endpoints`` value of etcdctl for these members."""
    return ",".join(client_url(h) for h in hosts)


@dataclass(frozen=True)
class MemberConfig:
    """What the etcd unit of one member is rendered from."""

    name: str
    address: str
    initial_cluster: str
    initial_cluster_token: str
    initial_cluster_state: str = "new"
    user: str = USER
    bin_dir: str = BIN_DIR
    data_dir: str = DATA_DIR
    pki_dir: str = PKI_DIR

    @property
    def peer_url(self) -> str:
        """Where peers reach this member (member address only)."""
        return f"https://{self.address}:{PEER_PORT}"

    @property
    def advertise_client_url(self) -> str:
        """The client URL this member announces to clients."""
        return f"https://{self.address}:{CLIENT_PORT}"

    @property
    def listen_client_urls(self) -> list[str]:
        """Clients are served on the member address and on loopback."""
        return [self.advertise_client_url, f"https://127.0.0.1:{CLIENT_PORT}"]

    @property
    def metrics_url(self) -> str:
        """Plain-HTTP /metrics and /health, on loopback only."""
        return f"http://127.0.0.1:{METRICS_PORT}"

    def context(self) -> dict[str, Any]:
        """The template context."""
        ctx = dataclasses.asdict(self)
        for prop in ("peer_url", "advertise_client_url", "listen_client_urls", "metrics_url"):
            ctx[prop] = getattr(self, prop)
        return ctx


def member_config(inv, host) -> MemberConfig:
    """The unit configuration of one member.

    ``initial_cluster_state`` is always ``new``: it is read only when the data
    directory is empty on every member (a bootstrap), which :func:`ensure_etcd_running`
    guarantees before it starts anything. Keeping the unit constant means a re-run
    never rewrites it and never restarts etcd.
    """
    if "etcd" not in host.roles:
        raise ValueError(f"{host.name} has no etcd role")
    return MemberConfig(
        name=host.name,
        address=str(host.address),
        initial_cluster=initial_cluster(members(inv)),
        initial_cluster_token=f"{inv.cluster.name}-etcd",
    )


def render_unit(config: MemberConfig) -> str:
    """The systemd unit text for one member."""
    from helpers.ensure import render_template

    return render_template("etcd/etcd.service.j2", config.context())

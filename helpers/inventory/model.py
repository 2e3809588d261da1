"""The validated inventory as a whole: the ``Inventory`` model and its sections.

``Inventory`` puts the sections of :mod:`helpers.inventory.sections` together, runs the
checks of :mod:`helpers.inventory.meaning` over them and answers the questions callers
ask (``hosts_with``, ``host``, ``cluster_dir``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator

from helpers import paths
from helpers.constants import ROLES
from helpers.inventory.meaning import check_meaning
from helpers.inventory.sections import (
    SSH,
    Cluster,
    Host,
    LabSpec,
    NetworkPlan,
    PKISettings,
    Sources,
    _Model,
)

SECTIONS: dict[str, type[_Model]] = {
    "cluster": Cluster,
    "network": NetworkPlan,
    "ssh": SSH,
    "sources": Sources,
    "pki": PKISettings,
    "lab": LabSpec,
}
REQUIRED = ("cluster", "network", "ssh", "hosts")


class Inventory(_Model):
    """A validated inventory. Build it with ``load_inventory``."""

    cluster: Cluster
    network: NetworkPlan
    ssh: SSH
    sources: Sources = Field(default_factory=Sources)
    pki: PKISettings = Field(default_factory=PKISettings)
    hosts: list[Host]
    lab: LabSpec | None = None
    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _meaning(self) -> Inventory:
        net = {name: getattr(self.network, name) for name in type(self.network).model_fields}
        hosts = [(i, h.name, h.address) for i, h in enumerate(self.hosts)]
        problems = check_meaning(net, hosts, self.hosts)
        if problems:
            raise ValueError("; ".join(f"{p}: {r}" for p, r in problems))
        for host in self.hosts:
            host._domain = self.cluster.domain
        return self

    @property
    def path(self) -> Path | None:
        """The YAML file this inventory was loaded from."""
        return self._path

    @property
    def cluster_dir(self) -> Path:
        """Directory of this cluster's generated state (PKI, configs, kubeconfigs)."""
        return paths.cluster_dir(self.cluster.name)

    def hosts_with(self, role: str) -> list[Host]:
        """Return the hosts that have ``role``, in file order."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        return [h for h in self.hosts if role in h.roles]

    def host(self, name: str) -> Host:
        """Return the host called ``name``; raise KeyError when there is none."""
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"no host {name!r} in inventory {self.path or ''}".rstrip())

"""The lab's plan: every name and address the lab derives from one inventory.

All resources the lab creates are named here, from the inventory's ``lab`` section, so
``up``, ``down`` and ``status`` agree on what belongs to the lab and nothing else is
ever touched.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from helpers.errors import LabError
from helpers.inventory import Inventory, load_inventory

#: Every lab-created cgroup lives under this directory of each hierarchy.
CGROUP_PARENT = "kubernetes-journey"


def run_root() -> Path:
    """Root of the runtime state of all labs (PIDs, mounts, records); gone on reboot."""
    return Path(os.environ.get("KJ_LAB_RUN_DIR", "/run/kubernetes-journey"))


def data_root() -> Path:
    """Root of the machines' disks (overlay upper dirs, containerd and kubelet dirs)."""
    return Path(os.environ.get("KJ_LAB_DATA_DIR", "/var/lib/kubernetes-journey/lab"))


@dataclass(frozen=True)
class MachinePlan:
    """One lab machine: an inventory host and the resources that make it."""

    lab: str
    name: str
    fqdn: str
    address: IPv4Address
    roles: tuple[str, ...]

    @property
    def netns(self) -> str:
        """Network namespace name (a file under /run/netns)."""
        return f"kj-{self.lab}-{self.name}"

    @property
    def veth(self) -> str:
        """Host side of the machine's veth pair (at most 15 characters)."""
        return "kjv" + hashlib.sha1(f"{self.lab}/{self.name}".encode()).hexdigest()[:10]

    @property
    def unit(self) -> str:
        """The nspawn machine name (unique across labs; the hostname stays ``name``)."""
        return f"{self.lab}-{self.name}"[:64]

    @property
    def run_dir(self) -> Path:
        """Runtime directory: the overlay mount point ``root`` and the console log."""
        return run_root() / self.lab / "machines" / self.name

    @property
    def root(self) -> Path:
        """The machine's merged root (overlay mount point)."""
        return self.run_dir / "root"

    @property
    def data_dir(self) -> Path:
        """The machine's disk: overlay upper/work and plain bind-mounted directories."""
        return data_root() / self.lab / self.name

    @property
    def upper(self) -> Path:
        """Overlay upper directory (everything the machine writes to its root)."""
        return self.data_dir / "upper"

    @property
    def work(self) -> Path:
        """Overlay work directory."""
        return self.data_dir / "work"

    @property
    def binds(self) -> dict[str, Path]:
        """Plain host directories bound into the machine (nested overlay would fail there)."""
        return {
            "/var/lib/containerd": self.data_dir / "containerd",
            "/var/lib/kubelet": self.data_dir / "kubelet",
        }


@dataclass(frozen=True)
class LabPlan:
    """A whole lab: bridge, gateway services and machines."""

    name: str
    bridge: str
    release: str
    domain: str
    subnet: IPv4Network
    gateway: IPv4Address
    vip: IPv4Address | None
    identity_file: Path
    known_hosts: Path
    inventory_path: Path | None
    machines: tuple[MachinePlan, ...] = field(default_factory=tuple)

    @property
    def run_dir(self) -> Path:
        """Runtime state of this lab (state.json, service configs, logs)."""
        return run_root() / self.name

    @property
    def data_dir(self) -> Path:
        """Disks of this lab's machines."""
        return data_root() / self.name

    @property
    def gateway_cidr(self) -> str:
        """Gateway address with prefix length, as set on the bridge."""
        return f"{self.gateway}/{self.subnet.prefixlen}"

    def machine(self, name: str) -> MachinePlan:
        """Return the machine called ``name``."""
        for m in self.machines:
            if m.name == name:
                return m
        raise LabError(f"lab {self.name} has no machine {name!r}")


def plan_from_inventory(inv: Inventory) -> LabPlan:
    """Derive the lab plan from a validated inventory.

    Raises:
        LabError: when the inventory has no ``lab`` section or no gateway inside the subnet.
    """
    if inv.lab is None:
        raise LabError(f"inventory {inv.path} has no 'lab' section: it describes real hosts")
    net = inv.network
    if net.gateway not in net.node_subnet:
        raise LabError(f"lab {inv.lab.name}: gateway {net.gateway} is outside {net.node_subnet}")
    machines = tuple(
        MachinePlan(
            lab=inv.lab.name,
            name=h.name,
            fqdn=h.fqdn,
            address=h.address,
            roles=tuple(h.roles),
        )
        for h in inv.hosts
    )
    return LabPlan(
        name=inv.lab.name,
        bridge=inv.lab.bridge,
        release=inv.lab.release,
        domain=inv.cluster.domain,
        subnet=net.node_subnet,
        gateway=net.gateway,
        vip=net.vip,
        identity_file=inv.ssh.identity_file,
        known_hosts=inv.ssh.known_hosts,
        inventory_path=inv.path,
        machines=machines,
    )


def load_plan(inventory: str | Path) -> LabPlan:
    """Load an inventory file and derive its lab plan."""
    return plan_from_inventory(load_inventory(inventory))

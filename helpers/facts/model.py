"""The records of this package: :class:`HostFacts` (one host) and :class:`Check` (one verdict)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HostFacts:
    """What one host is, as read over SSH by :func:`gather_facts`."""

    name: str
    os_id: str = ""
    os_version: str = ""
    os_name: str = ""
    kernel: str = ""
    arch: str = ""
    cpus: int = 0
    memory_mib: int = 0
    cgroup_version: str = ""  # "v2", "v1" or what stat reported
    machine_id: str = ""
    hostname: str = ""
    init: str = ""
    virtualization: str = ""
    swap_mib: int = 0
    swap_devices: int = 0
    clock_offset: float = 0.0  # host clock minus operator clock, seconds
    clock_uncertainty: float = 0.0  # half the round trip of the best sample
    listening: dict[int, str] = field(default_factory=dict)  # port -> process ("" when unknown)
    ca_files: dict[str, str] = field(default_factory=dict)  # path -> sha256 of the DER certificate


@dataclass
class Check:
    """One preflight verdict: ``passed`` with a reason either way."""

    host: str
    check: str
    passed: bool
    detail: str

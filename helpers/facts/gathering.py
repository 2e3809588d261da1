"""The gather step: every host's facts, clock offset and installed CA fingerprints, over SSH."""

from __future__ import annotations

from typing import Any

from helpers.facts.certificates import _cert_fingerprint
from helpers.facts.clock import measure_clock_offset
from helpers.facts.probe import _GATHER, HOST_CA_FILES, parse_facts


def gather_facts(fleet: Any, hosts: Any = None) -> Any:
    """Step: read every host's facts over SSH; the report's data maps host to :class:`HostFacts`.

    Args:
        fleet: the :class:`~helpers.remote.Fleet` (connections with verified host keys).
        hosts: optional selector (role, name or list of names); all hosts by default.

    Returns:
        The step's Report; an unreachable host is a failed result naming it, raised once
        at the end with every other failure.
    """
    script = _GATHER.replace("{ca_files}", " ".join(HOST_CA_FILES))

    def run(h: Any) -> Any:
        from helpers.report import Result

        out = h.run(script, check=False)
        facts = parse_facts(h.name, out.stdout)
        facts.clock_offset, facts.clock_uncertainty = measure_clock_offset(h)
        for path in list(facts.ca_files):
            facts.ca_files[path] = _cert_fingerprint(h.read_file(path) or b"")
        detail = (
            f"{facts.os_name}, kernel {facts.kernel}, {facts.cpus} CPUs, "
            f"{facts.memory_mib / 1024:.1f} GiB, cgroup {facts.cgroup_version}, "
            f"clock {facts.clock_offset * 1000:+.0f} ms"
        )
        return Result(h.name, "ok", detail, data=facts)

    return fleet.step("gather host facts", run, hosts=hosts)

"""Host facts and preflight checks: what each machine is, and whether it can join the cluster.

:func:`gather_facts` connects to every host (verified host keys, through the Fleet) and
reads, in one command per host, what later steps depend on: OS and version, kernel,
CPUs, memory, cgroup version, machine-id, host name, swap, listening TCP ports and any
cluster CA already installed; it also measures each host's clock offset to the
operator's machine. :func:`preflight` then evaluates those facts without touching a
host and returns one pass/fail line per host and check, each with its reason.

The package, one job per module (every public name is re-exported here):

- :mod:`~helpers.facts.requirements` - supported OS, minimum kernel, CPUs and memory per
  role, clock drift, the ports each role holds (:data:`STATS_PORT` among them);
- :mod:`~helpers.facts.model` - :class:`HostFacts` and :class:`Check`;
- :mod:`~helpers.facts.probe` - the gather script and parsing its output;
- :mod:`~helpers.facts.clock` - a host's clock offset against the operator's machine;
- :mod:`~helpers.facts.certificates` - CA fingerprints, on hosts and in the cluster directory;
- :mod:`~helpers.facts.gathering` - the gather step;
- :mod:`~helpers.facts.host_keys` - the SSH host keys against known_hosts;
- :mod:`~helpers.facts.checks` - preflight and its checks;
- :mod:`~helpers.facts.tables` - the facts and the verdicts as tables;
- :mod:`~helpers.facts.record` - the saved preflight result (``preflight.json``).
"""

from helpers.facts.certificates import local_ca_fingerprints
from helpers.facts.checks import failures, preflight
from helpers.facts.clock import measure_clock_offset
from helpers.facts.gathering import gather_facts
from helpers.facts.host_keys import check_host_keys
from helpers.facts.model import Check, HostFacts
from helpers.facts.probe import HOST_CA_FILES, parse_facts, parse_listening
from helpers.facts.record import inventory_digest, load_preflight, save_preflight
from helpers.facts.requirements import (
    MAX_CLOCK_OFFSET,
    MEMORY_SLACK,
    MIN_CPUS,
    MIN_KERNEL,
    MIN_MEMORY_MIB,
    ROLE_PORTS,
    STATS_PORT,
    SUPPORTED_OS,
)
from helpers.facts.tables import facts_table, preflight_table

__all__ = [
    "HOST_CA_FILES",
    "MAX_CLOCK_OFFSET",
    "MEMORY_SLACK",
    "MIN_CPUS",
    "MIN_KERNEL",
    "MIN_MEMORY_MIB",
    "ROLE_PORTS",
    "STATS_PORT",
    "SUPPORTED_OS",
    "Check",
    "HostFacts",
    "check_host_keys",
    "facts_table",
    "failures",
    "gather_facts",
    "inventory_digest",
    "load_preflight",
    "local_ca_fingerprints",
    "measure_clock_offset",
    "parse_facts",
    "parse_listening",
    "preflight",
    "preflight_table",
    "save_preflight",
]

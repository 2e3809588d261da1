"""11-resilience: what the HA design survives, measured from the operator's machine.

- :mod:`~helpers.resilience.probes`: reads, writes and application requests on one clock;
- :mod:`~helpers.resilience.observe`: etcd's Raft state, HAProxy's backends, the VIP, the
  leases and the nodes, read without depending on any one machine;
- :mod:`~helpers.resilience.health`: every part checked whole, before and after each drill;
- :mod:`~helpers.resilience.runner`: a drill's frame (the 120 s window, the goals);
- :mod:`~helpers.resilience.drills`: the six drills;
- :mod:`~helpers.resilience.power`: the stand-in for a power switch on real hosts;
- :mod:`~helpers.resilience.workload`: the worker drill's Deployment (short tolerations);
- :mod:`~helpers.resilience.figure`: a drill's timeline and the summary table;
- :mod:`~helpers.resilience.chapter`: the safety catch, the records, the tables of the notebook.
"""

from helpers.resilience import workload
from helpers.resilience.chapter import (
    armed,
    drill,
    drill_facts,
    load_drill,
    remove_namespace,
    save_probes,
    select,
    state_table,
)
from helpers.resilience.drills import DRILLS, Context
from helpers.resilience.figure import drills_table, plot_drill
from helpers.resilience.health import health, wait_healthy
from helpers.resilience.observe import (
    etcd_leader,
    etcd_members,
    haproxy_backends,
    leases,
    nodes,
    vip_holder,
)
from helpers.resilience.power import service_switch
from helpers.resilience.probes import NAMESPACE, ProbeSet, http_probe, retried
from helpers.resilience.runner import LEAD, MAX_OUTAGE, MIN_ANSWERED, WINDOW, Drill, Switch, judge
from helpers.resilience.workload import ensure_workload, placement

__all__ = [
    "armed", "drill", "drill_facts", "load_drill", "remove_namespace", "save_probes", "select", "state_table",
    "workload",
    "DRILLS", "LEAD", "MAX_OUTAGE", "MIN_ANSWERED", "NAMESPACE", "WINDOW", "Context", "Drill", "ProbeSet", "http_probe", "retried",
    "Switch", "drills_table", "ensure_workload", "etcd_leader", "etcd_members", "haproxy_backends", "health", "judge", "leases",
    "nodes", "placement", "plot_drill", "service_switch", "vip_holder", "wait_healthy",
]

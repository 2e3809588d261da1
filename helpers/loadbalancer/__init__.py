"""The load-balancer tier: HAProxy in front of the API servers, keepalived holding the VIP.

Steps (each probes first and changes only what differs):

1. :func:`ensure_lb_credentials` - the stats page password and the VRRP password,
   generated once on the operator's machine (``cluster_dir/loadbalancer``, 0600), reused after;
2. :func:`ensure_haproxy` - HAProxy on every ``lb`` host: a TCP frontend on VIP:6443
   balancing over every master's :6443 with a ``/readyz`` health check, and a stats page
   on the host's own address;
3. :func:`ensure_keepalived` - keepalived VRRP (unicast, authenticated) holding the VIP on
   the highest-priority load balancer whose HAProxy runs.

Checks (no side effects): :func:`check_vip_holders`, :func:`check_tcp`, :func:`check_tcp_session`,
:func:`check_stats`.
Verification that briefly stops a service and restores it: :func:`measure_failover`.

The package, one job per module (every public name is re-exported here):

- :mod:`~helpers.loadbalancer.credentials` - the stats and VRRP passwords (step 1);
- :mod:`~helpers.loadbalancer.config` - paths on the hosts, the VRRP router id, rendering the configs;
- :mod:`~helpers.loadbalancer.install` - HAProxy and keepalived on the hosts (steps 2, 3);
- :mod:`~helpers.loadbalancer.checks` - VIP holders, TCP through the VIP, HAProxy's stats page;
- :mod:`~helpers.loadbalancer.failover` - the failover drill and the record of the last one;
- :mod:`~helpers.loadbalancer.figures` - the drills' table and timeline figure.
"""

from helpers.loadbalancer.checks import (
    check_stats,
    check_tcp,
    check_tcp_session,
    check_vip_holders,
    frontend_sessions,
    stats_table,
    wait_for_holder,
    wait_for_sessions,
    wait_for_single_holder,
    wait_for_tcp,
)
from helpers.loadbalancer.config import (
    HAPROXY_CFG,
    KEEPALIVED_CFG,
    NONLOCAL_BIND_FILE,
    VRRP_INSTANCE,
    frontend_address,
    haproxy_config,
    keepalived_config,
    router_id,
)
from helpers.loadbalancer.credentials import (
    STATS_USER,
    LBCredentials,
    credentials_path,
    ensure_lb_credentials,
    load_credentials,
)
from helpers.loadbalancer.failover import (
    DRILL_WHEN,
    DrillRecord,
    Failover,
    drill_record_path,
    failover_drills,
    measure_failover,
)
from helpers.loadbalancer.figures import failover_table, plot_failover
from helpers.loadbalancer.install import ensure_haproxy, ensure_keepalived

__all__ = [
    "DRILL_WHEN",
    "HAPROXY_CFG",
    "KEEPALIVED_CFG",
    "NONLOCAL_BIND_FILE",
    "STATS_USER",
    "VRRP_INSTANCE",
    "DrillRecord",
    "Failover",
    "LBCredentials",
    "check_stats",
    "check_tcp",
    "check_tcp_session",
    "check_vip_holders",
    "credentials_path",
    "drill_record_path",
    "ensure_haproxy",
    "ensure_keepalived",
    "ensure_lb_credentials",
    "failover_drills",
    "failover_table",
    "frontend_address",
    "frontend_sessions",
    "haproxy_config",
    "keepalived_config",
    "load_credentials",
    "measure_failover",
    "plot_failover",
    "router_id",
    "stats_table",
    "wait_for_holder",
    "wait_for_sessions",
    "wait_for_single_holder",
    "wait_for_tcp",
]

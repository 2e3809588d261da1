"""etcd: the cluster's PKI, binaries, configuration and systemd service, and its checks.

Steps (each safe to run again, each returns a :class:`~helpers.report.Report`):

1. :func:`ensure_etcd_pki` - the etcd CA and certificates, on the operator's machine;
2. :func:`ensure_etcd_binaries` - etcd, etcdctl, etcdutl from the release mirror (sha256
   verified before anything reaches a host);
3. :func:`ensure_etcd_config` - the ``etcd`` system user, directories, certificates and
   the systemd unit on every member (and etcdctl's client certificate on every master);
4. :func:`ensure_etcd_running` - bootstrap the cluster the first time, start what is
   stopped, restart (one member at a time) what runs an outdated configuration, and
   refuse when some members have data and others do not.

Checks (no side effects, except the round trip's own key): :func:`check_etcd_health`,
:func:`check_etcd_status`, :func:`check_etcd_roundtrip`, :func:`check_etcd_rejects_anonymous`.

The package, one job per module (every public name is re-exported here):

- :mod:`~helpers.etcd.config` - paths, ports, certificate names, members, URLs, the unit;
- :mod:`~helpers.etcd.certs` - the PKI on the operator's machine (step 1);
- :mod:`~helpers.etcd.install` - binaries, user, directories, certificates, unit (steps 2, 3);
- :mod:`~helpers.etcd.running` - the bootstrap decision and starting etcd (step 4);
- :mod:`~helpers.etcd.client` - etcdctl's command line and parsing its and curl's answers;
- :mod:`~helpers.etcd.checks` - the checks.
"""

from helpers.etcd.certs import (
    cert_table,
    ensure_etcd_pki,
    etcd_cert_pairs,
    peer_sans,
    pki_dir,
    server_sans,
    verify_chains,
)
from helpers.etcd.checks import (
    check_etcd_health,
    check_etcd_rejects_anonymous,
    check_etcd_roundtrip,
    check_etcd_status,
    leader_problems,
    verify_health,
    verify_leader,
)
from helpers.etcd.client import (
    anonymous_verdict,
    etcdctl,
    health_problems,
    parse_health,
    parse_status,
    status_settled,
)
from helpers.etcd.config import (
    APISERVER_CLIENT,
    BIN_DIR,
    CLIENT_BINARIES,
    CLIENT_PORT,
    CONF_DIR,
    DATA_DIR,
    HEALTHCHECK,
    METRICS_PORT,
    PEER_PORT,
    PKI_DIR,
    SERVER_BINARIES,
    UNIT_PATH,
    USER,
    MemberConfig,
    checker_host,
    client_hosts,
    client_url,
    endpoints,
    initial_cluster,
    member_config,
    members,
    peer_url,
    render_unit,
)
from helpers.etcd.hardening import verify_cis
from helpers.etcd.install import (
    ensure_etcd_binaries,
    ensure_etcd_config,
    ensure_system_user,
    extract_binaries,
)
from helpers.etcd.running import INPUTS, bootstrap_state, check_etcd_data, ensure_etcd_running

__all__ = [
    "leader_problems",
    "verify_health",
    "verify_leader",
    "APISERVER_CLIENT",
    "BIN_DIR",
    "CLIENT_BINARIES",
    "CLIENT_PORT",
    "CONF_DIR",
    "DATA_DIR",
    "HEALTHCHECK",
    "INPUTS",
    "METRICS_PORT",
    "PEER_PORT",
    "PKI_DIR",
    "SERVER_BINARIES",
    "UNIT_PATH",
    "USER",
    "MemberConfig",
    "anonymous_verdict",
    "bootstrap_state",
    "cert_table",
    "verify_chains",
    "verify_cis",
    "check_etcd_data",
    "check_etcd_health",
    "check_etcd_rejects_anonymous",
    "check_etcd_roundtrip",
    "check_etcd_status",
    "checker_host",
    "client_hosts",
    "client_url",
    "endpoints",
    "ensure_etcd_binaries",
    "ensure_etcd_config",
    "ensure_etcd_pki",
    "ensure_etcd_running",
    "ensure_system_user",
    "etcd_cert_pairs",
    "etcdctl",
    "extract_binaries",
    "health_problems",
    "initial_cluster",
    "member_config",
    "members",
    "parse_health",
    "parse_status",
    "peer_sans",
    "peer_url",
    "pki_dir",
    "render_unit",
    "server_sans",
    "status_settled",
]

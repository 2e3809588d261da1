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
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import pki
from helpers.errors import CommandFailed, HostError, StepFailed
from helpers.report import OPERATOR, Report, Result
from helpers.tables import Table
from helpers.waiting import WaitTimeout, poll_until, settle

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


# ---------------------------------------------------------------------------- topology


def _inv(fleet) -> Any:
    return getattr(fleet, "inventory", None) or getattr(fleet, "inv", None) or fleet.hosts()[0].inventory


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
    from helpers.remote import render_template

    return render_template("etcd/etcd.service.j2", config.context())


# ---------------------------------------------------------------------------- PKI (local)


def pki_dir(inv) -> Path:
    """The etcd PKI directory on the operator's machine: ``cluster_dir/pki/etcd``."""
    return Path(inv.cluster_dir) / "pki" / "etcd"


def server_sans(host) -> list[str]:
    """A member's serving certificate names: name, FQDN, address, 127.0.0.1, localhost."""
    return [host.name, host.fqdn, str(host.address), "127.0.0.1", "localhost"]


def peer_sans(host) -> list[str]:
    """A member's peer certificate names: name, FQDN, address."""
    return [host.name, host.fqdn, str(host.address)]


def etcd_cert_pairs(inv) -> list[pki.CertPair]:
    """Ensure the etcd CA and every certificate; return the pairs (CA first).

    Server and peer certificates carry both server and client usage: peers are each
    other's clients, and etcd's own gRPC gateway dials the local member with the server
    certificate, which ``--client-cert-auth`` then checks as a client certificate.
    """
    directory = pki_dir(inv)
    ca = pki.ensure_ca(directory, "ca", "etcd-ca")
    pairs = [ca]
    for host in members(inv):
        pairs.append(pki.ensure_cert(ca, directory, f"{host.name}-server", host.name,
                                     sans=server_sans(host), usages="both")[0])
        pairs.append(pki.ensure_cert(ca, directory, f"{host.name}-peer", host.name,
                                     sans=peer_sans(host), usages="both")[0])
    pairs.append(pki.ensure_cert(ca, directory, APISERVER_CLIENT, "kube-apiserver-etcd-client",
                                 usages="client")[0])
    pairs.append(pki.ensure_cert(ca, directory, HEALTHCHECK, "etcd-healthcheck-client",
                                 usages="client")[0])
    return pairs


def ensure_etcd_pki(inv) -> Report:
    """Create or reuse the etcd CA and certificates under ``cluster_dir/pki/etcd``.

    Returns:
        A report with one ``operator`` row per certificate: ``ok`` when reused, ``changed``
        when issued or re-issued (with the reason). ``report.data()`` maps each row to
        its :class:`~helpers.pki.CertPair`.
    """
    started = time.monotonic()
    pairs = etcd_cert_pairs(inv)
    elapsed = time.monotonic() - started
    results = {
        f"{OPERATOR}:{p.name}": Result(OPERATOR, "changed" if p.changed else "ok",
                                  f"{p.name}: {p.detail}", elapsed / len(pairs), data=p)
        for p in pairs
    }
    return Report(f"etcd PKI in {pki_dir(inv)}", results, seconds=elapsed)


def cert_table(inv) -> Table:
    """The etcd certificates on the operator's machine: subject, SANs, issuer, expiry."""
    directory = pki_dir(inv)
    names = ["ca"] + [f"{h.name}-{kind}" for h in members(inv) for kind in ("server", "peer")]
    names += [APISERVER_CLIENT, HEALTHCHECK]
    return pki.cert_table([directory / f"{n}.crt" for n in names], title=f"etcd certificates ({directory})")


# ---------------------------------------------------------------------------- binaries


def extract_binaries(tarball, names=SERVER_BINARIES + CLIENT_BINARIES) -> dict[str, Any]:
    """Extract etcd's binaries from the (already verified) release tarball, locally.

    The files land next to the tarball in the download cache (see
    :func:`helpers.artifacts.extract`) and are extracted only once.

    Args:
        tarball: the :class:`~helpers.artifacts.Artifact` of the etcd release tarball.
        names: which binaries to extract.

    Returns:
        Binary name to an Artifact of the extracted file (its own sha256) for
        ``remote.ensure_binary``.
    """
    from helpers import artifacts

    return {name: artifacts.extract(tarball, name) for name in names}


def ensure_etcd_binaries(fleet) -> Report:
    """Install etcd and etcdutl on members, etcdctl on members and masters.

    The release tarball is fetched from the inventory's release mirror and its sha256
    verified (:func:`helpers.artifacts.fetch` raises ChecksumMismatch) before any host is
    contacted; binaries are uploaded only where the remote sha256 differs.
    """
    from helpers import artifacts
    from helpers.remote import Change, ensure_binary

    inv = _inv(fleet)
    tarball = artifacts.fetch(inv, "etcd")
    binaries = extract_binaries(tarball)
    member_names = {h.name for h in members(inv)}

    def install(h):
        names = CLIENT_BINARIES + (SERVER_BINARIES if h.name in member_names else ())
        changes = [ensure_binary(h, f"{BIN_DIR}/{n}", binaries[n]) for n in names]
        changed = [n for n, c in zip(names, changes, strict=True) if c.changed]
        if changed:
            return Change(True, f"installed {', '.join(changed)} {tarball.version}")
        return Change(False, f"{', '.join(names)} {tarball.version} present")

    return fleet.step(f"install etcd {tarball.version}", install,
                      hosts=[h.name for h in client_hosts(inv)], skip="neither an etcd member nor a master")


# ---------------------------------------------------------------------------- config


def ensure_system_user(h, user: str = USER, home: str = DATA_DIR):
    """Create a locked system user (no login shell) unless it exists."""
    from helpers.remote import Change

    if h.run(f"id -u {shlex.quote(user)}", check=False).ok:
        return Change(False)
    h.run(f"useradd --system --user-group --no-create-home --home-dir {shlex.quote(home)} "
          f"--shell /usr/sbin/nologin {shlex.quote(user)}")
    return Change(True, f"created user {user}")


def ensure_etcd_config(fleet) -> Report:
    """Put certificates, directories and the unit on each host.

    Members get the ``etcd`` user, ``/var/lib/etcd`` (0700, etcd), ``/etc/etcd/pki``
    (0700, etcd) with ca.crt, server.crt/key, peer.crt/key and the health-check client
    pair, and ``/etc/systemd/system/etcd.service``. Masters that are not members get
    only ca.crt and the health-check client pair (for etcdctl). Keys are 0600.

    A host whose ``ca.crt`` differs from the cluster directory's is refused before
    anything is written: swapping the CA under a running cluster would split it.
    """
    from helpers.remote import Change, ensure_directory, ensure_file, ensure_template

    inv = _inv(fleet)
    local = pki_dir(inv)
    member_names = {h.name for h in members(inv)}

    def read(name: str) -> bytes:
        return (local / name).read_bytes()

    def configure(h):
        is_member = h.name in member_names
        owner = USER if is_member else "root"
        remote_ca = h.read_file(f"{PKI_DIR}/ca.crt")
        if remote_ca is not None and remote_ca != read("ca.crt"):
            raise HostError(
                h.name, "configure etcd",
                f"{PKI_DIR}/ca.crt differs from {local / 'ca.crt'}: this host trusts another etcd CA "
                "(a lost or replaced cluster directory?). Replacing it would split the cluster, so "
                f"nothing was changed; restore {local} from a backup of the cluster directory",
            )
        changes = []
        if is_member:
            changes.append(ensure_system_user(h))
        changes.append(ensure_directory(h, CONF_DIR, mode=0o755))
        changes.append(ensure_directory(h, PKI_DIR, mode=0o700, owner=owner, group=owner))
        files = {"ca.crt": (read("ca.crt"), 0o644)}
        if is_member:
            files |= {
                "server.crt": (read(f"{h.name}-server.crt"), 0o644),
                "server.key": (read(f"{h.name}-server.key"), 0o600),
                "peer.crt": (read(f"{h.name}-peer.crt"), 0o644),
                "peer.key": (read(f"{h.name}-peer.key"), 0o600),
            }
        for name, (data, mode) in files.items():
            changes.append(ensure_file(h, f"{PKI_DIR}/{name}", data, mode=mode, owner=owner, group=owner))
        # The health-check client key is root's: only root runs etcdctl.
        changes.append(ensure_file(h, f"{PKI_DIR}/{HEALTHCHECK}.crt", read(f"{HEALTHCHECK}.crt"), 0o644))
        changes.append(ensure_file(h, f"{PKI_DIR}/{HEALTHCHECK}.key", read(f"{HEALTHCHECK}.key"), 0o600))
        if is_member:
            changes.append(ensure_directory(h, DATA_DIR, mode=0o700, owner=USER, group=USER))
            cfg = member_config(inv, h.host)
            changes.append(ensure_template(h, UNIT_PATH, "etcd/etcd.service.j2", cfg.context()))
        merged = Change.merge(*changes)
        if not merged.changed:
            what = "user, directories, certificates and unit" if is_member else "client certificate"
            return Change(False, f"{what} up to date")
        return merged

    return fleet.step("configure etcd", configure, hosts=[h.name for h in client_hosts(inv)],
                      skip="neither an etcd member nor a master")


# ---------------------------------------------------------------------------- running


def _has_data(h) -> bool:
    return h.exists(f"{DATA_DIR}/member")


def check_etcd_data(fleet) -> dict[str, bool]:
    """Whether each member's data directory holds etcd data (``/var/lib/etcd/member``)."""
    inv = _inv(fleet)

    def probe(h):
        has = _has_data(h)
        return Result(h.name, "ok", f"{DATA_DIR}: {'has data' if has else 'empty'}", data=has)

    return dict(fleet.step("probe etcd data", probe, hosts=[h.name for h in members(inv)]).data())


def bootstrap_state(data: dict[str, bool]) -> str:
    """Decide from each member's data: ``new`` (all empty) or ``existing`` (all have data).

    Raises:
        StepFailed: some members have data and others not. That is a join (``etcdctl
            member add`` then start with ``--initial-cluster-state=existing``), which
            is a deliberate operation, not something to guess; every empty member is named.
    """
    full = sorted(n for n, has in data.items() if has)
    empty = sorted(n for n, has in data.items() if not has)
    if not full:
        return "new"
    if not empty:
        return "existing"
    cause = (
        f"its data directory {DATA_DIR} is empty while {', '.join(full)} already hold "
        "cluster data: starting it would be a join (etcdctl member add, then "
        "--initial-cluster-state=existing), which this runbook does not guess; add the member "
        "deliberately, or restore its data directory"
    )
    raise StepFailed("check etcd data before starting", {n: HostError(n, "start etcd", cause) for n in empty})


# what etcd reads at start: a change to any of them restarts the member (one at a time)
INPUTS = (UNIT_PATH, f"{BIN_DIR}/etcd", *(f"{PKI_DIR}/{n}" for n in
                                         ("ca.crt", "server.crt", "server.key", "peer.crt", "peer.key")))


def etcdctl(args: str, endpoints_: str | None = None, cert: bool = True, timeout: str = "5s") -> str:
    """An etcdctl command line using the health-check client certificate.

    Args:
        args: the etcdctl subcommand and its flags, e.g. ``"endpoint health -w json"``.
        endpoints_: the ``--endpoints`` value (default: the local member).
        cert: present the client certificate (False: only trust the CA).
        timeout: etcdctl's command timeout.
    """
    parts = [f"{BIN_DIR}/etcdctl", f"--endpoints={endpoints_ or f'https://127.0.0.1:{CLIENT_PORT}'}",
             f"--cacert={PKI_DIR}/ca.crt", "--dial-timeout=3s", f"--command-timeout={timeout}"]
    if cert:
        parts += [f"--cert={PKI_DIR}/{HEALTHCHECK}.crt", f"--key={PKI_DIR}/{HEALTHCHECK}.key"]
    return " ".join(parts) + " " + args


def _wait_local_healthy(h, seconds: float = 60) -> None:
    """Poll the member on ``h`` (``etcdctl endpoint health``) until it answers healthy.

    Raises:
        CommandFailed: not healthy after ``seconds``; names the wait and etcdctl's last output.
    """
    try:
        poll_until(lambda: h.run(etcdctl("endpoint health"), check=False), lambda r: r.ok,
                   what="etcd healthy", where=h.name, timeout=seconds, interval=1.0)
    except WaitTimeout:
        res = h.run(etcdctl("endpoint health"), check=False)
        raise CommandFailed(h.name, f"wait {seconds:.0f}s for etcd to become healthy", etcdctl("endpoint health"),
                            res.exit_code, res.stdout + res.stderr) from None


def ensure_etcd_running(fleet) -> Report:
    """Start etcd everywhere; bootstrap once; restart only members with newer config.

    First the data directories of all members are probed: all empty means a bootstrap
    (every member starts at once: the first ones wait for quorum); all full means the
    cluster exists (``--initial-cluster-*`` are ignored by etcd); a mix is refused
    (see :func:`bootstrap_state`). A running member whose unit, certificates or binary
    changed since it last started is restarted (:func:`~helpers.ensure.ensure_unit_current`),
    one member at a time, each waiting until it is healthy again, so quorum is kept.
    """
    from helpers.remote import Change, ensure_unit_current

    inv = _inv(fleet)
    state = bootstrap_state(check_etcd_data(fleet))
    # a new cluster starts every member at once (the first ones wait for quorum); an
    # existing one restarts one member at a time, each healthy again before the next
    restart_lock = threading.Lock() if state != "new" else None

    def run(h):
        change = ensure_unit_current(h, "etcd", INPUTS, lock=restart_lock, after_start=lambda: _wait_local_healthy(h))
        if change.changed and state == "new":
            return Change(True, f"bootstrapped new cluster ({change.detail})".replace(" ()", ""))
        return change

    title = "bootstrap etcd cluster" if state == "new" else "ensure etcd running"
    return fleet.step(title, run, hosts=[h.name for h in members(inv)], skip="not an etcd member")


# ---------------------------------------------------------------------------- checks


def _checker(fleet):
    inv = _inv(fleet)
    name = checker_host(inv).name
    return inv, fleet.hosts(name)[0]


def _json(text: str) -> Any:
    text = text.strip()
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except ValueError:
        return None


def check_etcd_health(fleet, within: float = 0.0) -> Table:
    """Ask every member's health over TLS with etcdctl from a master.

    Args:
        fleet: the fleet (the check runs etcdctl on a master).
        within: ask again for up to this many seconds while a member is unhealthy (after a
            rolling restart, a member may still be catching up); 0 asks once.

    Returns:
        A table: member, endpoint, health (``healthy`` / ``UNHEALTHY``), took, error.
        Use :func:`health_problems` to turn it into assertion messages.
    """
    inv, h = _checker(fleet)
    hosts = members(inv)

    def ask() -> Table:
        res = h.run(etcdctl("endpoint health -w json", endpoints(hosts)), check=False, timeout=60)
        return Table(["member", "endpoint", "health", "took", "error"],
                     parse_health(res.stdout, res.stderr, hosts),
                     title=f"etcd endpoint health (etcdctl on {h.name})")

    return settle(ask, lambda t: not health_problems(t), within=within).value


def parse_health(stdout: str, stderr: str, hosts) -> list[list[Any]]:
    """Rows of the health table from ``etcdctl endpoint health -w json`` output, in member order."""
    by_endpoint = {e.get("endpoint"): e for e in (_json(stdout) or []) if isinstance(e, dict)}
    rows = []
    for m in hosts:
        e = by_endpoint.get(client_url(m), {})
        healthy = bool(e.get("health"))
        error = e.get("error", "") if e else (_tls_error(stderr) or "no answer")
        rows.append([m.name, client_url(m), "healthy" if healthy else "UNHEALTHY", e.get("took", ""),
                     error])
    return rows


def health_problems(table: Table) -> list[str]:
    """One line per unhealthy member of a :func:`check_etcd_health` table (empty: all good)."""
    return [f"etcd member {r['member']} ({r['endpoint']}) is unhealthy: {r['error'] or 'no detail'}"
            for r in table.as_dicts() if r["health"] != "healthy"]


def status_settled(table: Table) -> bool:
    """Every member answers, exactly one is the leader, and all agree on the raft term."""
    rows = table.as_dicts()
    return (not any(r["leader"] == "unreachable" for r in rows)
            and sum(r["leader"] == "yes" for r in rows) == 1 and len({r["raft term"] for r in rows}) == 1)


def check_etcd_status(fleet, within: float = 0.0) -> Table:
    """Member list and leader: id, name, leader flag, raft term, db size, version.

    Unreachable members appear with empty status columns. With ``within`` > 0 it asks
    again, for up to that many seconds, until :func:`status_settled` holds (an election
    after a restart takes a moment); 0 asks once.
    """
    inv, h = _checker(fleet)
    hosts = members(inv)

    def ask() -> Table:
        status = _json(h.run(etcdctl("endpoint status -w json", endpoints(hosts)), check=False,
                             timeout=60).stdout) or []
        mlist = _json(h.run(etcdctl("member list -w json", endpoints(hosts)), check=False,
                            timeout=60).stdout) or {}
        return Table(["member", "id", "leader", "raft term", "raft index", "db size", "version"],
                     parse_status(status, mlist, hosts),
                     title=f"etcd members and leader (etcdctl on {h.name})")

    return settle(ask, status_settled, within=within).value


def parse_status(status: Any, member_list: Any, hosts) -> list[list[Any]]:
    """Rows of the status table from parsed ``endpoint status`` and ``member list`` JSON.

    A member missing from the status answer gets ``leader = "unreachable"``.
    """
    names = {m.get("ID"): m.get("name") for m in (member_list or {}).get("members", [])}
    by_endpoint = {s.get("Endpoint"): s.get("Status", {}) for s in (status or []) if isinstance(s, dict)}
    rows = []
    for m in hosts:
        s = by_endpoint.get(client_url(m))
        if not s:
            rows.append([m.name, "", "unreachable", "", "", "", ""])
            continue
        member_id = s.get("header", {}).get("member_id")
        rows.append([
            names.get(member_id, m.name),
            f"{member_id:x}" if isinstance(member_id, int) else str(member_id),
            "yes" if member_id is not None and s.get("leader") == member_id else "no",
            s.get("raftTerm", s.get("header", {}).get("raft_term", "")),
            s.get("raftIndex", ""),
            _size(s.get("dbSize")),
            s.get("version", ""),
        ])
    return rows


def _size(n: Any) -> str:
    if not isinstance(n, int):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def check_etcd_roundtrip(fleet, key: str = "/kubernetes-journey/roundtrip") -> dict[str, Any]:
    """Write a key through the first member and read it back through the last one.

    The key is deleted afterwards; the only trace is etcd's revision counter.

    Returns:
        ``{"key", "written", "read", "via_put", "via_get", "ok"}``.
    """
    inv, h = _checker(fleet)
    hosts = members(inv)
    value = f"written-at-{time.time():.3f}"
    first, last = hosts[0], hosts[-1]
    h.run(etcdctl(f"put {shlex.quote(key)} {shlex.quote(value)}", client_url(first)))
    got = h.run(etcdctl(f"get {shlex.quote(key)} --print-value-only", client_url(last))).stdout.strip()
    h.run(etcdctl(f"del {shlex.quote(key)}", client_url(first)))
    return {"key": key, "written": value, "read": got, "via_put": first.name, "via_get": last.name,
            "ok": got == value}


def check_etcd_rejects_anonymous(fleet) -> Table:
    """Call every member's ``/version`` with curl, trusting the CA but showing no certificate.

    Each attempt must be refused with a TLS alert (``certificate required`` in TLS 1.3);
    as a control, the same request with the health-check certificate must succeed, so
    the refusal is about the missing certificate, not the network. curl runs on the
    checking master (02-network installs it).

    Returns:
        A table: member, URL, without cert (``refused`` / ``ACCEPTED`` / ``no TLS answer``),
        error, with cert (``accepted`` plus the version it reports, or ``refused``).
    """
    inv, h = _checker(fleet)
    rows = []
    for m in members(inv):
        url = f"{client_url(m)}/version"
        base = f"curl -sS --max-time 5 --cacert {PKI_DIR}/ca.crt"
        anon = h.run(f"{base} {url}", check=False, timeout=30)
        good = h.run(f"{base} --cert {PKI_DIR}/{HEALTHCHECK}.crt --key {PKI_DIR}/{HEALTHCHECK}.key {url}",
                     check=False, timeout=30)
        rows.append([m.name, url, anonymous_verdict(anon.exit_code, anon.stderr),
                     _tls_error(anon.stderr), _version_verdict(good.exit_code, good.stdout)])
    return Table(["member", "url", "without cert", "error", "with cert"], rows,
                 title=f"clients without a certificate are refused (curl on {h.name})")


def anonymous_verdict(exit_code: int, stderr: str) -> str:
    """Classify an anonymous curl: ``refused`` only for a TLS-level refusal, not a network error."""
    if exit_code == 0:
        return "ACCEPTED"
    if re.search(r"alert|SSL|TLS", stderr):
        return "refused"
    return "no TLS answer"


def _version_verdict(exit_code: int, stdout: str) -> str:
    doc = _json(stdout) if exit_code == 0 else None
    if isinstance(doc, dict) and doc.get("etcdserver"):
        return f"accepted (etcd {doc['etcdserver']})"
    return "refused"


def _tls_error(text: str) -> str:
    """The TLS reason in etcdctl's output (e.g. ``remote error: tls: certificate required``)."""
    found = re.search(r"remote error: tls: [a-z ]+|tlsv1\d alert [a-z ]+|alert [a-z ]+|tls: [a-z' ]+", text)
    if found:
        return found.group(0).strip()
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:120] if lines else ""

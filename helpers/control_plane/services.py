"""Remote steps: install, (re)start and health-check the three components on every master.

Restarts roll one master at a time (one lock per component, shared by every step in
this process) and wait for the component's loopback health endpoint.
"""

from __future__ import annotations

import threading
import time

from helpers.control_plane.checks import check_haproxy_backends, check_readyz
from helpers.control_plane.layout import (
    AUDIT_DIR,
    BIN_DIR,
    COMPONENTS,
    CONFIG_DIR,
    HEALTH_URLS,
    KUBE_DIR,
    PKI_DIR,
    api_server_url,
)
from helpers.control_plane.local_steps import _local_step
from helpers.control_plane.rendering import component_files
from helpers.errors import HostError
from helpers.remote import Change
from helpers.report import Report
from helpers.tables import Table
from helpers.waiting import WaitTimeout, poll_until

# ------------------------------------------------------------------ remote steps

_restart_locks = {c: threading.Lock() for c in COMPONENTS}


def _probe_health(h, component: str) -> tuple[bool, str]:
    """Ask ``component`` on ``h`` for its health over loopback (curl, or python3 without it)."""
    url = HEALTH_URLS[component]
    if component == "kube-apiserver":
        curl_tls, py_ctx = f"--cacert {PKI_DIR}/ca.crt", f"ssl.create_default_context(cafile='{PKI_DIR}/ca.crt')"
    else:  # self-signed serving cert on loopback: only liveness is asked, nothing sent
        curl_tls, py_ctx = "-k", "ssl._create_unverified_context()"
    cmd = (
        f"if command -v curl >/dev/null; then curl -s -o /dev/null -w '%{{http_code}}' -m 5 {curl_tls} {url}; "
        f"else python3 -c \"import ssl,urllib.request as u; "
        f"print(u.urlopen('{url}', context={py_ctx}, timeout=5).status, end='')\"; fi"
    )
    res = h.run(cmd, check=False)
    code = res.stdout.strip()
    return code == "200", code or res.stderr.strip()[-200:]


def _wait_healthy(h, component: str, timeout: float = 120.0, step: str = "") -> float:
    """Poll the component's health endpoint on the master until it answers 200; return the seconds waited.

    Raises:
        HostError: not healthy at the deadline; names the URL, the last answer and the
            unit's journal tail.
    """
    try:
        return poll_until(lambda: _probe_health(h, component), lambda r: r[0], what=f"{component} healthy",
                          where=h.name, timeout=timeout, interval=1.0,
                          describe=lambda r: f"answer {r[1]}").seconds
    except WaitTimeout as err:
        logs = h.run(f"journalctl -u {component} -n 25 --no-pager", check=False).stdout
        raise HostError(h.name, step or f"start {component}",
                        f"not healthy at {HEALTH_URLS[component]} after {timeout:.0f}s "
                        f"(last {err.last})\n{logs}") from err


def ensure_component(fleet, component: str) -> Report:
    """Install and run one control-plane component on every master.

    Uploads the binary (sha256-verified, only when it differs), the component's
    certificates, configs and systemd unit; starts it when stopped; restarts it,
    one master at a time and waiting for health, only when an input changed.
    """
    from helpers import artifacts  # noqa: PLC0415 - imported late: heavy, and only for remote steps
    from helpers.ensure import (
        ensure_binary,
        ensure_directory,
        ensure_file,
        ensure_unit_current,
        probe_paths,
    )

    inv = fleet.inventory
    artifact = artifacts.fetch(inv, component)

    def apply(h) -> Change:
        files = component_files(inv, h.host, component)
        binary = f"{BIN_DIR}/{component}"
        dirs = [(KUBE_DIR, 0o755), (PKI_DIR, 0o700), (CONFIG_DIR, 0o700)]
        if component == "kube-apiserver":
            dirs += [("/var/log/kubernetes", 0o755), (AUDIT_DIR, 0o700)]
        probe_paths(h, (*(d for d, _ in dirs), binary, *(f.path for f in files)))
        changes = [ensure_directory(h, d, mode=m) for d, m in dirs]
        changes.append(ensure_binary(h, binary, artifact))
        changes += [ensure_file(h, f.path, f.content, mode=f.mode) for f in files]
        written = [c for c in changes if c.changed]
        waited: list[float] = []
        service = ensure_unit_current(h, component, [binary] + [f.path for f in files],
                                      lock=_restart_locks[component],  # roll: one master at a time
                                      after_start=lambda: waited.append(_wait_healthy(h, component)))
        if not service.changed:
            # running with the right inputs: healthy now, or soon (just booted, restarted by hand)
            _wait_healthy(h, component, timeout=30.0, step=f"check {component}")
            if written:  # e.g. a file mode put right: no restart needed
                return Change(True, "; ".join(c.detail for c in written) + " (inputs unchanged, not restarted)")
            return Change(False, "up to date, running, healthy")
        what = f"{len(written)} item(s) written; " if written else ""
        health = f", healthy after {waited[0]:.1f}s" if waited else ""
        return Change(True, what + service.detail + health)

    return fleet.step(f"{component}", apply, hosts="master", skip="not a master")


def ensure_apiserver(fleet) -> Report:
    """kube-apiserver on every master (see :func:`ensure_component`)."""
    return ensure_component(fleet, "kube-apiserver")


def ensure_controller_manager(fleet) -> Report:
    """kube-controller-manager on every master (see :func:`ensure_component`)."""
    return ensure_component(fleet, "kube-controller-manager")


def ensure_scheduler(fleet) -> Report:
    """kube-scheduler on every master (see :func:`ensure_component`)."""
    return ensure_component(fleet, "kube-scheduler")


def wait_for_api(inv, timeout: float = 90.0) -> Report:
    """Wait until the API answers ready through the VIP and every LB sees every master UP.

    HAProxy takes a master back only after consecutive passing health checks, so the
    VIP lags a freshly started API server by a few seconds. Changes nothing.
    """
    def run():
        start = time.monotonic()
        status, down = 0, ["(not asked yet)"]
        while time.monotonic() - start < timeout:
            status, _ = check_readyz(inv, timeout=5)
            backends = check_haproxy_backends(inv) if inv.hosts_with("lb") else Table([], [])
            down = [f"{r['master']}@{r['load balancer']}: {r['status']}" for r in backends.as_dicts()
                    if r["status"] != "UP"]
            if status == 200 and not down:
                return False, f"ready through {api_server_url(inv)}, all masters UP after {time.monotonic() - start:.1f}s", None
            time.sleep(1.0)
        raise HostError("operator", f"reach the API through {api_server_url(inv)}",
                        f"after {timeout:.0f}s: /readyz HTTP {status}; not UP in HAProxy: {', '.join(down) or '-'}")
    return _local_step("API ready through the VIP", run)

"""systemd units: enabled and running, and the one restart rule (:func:`ensure_unit_current`)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any

from helpers.ensure.files import ensure_directory, ensure_file
from helpers.errors import CommandFailed, HostError
from helpers.remote.connection import HostConn
from helpers.remote.values import Change, _absolute

_ENABLED_STATES = {"enabled", "enabled-runtime", "static", "indirect", "generated", "transient", "alias", "linked"}


def _unit_props(h: HostConn, unit: str) -> dict[str, str]:
    out = h.run(f"systemctl show -p LoadState -p ActiveState -p UnitFileState -p NeedDaemonReload -- "
                f"{shlex.quote(unit)}").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def ensure_service(h: HostConn, name: str, restart: bool = False, enabled: bool = True,
                   reload_daemon: bool | None = None, settle: float = 1.0) -> Change:
    """Make a systemd unit enabled (or disabled) and running; restart it when asked.

    After a start or restart the unit is watched for ``settle`` seconds (and while it is
    still activating, up to 10 s more): a service that dies right away fails the call
    with the tail of its journal, instead of passing because it was briefly "active".
    A oneshot unit counts as running once it finished successfully.

    Args:
        h: the host.
        name: the unit (``.service`` is added when no suffix is given).
        restart: restart even when running (e.g. its configuration changed).
        enabled: True to enable at boot, False to disable.
        reload_daemon: True forces ``systemctl daemon-reload``; None (default) reloads
            when systemd says unit files changed (``NeedDaemonReload``) or the unit is
            not loaded yet; False never reloads.
        settle: seconds to watch a unit after starting it.

    Raises:
        HostError: the unit does not exist or is masked.
        CommandFailed: the unit failed to start or did not stay active (the output is
            systemctl's message and the journal tail).
    """
    unit = name if "." in name else f"{name}.service"
    q = shlex.quote(unit)
    done = []
    props = _unit_props(h, unit)
    stale = props.get("NeedDaemonReload") == "yes" or props.get("LoadState") == "not-found"
    if reload_daemon or (reload_daemon is None and stale):
        h.run("systemctl daemon-reload")
        done.append("daemon-reload")
        props = _unit_props(h, unit)
    load = props.get("LoadState", "")
    if load in ("not-found", "masked"):
        raise HostError(h.name, h._step(f"start {unit}"), f"unit {unit} is {load}")
    state = props.get("UnitFileState", "")
    if enabled and state not in _ENABLED_STATES:
        h.run(f"systemctl enable -- {q}")
        done.append("enabled")
    elif not enabled and state in ("enabled", "enabled-runtime"):
        h.run(f"systemctl disable -- {q}")
        done.append("disabled")
    if restart or props.get("ActiveState") != "active":
        action = "restart" if restart else "start"
        res = h.run(f"systemctl {action} -- {q}", check=False)
        done.append(f"{action}ed")
        outcome = _settled_state(h, unit, settle) if res.ok else "failed to start"
        if outcome != "ok":
            journal = h.run(f"journalctl -u {q} -n 25 --no-pager -o short-precise", check=False).stdout
            raise CommandFailed(h.name, h._step(f"{action} {unit}"), f"systemctl {action} {unit}",
                                res.exit_code or 3,
                                f"{res.stderr.strip()}\n{unit} {outcome}; its journal ends:\n{journal}".strip())
    if done:
        return Change(True, f"{unit}: {', '.join(done)}")
    return Change(False, f"{unit} {'enabled and ' if enabled else ''}active")


STAMP_DIR = "/var/lib/kubernetes-journey/applied"


def inputs_fingerprint(h: HostConn, paths: Iterable[str]) -> str:
    """sha256 over the sha256 of every input file of a unit, as the files are on the host now.

    A missing file is part of the fingerprint too (``sha256sum`` says so), so removing an
    input counts as a change.
    """
    quoted = " ".join(shlex.quote(_absolute(p)) for p in sorted(set(paths)))
    out = h.run(f"sha256sum -- {quoted} 2>&1 | sha256sum", check=False).stdout
    return out.split()[0] if out.strip() else ""


def ensure_unit_current(h: HostConn, unit: str, inputs: Iterable[str], *, lock: Any = None,
                        after_start: Any = None, settle: float = 1.0) -> Change:
    """The one restart rule: enable and run ``unit``; (re)start it when its inputs differ from its last start.

    The fingerprint of the unit's input files (binary, configuration, certificates, unit
    file) is recorded on the host after each successful (re)start, in
    ``/var/lib/kubernetes-journey/applied/<unit>.inputs``. A unit whose recorded
    fingerprint differs from the files now on disk is restarted, whoever wrote them and
    whenever: this also heals a run that wrote new files and died before restarting (a
    rule based on "changed in this run" would leave the old process running for good).
    A unit that stopped is started again either way.

    Args:
        h: the host.
        unit: the systemd unit (``.service`` is implied).
        inputs: absolute paths of the files the unit reads at start.
        lock: a lock held around a restart (``threading.Lock``), so a fleet restarts one
            host at a time where availability needs it (keepalived, etcd, API servers).
        after_start: called after a start or restart, inside the lock: e.g. wait until
            the service is healthy before the next host restarts.
        settle: passed to :func:`ensure_service`.
    """
    name = unit.removesuffix(".service")
    stamp = f"{STAMP_DIR}/{name}.inputs"
    current = inputs_fingerprint(h, inputs)
    recorded = (h.read_file(stamp) or b"").decode(errors="replace").strip()
    if recorded == current:
        change = ensure_service(h, name, settle=settle)
        if change.changed and after_start:
            with lock or nullcontext():
                after_start()
        return change
    active = _unit_props(h, f"{name}.service").get("ActiveState") == "active"
    with lock or nullcontext():
        change = ensure_service(h, name, restart=active, settle=settle)
        if after_start:
            after_start()
    ensure_directory(h, STAMP_DIR, mode=0o755)
    ensure_file(h, stamp, current + "\n", mode=0o644)
    if not active:
        return change
    why = "its inputs changed since it last started" if recorded else "no record of the inputs it started with"
    return Change(True, f"{name}.service: restarted ({why})")



def _settled_state(h: HostConn, unit: str, settle: float) -> str:
    """Watch a just-started unit; return "ok" or what went wrong ("is failed", ...)."""
    q = shlex.quote(unit)
    script = (
        f"sleep {max(settle, 0):g}; for i in $(seq 1 20); do s=$(systemctl is-active -- {q}); "
        'case "$s" in activating|reloading|deactivating) sleep 0.5;; *) break;; esac; done; '
        f"systemctl show -p ActiveState -p SubState -p Result -p Type -- {q}"
    )
    props = dict(line.split("=", 1) for line in h.run(script).stdout.splitlines() if "=" in line)
    active, result = props.get("ActiveState"), props.get("Result")
    if active == "active" or (props.get("Type") == "oneshot" and active == "inactive" and result == "success"):
        return "ok"
    return f"is {active} ({props.get('SubState')}, result {result})"

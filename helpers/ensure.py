"""The idempotent primitives: probe a host first, change only what differs, return a Change.

Each ``ensure_*`` takes a :class:`~helpers.remote.HostConn`, reads the current state
(file digest and metadata, package status, unit state, sysctl values, kernel features),
and acts only where it differs; files are uploaded to a temporary path and moved into
place. They are re-exported by :mod:`helpers.remote`, so callers may import them from
either module.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import secrets
import shlex
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from helpers.errors import ChecksumMismatch, CommandFailed, ConfigError, HostError
from helpers.remote import TEMPLATES, Change, HostConn, _absolute, _joined

# --- probes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stat:
    kind: str  # "regular file", "directory", "symbolic link", ...
    mode: int
    uid: str
    user: str
    gid: str
    group: str
    sha256: str | None
    parent_exists: bool = True


def _stat(h: HostConn, path: str) -> _Stat | None:
    """Probe a path: type, mode, owner, group, sha256 for regular files; None when absent."""
    q = shlex.quote(path)
    parent = shlex.quote(posixpath.dirname(path) or "/")
    script = (
        f"if [ -e {q} ] || [ -L {q} ]; then stat -c '%F|%a|%u|%U|%g|%G' -- {q};"
        f" if [ -f {q} ] && [ ! -L {q} ]; then sha256sum -- {q} | cut -d' ' -f1; fi;"
        f" elif [ -d {parent} ]; then echo absent; else echo noparent; fi"
    )
    out = h.run(script).stdout.splitlines()
    if not out or out[0] in ("absent", "noparent"):
        if out and out[0] == "noparent":
            return _Stat("absent", 0, "", "", "", "", None, parent_exists=False)
        return None
    kind, mode, uid, user, gid, group = out[0].split("|", 5)
    return _Stat(kind, int(mode, 8), uid, user, gid, group, out[1].strip() if len(out) > 1 else None)


def _owner_ok(want: str, num: str, name: str) -> bool:
    return want == num if want.isdigit() else want == name


def _meta_diff(st: _Stat, mode: int, owner: str, group: str) -> list[str]:
    diffs = []
    if st.mode != mode:
        diffs.append(f"mode {st.mode:04o} -> {mode:04o}")
    if not _owner_ok(owner, st.uid, st.user) or not _owner_ok(group, st.gid, st.group):
        diffs.append(f"owner {st.user}:{st.group} -> {owner}:{group}")
    return diffs


def _set_meta(h: HostConn, path: str, mode: int, owner: str, group: str) -> None:
    q = shlex.quote(path)
    h.run(f"chown {shlex.quote(f'{owner}:{group}')} -- {q} && chmod {mode:04o} -- {q}")


def _install(h: HostConn, path: str, source: bytes | Path, mode: int, owner: str, group: str,
             sha256: str | None = None, name: str = "") -> None:
    """Put content at ``path`` atomically: stage, verify, set owner and mode, then ``mv``.

    Without sudo the staging file sits in the target's own directory; with sudo it is
    uploaded to /tmp as the SSH user and ``install``-ed next to the target by root.
    """
    directory, base = posixpath.split(path)
    token = secrets.token_hex(6)
    tmp = posixpath.join(directory, f".{base}.kj-{token}")
    staging = f"/tmp/kj-upload-{token}" if h.sudo else tmp
    h.upload(source, staging)
    qs, qt, qp = shlex.quote(staging), shlex.quote(tmp), shlex.quote(path)
    if sha256 is not None:
        got = h.run(f"sha256sum -- {qs} | cut -d' ' -f1", check=False).stdout.strip()
        if got != sha256:
            h.run(f"rm -f -- {qs}", check=False)
            raise ChecksumMismatch(name or path, sha256, got or "(unreadable)", source=str(source), host=h.name)
    ownership = shlex.quote(f"{owner}:{group}")
    if h.sudo:
        place = (f"install -o {shlex.quote(owner)} -g {shlex.quote(group)} -m {mode:04o} -- {qs} {qt}"
                 f" && mv -f -- {qt} {qp}")
    else:
        place = f"chown {ownership} -- {qt} && chmod {mode:04o} -- {qt} && mv -f -- {qt} {qp}"
    h.run(f"{place}; rc=$?; rm -f -- {qs} {qt}; exit $rc")


# --- idempotent primitives -----------------------------------------------------------------


def ensure_file(h: HostConn, path: str, content: str | bytes, mode: int = 0o644,
                owner: str = "root", group: str = "root") -> Change:
    """Make ``path`` a regular file with exactly this content, mode and owner.

    Compares sha256, mode and owner first; rewrites the content (atomically, through a
    temporary file and ``mv``) only when it differs, and only fixes mode or owner when
    just those differ. A symlink at ``path`` is replaced by the file. The parent
    directory must exist (see :func:`ensure_directory`).
    """
    path = _absolute(path)
    data = content.encode() if isinstance(content, str) else bytes(content)
    digest = hashlib.sha256(data).hexdigest()
    st = _stat(h, path)
    if st is not None and not st.parent_exists:
        raise HostError(h.name, h._step(f"write {path}"),
                        f"directory {posixpath.dirname(path)} does not exist (ensure_directory it first)")
    if st is not None and st.kind not in ("regular file", "regular empty file", "symbolic link"):
        raise HostError(h.name, h._step(f"write {path}"), f"{path} is a {st.kind}, not a file")
    if st is None or st.kind == "symbolic link":
        _install(h, path, data, mode, owner, group)
        return Change(True, f"{'created' if st is None else 'replaced symlink'} {path}")
    if st.sha256 != digest:
        _install(h, path, data, mode, owner, group)
        return Change(True, f"updated {path}")
    diffs = _meta_diff(st, mode, owner, group)
    if diffs:
        _set_meta(h, path, mode, owner, group)
        return Change(True, f"{path}: {', '.join(diffs)}")
    return Change(False, f"{path} up to date")


def ensure_template(h: HostConn, path: str, template: str, context: Mapping[str, Any],
                    mode: int = 0o644, owner: str = "root", group: str = "root",
                    directory: str | Path | None = None) -> Change:
    """Render ``template`` (under helpers/templates/, or ``directory``) and ensure_file the result."""
    text = render_template(template, context, directory=directory)
    return ensure_file(h, path, text, mode=mode, owner=owner, group=group)


def ensure_directory(h: HostConn, path: str, mode: int = 0o755, owner: str = "root",
                     group: str = "root") -> Change:
    """Make ``path`` a directory with this mode and owner (missing parents are created 0755 root)."""
    path = _absolute(path)
    st = _stat(h, path)
    q = shlex.quote(path)
    if st is None or not st.parent_exists:
        h.run(f"mkdir -p -- {q} && chown {shlex.quote(f'{owner}:{group}')} -- {q} && chmod {mode:04o} -- {q}")
        return Change(True, f"created {path}")
    if st.kind != "directory":
        raise HostError(h.name, h._step(f"create {path}"), f"{path} is a {st.kind}, not a directory")
    diffs = _meta_diff(st, mode, owner, group)
    if diffs:
        _set_meta(h, path, mode, owner, group)
        return Change(True, f"{path}: {', '.join(diffs)}")
    return Change(False, f"{path} up to date")


def ensure_absent(h: HostConn, path: str) -> Change:
    """Remove ``path`` (a file, link or whole directory tree) when it exists."""
    path = _absolute(path)
    if path == "/":
        raise ValueError("refusing to remove /")
    if not h.exists(path):
        return Change(False, f"{path} already absent")
    h.run(f"rm -rf -- {shlex.quote(path)}")
    return Change(True, f"removed {path}")


def ensure_binary(h: HostConn, remote_path: str, artifact: Any, mode: int = 0o755,
                  owner: str = "root", group: str = "root") -> Change:
    """Install a release artifact's file at ``remote_path`` unless the host already has it.

    The remote sha256 is compared with ``artifact.sha256``; the file is uploaded only
    when it differs, and the uploaded copy is verified before it replaces the old one.

    Args:
        h: the host.
        remote_path: where the file goes.
        artifact: has ``path`` (the local file) and ``sha256`` (its expected digest).
        mode: the installed file's mode.
        owner: its owner (name or uid).
        group: its group (name or gid).

    Raises:
        ChecksumMismatch: the uploaded copy does not have the expected digest.
        ConfigError: the local file is missing.
    """
    path = _absolute(remote_path)
    local = Path(artifact.path)
    expected = str(artifact.sha256).lower()
    name = getattr(artifact, "name", None) or local.name
    if not local.is_file():
        raise ConfigError(f"artifact {name}: local file {local} does not exist")
    st = _stat(h, path)
    if st is not None and not st.parent_exists:
        raise HostError(h.name, h._step(f"install {path}"),
                        f"directory {posixpath.dirname(path)} does not exist (ensure_directory it first)")
    if st is None or st.sha256 != expected:
        _install(h, path, local, mode, owner, group, sha256=expected, name=name)
        return Change(True, f"{'installed' if st is None else 'updated'} {path} ({name} {expected[:12]})")
    diffs = _meta_diff(st, mode, owner, group)
    if diffs:
        _set_meta(h, path, mode, owner, group)
        return Change(True, f"{path}: {', '.join(diffs)}")
    return Change(False, f"{path} up to date ({expected[:12]})")


def ensure_packages(h: HostConn, packages: Iterable[str]) -> Change:
    """Install the Debian packages that are missing (``name`` or ``name=version``).

    ``apt-get update`` runs only when something is missing. When the inventory sets
    ``sources.apt_proxy``, /etc/apt/apt.conf.d/01proxy is ensured first. Installs are
    non-interactive, without recommends, keeping existing config files.
    """
    wanted = [p.strip() for p in packages if p.strip()]
    for p in wanted:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.\-]*(:[a-z0-9]+)?(=[A-Za-z0-9.+~:\-]+)?", p):
            raise ValueError(f"not a Debian package name: {p!r}")
    changes = []
    proxy = getattr(getattr(h.inventory, "sources", None), "apt_proxy", None)
    if proxy:
        changes.append(ensure_file(h, "/etc/apt/apt.conf.d/01proxy", f'Acquire::http::Proxy "{proxy}";\n'))
    missing = _missing_packages(h, wanted)
    if missing:
        apt = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300"
        h.run(f"{apt} update")
        h.run(f"{apt} -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
              f"install --no-install-recommends --allow-downgrades -- {' '.join(map(shlex.quote, missing))}")
        still = _missing_packages(h, wanted)
        if still:
            raise HostError(h.name, h._step("install packages"),
                            f"apt-get finished but these are still not installed: {', '.join(still)}")
        changes.append(Change(True, f"installed {', '.join(missing)}"))
    else:
        changes.append(Change(False, f"{len(wanted)} package(s) installed"))
    return Change.merge(*changes)


def _missing_packages(h: HostConn, wanted: list[str]) -> list[str]:
    if not wanted:
        return []
    names = [p.split("=", 1)[0] for p in wanted]
    fmt = shlex.quote("${Package}\t${Version}\t${db:Status-Abbrev}\n")
    out = h.run(f"dpkg-query -W -f={fmt} -- {' '.join(map(shlex.quote, names))} 2>/dev/null; true").stdout
    installed = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].startswith("ii"):
            installed[parts[0]] = parts[1]
    missing = []
    for spec in wanted:
        name, _, version = spec.partition("=")
        bare = name.split(":", 1)[0]
        if bare not in installed or (version and installed[bare] != version):
            missing.append(spec)
    return missing


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
            with lock or _NO_LOCK:
                after_start()
        return change
    active = _unit_props(h, f"{name}.service").get("ActiveState") == "active"
    with lock or _NO_LOCK:
        change = ensure_service(h, name, restart=active, settle=settle)
        if after_start:
            after_start()
    ensure_directory(h, STAMP_DIR, mode=0o755)
    ensure_file(h, stamp, current + "\n", mode=0o644)
    if not active:
        return change
    why = "its inputs changed since it last started" if recorded else "no record of the inputs it started with"
    return Change(True, f"{name}.service: restarted ({why})")


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


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


_SYSCTL_KEY = re.compile(r"^[A-Za-z0-9_\-]+([./][A-Za-z0-9_\-]+)+$")


def read_sysctl(h: HostConn, keys: Iterable[str]) -> dict[str, str | None]:
    """Return the current value of each kernel parameter (None when the kernel has no such key).

    Values come back with whitespace collapsed (``4096 131072 6291456``).
    """
    keys = list(keys)
    for k in keys:
        if not _SYSCTL_KEY.match(k):
            raise ValueError(f"not a sysctl key: {k!r}")
    if not keys:
        return {}
    script = (
        f"for k in {' '.join(keys)}; do if v=$(sysctl -n -- \"$k\" 2>/dev/null); "
        "then printf '%s=%s\\n' \"$k\" \"$(printf '%s' \"$v\" | tr '\\t\\n' '  ')\"; "
        "else printf '%s!\\n' \"$k\"; fi; done"
    )
    values: dict[str, str | None] = dict.fromkeys(keys)
    for line in h.run(script).stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in values:
            values[key] = " ".join(value.split())
    return values


def ensure_sysctl(h: HostConn, settings: Mapping[str, Any],
                  persist_file: str = "/etc/sysctl.d/90-kubernetes.conf") -> Change:
    """Set kernel parameters now and at boot; change only the ones that differ.

    Reads every key with ``sysctl -n``, writes ``persist_file`` (through
    :func:`ensure_file`), and runs ``sysctl -w`` for exactly the keys whose live value
    differs. Changed only when the file or a live value differed.

    Raises:
        HostError: the kernel has no such parameter.
    """
    wanted = {k: " ".join(str(v).split()) for k, v in settings.items()}
    current = read_sysctl(h, wanted)
    unknown = [k for k, v in current.items() if v is None]
    if unknown:
        raise HostError(h.name, h._step("set sysctls"), f"the kernel has no parameter {', '.join(unknown)}")
    body = "".join(f"{k} = {v}\n" for k, v in wanted.items())
    file_change = ensure_file(h, persist_file, f"# Managed by kubernetes-journey.\n{body}")
    differ = {k: v for k, v in wanted.items() if current[k] != v}
    if differ:
        h.run("sysctl -w " + " ".join(shlex.quote(f"{k}={v}") for k, v in differ.items()))
    live = Change(bool(differ), ", ".join(f"{k}={v} (was {current[k]})" for k, v in differ.items()))
    return Change.merge(live, file_change) if differ or file_change.changed else Change(
        False, f"{len(wanted)} sysctl(s) already set")


# How a built-in feature shows itself when /sys/module/<name> does not (containers such as
# the lab's nspawn machines do not mount /sys/module): something it registers, and a
# function of it in /proc/kallsyms without a "[module]" tag (that is, in the kernel image).
_FEATURE_TRACES: dict[str, tuple[str | None, str]] = {
    "br_netfilter": ("[ -d /proc/sys/net/bridge ] && echo /proc/sys/net/bridge", "br_nf_pre_routing"),
    "overlay": ("grep -qw overlay /proc/filesystems && echo 'overlay in /proc/filesystems'", "ovl_fill_super"),
    "nf_conntrack": ("[ -e /proc/sys/net/netfilter/nf_conntrack_max ] && echo /proc/sys/net/netfilter",
                     "nf_conntrack_in"),
    "vxlan": (None, "vxlan_xmit"),
    "nf_tables": (None, "nft_do_chain"),
    "nf_nat": (None, "nf_nat_setup_info"),
    "ip_tables": ("[ -e /proc/net/ip_tables_names ] && echo /proc/net/ip_tables_names", "ipt_do_table"),
}


def kernel_feature_state(h: HostConn, name: str) -> tuple[str, str]:
    """Tell whether a kernel feature is a loaded module, built in, or absent (read only).

    The rule, in order (the first that matches wins):

    1. listed in /proc/modules: a loaded (loadable) module -> ``loaded``;
    2. /sys/module/<name> exists although it is not in /proc/modules: ``builtin``;
    3. listed in /lib/modules/$(uname -r)/modules.builtin: ``builtin``;
    4. for the features the runbook uses, a trace it leaves when built in, for hosts
       (and containers) without /sys/module or modules.builtin: br_netfilter registers
       /proc/sys/net/bridge, overlay a file system in /proc/filesystems, nf_conntrack
       /proc/sys/net/netfilter, ip_tables /proc/net/ip_tables_names; or one of its
       functions (vxlan: ``vxlan_xmit``, nf_tables: ``nft_do_chain``, ...) is in
       /proc/kallsyms without a ``[module]`` tag, i.e. in the kernel image: ``builtin``;
    5. otherwise ``absent``.

    Module names compare with ``-`` and ``_`` as equal, as the kernel does.

    Returns:
        ``(state, evidence)``: state is ``loaded``, ``builtin`` or ``absent``; evidence
        says which check decided ("" when absent).
    """
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ValueError(f"not a kernel module name: {name!r}")
    u = name.replace("-", "_")
    d = name.replace("_", "-")
    trace, symbol = _FEATURE_TRACES.get(u, (None, None))
    checks = [
        f"if [ -r /proc/modules ] && grep -q '^{u} ' /proc/modules; then echo 'loaded /proc/modules'; exit 0; fi",
        f"if [ -d /sys/module/{u} ]; then echo 'builtin /sys/module/{u}'; exit 0; fi",
        "f=/lib/modules/$(uname -r)/modules.builtin",
        f"if [ -r \"$f\" ] && grep -Eq '/({u}|{d})\\.ko' \"$f\"; then echo \"builtin $f\"; exit 0; fi",
    ]
    if trace:
        checks.append(f"if e=$({trace}); then echo \"builtin $e\"; exit 0; fi")
    if symbol:
        checks.append(f"if grep -q ' {symbol}$' /proc/kallsyms 2>/dev/null; "
                      f"then echo 'builtin {symbol} in /proc/kallsyms'; exit 0; fi")
    checks.append("echo absent")
    state, _, why = h.run("; ".join(checks)).stdout.strip().partition(" ")
    return state, why


def ensure_kernel_feature(h: HostConn, name: str) -> Change:
    """Make a kernel feature available: built in, or a module loaded now and at boot.

    A built-in feature (see :func:`kernel_feature_state` for the rule) counts as present
    and nothing is written. A loaded module gets /etc/modules-load.d/<name>.conf so it
    loads again at boot. An absent one gets that file and ``modprobe``.

    Raises:
        HostError: the feature is neither built in nor loadable (no module, or no modprobe).
    """
    state, why = kernel_feature_state(h, name)
    if state == "builtin":
        return Change(False, f"{name} built into the kernel ({why})")
    conf = f"/etc/modules-load.d/{name}.conf"
    if state == "loaded":
        persist = ensure_file(h, conf, f"{name}\n")
        return Change(persist.changed, f"{name} loaded; {'wrote' if persist.changed else 'kept'} {conf}")
    if not h.run("command -v modprobe >/dev/null", check=False).ok:
        raise HostError(h.name, h._step(f"enable {name}"),
                        f"kernel feature {name} is not built in and cannot be loaded: modprobe is not installed")
    probe = h.run(f"modprobe -n -- {shlex.quote(name)}", check=False)
    if not probe.ok:
        raise HostError(h.name, h._step(f"enable {name}"),
                        f"kernel feature {name} is neither built in nor available as a module: "
                        f"{_joined(probe.stdout, probe.stderr) or 'modprobe -n failed'}")
    ensure_file(h, conf, f"{name}\n")
    h.run(f"modprobe -- {shlex.quote(name)}")
    return Change(True, f"loaded {name}; wrote {conf}")


# --- templates -----------------------------------------------------------------------------

_ENVS: dict[Path, jinja2.Environment] = {}
_ENVS_LOCK = threading.Lock()


def _environment(directory: Path) -> jinja2.Environment:
    with _ENVS_LOCK:
        env = _ENVS.get(directory)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(directory)),
                undefined=jinja2.StrictUndefined,
                keep_trailing_newline=True,
                autoescape=False,
            )
            _ENVS[directory] = env
        return env


def render_template(template: str, context: Mapping[str, Any], directory: str | Path | None = None) -> str:
    """Render a Jinja2 template from helpers/templates/ (or ``directory``); undefined names are errors.

    Raises:
        ConfigError: the template is missing, has a syntax error, or uses a name the
            context does not define.
    """
    root = Path(directory).resolve() if directory is not None else TEMPLATES
    try:
        return _environment(root).get_template(template).render(**context)
    except jinja2.TemplateNotFound as err:
        raise ConfigError(f"template {template} not found under {root}") from err
    except jinja2.UndefinedError as err:
        raise ConfigError(f"failed to render template {template}: {err.message}") from err
    except jinja2.TemplateSyntaxError as err:
        raise ConfigError(f"template {template} line {err.lineno}: {err.message}") from err

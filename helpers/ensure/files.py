"""Files and directories: probe path, digest, mode and owner first; install atomically.

Content is uploaded to a temporary path, verified and moved into place; mode and owner
alone are fixed in place.
"""

from __future__ import annotations

import hashlib
import posixpath
import secrets
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.ensure.templates import render_template
from helpers.errors import ChecksumMismatch, ConfigError, HostError
from helpers.remote.connection import HostConn
from helpers.remote.values import Change, _absolute

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


def _stat_script(path: str) -> str:
    q = shlex.quote(path)
    parent = shlex.quote(posixpath.dirname(path) or "/")
    return (
        f"if [ -e {q} ] || [ -L {q} ]; then stat -c '%F|%a|%u|%U|%g|%G' -- {q};"
        f" if [ -f {q} ] && [ ! -L {q} ]; then sha256sum -- {q} | cut -d' ' -f1; fi;"
        f" elif [ -d {parent} ]; then echo absent; else echo noparent; fi"
    )


def _parse_stat(out: list[str]) -> _Stat | None:
    if not out or out[0] in ("absent", "noparent"):
        if out and out[0] == "noparent":
            return _Stat("absent", 0, "", "", "", "", None, parent_exists=False)
        return None
    kind, mode, uid, user, gid, group = out[0].split("|", 5)
    return _Stat(kind, int(mode, 8), uid, user, gid, group, out[1].strip() if len(out) > 1 else None)


_MARK = "==kj-probe:"


def probe_paths(h: HostConn, paths: Iterable[str]) -> None:
    """Probe many paths in one SSH round trip; the primitives then use the answers instead of asking again.

    A step calls this first with every file and directory it is about to ensure, so its
    probe costs one round trip per host however many files it manages. Each answer is
    used once, by the next primitive that asks about that path (which may then change
    it); a path asked about again is probed live, and any change a primitive makes drops
    the remaining answers (a directory created since makes "no parent" stale). A re-run
    that changes nothing therefore probes once; a fresh run probes as before. Call it
    right before the primitives it serves, with nothing else (a package install, say)
    writing those paths in between.
    """
    wanted = list(dict.fromkeys(_absolute(p) for p in paths))
    if not wanted:
        return
    script = "; ".join(f"echo {_MARK}{i}; {_stat_script(p)}" for i, p in enumerate(wanted))
    sections: dict[int, list[str]] = {}
    current = None
    for line in h.run(script).stdout.splitlines():
        if line.startswith(_MARK):
            current = int(line[len(_MARK):])
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    cache = h.__dict__.setdefault("_probed", {})
    for i, path in enumerate(wanted):
        if i in sections:
            cache[path] = _parse_stat(sections[i])


def _forget_probes(h: HostConn) -> None:
    """A primitive changed something: earlier answers (a parent that was missing, say) may be stale."""
    h.__dict__.pop("_probed", None)


def _stat(h: HostConn, path: str) -> _Stat | None:
    """Probe a path: type, mode, owner, group, sha256 for regular files; None when absent."""
    cache = h.__dict__.get("_probed")
    if cache and path in cache:
        return cache.pop(path)
    return _parse_stat(h.run(_stat_script(path)).stdout.splitlines())


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
    _forget_probes(h)
    q = shlex.quote(path)
    h.run(f"chown {shlex.quote(f'{owner}:{group}')} -- {q} && chmod {mode:04o} -- {q}")


def _install(h: HostConn, path: str, source: bytes | Path, mode: int, owner: str, group: str,
             sha256: str | None = None, name: str = "") -> None:
    """Put content at ``path`` atomically: stage, verify, set owner and mode, then ``mv``.

    Without sudo the staging file sits in the target's own directory; with sudo it is
    uploaded to /tmp as the SSH user and ``install``-ed next to the target by root.
    """
    _forget_probes(h)
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
        _forget_probes(h)
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
    st = _stat(h, path)
    if st is None or st.kind == "absent":
        return Change(False, f"{path} already absent")
    _forget_probes(h)
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

"""Hardening checks read from the hosts: flags of running processes, modes and owners of files.

The CIS Kubernetes Benchmark states its recommendations as facts an auditor reads on a
machine: "``--profiling`` is ``false`` on the running kube-scheduler", "the kubelet's
config file is 600 root:root". A chapter lists its components' recommendations as
:class:`Recommendation` values and :func:`check_host` reads each host once (one SSH round
trip: the command line of every process named, ``stat`` of every file) and judges them.
Where a recommendation is written for kubeadm's layout (static-pod manifests,
``admin.conf``), the chapter points it at the file of ours that plays that role.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from helpers.remote import Change
from helpers.verdict import Verdict

_MARK = "==kj-cis:"


@dataclass(frozen=True)
class Recommendation:
    """One check: ``ref`` (the benchmark's number), what it asks, and how to read it on a host.

    Exactly one of ``flag`` (a flag of the process running binary ``process``, a full path) or ``path``
    (a file's mode and owner, or with ``contains`` a line the file must hold, for a setting
    that lives in a configuration file) is set. ``want`` is the flag's expected value, or the most
    permissive mode allowed (``0o600``); ``judge`` replaces the comparison for a flag
    (e.g. "set and not 0"). ``deviation`` explains why the series departs, when it does:
    the row is then shown, but not counted as a failure.
    """

    ref: str
    title: str
    process: str = ""
    flag: str = ""
    want: Any = None
    path: str = ""
    owner: str = "root:root"
    contains: str = ""
    judge: Callable[[str | None], bool] | None = None
    deviation: str = ""


def _script(recs: Sequence[Recommendation]) -> str:
    parts = []
    for proc in dict.fromkeys(r.process for r in recs if r.flag):
        # the binary's full path: process names are cut to 15 characters (kube-controller)
        q = shlex.quote(f"^{proc}( |$)")
        parts.append(f"echo {_MARK}proc:{proc}; pid=$(pgrep -of {q}); "
                     f"[ -n \"$pid\" ] && tr '\\0' '\\n' < /proc/$pid/cmdline")
    for path in dict.fromkeys(r.path for r in recs if r.path and not r.contains):
        q = shlex.quote(path)
        parts.append(f"echo {_MARK}file:{path}; stat -c '%a %U:%G' -- {q} 2>/dev/null")
    for rec in recs:
        if rec.contains:
            key = f"{rec.path}#{rec.contains}"
            parts.append(f"echo {_MARK}grep:{key}; grep -qxF -- {shlex.quote(rec.contains)} "
                         f"{shlex.quote(rec.path)} 2>/dev/null && echo yes || echo no")
    return "; ".join(parts) + "; true"


def parse_answers(out: str) -> tuple[dict[str, dict[str, str] | None], dict[str, tuple[int, str] | None]]:
    """The script's output as ({process: {flag: value} or None}, {path: (mode, owner) or None})."""
    procs: dict[str, dict[str, str] | None] = {}
    files: dict[str, tuple[int, str] | None] = {}
    kind = name = None
    lines: list[str] = []

    def flush() -> None:
        if kind == "proc":
            if not lines:
                procs[name] = None
            else:
                flags = {}
                for arg in lines[1:]:
                    if arg.startswith("--"):
                        key, _, value = arg[2:].partition("=")
                        flags[key] = value if _ else "true"
                procs[name] = flags
        elif kind == "grep":
            files[name] = (0, lines[0].strip()) if lines else None
        elif kind == "file":
            if lines and " " in lines[0]:
                mode, owner = lines[0].split(" ", 1)
                files[name] = (int(mode, 8), owner)
            else:
                files[name] = None

    for line in out.splitlines():
        if line.startswith(_MARK):
            flush()
            kind, _, name = line[len(_MARK):].partition(":")
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return procs, files


def judge(rec: Recommendation, procs: dict, files: dict) -> tuple[bool, str]:
    """Whether one recommendation holds, and what was seen."""
    if rec.flag:
        flags = procs.get(rec.process)
        if flags is None:
            return False, f"{rec.process} is not running"
        value = flags.get(rec.flag)
        ok = rec.judge(value) if rec.judge else value == str(rec.want)
        return ok, f"--{rec.flag}={value}" if value is not None else f"--{rec.flag} not set"
    if rec.contains:
        found = (files.get(f"{rec.path}#{rec.contains}") or (0, "no"))[1] == "yes"
        return found, f"{rec.path}: {rec.contains}" if found else f"{rec.path} lacks {rec.contains!r}"
    seen = files.get(rec.path)
    if seen is None:
        return False, f"{rec.path} is missing"
    mode, owner = seen
    ok = (mode & ~rec.want) == 0 and owner == rec.owner
    return ok, f"{mode:o} {owner}"


def check_host(h: Any, recs: Iterable[Recommendation]) -> list[tuple[Recommendation, bool, str]]:
    """Read a host once and judge every recommendation on it."""
    recs = list(recs)
    procs, files = parse_answers(h.run(_script(recs)).stdout)
    return [(rec, *judge(rec, procs, files)) for rec in recs]


def check_hosts(fleet: Any, recs: Iterable[Recommendation], hosts: Any, skip: str,
                title: str = "read CIS recommendations") -> dict[str, list[tuple[Recommendation, bool, str]]]:
    """Read every selected host once, in parallel (one step), and judge ``recs`` on each."""
    recs = list(recs)
    results: dict[str, list[tuple[Recommendation, bool, str]]] = {}

    def read(h: Any) -> Change:
        results[h.name] = check_host(h, recs)
        return Change(False, "read")

    fleet.step(title, read, hosts=hosts, skip=skip)
    return results


def is_set(value: str | None) -> bool:
    """A judge: the flag is given a value."""
    return bool(value)


def verdict(title: str, results: dict[str, list[tuple[Recommendation, bool, str]]]) -> Verdict:
    """One row per host and recommendation; a problem per failure that is not a stated deviation."""
    rows, problems = [], []
    for host, checks in results.items():
        for rec, ok, seen in checks:
            state = "pass" if ok else ("deviation" if rec.deviation else "FAIL")
            rows.append([host, rec.ref, rec.title, state, seen if ok or not rec.deviation else rec.deviation])
            if not ok and not rec.deviation:
                problems.append(f"{host}: CIS {rec.ref} {rec.title}: saw {seen}")
    return Verdict(title, ["host", "CIS", "recommendation", "result", "seen"], rows, problems)

"""The kernel: sysctl parameters (now and at boot) and kernel features (built in or a module)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from helpers.ensure.files import ensure_file
from helpers.errors import HostError
from helpers.remote.connection import HostConn
from helpers.remote.values import Change, _joined

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

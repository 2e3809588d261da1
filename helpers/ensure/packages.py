"""Debian packages: install the missing ones, through the inventory's apt proxy when set."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from helpers.ensure.files import ensure_file
from helpers.errors import HostError
from helpers.remote.connection import HostConn
from helpers.remote.values import Change


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


def installed_packages(h: HostConn, names: Iterable[str]) -> dict[str, str]:
    """Which of these Debian packages are installed, with their versions (one dpkg-query)."""
    names = list(names)
    if not names:
        return {}
    fmt = shlex.quote("${Package}\t${Version}\t${db:Status-Abbrev}\n")
    out = h.run(f"dpkg-query -W -f={fmt} -- {' '.join(map(shlex.quote, names))} 2>/dev/null; true").stdout
    installed = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].startswith("ii"):
            installed[parts[0]] = parts[1]
    return installed


def _missing_packages(h: HostConn, wanted: list[str]) -> list[str]:
    if not wanted:
        return []
    installed = installed_packages(h, [p.split("=", 1)[0] for p in wanted])
    missing = []
    for spec in wanted:
        name, _, version = spec.partition("=")
        bare = name.split(":", 1)[0]
        if bare not in installed or (version and installed[bare] != version):
            missing.append(spec)
    return missing

"""Install steps: etcd's binaries, and its user, directories, certificates and unit on each host.

Steps :func:`ensure_etcd_binaries` (members get etcd and etcdutl, members and masters
etcdctl) and :func:`ensure_etcd_config` (members get everything, other masters only the
CA and the health-check client pair etcdctl uses).
"""

from __future__ import annotations

import shlex
from typing import Any

from helpers.errors import HostError
from helpers.etcd.certs import pki_dir
from helpers.etcd.config import (
    BIN_DIR,
    CLIENT_BINARIES,
    CONF_DIR,
    DATA_DIR,
    HEALTHCHECK,
    PKI_DIR,
    SERVER_BINARIES,
    UNIT_PATH,
    USER,
    client_hosts,
    member_config,
    members,
)
from helpers.report import Report


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
    from helpers.ensure import ensure_binary
    from helpers.remote import Change

    inv = fleet.inventory
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
    from helpers.ensure import ensure_directory, ensure_file, ensure_template
    from helpers.remote import Change

    inv = fleet.inventory
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
            # CIS 1.1.7/1.1.8: the unit (our static-pod manifest for etcd) 600 root:root
            changes.append(ensure_template(h, UNIT_PATH, "etcd/etcd.service.j2", cfg.context(), mode=0o600))
        merged = Change.merge(*changes)
        if not merged.changed:
            what = "user, directories, certificates and unit" if is_member else "client certificate"
            return Change(False, f"{what} up to date")
        return merged

    return fleet.step("configure etcd", configure, hosts=[h.name for h in client_hosts(inv)],
                      skip="neither an etcd member nor a master")

"""The SSH host key each host presents, and the known_hosts entry that vouches for it."""

from __future__ import annotations

import hashlib
from typing import Any

from helpers.tables import Table


def check_host_keys(fleet: Any) -> Table:
    """Return, per host, the SSH host key it presented and whether known_hosts lists exactly it.

    The Fleet already refuses a key that known_hosts does not list; this shows the
    evidence: key type, SHA256 fingerprint (as ``ssh-keygen -lf`` prints it) and the
    known_hosts entry it matched (by address, or by name or FQDN).
    """
    import base64

    import paramiko

    known = paramiko.HostKeys(str(fleet.known_hosts))
    rows = []
    for h in fleet.hosts():
        key = h.connect().client.get_transport().get_remote_server_key()
        fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
        match = ""
        for name in (h.address, h.name, h.host.fqdn):
            lookup = name if h.port == 22 else f"[{name}]:{h.port}"
            entry = known.lookup(lookup)
            if entry is not None and entry.get(key.get_name()) == key:
                match = lookup
                break
        rows.append([h.name, key.get_name(), fingerprint, match or "NOT LISTED"])
    return Table(["host", "key type", "fingerprint", "known_hosts entry"], rows,
                 title=f"SSH host keys, verified against {fleet.known_hosts}")

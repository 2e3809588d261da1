"""Names and numbers the whole series agrees on, defined once."""

from __future__ import annotations

ROLES = ("lb", "etcd", "master", "worker")
"""The roles a host can have in the inventory."""

API_PORT = 6443
"""The API server's port: on every master, and on the VIP where HAProxy listens for it."""

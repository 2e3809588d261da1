"""Where things live on the operator's machine: repository, state, caches.

Nothing secret lives in the repository: state (keys, kubeconfigs, PKI) goes to the
state directory, large reusable downloads and builds to the cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """Root of per-cluster and per-lab state (PKI, kubeconfigs, lab keys); never in git."""
    return Path(os.environ.get("KJ_STATE_DIR", REPO / ".state")).expanduser().resolve()


def cache_dir() -> Path:
    """Root of caches reused across clones and runs (base image, Go caches, builds, downloads)."""
    return Path(os.environ.get("KJ_CACHE_DIR", "/var/cache/kubernetes-journey")).expanduser()


def cluster_dir(cluster_name: str) -> Path:
    """Directory holding one cluster's generated state (PKI, configs, kubeconfigs)."""
    override = os.environ.get("KJ_CLUSTER_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return state_dir() / "clusters" / cluster_name


def default_inventory() -> Path:
    """The inventory used when none is given: $KJ_INVENTORY or the reference lab topology."""
    return Path(os.environ.get("KJ_INVENTORY", REPO / "inventories" / "lab.yaml")).expanduser()


def mirror_dir() -> Path:
    """Root of the offline release mirror (upstream URL layout, host name first)."""
    return Path(os.environ.get("KJ_MIRROR_DIR", cache_dir() / "mirror")).expanduser()

"""Volumes that provision themselves (notebook 08): the local-path provisioner and what it gives.

06 made a PersistentVolume by hand and bound a claim to it. A **provisioner** does that
on demand: when a claim names a StorageClass (or none, and a default exists), the
provisioner of that class creates a volume and a PersistentVolume for it. The
local-path provisioner makes each volume a directory on one node
(``/opt/local-path-provisioner/pvc-…``) and gives the PV a node affinity for that node, so
every pod using the claim is scheduled there. Its StorageClass binds
``WaitForFirstConsumer``: the directory is made only once a pod using the claim has been
scheduled, on that pod's node, instead of on a node chosen before the scheduler had a say.

- :mod:`~helpers.storage.install`: the release manifest (with 08's three changes), the
  default StorageClass;
- :mod:`~helpers.storage.volumes`: the claim and pod that stay, the StatefulSet, reading what
  a claim is bound to;
- :mod:`~helpers.storage.drills`: the demonstrations (first consumer, reclaim, a pod
  replaced, a StatefulSet restarted);
- :mod:`~helpers.storage.figure`: the volumes drawn under the nodes that hold them.
"""

from helpers.storage.drills import first_consumer, replace_pod, restart_statefulset
from helpers.storage.figure import live_volumes, plot_volumes
from helpers.storage.install import (
    CLASS,
    NAMESPACE,
    departures,
    ensure_local_path,
    manifest_documents,
    upstream_documents,
    verify_default_class,
)
from helpers.storage.volumes import (
    CLAIM,
    DEMO_NS,
    STS,
    WRITER,
    claim_document,
    ensure_data,
    ensure_statefulset,
    pod_document,
    read_file,
    statefulset_document,
    volume_of,
)

__all__ = [
    "CLAIM", "CLASS", "DEMO_NS", "NAMESPACE", "STS", "WRITER",
    "claim_document", "departures", "ensure_data", "ensure_local_path", "ensure_statefulset", "first_consumer",
    "live_volumes", "manifest_documents", "plot_volumes", "pod_document", "read_file", "replace_pod", "restart_statefulset", "statefulset_document",
    "upstream_documents", "verify_default_class", "volume_of",
]

"""The demo objects of notebook 06 and the small tools to create, wait for and check them.

Everything the demo creates lives in one namespace (:data:`NAMESPACE`), except the
PersistentVolume, which is cluster-scoped. The manifest builders are pure functions that
return plain dictionaries (unit-tested); :meth:`Demo.apply` sends them with server-side apply
(:func:`helpers.kube_apply.apply_objects`), so applying the same manifest twice changes
nothing. Waiting is done with list-then-watch and a deadline, never with fixed sleeps;
commands run inside pods through the exec API (:func:`helpers.kube.pod_exec`), as ``kubectl exec``.

The package, one job a module:

- :mod:`~helpers.objects.manifests`: the constants and the manifest builders;
- :mod:`~helpers.objects.demo`: :class:`Demo` (apply, scale, roll back, volume, delete)
  and :class:`Deletion`;
- :mod:`~helpers.objects.waits`: Demo's waits (the :class:`~helpers.objects.waits.DemoWaits` mixin);
- :mod:`~helpers.objects.looking`: Demo's exec and listings (the
  :class:`~helpers.objects.looking.DemoLooking` mixin) and :func:`http_from_here`;
- :mod:`~helpers.objects.record`: :class:`DemoRecord`, what the demonstrations measured;
- :mod:`~helpers.objects.checks`: pure checks on pods (:func:`is_ready`, :func:`spread_ok`, ...).
"""

from helpers.kube import parse_nslookup
from helpers.kube_wait import rolled_out
from helpers.objects.checks import is_ready, pod_state, pods_per_node, spread_ok
from helpers.objects.demo import Deletion, Demo
from helpers.objects.figures import (
    placement_figure,
    responses_figure,
    rollout_figure,
    scaling_figure,
)
from helpers.objects.looking import http_from_here
from helpers.objects.manifests import (
    APP,
    CONFIG,
    MANAGED,
    NAMESPACE,
    PV_NAME,
    PV_PATH,
    SECRET,
    SECURITY,
    SERVE_PORT,
    STORAGE_CLASS,
    config_pod,
    configmap_manifest,
    deployment_manifest,
    namespace_manifest,
    persistent_volume_claim_manifest,
    persistent_volume_manifest,
    pull_policy,
    pvc_pod,
    secret_manifest,
    serve_args,
    service_manifest,
    shell_pod,
    sidecar_pod,
)
from helpers.objects.manifests import (
    _image as _image,  # private: the golden renders use Demo's images
)
from helpers.objects.record import DemoRecord

__all__ = [
    "APP",
    "CONFIG",
    "MANAGED",
    "NAMESPACE",
    "PV_NAME",
    "PV_PATH",
    "SECRET",
    "SECURITY",
    "SERVE_PORT",
    "STORAGE_CLASS",
    "Deletion",
    "Demo",
    "DemoRecord",
    "config_pod",
    "configmap_manifest",
    "deployment_manifest",
    "http_from_here",
    "is_ready",
    "namespace_manifest",
    "parse_nslookup",
    "persistent_volume_claim_manifest",
    "persistent_volume_manifest",
    "pod_state",
    "placement_figure",
    "pods_per_node",
    "responses_figure",
    "rollout_figure",
    "scaling_figure",
    "pull_policy",
    "pvc_pod",
    "rolled_out",
    "secret_manifest",
    "serve_args",
    "service_manifest",
    "shell_pod",
    "sidecar_pod",
    "spread_ok",
]

"""09-applications, the second half: resource metrics (metrics-server, verified TLS) and autoscaling on them.

- :mod:`~helpers.metrics.install`: metrics-server from the mirror (:func:`ensure_metrics_server`, :func:`departures`);
- :mod:`~helpers.metrics.usage`: the metrics API read as ``kubectl top`` reads it (:func:`verify_metrics`);
- :mod:`~helpers.metrics.autoscale`: a HorizontalPodAutoscaler under bounded load (:func:`autoscale_drill`);
- :mod:`~helpers.metrics.figure`: replicas against load, CPU and memory per node and per pod.
"""

from helpers.metrics.autoscale import autoscale, autoscale_drill, hpa_document
from helpers.metrics.figure import plot_autoscale, plot_usage
from helpers.metrics.install import (
    apiservice_condition,
    departures,
    ensure_metrics_server,
    manifest_documents,
)
from helpers.metrics.usage import cpu_millicores, memory_mib, node_usage, pod_usage, verify_metrics

__all__ = [
    "apiservice_condition", "autoscale", "autoscale_drill", "cpu_millicores", "departures", "ensure_metrics_server", "hpa_document",
    "manifest_documents", "memory_mib", "node_usage", "plot_autoscale", "plot_usage", "pod_usage", "verify_metrics",
]

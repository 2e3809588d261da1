"""Pure checks on pods as the API returns them: readiness, a one-phrase state, the spread over nodes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def is_ready(pod) -> bool:
    """Whether the pod's Ready condition is True."""
    from helpers.kube_wait import pod_ready  # noqa: PLC0415

    return pod_ready(pod)


def pod_state(pod) -> str:
    """One phrase for a pod's state: ``Ready on node``, or its phase and waiting reasons."""
    node = pod.spec.node_name or "(unscheduled)"
    if pod.metadata.deletion_timestamp:
        return f"Terminating on {node}"
    if is_ready(pod):
        return f"Ready on {node}"
    reasons = [s.state.waiting.reason for s in pod.status.container_statuses or []
               if s.state and s.state.waiting and s.state.waiting.reason]
    return f"{pod.status.phase} on {node}" + (f" ({', '.join(reasons)})" if reasons else "")


def pods_per_node(pods: Iterable, nodes: Iterable[str] = ()) -> dict[str, int]:
    """Count pods by node; nodes in ``nodes`` appear even with zero pods."""
    counts = Counter({n: 0 for n in nodes})
    counts.update(p.spec.node_name or "(unscheduled)" for p in pods)
    return dict(sorted(counts.items()))


def spread_ok(counts: dict[str, int], max_skew: int = 1) -> bool:
    """Whether the largest and smallest per-node counts differ by at most ``max_skew``."""
    return bool(counts) and max(counts.values()) - min(counts.values()) <= max_skew

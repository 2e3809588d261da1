"""Asking a Redis pod directly: ``redis-cli`` through the exec API (the password from the pod's own environment)."""

from __future__ import annotations

from helpers.guestbook.objects import NAMESPACE
from helpers.kube import api_client


def redis_cli(inv, pod: str, *args: str) -> str:
    """``redis-cli args`` in a Redis pod (the password comes from the container's ``REDISCLI_AUTH``)."""
    from helpers.errors import StepFailed  # noqa: PLC0415
    from helpers.kube import pod_exec  # noqa: PLC0415

    code, out = pod_exec(api_client(inv), NAMESPACE, pod, ["redis-cli", "--no-auth-warning", *args], timeout=30)
    if code != 0:
        raise StepFailed(f"failed to run redis-cli {' '.join(args)} in {NAMESPACE}/{pod}: exit {code}: {out.strip()[:200]}")
    return out.strip()


def replication(inv, pod: str) -> dict[str, str]:
    """``INFO replication`` of a Redis pod as a mapping (``role``, ``connected_slaves``, ``master_link_status``...)."""
    return dict(line.split(":", 1) for line in redis_cli(inv, pod, "INFO", "replication").splitlines()
                if ":" in line and not line.startswith("#"))

"""The cluster-admin Kubernetes API client, and commands run inside pods through the exec API.

One home for what every chapter that talks to the API server needs:

- :func:`admin_kubeconfig` / :func:`api_client`: the admin kubeconfig notebook 04 writes
  (it points at the VIP) and a Python client (``ApiClient``) authenticated by it;
- :func:`pod_exec`: run a command in a pod as ``kubectl exec`` does, with the exit code
  read from the exec protocol's status channel (:func:`exec_status`, :func:`exec_failure`);
- :func:`parse_nslookup`: the addresses in busybox ``nslookup`` output, for DNS checks
  that exec ``nslookup`` in a pod.

A fresh client is built on every :func:`api_client` call (no cache): each keeps its own
keep-alive connections, so a helper called after a VIP failover or an API server restart
never reuses a connection to where the API was before.
"""

from __future__ import annotations

import time
from pathlib import Path

from helpers.errors import ConfigError

#: what :func:`pod_exec` returns as the exit code when the command ran past its deadline
EXEC_TIMEOUT = 124


def admin_kubeconfig(inv) -> Path:
    """Path of the cluster-admin kubeconfig notebook 04 wrote (points at the VIP, 0600)."""
    return Path(inv.cluster_dir) / "kubeconfigs" / "admin.kubeconfig"


def super_admin_kubeconfig(inv) -> Path:
    """Path of the break-glass ``system:masters`` kubeconfig (04 uses it once, to bind admin; 0600)."""
    return Path(inv.cluster_dir) / "kubeconfigs" / "super-admin.kubeconfig"


def api_client(inv, *, super_admin: bool = False):
    """Return a Kubernetes API client (``ApiClient``) authenticated as the cluster admin.

    ``admin`` is cluster-admin through a ClusterRoleBinding (revocable); ``super_admin=True``
    uses the ``system:masters`` kubeconfig, which RBAC cannot restrict: only for what admin
    cannot do before its binding exists.

    Raises:
        ConfigError: the kubeconfig is missing (run 04-masters first).
    """
    from kubernetes import config  # noqa: PLC0415 - the client library is imported on first use

    path = super_admin_kubeconfig(inv) if super_admin else admin_kubeconfig(inv)
    if not path.exists():
        raise ConfigError(f"failed to load the {path.stem} kubeconfig {path}: file not found (run 04-masters)")
    return config.new_client_from_config(config_file=str(path))


def pod_exec(api_or_core, namespace: str, pod: str, command: list[str], container: str | None = None,
             timeout: float = 60.0) -> tuple[int, str]:
    """Run ``command`` in ``pod`` through the exec API (as ``kubectl exec``); return ``(exit code, output)``.

    ``command`` is exec'd as given (no shell is added): wrap it in ``["sh", "-c", ...]`` for
    pipes or redirections, and the code is then the shell's, i.e. that of the script's last
    command. The exit code comes from the exec protocol's status channel: 0 on success, the
    command's own code otherwise, 126 (with the runtime's message appended to the output)
    when it could not even start, -1 when the stream ended without a status, and
    :data:`EXEC_TIMEOUT` (with a note in the output) when it still ran after ``timeout``
    seconds. Output is stdout and stderr in the order they arrived, unstripped.

    Args:
        api_or_core: an ``ApiClient`` (see :func:`api_client`) or a ``CoreV1Api``.
        namespace: the pod's namespace.
        pod: the pod to run in.
        command: the program and its arguments (exec'd as is, no shell).
        container: the container, for pods of several (default: the only one).
        timeout: seconds to wait for the command to end.
    """
    from kubernetes import client  # noqa: PLC0415
    from kubernetes.stream import stream  # noqa: PLC0415
    from kubernetes.stream.ws_client import ERROR_CHANNEL  # noqa: PLC0415

    core = api_or_core if isinstance(api_or_core, client.CoreV1Api) else client.CoreV1Api(api_or_core)
    kwargs = {"container": container} if container else {}
    resp = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=command,
                  stderr=True, stdout=True, stdin=False, tty=False, _preload_content=False, **kwargs)
    out = []
    deadline = time.monotonic() + timeout
    while resp.is_open() and time.monotonic() < deadline:
        resp.update(timeout=1)
        out.append(resp.read_stdout() or "")
        out.append(resp.read_stderr() or "")
    if resp.is_open():
        resp.close()
        return EXEC_TIMEOUT, "".join(out) + f"\n(timed out after {timeout:.0f}s)"
    status = resp.read_channel(ERROR_CHANNEL)
    resp.close()
    return exec_status(status), "".join(out) + exec_failure(status)


def exec_status(status: str) -> int:
    """Exit code from the exec protocol's status message (channel 3).

    ``Success`` is 0; ``NonZeroExitCode`` carries the code in its ``ExitCode`` cause; any
    other failure (the command could not start) counts as 126, as in a shell. An empty
    status (the stream ended without one) is -1.
    """
    import yaml  # noqa: PLC0415

    if not status.strip():
        return -1
    msg = yaml.safe_load(status) or {}
    if msg.get("status") == "Success":
        return 0
    for cause in (msg.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
            return int(cause["message"])
    return 126


def exec_failure(status: str) -> str:
    """The runtime's message when the exec itself failed (not a plain non-zero exit), else ``""``."""
    import yaml  # noqa: PLC0415

    if not status.strip() or exec_status(status) not in (126,):
        return ""
    return "\n" + str((yaml.safe_load(status) or {}).get("message", status)).strip()


def parse_nslookup(output: str) -> list[str]:
    """Addresses from busybox ``nslookup`` output (the ``Address`` lines after ``Name:``), sorted."""
    found, after_name = [], False
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("Name:"):
            after_name = True
        elif after_name and line.startswith("Address"):
            found.append(line.split(":", 1)[1].strip().split()[0])
    return sorted(set(found))


def load_balancer_address(svc):
    """The address a LoadBalancer Service's status shows (an ``IPv4Address``), or None while it is pending."""
    from ipaddress import IPv4Address  # noqa: PLC0415

    ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
    return IPv4Address(ingress[0].ip) if ingress and ingress[0].ip else None

"""Kubeconfig files: who a client is (its certificate) and which API server it talks to.

A kubeconfig bundles three things: the *cluster* (API server URL and the CA that signs
its serving certificate), the *user* (a client certificate and key whose CN is the user
name and whose O fields are its groups) and a *context* joining the two. The files
written here embed every certificate, so one file is all a client needs; they hold a
private key, so they are written 0600 and compared before writing (idempotent).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import yaml

from helpers.errors import ConfigError
from helpers.localfiles import write_atomic


@dataclass(frozen=True)
class KubeconfigSpec:
    """What one kubeconfig says.

    Attributes:
        cluster: cluster name used for the cluster, user and context entries.
        server: API server URL, e.g. ``https://192.168.4.20:6443``.
        user: user name entry (usually the certificate CN).
        ca_pem: PEM of the CA that signed the API server's serving certificate.
        cert_pem: PEM of the client certificate.
        key_pem: PEM of the client private key.
    """

    cluster: str
    server: str
    user: str
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_kubeconfig(spec: KubeconfigSpec) -> str:
    """Return the kubeconfig YAML text for ``spec`` (deterministic: same input, same bytes)."""
    context = f"{spec.user}@{spec.cluster}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": spec.cluster,
                "cluster": {
                    "server": spec.server,
                    "certificate-authority-data": _b64(spec.ca_pem),
                },
            }
        ],
        "users": [
            {
                "name": spec.user,
                "user": {
                    "client-certificate-data": _b64(spec.cert_pem),
                    "client-key-data": _b64(spec.key_pem),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": spec.cluster, "user": spec.user}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def parse_kubeconfig(text: str | bytes) -> dict:
    """Return the current context's server, user and decoded PEMs from kubeconfig text.

    Raises:
        ConfigError: when the text is not a kubeconfig with a resolvable current context.
    """
    try:
        doc = yaml.safe_load(text)
        ctx_name = doc["current-context"]
        ctx = next(c["context"] for c in doc["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in doc["users"] if u["name"] == ctx["user"])
        return {
            "context": ctx_name,
            "cluster": ctx["cluster"],
            "user": ctx["user"],
            "server": cluster["server"],
            "ca_pem": base64.b64decode(cluster["certificate-authority-data"]),
            "cert_pem": base64.b64decode(user.get("client-certificate-data", "")),
            "key_pem": base64.b64decode(user.get("client-key-data", "")),
        }
    except (yaml.YAMLError, KeyError, StopIteration, TypeError) as err:
        raise ConfigError(f"failed to read kubeconfig: not a complete kubeconfig ({err!r})") from err


def write_private_file(path: Path, content: str | bytes, mode: int = 0o600) -> bool:
    """Write ``content`` to a local ``path`` with ``mode`` only when it differs.

    :func:`helpers.localfiles.write_atomic` with ``private=True`` (a missing parent
    directory is created 0700): a temporary file with the final mode, renamed into place,
    so a reader never sees half a file. An existing file with the right content but a
    wrong mode only gets its mode fixed.

    Returns:
        True when the content or the mode changed.
    """
    return write_atomic(path, content, mode, private=True)


def ensure_kubeconfig(path: Path, spec: KubeconfigSpec) -> bool:
    """Write the kubeconfig for ``spec`` at ``path`` (0600) when it differs; return True when changed."""
    return write_private_file(path, render_kubeconfig(spec), 0o600)

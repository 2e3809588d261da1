"""Kubernetes objects, applied idempotently with the Kubernetes Python client.

Objects are sent with *server-side apply*: the API server merges the fields we own
into the live object and stores a new version only when something differs. Comparing
the object's ``resourceVersion`` before and after tells whether the apply changed
anything, so a re-run reports ``ok`` and writes nothing.

The admin client the objects are sent with comes from :mod:`helpers.kube`
(:func:`helpers.kube.api_client`, re-exported here).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from helpers.ensure import render_template
from helpers.kube import admin_kubeconfig, api_client  # noqa: F401 - re-exported (tests/lab import them from here)
from helpers.report import Report, Result

FIELD_MANAGER = "kubernetes-journey"


def load_documents(template: str, context: dict) -> list[dict]:
    """Render a multi-document YAML template and return its non-empty documents."""
    return [doc for doc in yaml.safe_load_all(render_template(template, context)) if doc]


def object_key(doc: dict) -> str:
    """A readable key for one object: ``Kind/namespace/name`` or ``Kind/name``."""
    meta = doc["metadata"]
    ns = meta.get("namespace")
    return f"{doc['kind']}/{ns}/{meta['name']}" if ns else f"{doc['kind']}/{meta['name']}"


def apply_objects(api: client.ApiClient, docs: Iterable[dict], title: str) -> Report:
    """Server-side apply each object in order; one report row per object.

    Args:
        api: an API client (see :func:`helpers.kube.api_client`).
        docs: Kubernetes objects as dictionaries (apiVersion, kind, metadata, ...).
        title: the step title the report shows.

    Returns:
        A report keyed by ``Kind/[namespace/]name``: ``changed`` (created or updated)
        or ``ok`` (the live object already matched). Failures are raised at the end.
    """
    dyn = DynamicClient(api)
    results: dict[str, Result] = {}
    started = time.monotonic()
    for doc in docs:
        key = object_key(doc)
        t0 = time.monotonic()
        try:
            resource = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            name = doc["metadata"]["name"]
            namespace = doc["metadata"].get("namespace") if resource.namespaced else None
            try:
                before = resource.get(name=name, namespace=namespace).metadata.resourceVersion
            except NotFoundError:
                before = None
            after = dyn.server_side_apply(
                resource, body=doc, name=name, namespace=namespace,
                field_manager=FIELD_MANAGER, force_conflicts=True,
            ).metadata.resourceVersion
        except Exception as err:  # noqa: BLE001 - every object is tried, failures reported together
            results[key] = Result(key, "failed", f"failed to apply {key}: {err}",
                                  time.monotonic() - t0, error=err)
            continue
        if before is None:
            status, detail = "changed", "created"
        elif before != after:
            status, detail = "changed", "updated"
        else:
            status, detail = "ok", "unchanged"
        results[key] = Result(key, status, detail, time.monotonic() - t0)
    return Report(title, results, time.monotonic() - started).raise_for_failures()


def mirror_documents(inv, artifact: str) -> list[dict]:
    """The objects of a release manifest in the mirror (``metallb-manifest``, ...), fetched sha256-verified."""
    from helpers import artifacts  # noqa: PLC0415

    return [doc for doc in yaml.safe_load_all(artifacts.fetch(inv, artifact).path.read_text()) if doc]


def apply_and_roll_out(api: client.ApiClient, docs: Iterable[dict], title: str, namespace: str, deployment: str,
                       timeout: float = 180.0) -> Report:
    """:func:`apply_objects`, then wait for Deployment ``namespace/deployment`` to roll out.

    The report gets one more row, ``rollout``, with the seconds waited.
    """
    from helpers.kube_wait import wait_rolled_out  # noqa: PLC0415

    started = time.monotonic()
    report = apply_objects(api, docs, title)
    waited = wait_rolled_out(client.AppsV1Api(api), namespace, deployment, timeout=timeout)
    results = {**report.results, "rollout": Result("rollout", "ok", f"rolled out (waited {waited:.1f} s)", waited)}
    return Report(title, results, time.monotonic() - started)

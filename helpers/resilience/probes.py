"""What a user of the cluster sees, asked from the operator's machine all through 11.

Three :class:`~helpers.prober.Prober` threads share one clock (:class:`ProbeSet`):

- **reads**: ``GET /api/v1/namespaces/default`` through the VIP, as admin, tried up to three
  times (2 s each) on new connections within the 5 s;
- **writes**: ``POST`` a ConfigMap into :data:`NAMESPACE` through the VIP. A write is
  *acknowledged* when the API says ``201 Created``: it was committed by a quorum of etcd,
  so it must survive every drill. A write is tried again like a read; on a retry, 409
  AlreadyExists means an earlier try was committed (the name is new, this client's own). The ConfigMaps are kept until the drill's check has
  listed them (a write deleted at once could not be shown to be durable), then deleted
  together, label by label (:meth:`ProbeSet.check_writes`);
- **app**: an application's own request (the notebook passes 09's guestbook read).

Each request is a new TCP connection with its own timeout (:data:`TIMEOUT`), as a fresh
client would make: HAProxy balances connections, so a long-lived one would test one API
server only. Load is bounded: :data:`RATES` per second, for at most ``limit`` seconds.
"""

from __future__ import annotations

import http.client
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from helpers.prober import Prober, Sample, summarize, to_json

NAMESPACE = "kj-resilience"
#: probes per second, per kind
RATES = {"reads": 5, "writes": 2, "app": 5}
#: seconds each request may take before it counts as failed (kubectl, by default, would wait far longer)
TIMEOUT = 5.0
#: the API probes are a client that tries again on a new connection, as client-go does for a GET
#: whose connection was reset; a create is safe to retry because its name is new (see _write)
API_ATTEMPTS = 3
API_ATTEMPT_TIMEOUT = 2.0
LABEL = "kj-resilience/drill"
KINDS = ("reads", "writes", "app")


def http_probe(address, path: str, connect_timeout: float = 0.15, read_timeout: float = 2.0,
               port: int = 80) -> Callable[[], str]:
    """One ``GET path`` on ``address``:``port`` that must answer 200; returns the ``served_by`` it names (or ``200``).

    The connection gets ``connect_timeout`` (on a LAN a live endpoint accepts in well under a
    millisecond; one that has not in 150 ms is not there), the answer ``read_timeout``.
    """
    def probe() -> str:
        conn = http.client.HTTPConnection(str(address), port, timeout=connect_timeout)
        try:
            conn.connect()
            conn.sock.settimeout(read_timeout)
            conn.request("GET", path, headers={"User-Agent": "kubernetes-journey-resilience", "Connection": "close"})
            resp = conn.getresponse()
            raw = resp.read(1 << 20)
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"GET http://{address}{path}: {resp.status} {raw[:120].decode(errors='replace')}")
        try:
            return str(json.loads(raw).get("served_by", "200"))
        except (ValueError, AttributeError):
            return "200"
    return probe


def retried(call: Callable[..., str], attempts: int = 12, budget: float = TIMEOUT - 0.5,
            numbered: bool = False) -> Callable[[], str]:
    """``call`` as a client that retries a failed idempotent request on a new connection.

    Kubernetes removes a lost node's pods from a Service's endpoints only once the node is
    declared lost (20 s here, see 04's controller manager); until then new connections that
    kube-proxy sends to them are never accepted. A client that gives a connection 150 ms
    (:func:`http_probe`) and tries again reaches a live pod: kube-proxy picks an endpoint per
    connection. At most ``attempts`` tries, none started after ``budget`` seconds (``call`` gets
    the attempt's number when ``numbered``); the answer says on which attempt it came.
    """
    def probe() -> str:
        failed, started = [], time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                said = call(attempt) if numbered else call()
            except Exception as err:  # noqa: BLE001 - each failure is named in the last one's message
                failed.append(f"{type(err).__name__}: {err}"[:100])
                if time.monotonic() - started > budget:
                    break
                continue
            return said if attempt == 1 else f"{said} (attempt {attempt})"
        raise RuntimeError(f"{len(failed)} attempts failed: " + " | ".join(dict.fromkeys(failed)))
    return probe


def _admin(inv) -> tuple[str, tuple[str, str], str]:
    from helpers.k8s_pki import pki_dir  # noqa: PLC0415
    from helpers.pki import trust_file  # noqa: PLC0415

    kp = pki_dir(inv.cluster_dir)
    return str(trust_file(kp)), (str(kp / "admin.crt"), str(kp / "admin.key")), f"https://{inv.network.vip}:6443"


def _said(r: requests.Response) -> str:
    try:
        return str(r.json().get("message", r.text))[:160]
    except ValueError:
        return r.text[:160]


class ProbeSet:
    """Reads, writes and application probes on one timeline, with the writes' ledger.

    Args:
        inv: the inventory (the VIP and the admin credentials).
        app: a callable making one application request (returns a short text, raises on failure).
        limit: seconds after which every prober stops by itself.
    """

    def __init__(self, inv, app, limit: float = 1800.0, rates: dict[str, float] | None = None):
        self.inv = inv
        self.ca, self.cert, self.base = _admin(inv)
        self.rates = dict(RATES, **(rates or {}))
        self.phase = "warm-up"  # the label the next writes carry (a drill's name)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self.acknowledged: dict[str, list[str]] = {}  # phase -> names answered 201
        self.run_id = secrets.token_hex(3)  # write names are unique per run: w-<run>-<seq>
        self.started_at = ""  # UTC, when start() was called
        calls = {"reads": self._read, "writes": self._write, "app": app}
        # open loop: each probe starts on time even while earlier ones hang (up to their timeout)
        self.probers = {k: Prober(calls[k], interval=1 / self.rates[k], limit=limit,
                                  max_count=int(limit * self.rates[k]) + 1,
                                  concurrency=int(self.rates[k] * (TIMEOUT + 1)) + 1) for k in KINDS}
        self.marks: list[tuple[float, str]] = []

    # the probes ------------------------------------------------------------------------

    def _attempts(self, send) -> str:
        """Up to :data:`API_ATTEMPTS` tries of ``send(attempt)`` (:func:`retried`), each within :data:`TIMEOUT`."""
        return retried(send, API_ATTEMPTS, TIMEOUT - API_ATTEMPT_TIMEOUT, numbered=True)()

    def _read(self) -> str:
        def send(_attempt: int) -> str:
            r = requests.get(f"{self.base}/api/v1/namespaces/default", verify=self.ca, cert=self.cert,
                             timeout=API_ATTEMPT_TIMEOUT, headers={"Connection": "close"})
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code} {_said(r)}")
            return "200"
        return self._attempts(send)

    def _write(self) -> str:
        phase = self.phase
        with self._lock:
            name = f"w-{self.run_id}-{next(self._seq):06d}"
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {LABEL: phase}}, "data": {"phase": phase}}

        def send(attempt: int) -> str:
            r = requests.post(f"{self.base}/api/v1/namespaces/{NAMESPACE}/configmaps", json=body, verify=self.ca,
                              cert=self.cert, timeout=API_ATTEMPT_TIMEOUT, headers={"Connection": "close"})
            # the name is this client's own and new: on a retry, "already exists" means that an
            # earlier attempt was committed although its answer never came back
            if r.status_code == 201 or (r.status_code == 409 and attempt > 1):
                return f"{name} {r.status_code}"
            raise RuntimeError(f"{r.status_code} {_said(r)}")
        said = self._attempts(send)
        with self._lock:
            self.acknowledged.setdefault(phase, []).append(name)
        return said

    # the clock -------------------------------------------------------------------------

    def start(self) -> ProbeSet:
        """Make sure the namespace exists, then start the three probers together."""
        r = requests.post(f"{self.base}/api/v1/namespaces", verify=self.ca, cert=self.cert, timeout=10,
                          json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        if r.status_code not in (201, 409):
            raise RuntimeError(f"could not create namespace {NAMESPACE} through {self.base}: "
                               f"{r.status_code} {_said(r)}")
        import datetime as dt  # noqa: PLC0415

        self.started_at = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        for p in self.probers.values():
            p.start()
        t0 = self.probers["reads"].started
        for p in self.probers.values():
            p.started = t0  # one clock: every sample's t is seconds since this moment
        return self

    def stop(self) -> ProbeSet:
        """Stop every prober (after the request in flight)."""
        for p in self.probers.values():
            p._stop.set()
        for p in self.probers.values():
            p.stop()
        return self

    def now(self) -> float:
        """Seconds on the shared clock."""
        return self.probers["reads"].now()

    def mark(self, label: str) -> float:
        """Put a moment on the timeline; return its time."""
        t = self.now()
        self.marks.append((t, label))
        return t

    def samples(self, kind: str, since: float = 0.0, until: float | None = None) -> list[Sample]:
        """One kind's samples between two times."""
        return [s for s in list(self.probers[kind].samples) if s.t >= since and (until is None or s.t <= until)]

    def summary(self, since: float = 0.0, until: float | None = None) -> dict[str, dict[str, Any]]:
        """:func:`~helpers.prober.summarize` of each kind over a window."""
        return {k: summarize(self.samples(k), since, until) for k in KINDS}

    # the ledger ------------------------------------------------------------------------

    def check_writes(self, phase: str, delete: bool = True) -> dict[str, Any]:
        """Every acknowledged write of ``phase`` still readable? Then delete that phase's ConfigMaps.

        Returns:
            ``acknowledged`` (count), ``present`` (count), ``lost`` (names acknowledged but
            missing: must be empty), ``unacknowledged_present`` (written although the client
            gave up: a timeout is not a refusal).
        """
        with self._lock:
            acked = list(self.acknowledged.get(phase, []))
        url = f"{self.base}/api/v1/namespaces/{NAMESPACE}/configmaps"
        r = requests.get(url, params={"labelSelector": f"{LABEL}={phase}"}, verify=self.ca, cert=self.cert,
                         timeout=30)
        r.raise_for_status()
        present = {item["metadata"]["name"] for item in r.json()["items"]}
        lost = sorted(set(acked) - present)
        if delete and not lost:
            requests.delete(url, params={"labelSelector": f"{LABEL}={phase}"}, verify=self.ca, cert=self.cert,
                            timeout=30).raise_for_status()
        return {"acknowledged": len(acked), "present": len(present), "lost": lost,
                "unacknowledged_present": len(present - set(acked))}

    def cleanup(self) -> int:
        """Delete every probe ConfigMap left (the phases between drills); return how many there were."""
        url = f"{self.base}/api/v1/namespaces/{NAMESPACE}/configmaps"
        r = requests.get(url, params={"labelSelector": LABEL}, verify=self.ca, cert=self.cert, timeout=30)
        r.raise_for_status()
        n = len(r.json()["items"])
        if n:
            requests.delete(url, params={"labelSelector": LABEL}, verify=self.ca, cert=self.cert,
                            timeout=60).raise_for_status()
        return n

    def save(self, path: Path) -> Path:
        """Every sample and mark so far, as JSON (``{"reads": [[t, ok, detail, seconds], ...], ...}``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: to_json(p.samples) for k, p in self.probers.items()}
        data["marks"] = [[round(t, 3), label] for t, label in self.marks]
        data["rates"] = self.rates
        path.write_text(json.dumps(data) + "\n")
        return path

"""Certificate renewal on the built cluster, for real, with the API's availability measured throughout.

The cluster's leaf certificates were issued for a year. The test re-runs 03, 04, 05, 07 and
09 (whose web sites' and metrics-server's certificates live in the same cluster directory) with an inventory whose renewal window (``pki.renew_before: 400d``) covers every one of
them, and a longer validity for the new ones (``pki.leaf_validity: 730d``), so that run
renews every leaf: on the operator's disk, on the hosts, with the rolling restarts the
restart rule makes (etcd members, then API servers, one at a time, then the node units).
Meanwhile a prober asks the API, through the VIP with the admin certificate, ten times a
second. Afterwards: every leaf has a new serial and the new validity, every host holds the
operator's copies (the certificate inventory finds no stale one), and the API answered at
least 99 % of the probes. The new certificates stay valid for the runs that follow, which
reuse them.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from cryptography import x509

from helpers import pki
from helpers.certs import certificate_inventory
from helpers.control_plane import api_server_url
from helpers.inventory import load_inventory
from helpers.remote import Fleet
from helpers.runbook import run_notebooks

pytestmark = pytest.mark.lab


def _leaves(cluster_dir: Path) -> dict[str, tuple[int, object]]:
    found = {}
    for path in sorted((cluster_dir / "pki").rglob("*.crt")):
        cert = pki.load_cert(path)
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            found[str(path.relative_to(cluster_dir))] = (cert.serial_number, cert.not_valid_after_utc)
    return found


class Prober:
    """GET /api/v1/namespaces/default through the VIP as admin, every 0.1 s, until stopped."""

    def __init__(self, inv):
        kp = Path(inv.cluster_dir) / "pki" / "kubernetes"
        self.url = f"{api_server_url(inv)}/api/v1/namespaces/default"
        self.verify, self.cert = str(kp / "ca.crt"), (str(kp / "admin.crt"), str(kp / "admin.key"))
        self.ok = self.failed = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = requests.get(self.url, verify=self.verify, cert=self.cert, timeout=2).status_code
            except requests.RequestException as err:
                status = type(err).__name__
            if status == 200:
                self.ok += 1
            else:
                self.failed += 1
                self.failures.append(f"{time.strftime('%H:%M:%S')} {status}")
            self._stop.wait(0.1)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def availability(self) -> float:
        return self.ok / max(1, self.ok + self.failed)


def test_every_leaf_renews_on_a_rerun_and_the_api_stays_up(built_inventory, tmp_path, monkeypatch):
    inv = built_inventory
    cluster_dir = Path(inv.cluster_dir)
    doc = yaml.safe_load(Path(inv._path).read_text())
    doc["ssh"]["identity_file"] = str(inv.ssh.identity_file)
    doc["ssh"]["known_hosts"] = str(inv.ssh.known_hosts)
    doc["pki"] = {"leaf_validity": "730d", "renew_before": "400d"}
    renewing = tmp_path / "renewing.yaml"
    renewing.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv("KJ_CLUSTER_DIR", str(cluster_dir))
    assert load_inventory(renewing).cluster_dir == inv.cluster_dir

    before = _leaves(cluster_dir)
    assert before, "no leaf certificates in the cluster directory"
    started = time.monotonic()
    with Prober(inv) as prober:
        for notebook in ("03", "04", "05", "07", "09"):
            run_notebooks(renewing, only=notebook, out_dir=tmp_path / "runs")
    seconds = time.monotonic() - started

    after = _leaves(cluster_dir)
    unchanged = sorted(name for name in before if after[name][0] == before[name][0])
    assert not unchanged, f"not renewed: {unchanged}"
    short = sorted(name for name, (_, end) in after.items() if (end - before[name][1]).days < 300)
    assert not short, f"renewed without the new validity (730 d): {short}"
    with Fleet(inv) as fleet:
        table = certificate_inventory(load_inventory(renewing), fleet)
    assert table.ok, "; ".join(table.problems)
    # the router serves the renewed certificate, and the sites still verify with it
    from helpers import routing

    served = routing.verify_served_certificate(load_inventory(renewing))
    assert served.ok, "; ".join(served.problems)
    routed = routing.verify_routing(load_inventory(renewing))
    assert routed.ok, "; ".join(routed.problems)
    # metrics-server rolled onto its renewed certificate, and the API server still trusts it
    import base64  # noqa: PLC0415

    from kubernetes import client  # noqa: PLC0415

    from helpers import guestbook, metrics  # noqa: PLC0415
    from helpers.kube import api_client  # noqa: PLC0415
    from helpers.metrics import install as metrics_install  # noqa: PLC0415

    secret = client.CoreV1Api(api_client(inv)).read_namespaced_secret(metrics_install.SECRET, metrics_install.NAMESPACE)
    issued = (cluster_dir / "pki" / "kubernetes" / "metrics-server.crt").read_bytes()
    assert base64.b64decode(secret.data["tls.crt"]) == issued
    assert metrics.apiservice_condition(inv)[0] == "True"
    measured = metrics.verify_metrics(inv, guestbook.NAMESPACE)
    assert measured.ok, "; ".join(measured.problems)
    figure = {"probes": prober.ok + prober.failed, "failed": prober.failed,
              "availability": round(prober.availability, 4), "seconds": round(seconds, 1),
              "renewed": len(after), "failures": prober.failures[:20]}
    print("renewal:", json.dumps(figure))
    (cluster_dir / "pki" / "renewal.json").write_text(json.dumps(figure, indent=2) + "\n")
    assert prober.availability >= 0.99, f"the API answered {prober.availability:.2%} of probes: {figure}"

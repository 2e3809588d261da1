"""07's HTTP routing without a cluster: the objects, the certificate, and the client against a loopback server.

The client (:func:`helpers.routing.fetch`) is tested for real: a TLS server on loopback
serves the certificate :func:`helpers.routing.ensure_certificate` issued, and answers with
the name the client asked for, so SNI, the Host header, the chain and the name check are
all exercised; a certificate for another name must be refused.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509

from helpers import routing
from helpers.routing import checks, router, sites, tls
from helpers.topology import fixed_addresses

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def inv(lab_inventory):
    return lab_inventory


def _by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def test_the_router_gets_its_own_fixed_address_of_the_pool(inv):
    plan = fixed_addresses(inv)
    pool = inv.network.loadbalancer_pool
    assert len(set(plan.values())) == len(plan) == 5 and all(pool.first <= a <= pool.last for a in plan.values())
    assert routing.router_address(inv) == plan["router"] == IPv4Address("192.168.4.116")
    (svc,) = _by_kind(routing.router_documents(inv), "Service")
    assert svc["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] == "192.168.4.116"
    assert {p["port"]: p["targetPort"] for p in svc["spec"]["ports"]} == {80: "web", 443: "websecure"}


def test_traefik_runs_unprivileged_from_the_bundle(inv):
    (dep,) = _by_kind(routing.router_documents(inv), "Deployment")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "docker.io/library/traefik:v3.6.12"
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and sc["capabilities"] == {"drop": ["ALL"]}
    assert all(p["containerPort"] > 1024 for p in container["ports"])
    assert "--global.sendAnonymousUsage=false" in container["args"]
    for ns in _by_kind(routing.router_documents(inv), "Namespace"):
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_router_reads_secrets_only_in_the_namespaces_it_serves(inv):
    docs = routing.router_documents(inv)
    (cluster_role,) = _by_kind(docs, "ClusterRole")
    cluster_resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert "secrets" not in cluster_resources and "services" not in cluster_resources
    roles = _by_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == sorted([router.NAMESPACE, router.APPS_NS])
    assert all(any("secrets" in rule["resources"] for rule in r["rules"]) for r in roles)
    args = " ".join(routing.traefik_args())
    assert f"kubernetesIngress.namespaces={router.NAMESPACE},{router.APPS_NS}" in args
    assert f"kubernetesGateway.namespaces={router.NAMESPACE},{router.APPS_NS}" in args


def test_ingress_and_routes_route_the_same_names_by_host_and_by_path(inv):
    doors = routing.site_names(inv)
    assert doors == {"ingress": "ingress.apps.kube.demo", "gateway": "gateway.apps.kube.demo"}
    ing = routing.ingress_document(inv)
    hosts = {r["host"]: [(p["path"], p["backend"]["service"]["name"]) for p in r["http"]["paths"]]
             for r in ing["spec"]["rules"]}
    door = doors["ingress"]
    assert hosts == {f"blue.{door}": [("/", "blue")], f"green.{door}": [("/", "green")],
                     door: [("/blue", "blue"), ("/green", "green")]}
    assert set(ing["spec"]["tls"][0]["hosts"]) == set(hosts)
    routes = {r["metadata"]["name"]: r for r in routing.route_documents(inv)}
    assert set(routes) == {"blue", "green", "paths", "to-https"}
    gw = doors["gateway"]
    assert routes["blue"]["spec"]["hostnames"] == [f"blue.{gw}"]
    assert [m["matches"][0]["path"]["value"] for m in routes["paths"]["spec"]["rules"]] == ["/blue", "/green"]
    # only the redirect is on the plain-HTTP listener
    sections = {n: r["spec"]["parentRefs"][0]["sectionName"] for n, r in routes.items()}
    assert sections == {"blue": "https", "green": "https", "paths": "https", "to-https": "http"}
    listeners = {entry["name"]: entry for entry in routing.gateway_document()["spec"]["listeners"]}
    assert listeners["https"]["tls"]["certificateRefs"] == [{"kind": "Secret", "name": tls.SECRET}]
    assert {entry["port"] for entry in listeners.values()} == {router.WEB, router.WEBSECURE}


def test_the_certificate_names_both_doors_and_is_reused(inv):
    ca, leaf, changed = routing.ensure_certificate(inv)
    assert changed and ca.cert.subject != leaf.cert.subject
    names = set(leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName))
    assert names == {"ingress.apps.kube.demo", "*.ingress.apps.kube.demo", "gateway.apps.kube.demo",
                     "*.gateway.apps.kube.demo"}
    assert oct(leaf.key_path.stat().st_mode & 0o777) == "0o600"
    _, again, changed_again = routing.ensure_certificate(inv)
    assert not changed_again and again.cert == leaf.cert
    docs = tls.secret_documents(ca, leaf)
    assert [d["metadata"]["namespace"] for d in docs] == [router.APPS_NS, router.NAMESPACE]
    assert all(d["type"] == "kubernetes.io/tls" for d in docs)


@pytest.fixture
def site_server(inv):
    """A loopback HTTPS server presenting the sites' certificate; it answers with the Host it was asked for."""
    _, leaf, _ = routing.ensure_certificate(inv)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = f"{self.headers['Host']}{self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(leaf.cert_path, leaf.key_path)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_fetch_sends_the_name_and_verifies_the_chain(inv, site_server):
    ca = routing.trust_anchor(inv)
    answer = routing.fetch("127.0.0.1", "https", "blue.ingress.apps.kube.demo", "/x", ca, port=site_server)
    assert (answer.status, answer.body) == (200, "blue.ingress.apps.kube.demo/x")
    # a name the certificate does not carry is refused, as a browser would
    refused = routing.fetch("127.0.0.1", "https", "nosuch.kube.demo", "/", ca, port=site_server)
    assert refused.status is None and refused.detail.startswith(checks.UNTRUSTED)
    assert checks.judge(checks.Probe("-", "https", "nosuch.kube.demo", "/", checks.UNTRUSTED), refused)[0]
    # nothing listening: an answer that says so, not an exception
    closed = routing.fetch("127.0.0.1", "http", "blue.ingress.apps.kube.demo", "/", ca, port=1, timeout=1)
    assert closed.status is None and "ConnectionRefused" in closed.detail


def test_judging_answers():
    site = checks.Probe("Ingress", "https", "blue.x", "/", "blue")
    assert checks.judge(site, checks.Answer(200, "blue-5f7d-abcde"))[0]
    assert not checks.judge(site, checks.Answer(200, "green-5f7d-abcde"))[0]
    assert not checks.judge(site, checks.Answer(404, "404 page not found"))[0]
    redirect = checks.Probe("HTTPRoute", "http", "gw.x", "/blue", "301 https://gw.x/blue")
    assert checks.judge(redirect, checks.Answer(301, "", "https://gw.x/blue"))[0]
    assert not checks.judge(redirect, checks.Answer(301, "", "https://gw.x:8443/blue"))[0]


def test_every_expected_request_names_a_door_of_this_cluster(inv):
    probes = routing.expected(inv)
    assert len(probes) == 13
    assert {p.via for p in probes} == {"Ingress", "HTTPRoute", "-"}
    assert all(p.host.endswith("kube.demo") for p in probes)


def test_sites_are_applied_backends_first(inv):
    kinds = [d["kind"] for d in sites.site_documents(inv)]
    assert kinds.index("Ingress") > kinds.index("Service") and kinds[-1] == "HTTPRoute"


def test_the_routing_picture_draws_every_request_and_pod(inv):
    routes = [("blue.ingress.apps.kube.demo/", "Ingress kj-web", "blue"),
              ("gateway.apps.kube.demo/green", "HTTPRoute paths", "green")]
    endpoints = {"blue": [("blue-1", "kube-node01")], "green": [("green-1", "kube-node02"), ("green-2", "kube-node01")]}
    fig = routing.plot_routes(inv, routes, endpoints)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"blue.ingress.apps.kube.demo/", "HTTPRoute paths", "green-2 @ kube-node01"} <= texts


def test_the_served_certificate_is_read_as_presented(inv, site_server):
    _, leaf, _ = routing.ensure_certificate(inv)
    cert = routing.served_certificate("127.0.0.1", "anything.example", port=site_server)
    assert cert.serial_number == leaf.cert.serial_number

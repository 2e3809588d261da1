"""07's routing checked from the operator's machine, as a browser would reach the sites.

Every request goes to the router's LoadBalancer address with the site's name in the
``Host`` header and, over HTTPS, in the TLS server name (SNI), so no DNS record is needed;
the server's certificate is verified against :func:`~helpers.routing.tls.trust_anchor` and
the name. What each request must get is in :func:`expected`: which site answers (its pod
names start with the Deployment's), a 404, a 301 to the HTTPS address, or a certificate
this machine does not trust (a name the series issued no certificate for gets Traefik's
self-signed default).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from helpers.routing.router import (
    APPS_NS,
    GATEWAY_CLASS,
    GATEWAY_GROUP,
    NAME,
    NAMESPACE,
    router_address,
)
from helpers.routing.sites import GATEWAY, INGRESS, SITES
from helpers.routing.tls import site_names, trust_anchor
from helpers.verdict import Verdict
from helpers.waiting import settle

ANSWER_WITHIN = 30.0  # seconds the router gets to pick a change up (it watches the API)
UNTRUSTED = "untrusted certificate"


@dataclass(frozen=True)
class Probe:
    """One request from this machine and what it must get."""

    via: str  # "Ingress" or "HTTPRoute"
    scheme: str
    host: str
    path: str
    expect: str  # a site's name, "404", "301 https://...", or UNTRUSTED


@dataclass(frozen=True)
class Answer:
    """What one request got: the HTTP status and the start of the body, or why there was none."""

    status: int | None  # None: no HTTP answer (see detail)
    body: str
    location: str = ""
    detail: str = ""


def fetch(address, scheme: str, host: str, path: str, ca: Path, timeout: float = 3.0, port: int | None = None) -> Answer:
    """``GET scheme://host/path`` sent to ``address``; HTTPS verifies the chain to ``ca`` and the name ``host``.

    ``port`` defaults to the scheme's (80, 443).
    """
    port = port or (443 if scheme == "https" else 80)
    try:
        sock = socket.create_connection((str(address), port), timeout=timeout)
        if scheme == "https":
            ctx = ssl.create_default_context(cafile=str(ca))
            sock = ctx.wrap_socket(sock, server_hostname=host)
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        try:
            conn.request("GET", path, headers={"Host": host, "User-Agent": "kubernetes-journey/07"})
            resp = conn.getresponse()
            body = resp.read(300).decode(errors="replace").strip()
            return Answer(resp.status, body, resp.getheader("Location") or "")
        finally:
            conn.close()
    except ssl.SSLCertVerificationError as err:
        return Answer(None, "", detail=f"{UNTRUSTED}: {err.verify_message}")
    except (OSError, http.client.HTTPException) as err:
        return Answer(None, "", detail=f"{type(err).__name__}: {err}")


def expected(inv) -> list[Probe]:
    """The requests 07 makes, with what each must get."""
    doors = site_names(inv)
    probes = []
    for via, door in (("Ingress", doors["ingress"]), ("HTTPRoute", doors["gateway"])):
        probes += [Probe(via, "https", f"{site}.{door}", "/", site) for site in SITES]
        probes += [Probe(via, "https", door, f"/{site}/index.html", site) for site in SITES]
        probes.append(Probe(via, "https", door, "/", "404"))
    probes.append(Probe("Ingress", "http", doors["ingress"], "/blue", "404"))
    probes.append(Probe("HTTPRoute", "http", doors["gateway"], "/blue", f"301 https://{doors['gateway']}/blue"))
    probes.append(Probe("-", "https", f"nosuch.{inv.cluster.domain}", "/", UNTRUSTED))
    return probes


def judge(probe: Probe, answer: Answer) -> tuple[bool, str]:
    """Whether ``answer`` is what ``probe`` expects, and the answer in words."""
    if answer.status is None:
        return probe.expect == UNTRUSTED and answer.detail.startswith(UNTRUSTED), answer.detail
    if probe.expect in SITES:
        return answer.status == 200 and answer.body.startswith(f"{probe.expect}-"), f"{answer.status} {answer.body[:60]}"
    if probe.expect.startswith("301 "):
        return (answer.status == 301 and answer.location == probe.expect[4:]), f"{answer.status} → {answer.location}"
    return str(answer.status) == probe.expect, f"{answer.status} {answer.body[:60]}"


def verify_routing(inv, within: float = ANSWER_WITHIN) -> Verdict:
    """Every probe of :func:`expected`, from this machine, each given ``within`` seconds to come right."""
    address = router_address(inv)
    ca = trust_anchor(inv)
    rows, problems = [], []
    for probe in expected(inv):
        def once(p: Probe = probe) -> tuple[bool, str]:
            return judge(p, fetch(address, p.scheme, p.host, p.path, ca))

        ok, said = settle(once, lambda r: r[0], within=within, interval=1.0).value
        url = f"{probe.scheme}://{probe.host}{probe.path}"
        rows.append([probe.via, url, probe.expect, said, "yes" if ok else "NO"])
        if not ok:
            problems.append(f"{url} (via {address}, {probe.via}): expected {probe.expect}, got {said}")
    return Verdict(f"HTTP routing through {address}, seen from this machine",
                   ["via", "request", "expected", "answer", "ok"], rows, problems)


def _conditions(obj: dict) -> dict[str, str]:
    """An object's status conditions as {type: status}."""
    return _by_type((obj.get("status") or {}).get("conditions"))


def _by_type(conditions: list | None) -> dict[str, str]:
    return {c["type"]: c["status"] for c in conditions or []}


def verify_status(inv) -> Verdict:
    """What the API says: classes and Gateway accepted and programmed, routes accepted, addresses published."""
    from kubernetes import client  # noqa: PLC0415
    from kubernetes.dynamic import DynamicClient  # noqa: PLC0415

    from helpers.kube import api_client  # noqa: PLC0415

    api = api_client(inv)
    dyn = DynamicClient(api)
    want = str(router_address(inv))
    rows, problems = [], []

    def row(kind: str, name: str, state: str, ok: bool) -> None:
        rows.append([kind, name, state, "yes" if ok else "NO"])
        if not ok:
            problems.append(f"{kind} {name}: {state}")

    gw_api = f"{GATEWAY_GROUP}/v1"
    gc = dyn.resources.get(api_version=gw_api, kind="GatewayClass").get(name=GATEWAY_CLASS).to_dict()
    cond = _conditions(gc)
    row("GatewayClass", GATEWAY_CLASS, f"Accepted={cond.get('Accepted', '?')}", cond.get("Accepted") == "True")
    gw = dyn.resources.get(api_version=gw_api, kind="Gateway").get(name=GATEWAY, namespace=NAMESPACE).to_dict()
    cond = _conditions(gw)
    addresses = [a.get("value") for a in (gw.get("status") or {}).get("addresses") or []]
    row("Gateway", f"{NAMESPACE}/{GATEWAY}",
        f"Accepted={cond.get('Accepted', '?')}, Programmed={cond.get('Programmed', '?')}, addresses {addresses}",
        cond.get("Accepted") == "True" and cond.get("Programmed") == "True" and want in addresses)
    for route in dyn.resources.get(api_version=gw_api, kind="HTTPRoute").get(namespace=APPS_NS).to_dict()["items"]:
        parents = (route.get("status") or {}).get("parents") or []
        # a route's status has one entry per parent (listener) it attached to, each with its conditions
        states = [f"{p['parentRef'].get('sectionName', '')}: " + ", ".join(f"{k}={v}" for k, v in _by_type(p.get("conditions")).items())
                  for p in parents]
        good = bool(parents) and all(_by_type(p.get("conditions")).get("Accepted") == "True"
                                     and _by_type(p.get("conditions")).get("ResolvedRefs") == "True" for p in parents)
        row("HTTPRoute", f"{APPS_NS}/{route['metadata']['name']}", "; ".join(states) or "no status yet", good)
    ing = client.NetworkingV1Api(api).read_namespaced_ingress(INGRESS, APPS_NS)
    published = [i.ip for i in (ing.status.load_balancer.ingress or [])] if ing.status.load_balancer else []
    row("Ingress", f"{APPS_NS}/{INGRESS}", f"status address {published or 'none'} (published from Service "
        f"{NAMESPACE}/{NAME})", want in published)
    return Verdict("Routing objects as the API reports them", ["kind", "name", "state", "ok"], rows, problems)


def settle_status(inv, within: float = ANSWER_WITHIN) -> Verdict:
    """:func:`verify_status` once it holds, or as it is at the deadline (the router writes status asynchronously)."""
    return settle(lambda: verify_status(inv), lambda v: v.ok, within=within, interval=1.0).value


def served_certificate(address, host: str, port: int = 443, timeout: float = 3.0):
    """The certificate the router presents for the server name ``host`` (not verified: it is what is judged)."""
    from cryptography import x509  # noqa: PLC0415

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((str(address), port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as sock:
        return x509.load_der_x509_certificate(sock.getpeercert(binary_form=True))


def verify_served_certificate(inv, within: float = ANSWER_WITHIN) -> Verdict:
    """For each front door, the router serves the certificate on the operator's disk (same serial).

    After a renewal the Secrets change and the router reloads them; ``within`` gives it time.
    """
    from helpers.pki import load_cert  # noqa: PLC0415
    from helpers.routing.tls import LEAF, pki_dir  # noqa: PLC0415

    address = router_address(inv)
    want = load_cert(pki_dir(inv) / f"{LEAF}.crt")
    rows, problems = [], []
    for door in site_names(inv).values():
        def serial(d: str = door) -> int | str:
            try:
                return served_certificate(address, d).serial_number
            except (OSError, ValueError) as err:
                return f"{type(err).__name__}: {err}"

        got = settle(serial, lambda s: s == want.serial_number, within=within, interval=1.0).value
        ok = got == want.serial_number
        rows.append([door, f"{want.serial_number:x}"[:16], f"{got:x}"[:16] if isinstance(got, int) else got,
                     want.not_valid_after_utc.strftime("%Y-%m-%d"), "yes" if ok else "NO"])
        if not ok:
            problems.append(f"{door} (via {address}): serves certificate {got}, the cluster directory holds "
                            f"serial {want.serial_number:x}")
    return Verdict("the certificate the router serves, against the one issued", ["server name", "issued serial",
                   "served serial", "valid until", "ok"], rows, problems)

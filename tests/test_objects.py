"""Unit tests of helpers.objects: the demo manifests and the pure checks (no cluster needed)."""

from __future__ import annotations

import base64
from types import SimpleNamespace as NS

import pytest

from helpers import kube, objects
from helpers.errors import ConfigError

BUSYBOX = "docker.io/library/busybox:1.35.0"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.66.1"


def _pod(name, node, ready=True, deleting=False):
    return NS(metadata=NS(name=name, deletion_timestamp="now" if deleting else None),
              spec=NS(node_name=node),
              status=NS(phase="Running", conditions=[NS(type="Ready", status="True" if ready else "False")],
                        container_statuses=[]))


def test_every_namespaced_object_lives_in_the_demo_namespace():
    docs = [objects.sidecar_pod(BUSYBOX, "Never"), objects.deployment_manifest(AGNHOST, "Never", 3),
            objects.service_manifest("ClusterIP"), objects.service_manifest("NodePort"),
            objects.service_manifest("Headless"), objects.persistent_volume_claim_manifest(),
            objects.pvc_pod("p", BUSYBOX, "Never"), objects.configmap_manifest(), objects.secret_manifest(),
            objects.config_pod(BUSYBOX, "Never"), objects.shell_pod("client", BUSYBOX, "Never")]
    for doc in docs:
        assert doc["metadata"]["namespace"] == objects.NAMESPACE, doc["kind"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubernetes-journey"
    assert "namespace" not in objects.namespace_manifest()["metadata"]
    assert "namespace" not in objects.persistent_volume_manifest("kube-node01")["metadata"]


def test_pods_never_pull_and_drop_privileges():
    for pod in (objects.sidecar_pod(BUSYBOX, "Never"), objects.config_pod(BUSYBOX, "Never"),
                objects.deployment_manifest(AGNHOST, "Never", 2)["spec"]["template"]):
        for c in pod["spec"]["containers"]:
            assert c["imagePullPolicy"] == "Never"
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_sidecar_containers_share_one_empty_dir():
    pod = objects.sidecar_pod(BUSYBOX, "IfNotPresent")
    (volume,) = pod["spec"]["volumes"]
    assert "emptyDir" in volume
    mounts = {c["name"]: c["volumeMounts"][0] for c in pod["spec"]["containers"]}
    assert set(mounts) == {"writer", "reader"}
    assert {m["name"] for m in mounts.values()} == {volume["name"]}
    assert mounts["writer"]["mountPath"] == mounts["reader"]["mountPath"]


def test_deployment_spreads_and_rolls_without_losing_capacity():
    dep = objects.deployment_manifest(AGNHOST, "Never", 4, version=1)
    spec = dep["spec"]
    assert spec["replicas"] == 4
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    (spread,) = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["maxSkew"] == 1
    assert spread["nodeTaintsPolicy"] == "Honor"      # tainted masters do not count as empty domains
    container = spec["template"]["spec"]["containers"][0]
    assert container["args"][0] == "serve-hostname"
    assert container["readinessProbe"]["httpGet"]["port"] == objects.SERVE_PORT


def test_versions_differ_only_in_arguments():
    v1 = objects.deployment_manifest(AGNHOST, "Never", 4, version=1)
    v2 = objects.deployment_manifest(AGNHOST, "Never", 4, version=2)
    c1 = v1["spec"]["template"]["spec"]["containers"][0]
    c2 = v2["spec"]["template"]["spec"]["containers"][0]
    assert c1["args"] != c2["args"] and c1["args"] == c2["args"][: len(c1["args"])]
    assert {k: v for k, v in c1.items() if k != "args"} == {k: v for k, v in c2.items() if k != "args"}
    assert v1["metadata"]["annotations"] != v2["metadata"]["annotations"]


@pytest.mark.parametrize(("kind", "name", "check"), [
    ("ClusterIP", "hostnames", lambda s: s["type"] == "ClusterIP"),
    ("NodePort", "hostnames-nodeport", lambda s: s["type"] == "NodePort"),
    ("Headless", "hostnames-headless", lambda s: s["clusterIP"] == "None" and "type" not in s),
])
def test_services_select_the_deployment(kind, name, check):
    svc = objects.service_manifest(kind)
    assert svc["metadata"]["name"] == name
    assert svc["spec"]["selector"] == {"app": objects.APP}
    assert svc["spec"]["ports"][0]["targetPort"] == objects.SERVE_PORT
    assert check(svc["spec"])


def test_unknown_service_kind_is_refused():
    with pytest.raises(ValueError, match="LoadBalancer"):
        objects.service_manifest("LoadBalancer")


def test_volume_claim_binds_to_the_node_pinned_volume():
    pv = objects.persistent_volume_manifest("kube-node02")
    pvc = objects.persistent_volume_claim_manifest()
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pvc["spec"]["storageClassName"] == pv["spec"]["storageClassName"]
    assert pvc["spec"]["accessModes"] == pv["spec"]["accessModes"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert term == {"key": "kubernetes.io/hostname", "operator": "In", "values": ["kube-node02"]}
    pod = objects.pvc_pod("pv-reader", BUSYBOX, "Never")
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]


def test_secret_data_is_base64_and_config_pod_consumes_both_ways():
    secret = objects.secret_manifest({"K": "v@lue"})
    assert base64.b64decode(secret["data"]["K"]) == b"v@lue"
    assert "stringData" not in secret          # stable under server-side apply
    pod = objects.config_pod(BUSYBOX, "Never")
    c = pod["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"] for e in c["env"]}
    assert refs["GREETING"]["configMapKeyRef"]["name"] == "demo-config"
    assert refs["DB_PASSWORD"]["secretKeyRef"]["name"] == "demo-secret"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["secret"]["secret"]["defaultMode"] == 0o400
    assert all(m["readOnly"] for m in c["volumeMounts"])


def test_pods_per_node_counts_and_spread():
    pods = [_pod("a", "n1"), _pod("b", "n1"), _pod("c", "n2")]
    counts = objects.pods_per_node(pods, ["n1", "n2", "n3"])
    assert counts == {"n1": 2, "n2": 1, "n3": 0}
    assert not objects.spread_ok(counts)
    assert objects.spread_ok({"n1": 2, "n2": 1})
    assert not objects.spread_ok({})


def test_pod_state_reads_well():
    assert objects.pod_state(_pod("a", "n1")) == "Ready on n1"
    assert objects.pod_state(_pod("a", "n1", deleting=True)) == "Terminating on n1"
    waiting = _pod("a", None, ready=False)
    waiting.status.phase = "Pending"
    waiting.status.container_statuses = [NS(state=NS(waiting=NS(reason="ErrImageNeverPull")))]
    assert objects.pod_state(waiting) == "Pending on (unscheduled) (ErrImageNeverPull)"


def _dep(want, generation=2, observed=2, updated=None, ready=None, available=None, total=None):
    return NS(spec=NS(replicas=want), metadata=NS(generation=generation),
              status=NS(observed_generation=observed, updated_replicas=updated, ready_replicas=ready,
                        available_replicas=available, replicas=total))


def test_rolled_out():
    assert objects.rolled_out(_dep(3, updated=3, ready=3, available=3, total=3))
    assert not objects.rolled_out(_dep(3, observed=1, updated=3, ready=3, available=3, total=3))
    assert not objects.rolled_out(_dep(3, updated=3, ready=3, available=3, total=4))   # an old pod left
    assert not objects.rolled_out(_dep(3, updated=2, ready=3, available=3, total=3))
    assert objects.rolled_out(_dep(0))


def test_parse_nslookup():
    out = ("Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n** server can't find x.kube.demo: NXDOMAIN\n\n"
           "Name:\thostnames-headless.kj-demo.svc.kube.demo\nAddress: 10.244.3.5\n"
           "Name:\thostnames-headless.kj-demo.svc.kube.demo\nAddress: 10.244.2.5\n")
    assert objects.parse_nslookup(out) == ["10.244.2.5", "10.244.3.5"]
    assert objects.parse_nslookup("** server can't find x: NXDOMAIN") == []


def test_exec_status():
    assert kube.exec_status('{"metadata":{},"status":"Success"}') == 0
    failure = ('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code",'
               '"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}')
    assert kube.exec_status(failure) == 3
    assert kube.exec_failure(failure) == ""
    cannot = '{"status":"Failure","message":"exec: \\"sh\\": executable file not found","reason":"InternalError"}'
    assert kube.exec_status(cannot) == 126
    assert "executable file not found" in kube.exec_failure(cannot)
    assert kube.exec_status("") == -1


class _FakeExec:
    """A finished exec stream: frames of (channel, text) read one per update, then the status."""

    def __init__(self, frames, status, never_ends=False):
        self.frames, self.status, self.never_ends = list(frames), status, never_ends
        self.current, self.closed = ("", ""), False

    def is_open(self):
        return not self.closed and (self.never_ends or bool(self.frames))

    def update(self, timeout=0):
        channel, text = self.frames.pop(0) if self.frames else ("out", "")
        self.current = (text, "") if channel == "out" else ("", text)

    def read_stdout(self):
        return self.current[0]

    def read_stderr(self):
        return self.current[1]

    def read_channel(self, channel):
        assert channel == 3
        return self.status

    def close(self):
        self.closed = True


def _fake_stream(monkeypatch, resp):
    import kubernetes.stream
    from kubernetes import client

    calls = []

    def stream(method, pod, namespace, **kwargs):
        calls.append((method.__self__, pod, namespace, kwargs))
        return resp

    monkeypatch.setattr(kubernetes.stream, "stream", stream)
    return calls, client


def test_pod_exec_reads_the_status_channel(monkeypatch):
    failure = ('{"status":"Failure","reason":"NonZeroExitCode",'
               '"details":{"causes":[{"reason":"ExitCode","message":"1"}]}}')
    calls, client = _fake_stream(monkeypatch, _FakeExec([("out", "a\n"), ("err", "oops\n"), ("out", "b\n")], failure))
    code, out = kube.pod_exec(client.ApiClient(), "ns", "p", ["sh", "-c", "x | nc y"], container="c")
    assert (code, out) == (1, "a\noops\nb\n")  # unstripped, in the order it came
    core, pod, namespace, kwargs = calls[0]
    assert isinstance(core, client.CoreV1Api) and (pod, namespace) == ("p", "ns")
    assert kwargs["command"] == ["sh", "-c", "x | nc y"]  # exec'd as given: no shell wrapper added
    assert kwargs["container"] == "c" and kwargs["stderr"] and kwargs["stdout"] and not kwargs["tty"]


def test_pod_exec_could_not_start_and_timeout(monkeypatch):
    cannot = '{"status":"Failure","message":"exec: \\"nope\\": executable file not found","reason":"InternalError"}'
    calls, client = _fake_stream(monkeypatch, _FakeExec([], cannot))
    core = client.CoreV1Api(client.ApiClient())
    code, out = kube.pod_exec(core, "ns", "p", ["nope"])
    assert code == 126 and "executable file not found" in out
    assert calls[0][0] is core and "container" not in calls[0][3]
    _fake_stream(monkeypatch, resp := _FakeExec([], "", never_ends=True))
    code, out = kube.pod_exec(core, "ns", "p", ["sleep", "9"], timeout=0)
    assert code == kube.EXEC_TIMEOUT and "timed out" in out and resp.closed


def test_one_admin_client():
    from helpers import control_plane, kube_apply, pod_network

    inv = NS(cluster_dir="/tmp/kj-cluster")
    assert kube_apply.api_client is kube.api_client and kube_apply.admin_kubeconfig is kube.admin_kubeconfig
    assert control_plane.api_client is kube.api_client
    assert control_plane.admin_kubeconfig_path(inv) == kube.admin_kubeconfig(inv)
    assert pod_network.parse_nslookup is objects.parse_nslookup is kube.parse_nslookup
    with pytest.raises(ConfigError, match="run 04-masters"):
        kube.api_client(NS(cluster_dir="/nonexistent/kj-cluster"))


def test_figures_draw_what_they_are_given():
    from collections import Counter
    from types import SimpleNamespace

    import matplotlib

    matplotlib.use("Agg")
    scaling = {"4": {"n1": 2, "n2": 2}, "6": {"n1": 3, "n2": 3}, "2": {"n1": 2, "n2": 0}, "4 again": {"n1": 2, "n2": 2}}
    fig = objects.scaling_figure(scaling, ["n1", "n2"], " (recorded)")
    ax = fig.axes[0]
    assert ax.get_title() == "hostnames replicas per worker while scaling 4 → 6 → 2 → 4 (recorded)"
    assert [round(p.get_height()) for p in ax.patches] == [2, 3, 2, 2, 2, 3, 0, 2]
    timeline = [(0.0, {"rs-old": 4}), (1.5, {"rs-old": 4, "rs-new": 1}), (6.0, {"rs-old": 0, "rs-new": 4})]
    legend = [t.get_text() for t in objects.rollout_figure(timeline, ["rs-old"]).axes[0].get_legend().get_texts()]
    assert legend == ["rs-new (new)", "rs-old (old)"]
    answers = Counter({"web-a": 70, "web-b": 48, "error": 2})
    bars = objects.responses_figure(answers, ["web-a", "web-b"], "ClusterIP 10.96.0.5").axes[0].patches
    assert [b.get_height() for b in bars] == [70, 48, 2] and bars[2].get_facecolor()[:3] != bars[0].get_facecolor()[:3]
    pod = lambda name, app, node: SimpleNamespace(metadata=SimpleNamespace(name=name, labels={"app": app}),  # noqa: E731
                                                  spec=SimpleNamespace(node_name=node))
    fig = objects.placement_figure([pod("a", "web", "n1"), pod("b", "web", "n2"), pod("c", "db", "n1")],
                                   ["n1", "n2"], "kj-demo")
    assert fig.axes[0].get_title() == "Pods per node in namespace kj-demo (3 pods)"

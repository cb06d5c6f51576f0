"""portal.lib.kube against the Kubernetes test server, through the official client over HTTP."""

from __future__ import annotations

import threading
import time

import pytest

from portal.lib.kube import Cluster, KubeError, managed_by, plain_env, server_url
from tests.fakes.kubeserver import KubeTestServer, deployment


@pytest.fixture
def srv():
    with KubeTestServer() as server:
        server.store.apply("namespaces", {"metadata": {"name": "demo"}})
        yield server


@pytest.fixture
def kube(srv):
    with Cluster(srv.kubeconfig(), request_timeout=(2, 5)) as cluster:
        yield cluster


def settle(srv, name, ns="demo", timeout=5.0):
    """Wait until the controller has finished with a deployment; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dep = srv.store.find("deployments", ns, name)
        st = (dep or {}).get("status") or {}
        if dep and st.get("observedGeneration") == dep["metadata"]["generation"] and \
                st.get("updatedReplicas", 0) == dep["spec"]["replicas"] and \
                st.get("replicas", 0) == dep["spec"]["replicas"]:
            return dep
        time.sleep(0.03)
    raise AssertionError(f"{name} did not settle")


def shop(replicas=1, **kw):
    dep = deployment("shop", namespace="demo", replicas=replicas, containers=[
        {"name": "app", "image": "shop:1", "env": [
            {"name": "MODE", "value": "prod"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
         "volumeMounts": [{"name": "cfg", "mountPath": "/etc/shop"}]},
        {"name": "proxy", "image": "envoy:1"}], **kw)
    dep["spec"]["template"]["spec"]["volumes"] = [
        {"name": "cfg", "secret": {"secretName": "shop-files"}}]
    return dep


def test_server_url_hides_credentials(srv):
    assert server_url(srv.kubeconfig()) == srv.url
    text = srv.kubeconfig().replace(srv.url, "https://user:pw@k8s.example:6443/?x=1")
    assert server_url(text) == "https://k8s.example:6443"
    with pytest.raises(KubeError) as err:
        server_url("clusters: []")
    assert err.value.kind == "invalid"


def test_set_container_image_changes_only_that_container(srv, kube):
    srv.store.apply("deployments", shop(replicas=2))
    before = settle(srv, "shop")
    srv.clear_requests()
    after = kube.set_container_image("demo", "shop", "app", "shop:2",
                                     before["metadata"]["resourceVersion"])
    app, proxy = after["spec"]["template"]["spec"]["containers"]
    assert app["image"] == "shop:2" and proxy == before["spec"]["template"]["spec"][
        "containers"][1]
    assert {k: v for k, v in app.items() if k != "image"} == {
        k: v for k, v in before["spec"]["template"]["spec"]["containers"][0].items()
        if k != "image"}
    assert after["spec"]["template"]["spec"]["volumes"] == before["spec"]["template"]["spec"][
        "volumes"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    patch = srv.requests_matching("PATCH")[0]
    assert patch.content_type == "application/json-patch+json"
    assert patch.body[0] == {"op": "test", "path": "/metadata/resourceVersion",
                             "value": before["metadata"]["resourceVersion"]}
    done = settle(srv, "shop")
    pods, _ = srv.store.list("pods", "demo", "app=shop")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"shop:2"}
    assert done["status"]["updatedReplicas"] == 2


def test_stale_resource_version_is_refused(srv, kube):
    srv.store.apply("deployments", shop())
    read = settle(srv, "shop")
    srv.store.mutate("deployments", "demo", "shop",
                     lambda d: d["spec"]["template"]["spec"]["containers"][1].update(
                         image="envoy:2"))
    with pytest.raises(KubeError) as err:
        kube.set_container_image("demo", "shop", "app", "shop:2",
                                 read["metadata"]["resourceVersion"])
    assert err.value.kind == "conflict" and "demo/shop" in err.value.message
    assert srv.requests_matching("PATCH") == []  # refused before writing
    assert srv.store.get("deployments", "demo", "shop")["spec"]["template"]["spec"][
        "containers"][0]["image"] == "shop:1"


def test_change_between_read_and_patch_is_refused_by_the_server(srv, kube):
    srv.controller.stop()
    srv.store.apply("deployments", shop())
    rv = srv.store.get("deployments", "demo", "shop")["metadata"]["resourceVersion"]
    srv.hang_next(0.5, method="PATCH")  # the patch arrives after someone else's write
    threading.Timer(0.2, lambda: srv.store.mutate(
        "deployments", "demo", "shop", lambda d: d["spec"].update(replicas=4))).start()
    with pytest.raises(KubeError) as err:
        kube.set_container_image("demo", "shop", "app", "shop:2", rv)
    assert err.value.kind == "conflict"
    dep = srv.store.get("deployments", "demo", "shop")
    assert dep["spec"]["replicas"] == 4
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "shop:1"


def test_unknown_container_and_invalid_image(srv, kube):
    srv.store.apply("deployments", shop())
    rv = settle(srv, "shop")["metadata"]["resourceVersion"]
    with pytest.raises(KubeError) as err:
        kube.set_container_image("demo", "shop", "nope", "x:1", rv)
    assert err.value.kind == "not_found" and "app, proxy" in err.value.message
    with pytest.raises(KubeError) as err:
        kube.set_container_image("demo", "shop", "app", " ", rv)
    assert err.value.kind == "invalid"


def test_set_container_env_restores_plain_values_only(srv, kube):
    srv.store.apply("deployments", shop())
    dep = settle(srv, "shop")
    assert plain_env(dep, "app") == {"MODE": "prod"}
    out = kube.set_container_env("demo", "shop", "app", {"MODE": "canary", "NEW": "1",
                                                         "DB_PASSWORD": "leak"},
                                 dep["metadata"]["resourceVersion"])
    env = out["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "canary"},
                   {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db",
                                                                          "key": "pw"}}},
                   {"name": "NEW", "value": "1"}]
    rv = settle(srv, "shop")["metadata"]["resourceVersion"]
    out = kube.set_container_env("demo", "shop", "app", {}, rv)
    assert [e["name"] for e in out["spec"]["template"]["spec"]["containers"][0]["env"]] == [
        "DB_PASSWORD"]


def test_watch_rollout_reports_each_step(srv, kube):
    srv.store.apply("deployments", deployment("web", namespace="demo", replicas=3))
    dep = settle(srv, "web")
    srv.controller.set_mode("web", "complete", step=0.3)
    lines: list[str] = []
    kube.set_container_image("demo", "web", "web", "nginx:2", dep["metadata"]["resourceVersion"])
    result = kube.watch_rollout("demo", "web", timeout=10, on_progress=lines.append)
    assert result.ok and result.state == "complete"
    assert "1/3 pods updated, 3 ready" in lines and "2/3 pods updated, 3 ready" in lines
    assert lines[-1] == "3/3 pods updated, 3 ready, rollout complete"


def test_watch_rollout_detects_progress_deadline(srv, kube):
    srv.store.apply("deployments", deployment("web", namespace="demo", replicas=2,
                                              progressDeadlineSeconds=1))
    dep = settle(srv, "web")
    srv.controller.set_mode("web", "stall")
    kube.set_container_image("demo", "web", "web", "nginx:missing",
                             dep["metadata"]["resourceVersion"])
    started = time.monotonic()
    result = kube.watch_rollout("demo", "web", timeout=10)
    assert result.state == "failed" and result.reason == "ProgressDeadlineExceeded"
    assert 0.8 < time.monotonic() - started < 4
    assert any("ImagePullBackOff" in p for p in result.pod_problems)


def test_watch_rollout_timeout_and_cancel(srv, kube):
    srv.controller.set_mode("web", "manual")
    srv.store.apply("deployments", deployment("web", namespace="demo", replicas=2))
    lines: list[str] = []
    result = kube.watch_rollout("demo", "web", timeout=1.5, on_progress=lines.append)
    assert result.state == "timeout" and lines
    srv.controller.advance("demo", "web")
    started = time.monotonic()
    result = kube.watch_rollout("demo", "web", timeout=30,
                                should_cancel=lambda: time.monotonic() - started > 0.5)
    assert result.state == "canceled" and time.monotonic() - started < 2.5
    srv.controller.advance("demo", "web")
    assert kube.watch_rollout("demo", "web", timeout=5).ok


def test_restart_rolls_new_pods(srv, kube):
    srv.store.apply("deployments", deployment("web", namespace="demo", replicas=2))
    dep = settle(srv, "web")
    old_pods = {p["metadata"]["name"] for p in srv.store.list("pods", "demo", "app=web")[0]}
    out = kube.restart("demo", "web")
    assert "kubectl.kubernetes.io/restartedAt" in out["spec"]["template"]["metadata"][
        "annotations"]
    assert out["metadata"]["generation"] == dep["metadata"]["generation"] + 1
    assert kube.watch_rollout("demo", "web", timeout=5).ok
    new_pods = {p["metadata"]["name"] for p in srv.store.list("pods", "demo", "app=web")[0]}
    assert len(new_pods) == 2 and not new_pods & old_pods


def test_managed_by():
    def dep(labels=None, annotations=None, owners=None):
        return {"metadata": {"labels": labels or {}, "annotations": annotations or {},
                             "ownerReferences": owners or []}}

    assert managed_by(dep()) is None
    assert managed_by(dep(owners=[{"kind": "KuberoApp", "name": "shop", "controller": True}])) \
        == "KuberoApp/shop"
    assert managed_by(dep(labels={"argocd.argoproj.io/instance": "prod-shop"})) == \
        "argocd:prod-shop"
    assert managed_by(dep(annotations={
        "argocd.argoproj.io/tracking-id": "shop:apps/Deployment:demo/shop"})) == "argocd:shop"
    assert managed_by(dep(labels={"kustomize.toolkit.fluxcd.io/name": "infra"})) == "flux:infra"
    assert managed_by(dep(labels={"app.kubernetes.io/managed-by": "Helm"})) == "Helm"
    assert managed_by(dep(labels={"app.kubernetes.io/managed-by": "eaas-portal"})) is None


def test_kubero_app_image_and_rollout(srv, kube):
    srv.store.apply("kuberoapps", {"metadata": {"name": "shop", "namespace": "demo"},
                                   "spec": {"image": {"repository": "ghcr.io/o/shop",
                                                      "tag": "1"}, "web": {"replicaCount": 2}}})
    settle(srv, "shop-kuberoapp-web")
    app = kube.get_kubero_app("demo", "shop")
    assert kube.kubero_app_image(app) == "ghcr.io/o/shop:1"
    [dep] = kube.kubero_app_deployments("demo", "shop")
    assert managed_by(dep) == "KuberoApp/shop"
    srv.controller.set_mode("shop", "complete", step=0.3)
    out = kube.set_kubero_app_image("demo", "shop", "ghcr.io/o/shop:2",
                                    app["metadata"]["resourceVersion"])
    assert out["spec"]["image"] == {"repository": "ghcr.io/o/shop", "tag": "2"}
    lines: list[str] = []
    assert kube.watch_kubero_app("demo", "shop", timeout=10, on_progress=lines.append).ok
    assert "1/2 pods updated, 2 ready" in lines
    dep = kube.get_deployment("demo", "shop-kuberoapp-web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/o/shop:2"
    with pytest.raises(KubeError) as err:  # stale resourceVersion
        kube.set_kubero_app_image("demo", "shop", "ghcr.io/o/shop:3",
                                  app["metadata"]["resourceVersion"])
    assert err.value.kind == "conflict"


def test_forbidden_namespace_names_where(srv, kube):
    srv.store.apply("deployments", deployment("web", namespace="demo"))
    srv.forbid_namespace("demo")
    with pytest.raises(KubeError) as err:
        kube.get_deployment("demo", "web")
    assert err.value.kind == "forbidden" and err.value.status == 403
    assert "demo/web" in err.value.message and 'namespace "demo"' in err.value.message
    assert srv.url in err.value.message


def test_not_found_and_unreachable_and_timeout(srv, kube):
    with pytest.raises(KubeError) as err:
        kube.get_deployment("demo", "ghost")
    assert err.value.kind == "not_found" and "demo/ghost" in err.value.message
    srv.hang_next(3, count=5)
    started = time.monotonic()
    with Cluster(srv.kubeconfig(), request_timeout=(1, 0.5), read_retries=0) as quick:
        with pytest.raises(KubeError) as err:
            quick.get_deployment("demo", "web")
    assert err.value.kind == "timeout" and time.monotonic() - started < 2
    srv.clear_faults()
    srv.stop()
    with pytest.raises(KubeError) as err:
        kube.find_deployments("demo")
    assert err.value.kind == "unreachable" and srv.url in err.value.message


def test_reads_retry_server_errors_but_writes_do_not(srv, kube):
    srv.store.apply("deployments", deployment("web", namespace="demo"))
    srv.fail_next(1, status=500, method="GET")
    assert kube.get_deployment("demo", "web")["metadata"]["name"] == "web"
    srv.fail_next(1, status=503, method="PATCH")
    with pytest.raises(KubeError) as err:
        kube.restart("demo", "web")
    assert err.value.kind == "server_error" and err.value.status == 503
    assert len(srv.requests_matching("PATCH")) == 1


def test_find_deployments_and_workload_status(srv, kube):
    srv.store.apply("deployments", deployment("web", namespace="demo", replicas=2,
                                              labels={"tier": "front"}))
    srv.controller.set_mode("worker", "fail")
    srv.store.apply("deployments", deployment("worker", namespace="demo", image="job:1"))
    settle(srv, "web")
    assert [d["metadata"]["name"] for d in kube.find_deployments("demo", "tier=front")] == [
        "web"]
    assert len(kube.find_deployments("demo", "tier notin (front)")) == 1
    time.sleep(0.2)
    status = {w["name"]: w for w in kube.workload_status("demo")}
    assert status["web"]["containers"] == [{"name": "web", "image": "nginx:1.25"}]
    assert (status["web"]["ready"], status["web"]["replicas"], status["web"]["restarts"]) == (
        2, 2, 0)
    assert status["worker"]["ready"] == 0 and status["worker"]["restarts"] == 3
    assert 0 <= status["web"]["age"] < 60
    result = kube.watch_rollout("demo", "worker", timeout=5)
    assert result.state == "failed" and "CrashLoopBackOff" in result.pod_problems[0]


def test_secrets(srv, kube):
    srv.store.apply("secrets", {"metadata": {"name": "db", "namespace": "demo"},
                                "stringData": {"user": "app", "pw": "old"}})
    srv.store.apply("deployments", shop())
    assert kube.secret_keys("demo", "db") == ["pw", "user"]
    out = kube.write_secret_key("demo", "db", "pw", "new")
    assert out["keys"] == ["pw", "user"] and "new" not in str(out)
    stored = srv.store.get("secrets", "demo", "db")
    assert stored["data"]["user"] == "YXBw" and stored["data"]["pw"] == "bmV3"
    assert srv.requests_matching("PUT")[-1].body["metadata"]["resourceVersion"]
    created = kube.write_secret_key("demo", "fresh", "token", b"\x00\x01", create=True)
    assert created["keys"] == ["token"]
    with pytest.raises(KubeError) as err:
        kube.write_secret_key("demo", "missing", "k", "v")
    assert err.value.kind == "not_found"
    # a concurrent writer between our read and our PUT: conflict, no key lost
    srv.hang_next(0.4, method="PUT")
    threading.Timer(0.1, lambda: srv.store.patch(
        "secrets", "demo", "db", {"stringData": {"extra": "1"}},
        "application/merge-patch+json")).start()
    with pytest.raises(KubeError) as err:
        kube.write_secret_key("demo", "db", "pw", "newer")
    assert err.value.kind == "conflict"
    assert set(srv.store.get("secrets", "demo", "db")["data"]) == {"user", "pw", "extra"}
    uses = kube.workloads_using_secret("demo", "db")
    assert uses == [{"kind": "Deployment", "name": "shop",
                     "uses": ["container app env DB_PASSWORD (key pw)"]}]
    assert kube.workloads_using_secret("demo", "shop-files")[0]["uses"] == ["volume cfg"]
    assert kube.workloads_using_secret("demo", "nothing") == []

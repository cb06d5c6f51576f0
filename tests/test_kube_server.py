"""The Kubernetes test API server, exercised through the official client over real HTTP."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.fakes.kubeserver import KubeTestServer, deployment


@pytest.fixture
def srv():
    with KubeTestServer() as server:
        server.store.apply("namespaces", {"metadata": {"name": "demo"}})
        yield server


@pytest.fixture
def api(srv):
    api_client = config.new_client_from_config_dict(
        yaml.safe_load(srv.kubeconfig()), persist_config=False)
    yield api_client
    api_client.close()


@pytest.fixture
def core(api):
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api):
    return client.AppsV1Api(api)


def status_body(exc: ApiException) -> dict:
    return json.loads(exc.body)


def two_containers(name="web", replicas=1):
    return deployment(name, namespace="demo", replicas=replicas, containers=[
        {"name": "app", "image": "shop:1", "env": [{"name": "A", "value": "1"},
                                                   {"name": "B", "value": "2"}]},
        {"name": "proxy", "image": "envoy:1"}])


def test_namespaces_lifecycle(core, apps):
    ns = core.create_namespace({"metadata": {"name": "team"}})
    assert ns.status.phase == "Active" and ns.metadata.uid
    assert core.read_namespace("team").metadata.name == "team"
    assert {n.metadata.name for n in core.list_namespace().items} >= {"team", "demo"}
    apps.create_namespaced_deployment("team", deployment("web", namespace="team"))
    core.delete_namespace("team")
    with pytest.raises(ApiException) as err:
        core.read_namespace("team")
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:  # objects inside went with it; namespace is gone
        apps.create_namespaced_deployment("team", deployment("web", namespace="team"))
    assert err.value.status == 404
    assert status_body(err.value)["message"] == 'namespaces "team" not found'


def test_server_metadata_and_generation(srv, apps):
    created = apps.create_namespaced_deployment("demo", two_containers())
    meta = created.metadata
    assert meta.namespace == "demo" and meta.uid and meta.creation_timestamp
    assert meta.generation == 1 and meta.resource_version.isdigit()
    labelled = apps.patch_namespaced_deployment("web", "demo", {"metadata": {"labels": {"x": "1"}}})
    assert labelled.metadata.generation == 1  # metadata only: same generation
    assert int(labelled.metadata.resource_version) > int(meta.resource_version)
    scaled = apps.patch_namespaced_deployment("web", "demo", {"spec": {"replicas": 2}})
    assert scaled.metadata.generation == 2
    # writing status through the main resource is ignored; the status subresource takes it
    ignored = apps.patch_namespaced_deployment(
        "web", "demo", {"status": {"observedGeneration": 99}},
        _content_type="application/merge-patch+json")
    assert ignored.status.observed_generation != 99
    srv.controller.stop()
    status = apps.patch_namespaced_deployment_status(
        "web", "demo", {"status": {"observedGeneration": 99}},
        _content_type="application/merge-patch+json")
    assert status.status.observed_generation == 99 and status.metadata.generation == 2
    assert apps.read_namespaced_deployment_status("web", "demo").status.observed_generation == 99


def test_replace_with_stale_resource_version_conflicts(srv, apps):
    srv.controller.stop()  # its status writes would bump the resourceVersion too
    first = apps.create_namespaced_deployment("demo", two_containers())
    body = apps.api_client.sanitize_for_serialization(first)
    body["spec"]["replicas"] = 3
    replaced = apps.replace_namespaced_deployment("web", "demo", body)
    assert replaced.spec.replicas == 3 and replaced.metadata.generation == 2
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("web", "demo", body)  # body carries the old RV
    assert err.value.status == 409
    assert status_body(err.value)["reason"] == "Conflict"
    assert "the object has been modified" in status_body(err.value)["message"]


def test_create_twice_and_invalid(apps):
    apps.create_namespaced_deployment("demo", two_containers())
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("demo", two_containers())
    assert err.value.status == 409 and status_body(err.value)["reason"] == "AlreadyExists"
    bad = deployment("other", namespace="demo")
    bad["spec"]["selector"] = {"matchLabels": {"app": "nope"}}
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("demo", bad)
    body = status_body(err.value)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"


def test_patch_flavours(srv, apps):
    srv.controller.stop()
    apps.create_namespaced_deployment("demo", two_containers())
    smp = apps.patch_namespaced_deployment("web", "demo", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "env": [{"name": "B", "value": "20"}]}]}}}})
    app, proxy = smp.spec.template.spec.containers
    assert (app.image, proxy.image) == ("shop:1", "envoy:1")
    assert [(e.name, e.value) for e in app.env] == [("A", "1"), ("B", "20")]
    merged = apps.patch_namespaced_deployment("web", "demo", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "shop:2"}]}}}},
        _content_type="application/merge-patch+json")
    assert [c.name for c in merged.spec.template.spec.containers] == ["app"]  # lists replaced
    rv = merged.metadata.resource_version
    ok = apps.patch_namespaced_deployment("web", "demo", [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "shop:3"}])
    assert ok.spec.template.spec.containers[0].image == "shop:3"
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("web", "demo", [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "replace", "path": "/spec/replicas", "value": 5}])
    assert err.value.status == 422
    with pytest.raises(ApiException) as err:  # a merge patch carrying a stale RV: 409
        apps.patch_namespaced_deployment("web", "demo", {"metadata": {"resourceVersion": rv}},
                                         _content_type="application/merge-patch+json")
    assert err.value.status == 409


def test_label_selectors(apps):
    for name, tier in (("a", "web"), ("b", "db"), ("c", None)):
        apps.create_namespaced_deployment("demo", deployment(
            name, namespace="demo", labels={"tier": tier} if tier else {}))

    def names(selector):
        return sorted(d.metadata.name for d in
                      apps.list_namespaced_deployment("demo", label_selector=selector).items)

    assert names("tier=web") == ["a"]
    assert names("tier!=web") == ["b", "c"]
    assert names("tier in (web, db)") == ["a", "b"]
    assert names("tier notin (web)") == ["b", "c"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c"]
    assert names("app=a,tier=web") == ["a"]
    assert [d.metadata.name for d in apps.list_namespaced_deployment(
        "demo", field_selector="metadata.name=b").items] == ["b"]


def test_secrets_string_data(core):
    core.create_namespaced_secret("demo", {"metadata": {"name": "s"},
                                           "stringData": {"user": "bob"}, "data": {
                                               "old": base64.b64encode(b"x").decode()}})
    secret = core.read_namespaced_secret("s", "demo")
    assert secret.type == "Opaque" and set(secret.data) == {"user", "old"}
    raw = core.api_client.sanitize_for_serialization(secret)
    assert base64.b64decode(raw["data"]["user"]) == b"bob" and "stringData" not in raw
    patched = core.patch_namespaced_secret("s", "demo", {"stringData": {"pw": "p"}})
    assert set(patched.data) == {"user", "old", "pw"}
    body = core.api_client.sanitize_for_serialization(patched)
    body["data"] = {"only": base64.b64encode(b"1").decode()}
    assert set(core.replace_namespaced_secret("s", "demo", body).data) == {"only"}
    assert [s.metadata.name for s in core.list_namespaced_secret("demo").items] == ["s"]
    core.delete_namespaced_secret("s", "demo")
    assert core.list_namespaced_secret("demo").items == []


def test_pods_deserialize_with_complete_status(srv, core, apps):
    apps.create_namespaced_deployment("demo", two_containers(replicas=2))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod("demo", label_selector="app=web").items
        if len(pods) == 2:
            break
        time.sleep(0.05)
    statuses = pods[0].status.container_statuses
    assert {s.name for s in statuses} == {"app", "proxy"}
    assert all(s.ready and s.image_id and s.restart_count == 0 and s.state.running
               for s in statuses)
    assert pods[0].metadata.owner_references[0].kind == "ReplicaSet"


def test_watch_streams_events_and_honours_timeout(srv, apps):
    apps.create_namespaced_deployment("demo", deployment("web", namespace="demo"))
    apps.create_namespaced_deployment("demo", deployment("other", namespace="demo"))
    rv = apps.list_namespaced_deployment("demo").metadata.resource_version

    def later():
        time.sleep(0.3)
        apps.patch_namespaced_deployment("web", "demo", {"spec": {"replicas": 2}})
        apps.patch_namespaced_deployment("other", "demo", {"spec": {"replicas": 2}})

    threading.Thread(target=later).start()
    started = time.monotonic()
    seen = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        apps.list_namespaced_deployment, "demo", label_selector="app=web",
        resource_version=rv, timeout_seconds=2)]
    elapsed = time.monotonic() - started
    assert ("MODIFIED", "web") in seen and all(name == "web" for _, name in seen)
    assert 1.8 < elapsed < 4


def test_watch_from_zero_lists_then_follows_and_sees_delete(core):
    core.create_namespaced_config_map("demo", {"metadata": {"name": "c1"}, "data": {"k": "v"}})
    threading.Timer(0.3, lambda: core.delete_namespaced_config_map("c1", "demo")).start()
    events = [(e["type"], e["raw_object"]["metadata"]["name"]) for e in watch.Watch().stream(
        core.list_namespaced_config_map, "demo", timeout_seconds=1)]
    assert events == [("ADDED", "c1"), ("DELETED", "c1")]


def test_faults_forbidden_auth_and_request_log(srv, apps):
    apps.create_namespaced_deployment("demo", deployment("web", namespace="demo"))
    srv.fail_next(1, status=500, method="GET", path="/deployments/web$")
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("web", "demo")
    assert err.value.status == 500
    assert apps.read_namespaced_deployment("web", "demo").metadata.name == "web"
    srv.hang_next(1.0, count=10, path="/deployments/web$")  # urllib3 retries reads 3 times
    with pytest.raises(urllib3.exceptions.HTTPError):
        apps.read_namespaced_deployment("web", "demo", _request_timeout=0.2)
    srv.clear_faults()
    srv.forbid_namespace("demo", {"patch"})
    assert apps.read_namespaced_deployment("web", "demo")
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("web", "demo", {"spec": {"replicas": 2}})
    body = status_body(err.value)
    assert err.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == ('deployments.apps "web" is forbidden: User "portal" cannot patch '
                               'resource "deployments" in API group "apps" in the namespace '
                               '"demo"')
    http = urllib3.PoolManager()
    assert http.request("GET", f"{srv.url}/api/v1/namespaces").status == 401
    record = srv.requests_matching("PATCH", "/deployments/web")[-1]
    assert record.body == {"spec": {"replicas": 2}} and record.status == 403
    assert record.content_type == "application/strategic-merge-patch+json"
    assert abs(record.time - time.time()) < 5


def test_discovery(api):
    assert "v1" in client.CoreApi(api).get_api_versions().versions
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "application.kubero.dev"} <= groups
    resources = client.AppsV1Api(api).get_api_resources().resources
    assert {"deployments", "deployments/status"} <= {r.name for r in resources}


def test_kuberoapp_crud_and_operator(srv, api, apps):
    srv.controller.stop()  # no operator status writes while we test plain CRUD
    custom = client.CustomObjectsApi(api)
    args = ("application.kubero.dev", "v1alpha1", "demo", "kuberoapps")
    app = custom.create_namespaced_custom_object(*args, {
        "apiVersion": "application.kubero.dev/v1alpha1", "kind": "KuberoApp",
        "metadata": {"name": "shop"}, "spec": {"image": {"repository": "ghcr.io/o/shop",
                                                          "tag": "1"}}})
    assert app["metadata"]["generation"] == 1
    assert [a["metadata"]["name"] for a in custom.list_namespaced_custom_object(*args)["items"]] \
        == ["shop"]
    patched = custom.patch_namespaced_custom_object(*args, "shop",
                                                    {"spec": {"image": {"tag": "2"}}})
    assert patched["spec"]["image"] == {"repository": "ghcr.io/o/shop", "tag": "2"}
    assert patched["metadata"]["generation"] == 2
    patched["spec"]["web"] = {"replicaCount": 2}
    replaced = custom.replace_namespaced_custom_object(*args, "shop", patched)
    assert replaced["spec"]["web"] == {"replicaCount": 2}
    srv.controller.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        dep = srv.store.find("deployments", "demo", "shop-kuberoapp-web")
        if dep and dep["spec"]["replicas"] == 2 and dep["status"].get("readyReplicas") == 2:
            break
        time.sleep(0.05)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/o/shop:2"
    owner = dep["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("KuberoApp", "shop", True)
    assert dep["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubero"


def test_server_stop_closes_keepalive_connections(srv, apps):
    apps.list_namespaced_deployment("demo")
    srv.stop()
    with pytest.raises(urllib3.exceptions.HTTPError):
        apps.list_namespaced_deployment("demo", _request_timeout=2)

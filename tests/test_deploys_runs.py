"""Deploy, rollback, promote and restart runs against the Kubernetes test server over HTTP
(the portal talks to it with the official client; nothing is monkeypatched)."""

from __future__ import annotations

import pytest

from envs.deploys.models import Release, Target
from envs.models import Environment
from portal.audit.models import AuditEvent
from portal.runs.engine import execute_run
from portal.runs.models import Run, RunLine
from tests.conftest import run_in_thread, wait_for
from tests.fakes.kubeserver import KubeTestServer, deployment

TOKEN = "kube-token-NEVER-SHOWN-7f3a9c"
KUBE_ID = "backstage.io/kubernetes-id"


@pytest.fixture
def kube():
    with KubeTestServer(token=TOKEN) as srv:
        for ns in ("dev", "test", "prod"):
            srv.store.apply("namespaces", {"metadata": {"name": ns}})
        yield srv


@pytest.fixture
def envs(transactional_db, api, kube):
    made = {}
    for name in ("dev", "test", "prod"):
        made[name], _ = Environment.objects.update_or_create(name=name, defaults={"tier": name})
        response = api.put(f"/api/envs/{name}/cluster/", {"kubeconfig": kube.kubeconfig()},
                           format="json")
        assert response.status_code == 200, response.content
    return made


def shop(ns: str, image: str = "ghcr.io/acme/shop:1", **spec) -> dict:
    """A Deployment with two containers, plain env and a secret reference."""
    dep = deployment("shop", namespace=ns, replicas=2, labels={KUBE_ID: "shop"}, containers=[
        {"name": "app", "image": image, "env": [
            {"name": "MODE", "value": "blue"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
         "envFrom": [{"configMapRef": {"name": "shop-config"}}]},
        {"name": "proxy", "image": "envoyproxy/envoy:v1.30"}], **spec)
    dep["spec"]["template"]["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/default-container": "app"}
    return dep


def settle(kube, ns, name="shop"):
    def done():
        dep = kube.store.find("deployments", ns, name)
        st = (dep or {}).get("status") or {}
        return dep if dep and st.get("observedGeneration") == dep["metadata"]["generation"] \
            and st.get("updatedReplicas") == dep["spec"]["replicas"] == st.get("replicas") \
            else None
    return wait_for(done, 10, message=f"{ns}/{name} to settle")


def containers(kube, ns, name="shop"):
    dep = kube.store.get("deployments", ns, name)
    return {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}


def run_now(api, path, body):
    response = api.post(path, body, format="json")
    assert response.status_code == 201, response.content
    execute_run(response.json()["id"])
    return Run.objects.get(pk=response.json()["id"])


def log_of(run):
    return "\n".join(RunLine.objects.filter(run=run).order_by("seq").values_list("text",
                                                                                 flat=True))


def test_deploy_through_the_worker_changes_only_that_container(envs, api, kube, worker,
                                                               signed_in):
    kube.store.apply("deployments", shop("dev"))
    before = settle(kube, "dev")
    kube.controller.set_mode("shop", "complete", step=0.2)
    response = api.post("/api/envs/dev/deploys/", {"component": "shop", "image":
                        "ghcr.io/acme/shop:2", "reason": "fix checkout"}, format="json")
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    run = wait_for(lambda: Run.objects.filter(pk=run_id, status__in=["succeeded", "failed"])
                   .first(), 30, message="the deploy run to end")
    assert run.status == "succeeded", (run.error, log_of(run))
    after = kube.store.get("deployments", "dev", "shop")
    cs = containers(kube, "dev", "shop")
    assert cs["app"]["image"] == "ghcr.io/acme/shop:2"
    assert cs["proxy"] == before["spec"]["template"]["spec"]["containers"][1]
    assert {k: v for k, v in cs["app"].items() if k != "image"} == {
        k: v for k, v in before["spec"]["template"]["spec"]["containers"][0].items()
        if k != "image"}
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    # the controller reported the rollout complete before the run ended
    assert after["status"]["updatedReplicas"] == 2 and after["status"]["readyReplicas"] == 2
    text = log_of(run)
    assert "image before: ghcr.io/acme/shop:1" in text
    assert "image after: ghcr.io/acme/shop:2" in text
    assert "1/2 pods updated" in text and "rollout complete" in text
    patch = kube.requests_matching("PATCH", "/deployments/shop")[0]
    assert patch.body[0]["op"] == "test" and patch.body[0]["path"] == \
        "/metadata/resourceVersion"
    release = Release.objects.get()
    assert (release.image, release.previous_image, release.reason, release.status) == (
        "ghcr.io/acme/shop:2", "ghcr.io/acme/shop:1", "fix checkout", "live")
    assert release.component == "component:default/shop" and release.run_id == run_id
    assert release.digest.startswith("sha256:") and len(release.digest) == 71
    assert release.env == {"plain": {"MODE": "blue"},
                           "refs": {"DB_PASSWORD": "secretKeyRef db/pw"},
                           "env_from": ["configMapRef shop-config"]}
    target = Target.objects.get(environment__name="dev")
    assert (target.deployment, target.container, target.explicit) == ("shop", "app", False)
    page = signed_in.get("/envs/dev/all/").content.decode()
    assert "ghcr.io/acme/shop:2" in page and "fix checkout" in page
    releases = api.get("/api/envs/dev/releases/").json()
    assert releases[0]["image"] == "ghcr.io/acme/shop:2"


def test_stalled_rollout_is_rolled_back_automatically(envs, api, kube):
    kube.store.apply("deployments", shop("dev", progressDeadlineSeconds=1))
    settle(kube, "dev")
    kube.controller.set_mode("shop", "stall", image="ghcr.io/acme/shop:broken")
    run = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                  "image": "ghcr.io/acme/shop:broken"})
    assert run.status == "failed"
    assert "ProgressDeadlineExceeded" in run.error and "rolled back to ghcr.io/acme/shop:1" in \
        run.error
    text = log_of(run)
    assert "== Automatic rollback of deployment dev/shop container app to " \
           "ghcr.io/acme/shop:1 ==" in text
    assert "ImagePullBackOff" in text
    settle(kube, "dev")
    assert containers(kube, "dev")["app"]["image"] == "ghcr.io/acme/shop:1"
    assert Release.objects.count() == 0


def test_own_timeout_and_disabled_auto_rollback(envs, api, kube):
    kube.store.apply("deployments", shop("dev"))
    settle(kube, "dev")
    response = api.post("/api/envs/dev/targets/", {
        "component": "shop", "deployment": "shop", "container": "app",
        "auto_rollback": False, "rollout_timeout": 1}, format="json")
    assert response.status_code == 201, response.content
    kube.controller.set_mode("shop", "manual", image="ghcr.io/acme/shop:slow")
    run = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                  "image": "ghcr.io/acme/shop:slow"})
    assert run.status == "failed" and "no complete rollout within 1 s" in run.error
    assert "auto-rollback is disabled" in run.error
    assert containers(kube, "dev")["app"]["image"] == "ghcr.io/acme/shop:slow"
    assert Release.objects.count() == 0


def test_kuberoapp_target_sets_image_and_watches_the_rollout(envs, api, kube):
    kube.store.apply("kuberoapps", {"metadata": {"name": "shop", "namespace": "dev"}, "spec": {
        "image": {"repository": "ghcr.io/acme/shop", "tag": "1"}, "web": {"replicaCount": 2}}})
    settle(kube, "dev", "shop-kuberoapp-web")
    response = api.post("/api/envs/dev/targets/", {"component": "shop", "kuberoapp": "shop"},
                        format="json")
    assert response.status_code == 201 and response.json()["kind"] == "kuberoapp"
    kube.controller.set_mode("shop", "complete", step=0.5)
    run = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                  "image": "ghcr.io/acme/shop:2"})
    assert run.status == "succeeded", (run.error, log_of(run))
    app = kube.store.get("kuberoapps", "dev", "shop")
    assert app["spec"]["image"] == {"repository": "ghcr.io/acme/shop", "tag": "2"}
    dep = kube.store.get("deployments", "dev", "shop-kuberoapp-web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/shop:2"
    assert dep["status"]["updatedReplicas"] == 2
    assert "1/2 pods updated" in log_of(run), log_of(run)
    assert kube.requests_matching("PATCH", "/kuberoapps/shop")
    assert not kube.requests_matching("PATCH", "/deployments/")  # never the operator's object
    release = Release.objects.get()
    assert release.workload == "KuberoApp dev/shop" and release.image == "ghcr.io/acme/shop:2"


def test_deployment_managed_by_another_controller_is_refused(envs, api, kube):
    kube.store.apply("deployments", deployment(
        "shop", namespace="dev", labels={"argocd.argoproj.io/instance": "shop-dev"},
        image="ghcr.io/acme/shop:1"))
    settle(kube, "dev")
    api.post("/api/envs/dev/targets/", {"component": "shop", "deployment": "shop",
                                        "container": "shop"}, format="json")
    run = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                  "image": "ghcr.io/acme/shop:2"})
    assert run.status == "failed"
    assert "managed by argocd:shop-dev; use a KuberoApp target" in run.error
    assert not kube.requests_matching("PATCH")
    assert Release.objects.count() == 0


def test_promote_dev_to_test_deploys_the_same_image_by_digest(envs, api, kube):
    for ns in ("dev", "test"):
        kube.store.apply("deployments", shop(ns))
        settle(kube, ns)
    assert run_now(api, "/api/envs/dev/deploys/", {
        "component": "shop", "image": "ghcr.io/acme/shop:2"}).status == "succeeded"
    api.post("/api/envs/test/targets/", {"component": "shop"}, format="json")
    pending = api.get("/api/promotions/").json()
    assert [(p["component"], p["from"], p["to"]) for p in pending] == [
        ("component:default/shop", "dev", "test")]
    dev_release = Release.objects.get(environment__name="dev")
    run = run_now(api, "/api/envs/test/promote/", {"component": "shop", "from": "dev"})
    assert run.status == "succeeded", (run.error, log_of(run))
    expected = f"ghcr.io/acme/shop:2@{dev_release.digest}"
    assert containers(kube, "test")["app"]["image"] == expected
    test_release = Release.objects.get(environment__name="test")
    assert test_release.action == "promote" and test_release.promoted_from == "dev"
    assert test_release.digest == dev_release.digest
    assert api.get("/api/promotions/").json() == []


def test_rollback_restores_image_and_env_and_reports_secret_versions(envs, api, kube):
    kube.store.apply("deployments", shop("dev"))
    settle(kube, "dev")
    first = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                    "image": "ghcr.io/acme/shop:2"})
    assert first.status == "succeeded"
    old = Release.objects.get()

    def change_env(d):
        d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "green"
        d["spec"]["template"]["spec"]["containers"][0]["env"].append(
            {"name": "FEATURE", "value": "on"})
    kube.store.mutate("deployments", "dev", "shop", change_env)
    settle(kube, "dev")
    assert run_now(api, "/api/envs/dev/deploys/", {
        "component": "shop", "image": "ghcr.io/acme/shop:3"}).status == "succeeded"
    assert Release.objects.get(status="live").env["plain"] == {"MODE": "green",
                                                                "FEATURE": "on"}
    run = run_now(api, "/api/envs/dev/rollback/", {"component": "shop", "release": old.pk})
    assert run.status == "succeeded", (run.error, log_of(run))
    app = containers(kube, "dev")["app"]
    assert app["image"] == "ghcr.io/acme/shop:2"
    assert app["env"] == [{"name": "MODE", "value": "blue"}, {
        "name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]
    assert "Secret versions" in log_of(run)
    latest = Release.objects.get(status="live")
    assert latest.action == "rollback" and latest.rollback_of_id == old.pk
    # any earlier release, not only the previous one
    assert Release.objects.count() == 3


def test_cluster_failures_say_which_and_where_and_record_nothing(envs, api, kube):
    kube.store.apply("deployments", shop("dev"))
    settle(kube, "dev")
    api.post("/api/envs/dev/targets/", {"component": "shop", "deployment": "shop",
                                        "container": "nope"}, format="json")
    run = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                  "image": "ghcr.io/acme/shop:2"})
    assert run.status == "failed"
    assert "container 'nope' not found in deployment dev/shop" in run.error
    assert "app, proxy" in run.error

    api.post("/api/envs/dev/targets/", {"component": "shop", "deployment": "shop",
                                        "container": "app"}, format="json")
    kube.forbid_namespace("dev")
    run = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                  "image": "ghcr.io/acme/shop:2"})
    assert run.status == "failed" and run.error.startswith("forbidden by RBAC")
    assert 'namespace "dev"' in run.error and kube.url in run.error
    kube.allow_namespace("dev")

    with KubeTestServer() as gone:
        dead = gone.kubeconfig()
    api.put("/api/envs/dev/cluster/", {"kubeconfig": dead}, format="json")
    run = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                  "image": "ghcr.io/acme/shop:2"})
    assert run.status == "failed" and run.error.startswith("cluster unreachable")
    assert gone.url in run.error
    assert Release.objects.count() == 0
    assert containers(kube, "dev")["app"]["image"] == "ghcr.io/acme/shop:1"


def test_unresolved_target_names_the_candidates(envs, api, kube, signed_in):
    for name in ("shop-a", "shop-b"):
        kube.store.apply("deployments", deployment(name, namespace="dev",
                                                   labels={KUBE_ID: "shop"}))
    response = api.post("/api/envs/dev/targets/", {"component": "shop"}, format="json")
    body = response.json()
    assert body["resolved"] is False and body["candidates"] == ["shop-a", "shop-b"]
    assert "2 Deployments (shop-a, shop-b)" in body["unresolved_reason"]
    run = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                  "image": "ghcr.io/acme/shop:2"})
    assert run.status == "failed" and "shop-a, shop-b" in run.error
    assert "shop-a, shop-b" in signed_in.get("/envs/dev/all/").content.decode()


def test_restart_rolls_new_pods(envs, api, kube):
    kube.store.apply("deployments", shop("dev"))
    settle(kube, "dev")
    api.post("/api/envs/dev/targets/", {"component": "shop"}, format="json")
    old = {p["metadata"]["name"] for p in kube.store.list("pods", "dev", "app=shop")[0]}
    run = run_now(api, "/api/envs/dev/restart/", {"component": "shop"})
    assert run.status == "succeeded", (run.error, log_of(run))
    dep = kube.store.get("deployments", "dev", "shop")
    assert "kubectl.kubernetes.io/restartedAt" in dep["spec"]["template"]["metadata"][
        "annotations"]
    new = {p["metadata"]["name"] for p in kube.store.list("pods", "dev", "app=shop")[0]}
    assert new and not new & old


def test_prod_needs_confirm_and_kubeconfig_never_shows(envs, api, kube, signed_in):
    kube.store.apply("deployments", shop("prod"))
    settle(kube, "prod")
    body = {"component": "shop", "image": "ghcr.io/acme/shop:2"}
    refused = api.post("/api/envs/prod/deploys/", body, format="json")
    assert refused.status_code == 400 and refused.json()["error"] == "confirmation_required"
    for path in ("/api/envs/prod/restart/", "/api/envs/prod/promote/"):
        assert api.post(path, {"component": "shop", "from": "test"},
                        format="json").status_code == 400
    run = run_now(api, "/api/envs/prod/deploys/", {**body, "confirm": "prod"})
    assert run.status == "succeeded", (run.error, log_of(run))
    seen = [api.get(p).content.decode() for p in (
        "/api/envs/prod/cluster/", "/api/envs/prod/targets/", "/api/envs/prod/releases/",
        f"/api/runs/{run.pk}/", f"/api/runs/{run.pk}/log/", "/api/audit/", "/api/promotions/",
        "/api/envs/prod/")]
    seen += [signed_in.get(p).content.decode() for p in ("/envs/prod/all/", f"/runs/{run.pk}/",
                                                          "/promotions/", "/", "/audit/")]
    seen += list(RunLine.objects.values_list("text", flat=True))
    seen += [str(e.detail) for e in AuditEvent.objects.all()]
    seen += [str(r.params) + str(r.result) + r.error for r in Run.objects.all()]
    assert api.get("/api/envs/prod/cluster/").json() == {
        "set": True, "server": kube.url, "in_cluster": False, "source": None}
    for text in seen:
        assert TOKEN not in text and "current-context" not in text


def test_cancel_stops_the_watch_and_says_where_the_deployment_was_left(envs, api, kube):


    kube.store.apply("deployments", shop("dev"))
    settle(kube, "dev")
    kube.controller.set_mode("shop", "manual", image="ghcr.io/acme/shop:2")
    response = api.post("/api/envs/dev/deploys/", {"component": "shop",
                                                   "image": "ghcr.io/acme/shop:2"},
                        format="json")
    run_id = response.json()["id"]

    thread = run_in_thread(run_id)
    wait_for(lambda: "image after" in log_of(Run.objects.get(pk=run_id)), 10,
             message="the patch")
    Run.objects.get(pk=run_id).request_cancel(actor="tester")
    thread.join(10)
    run = Run.objects.get(pk=run_id)
    assert run.status == "canceled"
    text = log_of(run)
    assert "Canceled: deployment dev/shop left with app=ghcr.io/acme/shop:2" in text
    assert "nothing is rolled back" in text
    assert Release.objects.count() == 0

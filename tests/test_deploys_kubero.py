# ruff: noqa: F811 - pytest fixtures imported below are used as arguments
"""KuberoApp targets beyond a plain deploy: rollback restores the app's envVars (not only its
image) through the custom objects API, restart rolls the operator's Deployments, and cancel
stops the watch leaving the app as it was patched. Against the Kubernetes test server, whose
Kubero-like operator renders spec.envVars into the Deployment it owns."""

from __future__ import annotations

from envs.deploys.models import Release
from portal.runs.models import Run
from tests.conftest import run_in_thread, wait_for

# The deploy tests' fixtures (a test server with dev/test/prod, environments connected to
# it), imported so pytest finds them here; test arguments of the same name shadow them.
from .test_deploys_runs import envs, kube, log_of, run_now, settle  # noqa: F401

DEP = "shop-kuberoapp-web"
PASSWORD_V1, PASSWORD_V2 = "pw-v1-NEVER-RECORDED-41d2", "pw-v2-NEVER-RECORDED-9be0"


def env_vars(**values) -> list[dict]:
    return [{"name": k, "value": v} for k, v in values.items()]


def kubero_app(kube, tag="1", **env):
    kube.store.apply("kuberoapps", {"metadata": {"name": "shop", "namespace": "dev"}, "spec": {
        "image": {"repository": "ghcr.io/acme/shop", "tag": tag, "pullPolicy": "Always"},
        "web": {"replicaCount": 2}, "envVars": env_vars(**env)}})
    settle(kube, "dev", DEP)


def app_env(kube) -> dict:
    return {e["name"]: e["value"] for e in
            kube.store.get("kuberoapps", "dev", "shop")["spec"].get("envVars") or []}


def deployment_env(kube) -> dict:
    dep = kube.store.get("deployments", "dev", DEP)
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container.get("env") or []}


def edit_app(kube, **env) -> None:
    """An edit made outside the portal (the Kubero UI): envVars replaced."""
    def change(app: dict) -> dict:
        app["spec"]["envVars"] = env_vars(**env)
        return app
    kube.store.mutate("kuberoapps", "dev", "shop", change)
    wait_for(lambda: deployment_env(kube) == env, 10, message="the operator to render it")
    settle(kube, "dev", DEP)


def target(api) -> None:
    response = api.post("/api/envs/dev/targets/", {"component": "shop", "kuberoapp": "shop"},
                        format="json")
    assert response.status_code == 201, response.content


def test_rollback_restores_image_and_env_vars_never_secret_values(envs, api, kube):
    kubero_app(kube, MODE="blue", FEATURE_X="on", DB_PASSWORD=PASSWORD_V1)
    assert deployment_env(kube)["MODE"] == "blue"  # the operator renders envVars
    target(api)
    kube.controller.set_mode("shop", "complete", step=0.1)
    first = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                   "image": "ghcr.io/acme/shop:2"})
    assert first.status == "succeeded", (first.error, log_of(first))
    r1 = Release.objects.get(run=first)
    assert r1.env == {"plain": {"MODE": "blue", "FEATURE_X": "on"},
                      "refs": {"DB_PASSWORD": "secret-looking value (not recorded)"},
                      "env_from": []}

    # Outside the portal: the env changes (and the password is rotated); then a new deploy.
    edit_app(kube, MODE="green", NEW_FLAG="1", DB_PASSWORD=PASSWORD_V2)
    second = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                    "image": "ghcr.io/acme/shop:3"})
    assert second.status == "succeeded", (second.error, log_of(second))
    assert Release.objects.get(run=second).env["plain"] == {"MODE": "green", "NEW_FLAG": "1"}

    kube.clear_requests()
    back = run_now(api, "/api/envs/dev/rollback/", {"component": "shop", "release": r1.pk})
    assert back.status == "succeeded", (back.error, log_of(back))
    app = kube.store.get("kuberoapps", "dev", "shop")
    assert app["spec"]["image"] == {"repository": "ghcr.io/acme/shop", "tag": "2",
                                    "pullPolicy": "Always"}  # other image fields kept
    # Plain values as in release 1, NEW_FLAG gone, the password as it is NOW (never restored).
    assert app_env(kube) == {"MODE": "blue", "FEATURE_X": "on", "DB_PASSWORD": PASSWORD_V2}
    assert deployment_env(kube) == app_env(kube)
    dep = kube.store.get("deployments", "dev", DEP)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/shop:2"
    assert dep["status"]["updatedReplicas"] == 2
    # One merge patch through the custom objects API, guarded by the resourceVersion read.
    (patch,) = kube.requests_matching("PATCH", "/kuberoapps/shop")
    assert patch.body["metadata"]["resourceVersion"]
    assert set(patch.body["spec"]) == {"image", "envVars"}
    assert not kube.requests_matching("PATCH", "/deployments/")
    text = log_of(back)
    assert "Restoring plain envVars: MODE changed, FEATURE_X added, NEW_FLAG removed" in text
    release = Release.objects.get(run=back)
    assert release.action == "rollback" and release.rollback_of_id == r1.pk
    assert release.env["plain"] == {"MODE": "blue", "FEATURE_X": "on"}

    # Same image, env changed outside again: an env-only rollback still waits for the
    # operator to render it before it watches the rollout.
    edit_app(kube, MODE="red", FEATURE_X="on", DB_PASSWORD=PASSWORD_V2)
    again = run_now(api, "/api/envs/dev/rollback/", {"component": "shop", "release": r1.pk})
    assert again.status == "succeeded", (again.error, log_of(again))
    assert "the operator rendered the envVars into its Deployments" in log_of(again)
    assert deployment_env(kube)["MODE"] == "blue"

    listed = api.get("/api/envs/dev/releases/").content.decode()
    for pw in (PASSWORD_V1, PASSWORD_V2):
        assert pw not in listed
        for run in Run.objects.all():
            assert pw not in log_of(run) and pw not in str(run.result)
        assert not any(pw in str(r.env) for r in Release.objects.all())


def test_rollback_of_a_kubero_env_whose_rollout_fails_puts_the_env_back(envs, api, kube):
    kubero_app(kube, MODE="blue")
    target(api)
    kube.controller.set_mode("shop", "complete")
    first = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                   "image": "ghcr.io/acme/shop:2"})
    assert first.status == "succeeded", (first.error, log_of(first))
    r1 = Release.objects.get(run=first)
    edit_app(kube, MODE="green")
    second = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                    "image": "ghcr.io/acme/shop:3"})
    assert second.status == "succeeded"
    # Image 2 is now broken: the rollback's rollout fails and is undone, env included.
    kube.controller.set_mode("shop", "fail", image="ghcr.io/acme/shop:2")
    back = run_now(api, "/api/envs/dev/rollback/", {"component": "shop", "release": r1.pk})
    assert back.status == "failed" and "rolled back to ghcr.io/acme/shop:3" in back.error
    assert app_env(kube) == {"MODE": "green"}
    assert kube.store.get("kuberoapps", "dev", "shop")["spec"]["image"]["tag"] == "3"
    assert Release.objects.filter(action="rollback").count() == 0


def test_restart_of_a_kuberoapp_target_rolls_the_operators_deployment(envs, api, kube):
    kubero_app(kube, MODE="blue")
    target(api)
    before = kube.store.get("deployments", "dev", DEP)
    app_before = kube.store.get("kuberoapps", "dev", "shop")
    kube.controller.set_mode("shop", "complete", step=0.1)
    run = run_now(api, "/api/envs/dev/restart/", {"component": "shop"})
    assert run.status == "succeeded", (run.error, log_of(run))
    assert run.result == {"restarted": [DEP]}
    dep = kube.store.get("deployments", "dev", DEP)
    annotations = dep["spec"]["template"]["metadata"].get("annotations") or {}
    assert annotations.get("kubectl.kubernetes.io/restartedAt")
    assert dep["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"]
    assert dep["status"]["updatedReplicas"] == 2
    # The operator's next reconcile keeps the restart, and the app itself is untouched.
    assert kube.store.get("kuberoapps", "dev", "shop")["spec"] == app_before["spec"]
    assert f"Rolling restart of deployment dev/{DEP}" in log_of(run)
    assert not kube.requests_matching("PATCH", "/kuberoapps/")
    assert Release.objects.count() == 0  # a restart changes no release


def test_cancel_of_a_kuberoapp_deploy_stops_the_watch_and_says_where_it_was_left(
        envs, api, kube):
    kubero_app(kube, MODE="blue")
    target(api)
    kube.controller.set_mode("shop", "manual", image="ghcr.io/acme/shop:2")
    response = api.post("/api/envs/dev/deploys/", {"component": "shop",
                                                   "image": "ghcr.io/acme/shop:2"},
                        format="json")
    run_id = response.json()["id"]

    thread = run_in_thread(run_id)
    wait_for(lambda: "waiting for the operator's Deployments" in log_of(
        Run.objects.get(pk=run_id)), 10, message="the patch")
    Run.objects.get(pk=run_id).request_cancel(actor="tester")
    thread.join(10)
    assert not thread.is_alive()
    run = Run.objects.get(pk=run_id)
    assert run.status == "canceled", (run.error, log_of(run))
    text = log_of(run)
    assert f"Canceled: deployment dev/{DEP} left with kuberoapp-web=ghcr.io/acme/shop:2" in text
    assert "nothing is rolled back" in text
    # The app keeps what was applied (no rollback on cancel) and nothing is recorded.
    assert kube.store.get("kuberoapps", "dev", "shop")["spec"]["image"]["tag"] == "2"
    assert Release.objects.count() == 0

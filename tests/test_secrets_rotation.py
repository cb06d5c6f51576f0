"""Rotation runs against the Kubernetes test server over HTTP: which workloads roll, the
revert when a rollout fails, KuberoApps, Terraform-only secrets, the daily check."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from envs.models import Environment
from envs.secrets.models import Secret, SecretVersion, terraform_secret_variables
from envs.secrets.services import rotate_overdue
from portal.audit.models import AuditEvent
from portal.lib.kube import RESTARTED_AT
from portal.runs.engine import execute_run
from portal.runs.models import Lock, Run, RunLine
from tests.conftest import wait_for
from tests.fakes.kubeserver import KubeTestServer, deployment

TOKEN = "kube-token-secrets-NEVER-SHOWN-41d2"
OLD = "old-db-password-Xq81-never-shown"


@pytest.fixture
def kube():
    with KubeTestServer(token=TOKEN) as srv:
        yield srv


def workload(name: str, ns: str = "dev", **pod) -> dict:
    container = {"name": "app", "image": "ghcr.io/acme/app:1"}
    container.update(pod.pop("container", {}))
    dep = deployment(name, namespace=ns, containers=[container])
    dep["spec"]["template"]["spec"].update(pod)
    return dep


def seed(kube, ns: str = "dev") -> None:
    kube.store.apply("secrets", {"metadata": {"name": "app-env", "namespace": ns}, "data": {
        "DATABASE_URL": base64.b64encode(OLD.encode()).decode(),
        "OTHER_KEY": base64.b64encode(b"keep-me-as-is").decode()}})
    ref = {"secretKeyRef": {"name": "app-env", "key": "DATABASE_URL"}}
    kube.store.apply("deployments", workload("web", ns, container={
        "env": [{"name": "DATABASE_URL", "valueFrom": ref}]}))
    kube.store.apply("deployments", workload("worker", ns, container={
        "envFrom": [{"secretRef": {"name": "app-env"}}]}))
    kube.store.apply("deployments", workload("files", ns, volumes=[
        {"name": "creds", "secret": {"secretName": "app-env"}}]))
    kube.store.apply("deployments", workload("other-key", ns, container={"env": [
        {"name": "OTHER", "valueFrom": {"secretKeyRef": {"name": "app-env",
                                                         "key": "OTHER_KEY"}}}]}))
    kube.store.apply("deployments", workload("unrelated", ns))


def settle(kube, ns, name):
    def done():
        dep = kube.store.find("deployments", ns, name)
        st = (dep or {}).get("status") or {}
        return dep if dep and st.get("observedGeneration") == dep["metadata"]["generation"] \
            and st.get("updatedReplicas") == dep["spec"]["replicas"] else None
    return wait_for(done, 10, message=f"{ns}/{name} to settle")


@pytest.fixture
def env(transactional_db, kube):
    seed(kube)
    for name in ("web", "worker", "files", "other-key", "unrelated"):
        settle(kube, "dev", name)
    return Environment.objects.create(name="dev", tier="dev", kubeconfig=kube.kubeconfig())


def k8s_value(kube, ns="dev", name="app-env", key="DATABASE_URL") -> str:
    return base64.b64decode(kube.store.get("secrets", ns, name)["data"][key]).decode()


def restarted(kube, name, ns="dev") -> str | None:
    dep = kube.store.get("deployments", ns, name)
    return (dep["spec"]["template"]["metadata"].get("annotations") or {}).get(RESTARTED_AT)


def log_of(run) -> str:
    return "\n".join(RunLine.objects.filter(run=run).order_by("seq")
                     .values_list("text", flat=True))


def make_secret(api, env_name="dev", **extra) -> None:
    body = {"name": "DATABASE_URL", "value": OLD, "apply": False,
            "kubernetes": {"secret": "app-env"}, **extra}
    response = api.post(f"/api/envs/{env_name}/secrets/", body, format="json")
    assert response.status_code == 201, response.content


def rotate(api, body=None, env_name="dev", name="DATABASE_URL") -> Run:
    response = api.post(f"/api/envs/{env_name}/secrets/{name}/rotate/", body or {},
                        format="json")
    assert response.status_code == 201, response.content
    execute_run(response.json()["id"])
    return Run.objects.get(pk=response.json()["id"])


def test_rotation_rolls_every_workload_using_the_key_and_only_those(env, api, kube):
    make_secret(api)
    kube.controller.set_mode(None, "complete", step=0.1)
    run = rotate(api)
    assert run.status == "succeeded", (run.error, log_of(run))
    secret = Secret.objects.get()
    assert secret.version == 2 and secret.cluster_version == 2 and secret.rotated_at
    new = k8s_value(kube)
    assert new != OLD and len(new) == 32 and secret.value == new
    assert k8s_value(kube, key="OTHER_KEY") == "keep-me-as-is"  # other keys kept
    for name in ("web", "worker", "files"):
        assert restarted(kube, name), name
        assert kube.store.get("deployments", "dev", name)["status"]["updatedReplicas"] == 1
    assert restarted(kube, "other-key") is None and restarted(kube, "unrelated") is None
    text = log_of(run)
    assert "not rolled: deployment dev/other-key" in text
    assert "every rollout complete; version 2 committed" in text
    assert new not in text and OLD not in text
    assert [v.how for v in secret.versions.all()] == ["rotate", "create"]
    assert not Lock.objects.exists()
    event = AuditEvent.objects.get(action="secret.rotate")
    assert event.detail == {"secret": "DATABASE_URL", "version": 2, "in_cluster": True}


def test_owner_value_reaches_the_cluster_without_entering_run_params(env, api, kube):
    make_secret(api)
    mine = "owner-chosen-value-7781-zz"
    response = api.post("/api/envs/dev/secrets/DATABASE_URL/rotate/", {"value": mine},
                        format="json")
    assert response.status_code == 201
    run = Run.objects.get(pk=response.json()["id"])
    assert mine not in str(run.params)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert k8s_value(kube) == mine and Secret.objects.get().value == mine
    from envs.secrets.models import PendingValue
    assert not PendingValue.objects.exists()  # the handed-over value is gone after the run


def test_failed_rollout_puts_the_old_value_back_and_keeps_the_version(env, api, kube):
    make_secret(api)
    kube.controller.set_mode("worker", "fail")
    run = rotate(api)
    assert run.status == "failed"
    assert "rollout of deployment dev/worker failed" in run.error
    assert "ProgressDeadlineExceeded" in run.error
    assert "stored version stays 1" in run.error
    assert k8s_value(kube) == OLD
    secret = Secret.objects.get()
    assert secret.version == 1 and secret.value == OLD and secret.rotated_at is None
    assert SecretVersion.objects.count() == 1
    # the revert rolled the workloads again: two restarts each, the second one distinct
    patches = kube.requests_matching("PATCH", "/deployments/web$")
    stamps = [p.body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
              for p in patches]
    assert len(stamps) == 2 and stamps[0] != stamps[1]
    # the worker still fails after the revert (the test rule stays), and the run says so
    assert "did not complete either" in run.error
    assert OLD not in log_of(run) and OLD not in run.error
    assert not Lock.objects.exists()


def test_revert_rollout_completes_when_the_old_value_is_back(env, api, kube):
    make_secret(api)
    kube.controller.set_mode("web", "fail")
    seen = {"new": False}

    def heal(kind, plural, obj):
        # Like a real app, web starts again once its old password is back. Called by the
        # store as the Secret is written, before the revert's restart can arrive.
        if plural != "secrets" or obj["metadata"]["name"] != "app-env":
            return
        value = base64.b64decode(obj["data"]["DATABASE_URL"]).decode()
        seen["new"] = seen["new"] or value != OLD
        if seen["new"] and value == OLD:
            kube.controller._rules.clear()  # no lock: the store holds its own right now

    kube.store.subscribe(heal)
    run = rotate(api)
    assert run.status == "failed"
    assert "every workload rolled back to it" in run.error, run.error
    assert k8s_value(kube) == OLD and Secret.objects.get().version == 1
    assert settle(kube, "dev", "web")["status"]["readyReplicas"] == 1


def test_kuberoapp_workloads_are_restarted_through_the_app(env, api, kube):
    kube.store.apply("kuberoapps", {"metadata": {"name": "shop", "namespace": "dev"}, "spec": {
        "image": {"repository": "ghcr.io/acme/shop", "tag": "1"}, "web": {"replicaCount": 1}}})
    settle(kube, "dev", "shop-kuberoapp-web")

    def use_secret(dep):
        dep["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
            {"secretRef": {"name": "app-env"}}]
    kube.store.mutate("deployments", "dev", "shop-kuberoapp-web", use_secret)
    settle(kube, "dev", "shop-kuberoapp-web")
    make_secret(api)
    run = rotate(api)
    assert run.status == "succeeded", (run.error, log_of(run))
    assert restarted(kube, "shop-kuberoapp-web")
    assert "owned by KuberoApp/shop" in log_of(run)
    assert "restarted KuberoApp dev/shop (shop-kuberoapp-web)" in log_of(run)


def test_terraform_only_secret_is_stored_for_the_next_plan(transactional_db, api):
    Environment.objects.create(name="dev", tier="dev")
    response = api.post("/api/envs/dev/secrets/", {"name": "TF_TOKEN", "value": "tf-old-value-1",
                        "terraform_variable": "api_token"}, format="json")
    assert response.status_code == 201 and response.json()["run"] is None
    env = Environment.objects.get(name="dev")
    assert terraform_secret_variables(env) == {"api_token": "tf-old-value-1"}
    run = rotate(api, name="TF_TOKEN")
    assert run.status == "succeeded", run.error
    value = terraform_secret_variables(env)["api_token"]
    assert value != "tf-old-value-1" and len(value) == 32
    assert "the next plan of dev uses it as Terraform variable api_token" in log_of(run)


def test_set_with_a_kubernetes_placement_commits_only_after_the_rollouts(env, api, kube):
    make_secret(api)
    response = api.put("/api/envs/dev/secrets/DATABASE_URL/", {"value": "set-through-put-99"},
                       format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["version"] == 1 and body["run"]["kind"] == "rotate_secret"
    assert "set-through-put-99" not in response.content.decode()
    execute_run(body["run"]["id"])
    secret = Secret.objects.get()
    assert secret.version == 2 and k8s_value(kube) == "set-through-put-99"
    assert secret.versions.first().how == "set" and secret.set_at and not secret.rotated_at


def test_daily_check_rotates_overdue_auto_secrets_and_skips_a_held_lock(env, api, kube):
    make_secret(api, auto_rotate=True, max_age_days=30)
    api.post("/api/envs/dev/secrets/", {"name": "FRESH", "value": "fresh-value-123",
                                        "auto_rotate": True}, format="json")
    Secret.objects.filter(name="DATABASE_URL").update(
        set_at=timezone.now() - timedelta(days=31))
    assert Secret.objects.get(name="DATABASE_URL").overdue
    holder = Run.start("selfcheck", target="env:dev", lock_key="env:dev")
    assert rotate_overdue() == []
    skipped = AuditEvent.objects.get(action="schedule.skipped")
    assert skipped.detail["kind"] == "rotate_secret"
    holder.request_cancel()
    started = rotate_overdue()
    assert len(started) == 1
    run = Run.objects.get(pk=started[0])
    assert run.scheduled and run.params["names"] == ["DATABASE_URL"]
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert not Secret.objects.get(name="DATABASE_URL").overdue
    assert Secret.objects.get(name="FRESH").version == 1


def test_a_rotation_holds_the_environment_lock(env, api, kube):
    make_secret(api)
    first = api.post("/api/envs/dev/secrets/DATABASE_URL/rotate/", {}, format="json")
    assert first.status_code == 201
    second = api.post("/api/envs/dev/secrets/DATABASE_URL/rotate/", {}, format="json")
    assert second.status_code == 409
    assert second.json()["error"] == "locked"
    put = api.put("/api/envs/dev/secrets/DATABASE_URL/", {"value": "x" * 20, "apply": False},
                  format="json")
    assert put.status_code == 409 and "being changed by run" in put.json()["detail"]

"""The namespace an environment's Terraform state outputs is where deploys and secret
rotations act: the ``namespace`` output of its StateSnapshot (envs.models.Environment.namespace),
through the public API against the Kubernetes test server (nothing is monkeypatched). A
decoy workload of the same name in the namespace named like the environment stays untouched."""

from __future__ import annotations

import base64

import pytest

from envs.deploys.models import Release
from envs.models import Environment
from envs.provisioning.models import StateSnapshot
from envs.secrets.models import Secret
from portal.lib.kube import RESTARTED_AT
from portal.runs.engine import execute_run
from portal.runs.models import Run, RunLine
from tests.conftest import wait_for
from tests.fakes.kubeserver import KubeTestServer, deployment

TOKEN = "kube-token-namespace-NEVER-SHOWN-5e1b"
OLD = "old-namespace-password-Zp44-never-shown"
KUBE_ID = "backstage.io/kubernetes-id"


def shop(ns: str) -> dict:
    ref = {"secretKeyRef": {"name": "app-env", "key": "DATABASE_URL"}}
    return deployment("shop", namespace=ns, labels={KUBE_ID: "shop"}, containers=[
        {"name": "shop", "image": "ghcr.io/acme/shop:1",
         "env": [{"name": "DATABASE_URL", "valueFrom": ref}]}])


def settle(kube, ns: str) -> dict:
    def done():
        dep = kube.store.find("deployments", ns, "shop")
        st = (dep or {}).get("status") or {}
        return dep if dep and st.get("observedGeneration") == dep["metadata"]["generation"] \
            and st.get("updatedReplicas") == dep["spec"]["replicas"] else None
    return wait_for(done, 10, message=f"{ns}/shop to settle")


@pytest.fixture
def kube():
    with KubeTestServer(token=TOKEN) as srv:
        for ns in ("team-ns", "dev"):
            srv.store.apply("namespaces", {"metadata": {"name": ns}})
            srv.store.apply("secrets", {"metadata": {"name": "app-env", "namespace": ns},
                                        "data": {"DATABASE_URL": base64.b64encode(
                                            OLD.encode()).decode()}})
            srv.store.apply("deployments", shop(ns))
        for ns in ("team-ns", "dev"):
            settle(srv, ns)
        yield srv


@pytest.fixture
def env(transactional_db, api, kube) -> Environment:
    env = Environment.objects.create(name="dev", tier="dev")
    StateSnapshot.objects.create(environment=env, serial=1, outputs={
        "namespace": {"value": "team-ns", "sensitive": False}})
    response = api.put("/api/envs/dev/cluster/", {"kubeconfig": kube.kubeconfig()},
                       format="json")
    assert response.status_code == 200, response.content
    return env


def run_now(api, path: str, body: dict) -> Run:
    response = api.post(path, body, format="json")
    assert response.status_code == 201, response.content
    execute_run(response.json()["id"])
    return Run.objects.get(pk=response.json()["id"])


def log_of(run: Run) -> str:
    return "\n".join(RunLine.objects.filter(run=run).order_by("seq")
                     .values_list("text", flat=True))


def image(kube, ns: str) -> str:
    return kube.store.get("deployments", ns, "shop")["spec"]["template"]["spec"][
        "containers"][0]["image"]


def k8s_value(kube, ns: str) -> str:
    return base64.b64decode(kube.store.get("secrets", ns, "app-env")["data"][
        "DATABASE_URL"]).decode()


def restarted(kube, ns: str) -> str | None:
    dep = kube.store.get("deployments", ns, "shop")
    return (dep["spec"]["template"]["metadata"].get("annotations") or {}).get(RESTARTED_AT)


def test_rotation_and_deploy_act_in_the_namespace_terraform_outputs(env, api, kube):
    assert env.namespace == "team-ns"

    created = api.post("/api/envs/dev/secrets/", {
        "name": "DATABASE_URL", "value": OLD, "apply": False,
        "kubernetes": {"secret": "app-env"}}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["kubernetes"]["effective_namespace"] == "team-ns"
    rotation = run_now(api, "/api/envs/dev/secrets/DATABASE_URL/rotate/", {})
    assert rotation.status == "succeeded", (rotation.error, log_of(rotation))
    secret = Secret.objects.get()
    assert secret.cluster_version == 2 and k8s_value(kube, "team-ns") == secret.value != OLD
    assert restarted(kube, "team-ns")
    assert k8s_value(kube, "dev") == OLD and restarted(kube, "dev") is None
    assert "secret team-ns/app-env" in log_of(rotation)

    deploy = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                      "image": "ghcr.io/acme/shop:2"})
    assert deploy.status == "succeeded", (deploy.error, log_of(deploy))
    assert image(kube, "team-ns") == "ghcr.io/acme/shop:2"
    assert image(kube, "dev") == "ghcr.io/acme/shop:1"
    target = api.get("/api/envs/dev/targets/").json()[0]
    assert (target["namespace"], target["effective_namespace"], target["deployment"]) == (
        "", "team-ns", "shop")
    release = Release.objects.get()
    assert release.workload == "deployment team-ns/shop container shop"
    # The secret versions in effect are read in the same namespace.
    assert release.secret_versions == {"DATABASE_URL": 2}

"""Deploys API input handling: the cluster connection is write-only, bad input answers 400
naming the field, prod needs "confirm", a read token cannot deploy. The environments have a
cluster connection (the Kubernetes API test server) unless a test says otherwise; without
one, tests/test_deploys_not_configured.py."""

from __future__ import annotations

import pytest

from envs.deploys.models import Release, Target
from envs.models import Environment
from portal.runs.models import Run
from tests.fakes.kubeserver import KubeTestServer

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://k8s.example.test:6443"}}]
users: [{name: u, user: {token: "tok-SHOULD-NEVER-BE-ECHOED"}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: dev}}]
current-context: x
"""


@pytest.fixture(scope="module")
def kube():
    with KubeTestServer(token="deploys-api-token") as srv:
        yield srv


@pytest.fixture
def bare(db):
    """dev, test and prod without a cluster connection."""
    return {name: Environment.objects.update_or_create(name=name, defaults={"tier": name})[0]
            for name in ("dev", "test", "prod")}


@pytest.fixture
def envs(bare, kube):
    """dev, test and prod, each connected to the Kubernetes API test server."""
    for env in bare.values():
        env.kubeconfig = kube.kubeconfig(namespace=env.name)
        env.save()
    return bare


def test_cluster_connection_is_write_only(api, bare):
    envs = bare
    assert api.get("/api/envs/dev/cluster/").json() == {"set": False, "server": None,
                                                        "in_cluster": False, "source": None}
    response = api.put("/api/envs/dev/cluster/", {"kubeconfig": KUBECONFIG}, format="json")
    assert response.status_code == 200
    assert response.json() == {"set": True, "server": "https://k8s.example.test:6443",
                               "in_cluster": False, "source": None}
    assert "tok-" not in response.content.decode()
    envs["dev"].refresh_from_db()
    assert "tok-SHOULD-NEVER-BE-ECHOED" in envs["dev"].kubeconfig
    assert api.delete("/api/envs/dev/cluster/").json()["set"] is False


@pytest.mark.parametrize("text", ["clusters: []", "a: [unclosed tok-SHOULD-NEVER-BE-ECHOED",
                                  "just text"])
def test_bad_kubeconfig_is_400_without_echo(api, envs, text):
    response = api.put("/api/envs/dev/cluster/", {"kubeconfig": text}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid" and "kubeconfig" in body["fields"]
    assert "tok-" not in response.content.decode()


@pytest.mark.parametrize("image", ["", "nginx", "Ghcr.io/Acme/Shop:1", "ghcr.io/acme/shop:",
                                   "ghcr.io/acme/shop@sha256:abc", "shop:1 ; rm -rf /",
                                   "ghcr.io//shop:1"])
def test_invalid_image_refs_are_400_naming_the_field(api, envs, image):
    response = api.post("/api/envs/dev/deploys/", {"component": "shop", "image": image},
                        format="json")
    assert response.status_code == 400, image
    assert response.json()["error"] == "invalid" and "image" in response.json()["fields"]
    assert Run.objects.count() == 0


@pytest.mark.parametrize("image", ["ghcr.io/acme/shop:1.4.2", "nginx:1.25",
                                   "registry.local:5000/team/app:v2-rc.1",
                                   "ghcr.io/acme/shop@sha256:" + "a" * 64,
                                   "ghcr.io/acme/shop:2@sha256:" + "b" * 64])
def test_valid_image_refs_start_a_deploy_run(api, envs, image):
    response = api.post("/api/envs/dev/deploys/", {"component": "Shop", "image": image,
                                                   "reason": "test"}, format="json")
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert run.kind == "deploy" and run.target == "env:dev" and run.lock_key == "env:dev"
    assert run.params["image"] == image and run.params["component"] == "component:default/shop"
    Run.objects.all().delete()


def test_bad_component_and_unknown_environment(api, envs):
    response = api.post("/api/envs/dev/deploys/", {"component": "api:default/x",
                                                   "image": "a/b:1"}, format="json")
    assert response.status_code == 400 and "component" in response.json()["fields"]
    response = api.post("/api/envs/nope/deploys/", {"component": "x", "image": "a/b:1"},
                        format="json")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_second_deploy_on_a_locked_environment_is_409(api, envs):
    body = {"component": "shop", "image": "a/shop:1"}
    first = api.post("/api/envs/dev/deploys/", body, format="json").json()
    second = api.post("/api/envs/dev/deploys/", body, format="json")
    assert second.status_code == 409 and second.json()["run"] == first["id"]


def test_prod_needs_confirm_on_every_change(api, envs):
    Target.objects.create(environment=envs["prod"], component="component:default/shop")
    Target.objects.create(environment=envs["test"], component="component:default/shop")
    release = Release.objects.create(environment=envs["prod"], component="component:default/"
                                     "shop", image="a/shop:1", actor="x")
    calls = [("deploys", {"component": "shop", "image": "a/shop:2"}),
             ("rollback", {"component": "shop", "release": release.pk}),
             ("promote", {"component": "shop", "from": "test"}),
             ("restart", {"component": "shop"})]
    for path, body in calls:
        response = api.post(f"/api/envs/prod/{path}/", body, format="json")
        assert response.status_code == 400, path
        assert response.json()["error"] == "confirmation_required"
        assert response.json()["fields"] == {"confirm": ["must be 'prod'"]}
    assert Run.objects.count() == 0
    for path, body in calls[:1]:
        response = api.post(f"/api/envs/prod/{path}/", {**body, "confirm": "prod"},
                            format="json")
        assert response.status_code == 201


def test_promote_order_and_rollback_release_checks(api, envs):
    Target.objects.create(environment=envs["dev"], component="component:default/shop")
    response = api.post("/api/envs/prod/promote/", {"component": "shop", "from": "dev",
                                                    "confirm": "prod"}, format="json")
    assert response.status_code == 400 and "dev -> test -> prod" in response.json()["detail"]
    assert "from" in response.json()["fields"]
    response = api.post("/api/envs/test/promote/", {"component": "shop"}, format="json")
    assert response.status_code == 201  # "from" defaults to the single dev-tier environment
    Run.objects.all().delete()
    response = api.post("/api/envs/test/rollback/", {"component": "shop", "release": 999},
                        format="json")
    assert response.status_code == 400 and "release" in response.json()["fields"]
    response = api.post("/api/envs/test/restart/", {"component": "ghost"}, format="json")
    assert response.status_code == 400 and "component" in response.json()["fields"]


def test_target_input_validation(api, envs):
    cases = [({"component": "shop", "deployment": "shop"}, "container"),
             ({"component": "shop", "container": "app"}, "deployment"),
             ({"component": "shop", "deployment": "a", "container": "b", "kuberoapp": "c"},
              "kuberoapp"),
             ({"component": "shop", "namespace": "Not_A_Label"}, "namespace"),
             ({"component": "shop", "deployment": "a", "container": "b",
               "rollout_timeout": 0}, "rollout_timeout"),
             ({}, "component")]
    for body, field in cases:
        response = api.post("/api/envs/dev/targets/", body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["fields"], (body, response.json())
    response = api.post("/api/envs/dev/targets/", {"component": "shop", "namespace": "shop-dev",
                                                   "deployment": "web", "container": "app"},
                        format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["effective_namespace"], body["kind"], body["explicit"]) == (
        "shop-dev", "deployment", True)
    assert api.get("/api/envs/dev/targets/").json()[0]["deployment"] == "web"


def test_read_token_cannot_deploy(read_api, envs):
    response = read_api.post("/api/envs/dev/deploys/", {"component": "shop",
                                                        "image": "a/shop:1"}, format="json")
    assert response.status_code == 403
    assert read_api.get("/api/envs/dev/releases/").status_code == 200


def test_pages_render_without_a_cluster(signed_in, bare):
    page = signed_in.get("/envs/dev/all/").content.decode()
    assert "No cluster connection is set for dev" in page
    assert signed_in.get("/promotions/").status_code == 200
    assert "Pending promotions" in signed_in.get("/").content.decode()


def test_ui_deploy_form_refuses_bad_image_and_needs_confirm_on_prod(signed_in, envs):
    response = signed_in.post("/envs/dev/deploys/deploy/", {"component": "shop",
                                                            "image": "nope"}, follow=True)
    assert "Refused: image:" in response.content.decode()
    response = signed_in.post("/envs/prod/deploys/deploy/", {"component": "shop",
                                                             "image": "a/shop:1"}, follow=True)
    assert "repeat its name" in response.content.decode()
    response = signed_in.post("/envs/dev/deploys/deploy/", {"component": "shop",
                                                            "image": "a/shop:1"})
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"

"""Deploys that cannot work say so before they are tried: without a cluster connection (no
kubeconfig, not in-cluster) deploy, rollback, promote and restart answer 409
``not_configured`` naming what is missing and where to set it, and write nothing (no run,
target, release, audit event or any other row); the pages disable those buttons and say
why next to them."""

from __future__ import annotations

import re

import pytest
from django.apps import apps

from envs.deploys.models import Release, Target
from envs.models import Environment
from portal.runs.models import Lock, Run
from tests.fakes.kubeserver import KubeTestServer

SHOP = "component:default/shop"


@pytest.fixture
def envs(db):
    """dev, test, prod without a cluster connection; shop has targets in each, a live
    release in dev and test and an earlier one in test (a rollback choice)."""
    made = {name: Environment.objects.create(name=name, tier=name)
            for name in ("dev", "test", "prod")}
    for env in made.values():
        Target.objects.create(environment=env, component=SHOP, deployment="shop",
                              container="app")
    Release.objects.create(environment=made["dev"], component=SHOP, image="a/shop:2",
                           actor="owner")
    Release.objects.create(environment=made["test"], component=SHOP, image="a/shop:0",
                           actor="owner", status=Release.Status.SUPERSEDED)
    Release.objects.create(environment=made["test"], component=SHOP, image="a/shop:1",
                           actor="owner")
    Release.objects.create(environment=made["prod"], component=SHOP, image="a/shop:0",
                           actor="owner", status=Release.Status.SUPERSEDED)
    return made


def row_counts() -> dict[str, int]:
    """The number of rows of every model: nothing at all may be written."""
    return {model._meta.label: model._default_manager.count()
            for model in apps.get_models() if model._meta.managed}


def requests(envs) -> list[tuple[str, str, dict[str, object]]]:
    """Each action on each environment, with every other input valid (prod confirmed)."""
    calls: list[tuple[str, str, dict[str, object]]] = []
    for name in ("test", "prod"):
        previous = {"test": "dev", "prod": "test"}[name]
        earlier = Release.objects.get(environment=envs[name], status="superseded")
        confirm = {"confirm": name} if name == "prod" else {}
        calls += [
            (name, "deploys", {"component": "shop", "image": "ghcr.io/acme/shop:3", **confirm}),
            (name, "deploys", {"component": "brand-new", "image": "ghcr.io/acme/new:1",
                               **confirm}),
            (name, "rollback", {"component": "shop", "release": earlier.pk, **confirm}),
            (name, "promote", {"component": "shop", "from": previous, **confirm}),
            (name, "restart", {"component": "shop", **confirm}),
        ]
    return calls


def test_every_action_without_a_cluster_is_409_and_writes_nothing(api, envs):
    before = row_counts()
    for name, path, body in requests(envs):
        response = api.post(f"/api/envs/{name}/{path}/", body, format="json")
        assert response.status_code == 409, (name, path, response.content)
        assert response.json()["error"] == "not_configured", (name, path)
        assert response.json()["detail"] == (
            f"{name} has no cluster connection: set one on its Deploys tab or copy a "
            "Terraform output"), (name, path)
        assert row_counts() == before, (name, path)
    assert not Target.objects.filter(component="component:default/brand-new").exists()
    assert Run.objects.count() == 0


def test_the_refusal_comes_before_input_checks_and_the_prod_guard(api, envs):
    """Whatever else is wrong, the owner first learns that nothing can be deployed here."""
    before = row_counts()
    for path, body in (("deploys", {"component": "shop", "image": "ghcr.io/acme/shop:3"}),
                       ("restart", {"component": "ghost"}),
                       ("rollback", {"component": "shop", "release": 999999})):
        response = api.post(f"/api/envs/prod/{path}/", body, format="json")
        assert response.status_code == 409, (path, response.content)
        assert response.json()["error"] == "not_configured"
    assert row_counts() == before


def test_with_a_cluster_the_same_requests_start_runs(api, envs):
    with KubeTestServer(token="not-configured-token") as kube:
        for env in envs.values():
            env.kubeconfig = kube.kubeconfig(namespace=env.name)
            env.save()
        for name, path, body in requests(envs):
            response = api.post(f"/api/envs/{name}/{path}/", body, format="json")
            assert response.status_code == 201, (name, path, response.content)
            Run.objects.filter(pk=response.json()["id"]).update(status="succeeded")
            Lock.objects.all().delete()  # as if the run were over
    assert Target.objects.filter(component="component:default/brand-new").count() == 2


def test_in_cluster_counts_as_a_connection(api, envs, settings):
    settings.DEPLOY_IN_CLUSTER = True
    response = api.post("/api/envs/dev/deploys/", {"component": "shop",
                                                   "image": "ghcr.io/acme/shop:3"},
                        format="json")
    assert response.status_code == 201, response.content


def test_a_target_may_be_set_without_a_cluster(api, envs):
    """Configuration that holds once a connection is set: saved, and says it was not looked
    up (no request to any cluster)."""
    response = api.post("/api/envs/dev/targets/", {"component": "billing"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["unresolved_reason"] == (
        "not looked up yet: no cluster connection (the deploy run looks once one is set)")
    response = api.post("/api/envs/dev/targets/", {"component": "shop", "deployment": "web",
                                                   "container": "app"}, format="json")
    assert response.status_code == 201 and response.json()["unresolved_reason"] == ""


def test_page_forms_refuse_with_the_reason_and_write_nothing(signed_in, envs):
    before = row_counts()
    response = signed_in.post("/envs/dev/deploys/deploy/", {"component": "shop",
                                                            "image": "ghcr.io/acme/shop:3"},
                              follow=True)
    text = response.content.decode()
    assert ("Refused: dev has no cluster connection: set one on its Deploys tab or copy a "
            "Terraform output") in text
    assert response.redirect_chain[-1][0] == "/envs/dev/deploys/"
    assert row_counts() == before


def test_the_deploys_tab_disables_what_needs_a_cluster_and_says_why(signed_in, envs):
    page = signed_in.get("/envs/test/deploys/").content.decode()
    assert re.search(r'<button class="btn" type="submit" disabled title="test has no cluster '
                     r'connection" id="deploy-disabled"', page)
    assert 'No cluster connection: <a href="#cluster">set one above</a>' in page
    assert re.search(r'disabled title="test has no cluster connection">Restart</button>', page)
    assert re.search(r'disabled title="test has no cluster connection">Roll back to this'
                     r'</button>', page)
    assert "Restart and Roll back need a cluster connection" in page
    assert 'id="cluster"' in page  # where the link goes
    # The pending promotion dev -> test says the same.
    promotions = signed_in.get("/promotions/").content.decode()
    assert re.search(r'disabled title="test has no cluster connection">Promote to test', promotions)
    assert ('No cluster connection in test: <a href="/envs/test/deploys/#cluster">set one in '
            'Deploys</a>') in promotions

    Environment.objects.filter(name="test").update(kubeconfig=KUBECONFIG)
    page = signed_in.get("/envs/test/deploys/").content.decode()
    assert "disabled" not in page and "No cluster connection" not in page
    promotions = signed_in.get("/promotions/").content.decode()
    assert "No cluster connection in test" not in promotions
    assert "No cluster connection in prod" in promotions


KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: tok-never-shown}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""

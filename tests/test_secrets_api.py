"""The secrets API and pages: metadata only, write-only values, validation, the prod guard,
and configuration completeness per environment."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from envs.models import Environment
from envs.secrets.config_keys import missing_keys
from envs.secrets.models import Secret
from portal.audit.models import AuditEvent
from tests.fakes.kubeserver import KubeTestServer, deployment

VALUE = "s3cret-VALUE-that-must-never-show-9Qz"


@pytest.fixture
def dev(db):
    return Environment.objects.create(name="dev", tier="dev")


@pytest.fixture
def prod(db):
    return Environment.objects.create(name="prod", tier="prod")


def test_create_list_detail_never_return_the_value(dev, api, signed_in):
    response = api.post("/api/envs/dev/secrets/", {
        "name": "DATABASE_URL", "value": VALUE, "terraform_variable": "db_url",
        "max_age_days": 30, "generator": "hex", "length": 40}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1 and body["set"] and body["set_by"].startswith("owner")
    assert body["policy"]["max_age_days"] == 30 and body["terraform_variable"] == "db_url"
    assert body["kubernetes"] is None and body["in_cluster"] is None
    assert "value" not in body
    listing = api.get("/api/envs/dev/secrets/")
    detail = api.get("/api/envs/dev/secrets/DATABASE_URL/")
    assert [s["name"] for s in listing.json()["secrets"]] == ["DATABASE_URL"]
    assert detail.json()["history"][0]["how"] == "create"
    page = signed_in.get("/envs/dev/all/")
    assert page.status_code == 200 and b"DATABASE_URL" in page.content
    for text in (response.content, listing.content, detail.content, page.content):
        assert VALUE.encode() not in text
    assert Secret.objects.get().value == VALUE
    event = AuditEvent.objects.get(action="secret.create", target="env:dev")
    assert VALUE not in str(event.detail)


def test_put_sets_a_new_version_and_a_generated_value_follows_the_policy(dev, api):
    api.post("/api/envs/dev/secrets/", {"name": "TOKEN", "value": VALUE, "generator": "hex",
                                        "length": 40}, format="json")
    response = api.put("/api/envs/dev/secrets/TOKEN/", {}, format="json")
    assert response.status_code == 200 and response.json()["version"] == 2
    secret = Secret.objects.get()
    assert len(secret.value) == 40 and int(secret.value, 16) >= 0
    response = api.put("/api/envs/dev/secrets/TOKEN/", {"value": "another-value-1234"},
                       format="json")
    assert response.json()["version"] == 3 and "another-value" not in response.content.decode()
    assert [v["how"] for v in api.get("/api/envs/dev/secrets/TOKEN/").json()["history"]] == [
        "set", "set", "create"]


@pytest.mark.parametrize("body, field", [
    ({"name": "lower_case", "value": "x" * 10}, "name"),
    ({"name": "9START", "value": "x" * 10}, "name"),
    ({"name": "OK", "value": "x" * 10, "kubernetes": {"secret": "Bad_Name"}}, "k8s_secret"),
    ({"name": "OK", "value": "x" * 10, "generator": "alphabet", "alphabet": "a"}, "alphabet"),
    ({"name": "OK", "value": "x" * 10, "length": 4}, "length"),
])
def test_invalid_input_is_refused_in_the_error_form(dev, api, body, field):
    response = api.post("/api/envs/dev/secrets/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid" and field in response.json()["fields"]
    assert not Secret.objects.exists()


def test_duplicate_name_unknown_env_and_read_token(dev, api, read_api):
    api.post("/api/envs/dev/secrets/", {"name": "A_KEY", "value": VALUE}, format="json")
    again = api.post("/api/envs/dev/secrets/", {"name": "A_KEY", "value": VALUE}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "exists"
    assert api.get("/api/envs/nope/secrets/").status_code == 404
    assert api.get("/api/envs/dev/secrets/NOPE/").status_code == 404
    assert read_api.get("/api/envs/dev/secrets/").status_code == 200
    assert read_api.put("/api/envs/dev/secrets/A_KEY/", {"value": "z" * 12},
                        format="json").status_code == 403


def test_prod_needs_confirmation_for_create_set_rotate_delete(prod, api):
    body = {"name": "PROD_KEY", "value": VALUE}
    refused = api.post("/api/envs/prod/secrets/", body, format="json")
    assert refused.status_code == 400 and refused.json()["error"] == "confirmation_required"
    assert not Secret.objects.exists()
    assert api.post("/api/envs/prod/secrets/", {**body, "confirm": "prod"},
                    format="json").status_code == 201
    base = "/api/envs/prod/secrets/PROD_KEY/"
    assert api.put(base, {"value": "new-value-123"}, format="json").status_code == 400
    assert api.post(f"{base}rotate/", {}, format="json").status_code == 400
    assert api.delete(base, {}, format="json").status_code == 400
    assert Secret.objects.get().version == 1
    assert api.put(base, {"value": "new-value-123", "confirm": "prod"},
                   format="json").status_code == 200
    assert api.post(f"{base}rotate/", {"confirm": "prod"}, format="json").status_code == 201


def test_overdue_badges_on_the_environment_page_and_the_dashboard(dev, api, signed_in):
    api.post("/api/envs/dev/secrets/", {"name": "OLD_KEY", "value": VALUE, "max_age_days": 10},
             format="json")
    Secret.objects.update(set_at=timezone.now() - timedelta(days=12))
    assert api.get("/api/envs/dev/secrets/OLD_KEY/").json()["overdue"] is True
    page = signed_in.get("/envs/dev/all/").content.decode()
    assert "1 overdue" in page and "12 / 10 days" in page
    dash = signed_in.get("/").content.decode()
    assert "overdue</span> <code>OLD_KEY</code>" in dash
    assert "automatic export is off" in dash


def test_ui_forms_add_set_and_delete(dev, signed_in):
    response = signed_in.post("/envs/dev/secrets/add/", {
        "name": "UI_KEY", "value": VALUE, "max_age_days": "90", "generator": "password",
        "length": "32"})
    assert response.status_code == 302
    assert Secret.objects.get().value == VALUE
    signed_in.post("/envs/dev/secrets/UI_KEY/set/", {"value": "ui-new-value-555"})
    assert Secret.objects.get().version == 2
    page = signed_in.get("/envs/dev/all/", follow=True).content.decode()
    assert VALUE not in page and "ui-new-value-555" not in page
    bad = signed_in.post("/envs/dev/secrets/add/", {"name": "bad name", "value": "x"},
                         follow=True)
    assert "Refused: name" in bad.content.decode()
    signed_in.post("/envs/dev/secrets/UI_KEY/delete/", {})
    assert not Secret.objects.exists()


def test_openapi_lists_the_secret_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    text = schema.content.decode()
    for path in ("/api/envs/{env}/secrets/", "/api/envs/{env}/secrets/{name}/",
                 "/api/envs/{env}/secrets/{name}/rotate/", "/api/envs/{env}/config-check/"):
        assert path in text, path


# --- configuration completeness ----------------------------------------------------------
def component(name: str, keys: list[str], envs: list[str]):
    from catalog.models import Entity, Location

    location, _ = Location.objects.get_or_create(kind="local", target="/tmp/catalog-secrets")
    return Entity.objects.create(
        ref=f"component:default/{name}", kind="component", namespace="default", name=name,
        api_version="backstage.io/v1alpha1", raw={}, sha256="0" * 64, fingerprint="0" * 64,
        file="catalog-info.yaml", location=location, config_keys=keys, environments=envs,
        env_index="," + ",".join(envs) + ",",
        annotations={"backstage.io/kubernetes-id": name,
                     "eaas.portal/environments": ",".join(envs)})


def test_config_check_lists_missing_and_extra_keys(transactional_db, api, signed_in):
    component("shop", ["DATABASE_URL", "REDIS_URL", "SMTP_HOST", "FROM_CONFIGMAP"], ["dev"])
    component("billing", ["STRIPE_KEY"], ["dev"])
    component("elsewhere", ["NOT_HERE"], ["test"])
    with KubeTestServer() as kube:
        kube.store.apply("configmaps", {"metadata": {"name": "shop-config", "namespace": "dev"},
                                        "data": {"FROM_CONFIGMAP": "1", "DEBUG": "0"}})
        kube.store.apply("secrets", {"metadata": {"name": "shop-env", "namespace": "dev"},
                                     "data": {"SMTP_HOST": base64.b64encode(b"x").decode()}})
        kube.store.apply("deployments", deployment(
            "shop", namespace="dev", labels={"backstage.io/kubernetes-id": "shop"},
            containers=[{"name": "app", "image": "shop:1", "env": [
                {"name": "LOG_LEVEL", "value": "info"}],
                "envFrom": [{"configMapRef": {"name": "shop-config"}},
                            {"secretRef": {"name": "shop-env"}}]}]))
        env = Environment.objects.create(name="dev", tier="dev", kubeconfig=kube.kubeconfig())
        api.post("/api/envs/dev/secrets/", {"name": "DATABASE_URL", "value": VALUE},
                 format="json")
        api.post("/api/envs/dev/secrets/", {"name": "UNUSED_ONE", "value": VALUE},
                 format="json")
        body = api.get("/api/envs/dev/config-check/").json()
        rows = {r["component"]: r for r in body["components"]}
        assert set(rows) == {"component:default/shop", "component:default/billing"}
        shop = rows["component:default/shop"]
        assert shop["missing"] == ["REDIS_URL"]
        assert shop["extra"] == ["DEBUG", "LOG_LEVEL"]
        assert shop["provided_by_secret"] == ["DATABASE_URL"]
        assert shop["provided_by_workload"] == ["FROM_CONFIGMAP", "SMTP_HOST"]
        assert shop["workload"] == "dev/shop"
        assert rows["component:default/billing"]["missing"] == ["STRIPE_KEY"]
        assert body["unused_secrets"] == ["UNUSED_ONE"]
        assert missing_keys(env, "shop") == ["REDIS_URL"]
        assert missing_keys(env, "component:default/billing") == ["STRIPE_KEY"]
        page = signed_in.get("/envs/dev/all/").content.decode()
        assert "REDIS_URL" in page and "STRIPE_KEY" in page and VALUE not in page

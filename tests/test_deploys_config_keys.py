"""A deploy checks the environment provides every key of the component's .env.example:
a warning on dev, a refusal on prod unless forced (and the override is audited)."""

from __future__ import annotations

from catalog.models import Entity, Location
from envs.secrets.models import Secret
from portal.audit.models import AuditEvent

from .test_deploys_runs import envs, kube, log_of, run_now, settle, shop  # noqa: F401


def component_with_keys(*keys):
    location = Location.objects.create(kind="local", target="/tmp/app-repo")
    Entity.objects.create(
        ref="component:default/shop", kind="component", namespace="default", name="shop",
        api_version="backstage.io/v1alpha1", type="service", raw={}, sha256="0" * 64,
        fingerprint="0" * 64, file="apps/shop/catalog-info.yaml", location=location,
        config_keys=list(keys), annotations={"backstage.io/kubernetes-id": "shop"},
    )


def test_dev_deploy_warns_about_missing_keys(envs, api, kube):  # noqa: F811
    component_with_keys("DATABASE_URL", "MODE", "SENTRY_DSN")
    kube.store.apply("deployments", shop("dev"))
    settle(kube, "dev")
    Secret.objects.create(environment=envs["dev"], name="DATABASE_URL", value="x" * 12)
    run = run_now(api, "/api/envs/dev/deploys/", {"component": "shop",
                                                    "image": "ghcr.io/acme/shop:2"})
    assert run.status == "succeeded", run.error
    assert "provides no value for SENTRY_DSN" in log_of(run)
    assert "MODE" not in log_of(run).split("provides no value for")[1].splitlines()[0]


def test_prod_deploy_with_missing_keys_is_refused_unless_forced(envs, api, kube):  # noqa: F811
    component_with_keys("SENTRY_DSN")
    kube.store.apply("deployments", shop("prod"))
    settle(kube, "prod")
    body = {"component": "shop", "image": "ghcr.io/acme/shop:2", "confirm": "prod"}
    refused = run_now(api, "/api/envs/prod/deploys/", body)
    assert refused.status == "failed" and "misses configuration keys SENTRY_DSN" in refused.error
    assert kube.store.get("deployments", "prod", "shop")["spec"]["template"]["spec"][
        "containers"][0]["image"] == "ghcr.io/acme/shop:1"
    forced = run_now(api, "/api/envs/prod/deploys/", {**body, "force": True})
    assert forced.status == "succeeded", forced.error
    event = AuditEvent.objects.get(action="precheck.forced")
    assert event.run_id == forced.pk and event.detail["missing"] == ["SENTRY_DSN"]

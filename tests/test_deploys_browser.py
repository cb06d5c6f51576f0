"""Deploys in Chromium: on an environment without a cluster connection the Deploys tab's
Deploy button is disabled with the reason next to it (and so is the board's); once a
kubeconfig for the Kubernetes API test server is saved on the tab, Deploy is enabled and a
deploy goes through a real worker to the cluster."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from catalog.models import Entity, Location
from envs.deploys.models import Release
from envs.models import Environment
from portal.runs.models import Run
from tests.fakes.kubeserver import KubeTestServer, deployment

from .conftest import shot

pytestmark = pytest.mark.browser
KUBE_ID = "backstage.io/kubernetes-id"


@pytest.fixture
def kube():
    with KubeTestServer(token="deploys-browser-token") as srv:
        srv.store.apply("namespaces", {"metadata": {"name": "dev"}})
        srv.store.apply("deployments", deployment(
            "shop", namespace="dev", replicas=1, labels={KUBE_ID: "shop"},
            containers=[{"name": "app", "image": "ghcr.io/acme/shop:1"}]))
        srv.controller.set_mode("shop", "complete", step=0.1)
        yield srv


def test_deploy_is_disabled_without_a_cluster_then_goes_through(signed_in_page, worker, kube):
    page = signed_in_page
    Environment.objects.create(name="dev", tier="dev")
    location = Location.objects.create(kind="local", target="/tmp/deploys-browser")
    Entity.objects.create(location=location, ref="component:default/shop", kind="component",
                          namespace="default", name="shop", api_version="backstage.io/v1alpha1")

    # The board says it before the owner tries.
    page.goto(f"{page.base}/board/")
    cell = page.locator("#cell-dev-shop")
    cell.locator("summary", has_text="Actions").click()
    expect(cell.locator("button[value=deploy]")).to_be_disabled()
    expect(cell.locator(".board-why")).to_have_text(
        "No cluster connection in dev: set one in Deploys")
    cell.locator(".board-why a").click()
    page.wait_for_url(f"{page.base}/envs/dev/deploys/#cluster")

    # The Deploys tab too, with the reason next to the button.
    deploy = page.locator("#deploy-disabled")
    expect(deploy).to_be_disabled()
    expect(page.locator("#deploy-why")).to_be_visible()
    expect(page.locator("#deploy-why")).to_contain_text("No cluster connection: set one above")
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot draws the sticky tabs in place
    shot(page, "deploys-no-cluster")
    assert Run.objects.count() == 0

    # Save a kubeconfig for the Kubernetes API test server.
    page.locator("summary", has_text="Set the kubeconfig").click()
    page.locator("textarea[name=kubeconfig]").fill(kube.kubeconfig(namespace="dev"))
    page.locator("form[action='/envs/dev/deploys/cluster/'] button", has_text="Save").click()
    page.wait_for_url(f"{page.base}/envs/dev/deploys/")
    expect(page.locator("body")).to_contain_text(f"Cluster connection of dev set: {kube.url}")
    expect(page.locator("#deploy-disabled")).to_have_count(0)
    expect(page.locator("#deploy-why")).to_have_count(0)

    # Deploy is enabled and goes through.
    form = page.locator("form[action='/envs/dev/deploys/deploy/']")
    form.locator("[name=component]").fill("shop")
    form.locator("[name=image]").fill("ghcr.io/acme/shop:2")
    expect(page.locator("#deploy-submit")).to_be_enabled()
    page.locator("#deploy-submit").click()
    page.wait_for_url(f"{page.base}/runs/*/")
    expect(page.locator("#run-status-badge")).to_have_text("succeeded", timeout=30000)
    assert kube.store.get("deployments", "dev", "shop")["spec"]["template"]["spec"][
        "containers"][0]["image"].startswith("ghcr.io/acme/shop:2")
    assert Release.objects.get(environment__name="dev", status="live").image.startswith(
        "ghcr.io/acme/shop:2")

    # The board's Deploy is enabled now.
    page.goto(f"{page.base}/board/")
    cell = page.locator("#cell-dev-shop")
    cell.locator("summary", has_text="Actions").click()
    expect(cell.locator("button[value=deploy]")).to_be_enabled()
    expect(cell.locator(".board-why")).to_have_count(0)

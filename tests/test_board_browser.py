"""The board in Chromium against the Kubernetes API test server and a real worker: Deploy a
tag, Promote -> the next environment, Rollback to a release and a prod promotion with the
typed name; every cell changes without a reload once its run is over."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from catalog.models import Entity, Location
from envs.deploys.models import Release
from envs.models import Environment
from tests.fakes.kubeserver import KubeTestServer, deployment

from .conftest import shot

pytestmark = pytest.mark.browser
KUBE_ID = "backstage.io/kubernetes-id"


@pytest.fixture
def kube():
    with KubeTestServer(token="board-kube-token") as srv:
        for ns in ("dev", "test", "prod"):
            srv.store.apply("namespaces", {"metadata": {"name": ns}})
            srv.store.apply("deployments", deployment(
                "shop", namespace=ns, replicas=1, labels={KUBE_ID: "shop"},
                containers=[{"name": "app", "image": "ghcr.io/acme/shop:1"}]))
        srv.controller.set_mode("shop", "complete", step=0.1)
        yield srv


def act(page, cell: str, button: str, **fields):
    box = page.locator(f"#{cell}")
    box.locator("summary", has_text="Actions").click()
    form = box.locator("form", has=page.locator(f"button:has-text('{button}')"))
    for name, value in fields.items():
        target = form.locator(f"[name={name}]")
        if target.evaluate("e => e.tagName") == "SELECT":
            target.select_option(value)
        else:
            target.fill(value)
    form.locator(f"button:has-text('{button}')").click()


def test_deploy_promote_rollback_on_the_board(signed_in_page, worker, kube):
    page = signed_in_page
    for name in ("dev", "test", "prod"):
        Environment.objects.create(name=name, tier=name, kubeconfig=kube.kubeconfig())
    location = Location.objects.create(kind="local", target="/tmp/board-browser")
    Entity.objects.create(location=location, ref="component:default/shop", kind="component",
                          namespace="default", name="shop", api_version="backstage.io/v1alpha1")
    page.goto(f"{page.base}/board/")
    assert page.locator("header nav a").first.inner_text() == "Board"
    expect(page.locator("#cell-dev-shop")).to_contain_text("not deployed here")

    act(page, "cell-dev-shop", "Deploy", tag="ghcr.io/acme/shop:2")
    expect(page.locator("#cell-dev-shop .board-run")).to_contain_text("deploy")
    expect(page.locator("#cell-dev-shop .board-tag")).to_have_text("2", timeout=30000)
    expect(page.locator("#cell-dev-shop .board-digest")).to_contain_text("@")
    # health is read apart (the column's fragment) and shown with its age
    page.reload()
    expect(page.locator("#health-cell-dev-shop")).to_contain_text("1/1 ready", timeout=15000)

    act(page, "cell-dev-shop", "Promote → test")
    expect(page.locator("#cell-test-shop .board-tag")).to_have_text("2", timeout=30000)
    test_release = Release.objects.get(environment__name="test", status="live")
    dev_release = Release.objects.get(environment__name="dev", status="live")
    assert test_release.digest == dev_release.digest and test_release.action == "promote"

    act(page, "cell-dev-shop", "Deploy", tag="3")  # a tag: the repository is known
    expect(page.locator("#cell-dev-shop .board-tag")).to_have_text("3", timeout=30000)
    expect(page.locator("#cell-test-shop")).to_have_class("board-cell pending")
    shot(page, "board")

    act(page, "cell-dev-shop", "Rollback", release=str(dev_release.pk))
    expect(page.locator("#cell-dev-shop .board-tag")).to_have_text("2", timeout=30000)
    assert Release.objects.get(environment__name="dev", status="live").action == "rollback"

    # prod: the typed name first; without it the browser does not send the form
    act(page, "cell-test-shop", "Promote → prod", confirm="prod")
    expect(page.locator("#cell-prod-shop .board-tag")).to_have_text("2", timeout=30000)
    assert kube.store.get("deployments", "prod", "shop")["spec"]["template"]["spec"][
        "containers"][0]["image"].startswith("ghcr.io/acme/shop:2@sha256:")
    shot(page, "board-after")

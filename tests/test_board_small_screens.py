"""At 390 px wide no main page scrolls sideways; the navigation folds behind a Menu
button; screenshots of every main page at 1280 px and 390 px go to the test output."""

from __future__ import annotations

import pytest

from envs.deploys.models import Release, Target
from envs.models import Environment
from portal.audit.models import record
from portal.runs.models import Run

from .conftest import shot

pytestmark = pytest.mark.browser
PAGES = ["/board/", "/", "/envs/", "/envs/dev/", "/envs/dev/overview/",
         "/envs/dev/infrastructure/", "/envs/dev/deploys/", "/envs/dev/secrets/",
         "/envs/dev/backups/", "/envs/dev/runs/", "/runs/", "/audit/", "/catalog/",
         "/platform/", "/promotions/", "/settings/tokens/"]


def test_main_pages_at_390_px(signed_in_page):
    page = signed_in_page
    for name, tier in (("dev", "dev"), ("test", "test"), ("prod", "prod")):
        env = Environment.objects.create(name=name, tier=tier, description=f"{name} env")
        Target.objects.create(environment=env, component="component:default/shop",
                              deployment="shop", container="app")
        Release.objects.create(environment=env, component="component:default/shop",
                               image="ghcr.io/acme/a-rather-long-repository-name/shop:1.4.2",
                               digest="sha256:" + "a" * 64, actor="owner", workload="x")
    run = Run.objects.create(kind="selfcheck", target="env:dev", status="succeeded",
                             actor="owner", params={"environment": "dev"})
    record("deploys.cluster.set", target="env:dev", server="https://10.0.0.1:6443")
    for path in PAGES:
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{page.base}{path}")
        shot(page, "page" + path.replace("/", "-").rstrip("-") or "page-dashboard")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{page.base}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide at 390 px"
        shot(page, "small" + path.replace("/", "-").rstrip("-"))
    page.goto(f"{page.base}/runs/{run.pk}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not page.locator("#main-nav").is_visible()
    page.click("#menu-button")
    assert page.locator("#main-nav a[href='/board/']").is_visible()
    page.click("#main-nav a[href='/board/']")
    page.wait_for_url("**/board/")

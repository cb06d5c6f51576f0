"""Copying a cluster connection from a Terraform output, in Chromium: a local-tier
environment's kubeconfig is never offered to dev or prod (a local one may use it), and using
another environment's output on prod needs its typed name — a wrong name is refused next to
the field, the right one sets the connection without showing the kubeconfig."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from envs.models import Environment

from .conftest import shot
from .test_deploys_cluster_output import local, platform, token_of  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def test_outputs_are_offered_by_tier_and_prod_asks_for_its_name(signed_in_page, platform,  # noqa: F811
                                                                local):  # noqa: F811
    page = signed_in_page
    for name, tier in (("dev", "dev"), ("prod", "prod"), ("laptop", "local")):
        Environment.objects.create(name=name, tier=tier)

    page.goto(f"{page.base}/envs/dev/deploys/")
    expect(page.locator("#cluster-from-platform")).to_be_visible()
    expect(page.locator("#cluster-from-local")).to_have_count(0)
    expect(page.locator("#cluster-from-platform-confirm")).to_have_count(0)  # dev: no name
    page.goto(f"{page.base}/envs/laptop/deploys/")
    expect(page.locator("#cluster-from-local")).to_be_visible()

    page.goto(f"{page.base}/envs/prod/deploys/")
    expect(page.locator("#cluster-from-local")).to_have_count(0)
    confirm = page.locator("#cluster-from-platform-confirm")
    expect(confirm).to_be_visible()
    confirm.fill("dev")
    page.locator("#cluster-from-platform").click()
    page.wait_for_load_state()
    expect(page.locator("main")).to_contain_text("repeat its name in the confirmation field")
    expect(page.locator("main")).not_to_contain_text('"confirm"')
    error = page.locator("#cluster-from-platform-confirm ~ .field-error, "
                         "#cluster-from-platform-confirm + .field-error").first
    expect(error).to_contain_text("must be 'prod'")
    assert Environment.objects.get(name="prod").kubeconfig is None
    shot(page, "cluster-output-prod-refused")

    page.locator("#cluster-from-platform-confirm").fill("prod")
    page.locator("#cluster-from-platform").click()
    page.wait_for_load_state()
    expect(page.locator("main")).to_contain_text(
        "Cluster connection of prod set from output kubeconfig of platform")
    expect(page.locator("#cluster-source")).to_contain_text("platform")
    token = token_of("prod")
    assert token.startswith("local-") and token not in page.content()

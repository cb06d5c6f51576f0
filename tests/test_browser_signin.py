"""Sign in through the full GitHub redirect flow, against a local fake GitHub."""

from __future__ import annotations

import pytest

from portal.audit.models import AuditEvent
from tests.fakes.fakegithub import FakeGitHub

from .conftest import shot

pytestmark = pytest.mark.browser


@pytest.fixture
def github(settings):
    def make(user):
        fake = FakeGitHub(user)
        settings.SOCIAL_AUTH_GITHUB_KEY = fake.client_id
        settings.SOCIAL_AUTH_GITHUB_SECRET = fake.client_secret
        settings.GITHUB_URL = fake.url
        settings.GITHUB_API_URL = fake.url + "/api"
        settings.OWNER_GITHUB_IDS = [4242]
        return fake

    return make


def test_the_owner_signs_in_through_github(page, github, transactional_db):
    with github({"id": 4242, "login": "the-owner", "email": "o@example.com"}) as gh:
        page.goto(f"{page.base}/runs/")
        page.wait_for_url("**/signin/?next=/runs/")
        shot(page, "signin-github")
        page.click("text=Sign in with GitHub")
        page.wait_for_url(f"{gh.url}/login/oauth/authorize**")
        page.click("#authorize")
        page.wait_for_url(f"{page.base}/runs/")
        assert page.locator("h1").inner_text() == "Runs"
        assert "POST /login/oauth/access_token" in gh.requests
    event = AuditEvent.objects.get(action="signin", outcome="success")
    assert event.target == "github:4242"


def test_a_stranger_sees_the_refusal_page(page, github, transactional_db):
    with github({"id": 999, "login": "stranger"}):
        page.goto(f"{page.base}/signin/")
        page.click("text=Sign in with GitHub")
        page.click("#authorize")
        page.wait_for_selector("h1")
        assert page.locator("h1").inner_text() == "Access refused"
        assert "stranger is not this portal's owner" in page.content()
        shot(page, "signin-refused")
        page.goto(f"{page.base}/")
        page.wait_for_url("**/signin/**")
    assert AuditEvent.objects.get(action="signin").outcome == "refused"

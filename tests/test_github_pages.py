"""Settings → GitHub and GET /api/github/deliveries/: every accepted delivery with what it
did, never a secret; the environment page's pull request section."""

from __future__ import annotations

import uuid

from envs.github.models import Delivery, Post, PullRequest
from envs.models import Environment

from .test_github_webhook import SECRET, hook

TOKEN = "ghp_page_token_never_shown_0123456789"  # noqa: S105 (a test value)


def test_settings_page_and_deliveries_api(signed_in, api, read_api, settings, db):
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    settings.GITHUB_TOKEN = TOKEN
    delivery_id = str(uuid.uuid4())
    hook(signed_in, "ping", {"hook": {"events": ["push", "pull_request"]}}, delivery=delivery_id)
    hook(signed_in, "issues", {"repository": {"full_name": "acme/app"}})
    failed = Delivery.objects.get(delivery_id=delivery_id)
    Post.objects.create(kind="status", repository="acme/infra", sha="a" * 40,
                        context="eaas-portal/plan/dev", state="success", status="failed",
                        last_error="GitHub answered HTTP 422: bad", delivery=failed)
    Environment.objects.create(name="dev", tf_git_url="https://github.com/acme/infra.git")
    page = signed_in.get("/settings/github/")
    assert page.status_code == 200
    text = page.content.decode()
    for expected in ("/hooks/github/", "acme/infra", "environment dev", delivery_id,
                     "GitHub post failed", "a token (PORTAL_GITHUB_TOKEN)"):
        assert expected in text, expected
    assert SECRET not in text and TOKEN not in text
    assert 'href="/settings/github/"' in text  # the Settings link

    listing = read_api.get("/api/github/deliveries/")
    assert listing.status_code == 200
    rows = listing.json()["results"]
    assert {r["event"] for r in rows} == {"ping", "issues"}
    ping = next(r for r in rows if r["event"] == "ping")
    assert ping["outcome"] == "accepted" and ping["failed_posts"][0]["last_error"]
    assert api.get("/api/github/deliveries/?outcome=ignored").json()["count"] == 1
    detail = api.get(f"/api/github/deliveries/{ping['id']}/")
    assert detail.json()["delivery_id"] == delivery_id
    assert api.get("/api/github/deliveries/999999/").status_code == 404
    for body in (listing.content, detail.content):
        assert SECRET.encode() not in body and TOKEN.encode() not in body


def test_the_environment_page_lists_open_pull_requests(signed_in, db):
    Environment.objects.create(name="dev", tf_git_url="/srv/git/infra", tf_github_repo="acme/infra")
    PullRequest.objects.create(repository="acme/infra", number=12, head_sha="c" * 40,
                               title="Bigger nodes", author_login="stranger",
                               not_planned_reason="not the owner")
    text = signed_in.get("/envs/dev/all/").content.decode()
    assert "Bigger nodes" in text and "not planned by itself" in text


def test_planning_a_pr_from_the_page_needs_a_known_pr_and_env(signed_in, db):
    assert signed_in.post("/settings/github/pulls/99/plan/", {"env": "dev"}).status_code == 404
    Environment.objects.create(name="dev", tf_git_url="https://github.com/acme/other.git")
    pull = PullRequest.objects.create(repository="acme/infra", number=3, head_sha="d" * 40)
    response = signed_in.post(f"/settings/github/pulls/{pull.pk}/plan/", {"env": "dev"},
                              follow=True)
    assert "does not plan from acme/infra" in response.content.decode()

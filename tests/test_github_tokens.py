"""The app repository's CI token: ``deploy:<env>`` starts deploys in that (dev) environment
and reads runs, and nothing else (403 for plans, approvals, secrets, other environments)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from envs.models import Environment
from portal.auth.models import ApiToken, check_scope
from portal.runs.models import Run


def token_client(owner, scope: str) -> APIClient:
    _token, plaintext = ApiToken.issue(owner, f"ci-{scope}", scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


@pytest.fixture
def envs(db):
    return {name: Environment.objects.create(name=name, tier=tier)
            for name, tier in (("dev", "dev"), ("test", "test"), ("prod", "prod"))}


def test_scopes_are_checked():
    assert check_scope("read") == "read" and check_scope(" deploy:dev ") == "deploy:dev"
    for bad in ("admin", "deploy:", "deploy:Dev", "deploy:dev/x", "write "*20):
        with pytest.raises(ValueError, match="expected read, write, or deploy"):
            check_scope(bad)


def test_a_deploy_token_reaches_only_its_deploys_and_runs(owner, envs):
    ci = token_client(owner, "deploy:dev")
    run = Run.objects.create(kind="selfcheck", target="env:dev")
    assert ci.get("/api/runs/").status_code == 200
    assert ci.get(f"/api/runs/{run.pk}/").status_code == 200
    assert ci.get(f"/api/runs/{run.pk}/log/").status_code == 200
    # The deploy endpoint lets it through (the input is then judged like anyone's).
    deploy = ci.post("/api/envs/dev/deploys/", {}, format="json")
    assert deploy.status_code not in (401, 403), deploy.content
    refused = [
        ci.post("/api/envs/test/deploys/", {}, format="json"),
        ci.post("/api/envs/dev/plan/", {}, format="json"),
        ci.post(f"/api/runs/{run.pk}/approve/", {}, format="json"),
        ci.post(f"/api/runs/{run.pk}/cancel/", {}, format="json"),
        ci.get("/api/envs/dev/secrets/"),
        ci.get("/api/envs/"),
        ci.get("/api/audit/"),
        ci.get("/api/github/deliveries/"),
        ci.patch("/api/envs/dev/terraform/", {"git_ref": "x"}, format="json"),
    ]
    for response in refused:
        assert response.status_code == 403, (response.request["PATH_INFO"], response.content)
    assert "deploy:dev" in refused[0].json()["detail"]


def test_a_deploy_token_for_test_or_prod_is_refused_promotion_is_human(owner, envs):
    for name in ("test", "prod"):
        response = token_client(owner, f"deploy:{name}").post(f"/api/envs/{name}/deploys/", {},
                                                               format="json")
        assert response.status_code == 403
        assert "human act" in response.json()["detail"]


def test_write_and_read_tokens_are_unchanged(owner, envs, api, read_api):
    assert read_api.post("/api/envs/dev/plan/", {}, format="json").status_code == 403
    assert read_api.get("/api/envs/").status_code == 200
    assert api.get("/api/envs/").status_code == 200


def test_the_command_and_the_page_issue_deploy_tokens(owner, signed_in):
    out = io.StringIO()
    call_command("create_token", "--scope", "deploy:dev", "--name", "app-ci", stdout=out)
    assert ApiToken.objects.get(name="app-ci").scope == "deploy:dev"
    with pytest.raises(CommandError):
        call_command("create_token", "--scope", "deploy:", stdout=io.StringIO())
    page = signed_in.post("/settings/tokens/", {"name": "ci2", "scope": "deploy:dev"})
    assert page.status_code in (200, 302)
    assert ApiToken.objects.get(name="ci2").scope == "deploy:dev"
    bad = signed_in.post("/settings/tokens/", {"name": "ci3", "scope": "root"})
    assert "unknown scope" in bad.content.decode()
    assert not ApiToken.objects.filter(name="ci3").exists()

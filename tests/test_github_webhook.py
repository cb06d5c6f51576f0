"""POST /hooks/github/: GitHub's signature over the raw body, one record per delivery
(redeliveries answered, not acted on), ping and unused events, the size cap, and a push
refreshing the catalog location that reads the branch."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from catalog.models import Entity, Location
from envs.github.models import Delivery
from envs.github.webhook import signature
from portal.audit.models import AuditEvent
from portal.runs.engine import execute_run
from portal.runs.models import Run

SECRET = "whsec-test-0123456789"  # noqa: S105 (a test value)


def hook(client, event: str, payload: dict | bytes, *, secret: str = SECRET,
         delivery: str | None = None, sign: bool = True, **extra):
    """POST as GitHub does: the JSON body, its HMAC-SHA256 in X-Hub-Signature-256."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"HTTP_X_GITHUB_EVENT": event,
               "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4())}
    if sign:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature(secret, body)
    headers.update(extra)
    return client.generic("POST", "/hooks/github/", body, content_type="application/json",
                          **headers)


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
                               "PATH": "/usr/bin:/bin", "HOME": str(cwd)}).stdout.strip()


DESCRIPTOR = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: shop
  description: {description}
spec:
  type: service
  lifecycle: production
  owner: team-a
"""


def app_repo(tmp_path, description="first"):
    repo = tmp_path / "app"
    repo.mkdir()
    (repo / "catalog-info.yaml").write_text(DESCRIPTOR.format(description=description))
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "catalog", cwd=repo)
    return repo


def push_payload(repo="acme/app", ref="refs/heads/main", after="0" * 40, **extra):
    return {"ref": ref, "after": after, "deleted": False,
            "repository": {"full_name": repo, "default_branch": "main"},
            "sender": {"login": "owner", "id": 1}, **extra}


@pytest.fixture
def secret(settings):
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    return SECRET


def test_a_missing_or_wrong_signature_is_401_and_audited_rate_limited(client, db, secret):
    assert hook(client, "ping", {"zen": "x"}, sign=False).status_code == 401
    response = hook(client, "ping", {"zen": "x"}, secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    body = json.dumps({"zen": "x"}).encode()
    altered = hook(client, "ping", body + b" ", HTTP_X_HUB_SIGNATURE_256=signature(SECRET, body))
    assert altered.status_code == 401
    assert Delivery.objects.count() == 0
    refused = AuditEvent.objects.filter(action="github.webhook.refused")
    assert refused.count() == 3
    for _ in range(20):
        hook(client, "ping", {}, sign=False)
    assert refused.count() == 10  # at most ten a minute
    assert SECRET not in json.dumps(list(refused.values_list("detail", flat=True)))


def test_no_secret_configured_refuses_everything(client, db, settings):
    settings.GITHUB_WEBHOOK_SECRET = ""
    response = hook(client, "ping", {})
    assert response.status_code == 503
    assert "PORTAL_GITHUB_WEBHOOK_SECRET" in response.json()["detail"]


def test_ping_unused_events_and_redeliveries(client, db, secret):
    delivery = str(uuid.uuid4())
    response = hook(client, "ping", {"hook": {"events": ["push"]}}, delivery=delivery)
    assert response.status_code == 200
    assert "pull_request" in response.json()["detail"]  # the hook misses an event
    again = hook(client, "ping", {"hook": {"events": ["push"]}}, delivery=delivery)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert Delivery.objects.get(delivery_id=delivery).redeliveries == 1
    issues = hook(client, "issues", {"action": "opened", "repository": {"full_name": "a/b"}})
    assert issues.status_code == 202
    row = Delivery.objects.get(event="issues")
    assert (row.outcome, row.repository, row.action) == ("ignored", "a/b", "opened")


def test_bad_input_is_a_clear_4xx(client, db, secret):
    assert hook(client, "push", b"{not json").status_code == 400
    assert hook(client, "push", b"[1, 2]").json()["detail"] == "the payload is not a JSON object"
    missing = hook(client, "push", {}, HTTP_X_GITHUB_DELIVERY="")
    assert missing.status_code == 400 and "X-GitHub-Delivery" in missing.json()["detail"]
    assert hook(client, "push", {}, HTTP_X_GITHUB_EVENT="Bad Event!").status_code == 400
    assert client.get("/hooks/github/").status_code == 405
    big = client.generic("POST", "/hooks/github/", b"{}", content_type="application/json",
                         CONTENT_LENGTH=str(26 * 1024 * 1024))
    assert big.status_code == 413
    huge = b'{"pad": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    assert hook(client, "push", huge).status_code == 413
    assert Delivery.objects.count() == 0


def test_form_encoded_payloads_are_read_too(client, db, secret):
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps({"zen": "hi"})}).encode()
    response = client.generic("POST", "/hooks/github/", body,
                              content_type="application/x-www-form-urlencoded",
                              HTTP_X_GITHUB_EVENT="ping",
                              HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
                              HTTP_X_HUB_SIGNATURE_256=signature(SECRET, body))
    assert response.status_code == 200


def test_push_to_a_locations_branch_refreshes_it_once(client, transactional_db, secret,
                                                       tmp_path):
    repo = app_repo(tmp_path)
    location = Location.objects.create(kind="git", target=str(repo), ref="main",
                                       trusted=True, github_repo="acme/app")
    execute_run(Run.objects.create(kind="catalog_import", params={"location": location.pk},
                                   target=location.run_target).pk)
    assert Entity.objects.get(name="shop").description == "first"
    (repo / "catalog-info.yaml").write_text(DESCRIPTOR.format(description="second"))
    git("commit", "-qam", "describe", cwd=repo)
    sha = git("rev-parse", "HEAD", cwd=repo)

    delivery = str(uuid.uuid4())
    start = time.monotonic()
    response = hook(client, "push", push_payload(after=sha), delivery=delivery)
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "accepted"
    [run_id] = response.json()["runs"]
    run = Run.objects.get(pk=run_id)
    assert (run.kind, run.target, run.params["refresh"]) == ("catalog_import",
                                                              location.run_target, True)
    assert run.actor.startswith("github push")
    execute_run(run_id)  # the worker
    assert Entity.objects.get(name="shop").description == "second"
    assert time.monotonic() - start < 5
    # GitHub redelivers: answered, not acted on again.
    again = hook(client, "push", push_payload(after=sha), delivery=delivery)
    assert again.json()["duplicate"] is True
    assert Run.objects.filter(kind="catalog_import").count() == 2
    row = Delivery.objects.get(delivery_id=delivery)
    assert row.runs == [run_id] and row.ref == "refs/heads/main" and row.head_sha == sha


def test_only_known_repositories_and_branches_are_acted_on(client, db, secret, settings):
    settings.CATALOG_ALLOWED_HOSTS = ["github.com"]
    derived = Location.objects.create(kind="git", target="https://github.com/Acme/Shop.git",
                                      ref="")
    assert derived.github_repository == "Acme/Shop"
    other = hook(client, "push", push_payload(repo="acme/other"))
    assert other.json()["outcome"] == "ignored"
    assert "no catalog location" in other.json()["detail"]
    branch = hook(client, "push", push_payload(repo="acme/shop", ref="refs/heads/feature"))
    assert branch.json()["outcome"] == "ignored"
    tag = hook(client, "push", push_payload(repo="acme/shop", ref="refs/tags/v1"))
    assert "only branch pushes" in tag.json()["detail"]
    gone = hook(client, "push", push_payload(repo="acme/shop", deleted=True))
    assert gone.json()["outcome"] == "ignored"
    assert Run.objects.count() == 0
    default = hook(client, "push", push_payload(repo="acme/shop"))  # ref "" = default branch
    assert default.json()["outcome"] == "accepted" and len(default.json()["runs"]) == 1


def test_a_push_while_an_import_runs_refreshes_again_later(client, db, secret, tmp_path):
    from django_q.models import Schedule

    from catalog import services as catalog_services

    location = Location.objects.create(kind="git", target=str(tmp_path), trusted=True,
                                       github_repo="acme/app")
    busy = catalog_services.start_import(location, enqueue=False)
    response = hook(client, "push", push_payload())
    assert response.status_code == 200
    assert f"run #{busy.pk}" in response.json()["detail"]
    schedule = Schedule.objects.get(func="envs.github.jobs.refresh_location")
    assert schedule.schedule_type == Schedule.ONCE


def test_location_github_repo_is_validated_in_the_api(api, db, settings, tmp_path):
    settings.CATALOG_LOCAL_ROOTS = [tmp_path]
    bad = api.post("/api/catalog/locations/", {"target": str(tmp_path), "kind": "local",
                                                "github_repo": "not a repo"}, format="json")
    assert bad.status_code == 400 and "github_repo" in bad.json()["fields"]
    good = api.post("/api/catalog/locations/", {"target": str(tmp_path), "kind": "local",
                                                 "github_repo": "acme/app.git"}, format="json")
    assert good.status_code == 201, good.content
    location = Location.objects.get()
    assert location.github_repo == "acme/app"
    shown = api.get(f"/api/catalog/locations/{location.pk}/").json()
    assert shown["github_repository"] == "acme/app"
    patched = api.patch(f"/api/catalog/locations/{location.pk}/", {"github_repo": ""},
                        format="json")
    assert patched.status_code == 200 and patched.json()["github_repository"] == ""

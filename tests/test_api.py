"""The REST API contract: tokens and scopes, one error form, pagination, run endpoints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from portal.auth.models import ApiToken
from portal.runs.models import Run, RunLine


def test_read_token_can_read_but_not_start_runs(read_api):
    assert read_api.get("/api/runs/").status_code == 200
    response = read_api.post("/api/runs/", {"kind": "selfcheck"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert "read scope" in response.json()["detail"]
    assert Run.objects.count() == 0


def test_no_or_bad_token_is_refused_in_the_error_form(db):
    anonymous = APIClient()
    body = anonymous.get("/api/runs/").json()
    assert anonymous.get("/api/runs/").status_code == 401
    assert body["error"] == "not_authenticated" and body["fields"] == {}
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer eaas_nope_nope")
    assert anonymous.get("/api/runs/").status_code == 401


def test_revoked_and_expired_tokens_stop_working(owner):
    token, plaintext = ApiToken.issue(owner, "t", "write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert client.get("/api/runs/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    token.revoke()
    assert client.get("/api/runs/").status_code == 401
    expired, plaintext2 = ApiToken.issue(owner, "old", "read",
                                         timezone.now() - timedelta(seconds=1))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext2}")
    assert client.get("/api/runs/").status_code == 401


def test_tokens_are_stored_only_as_hashes(owner):
    _token, plaintext = ApiToken.issue(owner, "t", "read")
    row = ApiToken.objects.values().get()
    assert plaintext not in str(row)
    assert plaintext.startswith(f"eaas_{row['prefix']}_")


def test_create_token_command_prints_a_working_token_last(db, capsys):
    call_command("create_token", "--scope", "write", "--name", "ci")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {last}")
    assert client.post("/api/runs/", {"kind": "selfcheck"}, format="json").status_code == 201


def test_other_kinds_are_refused_with_their_endpoint(api):
    from portal.runs.kinds import RunKind, register

    register(RunKind(name="test_elsewhere", label="x", execute=lambda ctx: None,
                     endpoint="/api/envs/<env>/plan/"))
    response = api.post("/api/runs/", {"kind": "test_elsewhere"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert "/api/envs/<env>/plan/" in body["fields"]["kind"][0]
    assert api.post("/api/runs/", {"kind": "nope"}, format="json").status_code == 400


def test_validation_errors_use_the_single_error_form(api):
    response = api.post("/api/runs/", {"kind": "selfcheck", "environment": "nowhere"},
                        format="json")
    assert response.status_code == 400
    body = response.json()
    assert body == {
        "error": "invalid",
        "detail": "environment: no environment named 'nowhere'",
        "fields": {"environment": ["no environment named 'nowhere'"]},
    }
    malformed = api.post("/api/runs/", "{not json", content_type="application/json")
    assert malformed.status_code == 400 and malformed.json()["error"] == "parse_error"


def test_not_found_uses_the_error_form(api):
    response = api.get("/api/runs/999999/")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_run_list_is_paginated_and_filtered(api):
    for number in range(7):
        Run.objects.create(kind="selfcheck", target=f"env:e{number % 2}",
                           status="succeeded" if number % 3 else "failed")
    page = api.get("/api/runs/?page_size=3").json()
    assert page["count"] == 7 and len(page["results"]) == 3 and page["next"]
    failed = api.get("/api/runs/?status=failed").json()
    assert {r["status"] for r in failed["results"]} == {"failed"} and failed["count"] == 3
    assert api.get("/api/runs/?target=env:e1").json()["count"] == 3
    bad = api.get("/api/runs/?status=bogus")
    assert bad.status_code == 400 and "status" in bad.json()["fields"]


def test_log_endpoint_pages_with_the_after_cursor(api):
    run = Run.objects.create(kind="selfcheck", status="succeeded")
    now = timezone.now()
    RunLine.objects.bulk_create(RunLine(run=run, seq=n, ts=now, text=f"l{n}")
                                for n in range(1, 1501))
    first = api.get(f"/api/runs/{run.pk}/log/").json()
    assert len(first["lines"]) == 1000 and first["finished"] is False
    assert first["lines"][0] == {"seq": 1, "ts": first["lines"][0]["ts"], "text": "l1"}
    rest = api.get(f"/api/runs/{run.pk}/log/?after=1000").json()
    assert [line["seq"] for line in rest["lines"]] == list(range(1001, 1501))
    assert rest["finished"] is True
    assert api.get(f"/api/runs/{run.pk}/log/?after=-1").status_code == 400


def test_run_detail_gives_timestamps_and_links(api):
    parent = Run.objects.create(kind="selfcheck", status="succeeded")
    run = Run.objects.create(kind="selfcheck", status="failed", error="boom", parent=parent)
    body = api.get(f"/api/runs/{run.pk}/").json()
    assert body["error"] == "boom" and body["parent"] == parent.pk
    assert body["links"]["log"].endswith(f"/api/runs/{run.pk}/log/")
    assert body["links"]["parent"].endswith(f"/api/runs/{parent.pk}/")
    for field in ("created_at", "started_at", "finished_at", "elapsed"):
        assert field in body


def test_cancel_of_a_finished_run_is_a_conflict(api):
    run = Run.objects.create(kind="selfcheck", status="succeeded")
    response = api.post(f"/api/runs/{run.pk}/cancel/")
    assert response.status_code == 409 and response.json()["error"] == "not_active"


def test_audit_api_lists_and_filters(api, owner):
    api.post("/api/runs/", {"kind": "selfcheck"}, format="json")
    events = api.get("/api/audit/?action=run.start").json()
    assert events["count"] == 1
    event = events["results"][0]
    assert event["actor"].startswith(owner.username) and "token" in event["actor"]
    assert event["client_ip"] == "127.0.0.1"
    assert api.get("/api/audit/?since=yesterday").status_code == 400


def test_schema_and_docs_need_sign_in_and_describe_the_runs_api(api, db):
    assert APIClient().get("/api/schema/").status_code in (401, 403)
    schema = api.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/runs/", "/api/runs/{id}/", "/api/runs/{id}/log/",
                 "/api/runs/{id}/cancel/", "/api/audit/", "/api/envs/"):
        assert path in paths, path


@pytest.mark.parametrize("path", ["/api/envs/", "/api/envs/dev/"])
def test_envs_api(api, path):
    from envs.models import Environment

    Environment.objects.create(name="dev", tier="dev")
    body = api.get(path).json()
    item = body["results"][0] if "results" in body else body
    assert item["name"] == "dev" and item["tier"] == "dev" and item["lock"] is None


def test_api_docs_load_from_our_own_static_files_without_inline_script(signed_in):
    page = signed_in.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "<script>" not in html.replace(" ", "")
    init = signed_in.get("/api/docs/?script=")
    assert init.status_code == 200 and "SwaggerUIBundle" in init.content.decode()


def test_cancel_of_a_run_canceled_earlier_is_a_conflict(api):
    run = Run.objects.create(kind="selfcheck", status="queued")
    assert api.post(f"/api/runs/{run.pk}/cancel/").status_code == 202
    again = api.post(f"/api/runs/{run.pk}/cancel/")
    assert again.status_code == 409 and again.json()["error"] == "not_active"

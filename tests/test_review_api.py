"""Review: every /api/ answer uses the one error form, URLs without a trailing slash too."""

from __future__ import annotations

from portal.runs.models import Run


def test_api_url_without_trailing_slash_answers_in_the_error_form(api):
    # Django's APPEND_SLASH answered 301 text/html with an empty body; a client following
    # it turns the POST into a GET and gets 200 with a run list: no run, no error.
    response = api.post("/api/runs", {"kind": "selfcheck"}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "not_found" and body["fields"] == {}
    assert "/api/runs/" in body["detail"]
    assert Run.objects.count() == 0
    response = api.get("/api/runs")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_pages_still_get_the_trailing_slash_redirect(signed_in):
    response = signed_in.get("/runs")
    assert response.status_code == 301 and response["Location"] == "/runs/"

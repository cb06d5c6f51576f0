"""One mapping of refusals: the API renders a DomainError as the one error body with its
status; a page view that lets one escape shows the message where the owner came from."""

from __future__ import annotations

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory
from rest_framework.exceptions import ValidationError

from portal.api.errors import exception_handler
from portal.errors import Conflict, DomainError, NotConfigured, NotFound, Refused
from portal.middleware import DomainErrorMiddleware
from portal.runs.pages import refusal


@pytest.mark.parametrize("error, status, code", [
    (Refused("stale_plan", "the plan is stale"), 409, "stale_plan"),
    (NotConfigured(detail="no cluster connection"), 409, "not_configured"),
    (NotFound(detail="no environment named 'x'"), 404, "not_found"),
    (Conflict("exists", "already there", location=3), 409, "exists"),
])
def test_api_renders_every_domain_error_as_the_one_error_body(error, status, code):
    response = exception_handler(error, {})
    assert response.status_code == status
    assert response.data["error"] == code
    assert response.data["detail"] == error.detail
    assert response.data["fields"] == {}
    if code == "exists":
        assert response.data["location"] == 3


def test_page_refusal_reads_the_same_sentence():
    assert refusal(Refused("x", "the plan is stale")) == "Refused: the plan is stale."
    assert refusal(ValidationError({"image": ["required"]})) == "Refused: image: required"


def _request(referer: str | None):
    request = RequestFactory().post("/envs/dev/deploys/", HTTP_REFERER=referer or "")
    if referer is None:
        del request.META["HTTP_REFERER"]
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_an_escaped_domain_error_on_a_page_goes_back_with_the_message():
    middleware = DomainErrorMiddleware(lambda r: None)
    request = _request("http://testserver/envs/dev/")
    response = middleware.process_exception(request, NotConfigured(detail="no cluster"))
    assert response.status_code == 302 and response["Location"] == "http://testserver/envs/dev/"
    assert [str(m) for m in request._messages] == ["Refused: no cluster."]


def test_it_never_redirects_off_site_and_leaves_the_api_and_other_errors_alone():
    middleware = DomainErrorMiddleware(lambda r: None)
    response = middleware.process_exception(_request("https://evil.example/"), Refused(detail="x"))
    assert response["Location"] == "/"
    api = RequestFactory().post("/api/envs/dev/deploys/")
    assert middleware.process_exception(api, Refused(detail="x")) is None
    assert middleware.process_exception(_request(None), ValueError("boom")) is None


def test_not_found_on_a_page_is_a_404():
    from django.http import Http404

    with pytest.raises(Http404):
        DomainErrorMiddleware(lambda r: None).process_exception(_request(None),
                                                                NotFound(detail="gone"))
    assert issubclass(NotFound, DomainError)

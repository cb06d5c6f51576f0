"""GitHub's pages and its webhook. The webhook (``POST /hooks/github/``) is public: it is
authenticated only by GitHub's signature, which ``services.receive`` checks over the raw
body before anything else is read. Settings → GitHub shows the set-up, the repositories the
portal acts on, the pull requests and every delivery."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from envs.models import Environment
from portal.errors import DomainError
from portal.runs.pages import start_from_form

from . import services
from .models import PullRequest
from .webhook import MAX_BODY, TooLarge


def _error(exc: DomainError) -> JsonResponse:
    body: dict[str, Any] = {"error": exc.code, "detail": exc.detail}
    if exc.fields:
        body["fields"] = exc.fields
    return JsonResponse(body, status=exc.status)


def _read_body(request: HttpRequest) -> bytes:
    """The raw body, refusing more than GitHub ever sends before reading it all."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        raise TooLarge(detail=f"the body is over {MAX_BODY // (1024 * 1024)} MB, GitHub's cap")
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise TooLarge(detail=f"the body is over {MAX_BODY // (1024 * 1024)} MB, GitHub's cap")
    return body


@csrf_exempt
def webhook(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": "method_not_allowed",
                             "detail": "GitHub delivers webhooks with POST"}, status=405)
    try:
        body = _read_body(request)
        answer = services.receive(body, request.headers,
                                  client_ip=getattr(request, "client_ip", None))
    except DomainError as exc:
        return _error(exc)
    return JsonResponse(answer.body, status=answer.status)


@require_GET
def settings_page(request: HttpRequest) -> HttpResponse:
    rows = services.deliveries(event=request.GET.get("event", ""),
                               outcome=request.GET.get("outcome", ""))
    page = Paginator(rows.prefetch_related("posts"), 50).get_page(request.GET.get("page"))
    return render(request, "github/settings.html", {
        "overview": services.overview(), "page": page,
        "environments": Environment.objects.exclude(tf_git_url="").order_by("name"),
    })


@require_POST
def plan_pull(request: HttpRequest, pk: int) -> HttpResponse:
    pull = get_object_or_404(PullRequest, pk=pk)
    env = get_object_or_404(Environment, name=request.POST.get("env", ""))
    return start_from_form(
        request, lambda: services.plan_pull_request(env, pull.repository, pull.number, request),
        "/settings/github/")

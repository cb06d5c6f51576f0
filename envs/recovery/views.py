"""Settings -> Recovery: status, self-backups, drills, and the recovery kit download."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from portal.errors import DomainError
from portal.runs.pages import refuse, start_from_form

from . import services
from .models import PortalDrill

BACK = "/settings/recovery/"


def page(request: HttpRequest) -> HttpResponse:
    status = services.status()
    return render(request, "recovery/page.html", {
        "status": status, "backups": list(services.backups()[:30]),
        "drills": list(PortalDrill.objects.all()[:10]),
        "kit_allowed": services.kit_allowed(request),
    })


@require_POST
def backup_now(request: HttpRequest) -> HttpResponse:
    return start_from_form(request, lambda: services.start_backup(request), BACK)


@require_POST
def drill_now(request: HttpRequest) -> HttpResponse:
    return start_from_form(request, lambda: services.start_drill(request), BACK)


@require_POST
def kit(request: HttpRequest) -> HttpResponse:
    try:
        body = services.download_kit(request)
    except DomainError as exc:
        return refuse(request, exc, BACK)
    name = f"eaas-portal-recovery-kit-{timezone.localdate():%Y%m%d}.env"
    response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response

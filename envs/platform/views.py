"""The Platform page. The page renders from the database at once; its services part is
reloaded from ``/platform/live/``, which reads the cluster (short timeouts, shared with the
API and the periodic check through services.refresh)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import services


def platform_page(request: HttpRequest) -> HttpResponse:
    return render(request, "platform/page.html", {"platform": services.overview()})


def platform_live(request: HttpRequest) -> HttpResponse:
    services.refresh()
    return render(request, "platform/_services.html", {"platform": services.overview(),
                                                        "live": True})

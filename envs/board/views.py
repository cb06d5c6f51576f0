"""The board page, its rows (re-fetched by HTMX while an action runs there, so a cell shows
the new release without a reload), the health fragment (loaded apart, never blocking the
page) and the Deploy / Promote / Rollback posts."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import APIException

from envs.models import Environment
from portal.errors import DomainError
from portal.runs.models import LockHeld
from portal.runs.pages import refusal, start_from_form

from . import services


def board(request):
    envs, rows = services.build()
    return render(request, "board/page.html", {"envs": envs, "rows": rows})


@require_GET
def row(request, component: str):
    _envs, rows = services.build(only=component)
    if not rows:
        raise Http404("no such component on the board")
    return render(request, "board/_row.html", {"row": rows[0]})


@require_GET
def health(request, name: str):
    """The environment's rollout health, read now (page timeout), as out-of-band swaps of
    every health badge of that column."""
    env = get_object_or_404(Environment, name=name)
    known = services.refresh_health(env)
    _envs, rows = services.build()
    cells = [c for r in rows for c in r.cells if c.env.pk == env.pk]
    return render(request, "board/_health.html", {"env": env, "known": known,
                                                  "cells": cells})


def _answer(request, component: str, start) -> HttpResponse:
    """An HTMX post answers with the component's row (polling while the run goes); a plain
    form post goes to the run page, or back to the board with the refusal."""
    if not request.headers.get("HX-Request"):
        return start_from_form(request, start, "/board/")
    error = ""
    try:
        start()
    except (APIException, DomainError, LockHeld) as exc:
        error = refusal(exc)
    _envs, rows = services.build(only=_ref(component))
    if not rows:
        raise Http404("no such component on the board")
    return render(request, "board/_row.html", {"row": rows[0], "error": error,
                                               "error_cell": request.POST.get("cell", "")})


def _ref(component: str) -> str:
    try:
        return services.normalize_component(component)
    except ValueError:
        raise Http404("not a component reference") from None


@require_POST
def deploy(request, name: str):
    env = get_object_or_404(Environment, name=name)
    component = request.POST.get("component", "")
    return _answer(request, component, lambda: services.deploy(
        env, component, request.POST.get("tag", ""), request,
        confirm=request.POST.get("confirm")))


@require_POST
def promote(request, name: str):
    source = get_object_or_404(Environment, name=name)
    component = request.POST.get("component", "")

    def start():
        to = services.environment(request.POST.get("to", ""))
        return services.promote(source, component, to, request,
                                confirm=request.POST.get("confirm"))
    return _answer(request, component, start)


@require_POST
def rollback(request, name: str):
    env = get_object_or_404(Environment, name=name)
    component = request.POST.get("component", "")
    release = request.POST.get("release", "")

    def start():
        if not release.isdigit():
            raise services.Invalid(detail="release: choose a release",
                                   fields={"release": ["choose a release"]})
        return services.rollback(env, component, int(release), request,
                                 confirm=request.POST.get("confirm"))
    return _answer(request, component, start)

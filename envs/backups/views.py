"""Backup pages: thin POST views calling the same methods as the API, and the state fragment."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import APIException

from envs.models import Environment
from portal.runs.pages import refusal, start_from_form

from . import bucket, jobs
from .api import register_source
from .models import Backup, BackupSource


def _refused(request, exc: Exception) -> None:
    messages.error(request, refusal(exc))


def _back_url(env: Environment) -> str:
    return f"/envs/{env.name}/#backups"


def _back(env: Environment):
    return redirect(_back_url(env))


@require_POST
def add_source(request, env: str):
    environment = get_object_or_404(Environment, name=env)
    data = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken" and v != ""}
    data["encrypt"] = request.POST.get("encrypt") == "on"
    try:
        source = register_source(environment, data, request)
    except APIException as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"Backup source {source.name} added.")
    return _back(environment)


@require_POST
def backup_now(request, env: str):
    environment = get_object_or_404(Environment, name=env)
    source = get_object_or_404(BackupSource, environment=environment,
                               name=request.POST.get("source", ""))
    return start_from_form(request, lambda: source.start_backup(request=request),
                           _back_url(environment))


@require_POST
def retention_now(request, env: str):
    environment = get_object_or_404(Environment, name=env)
    source = get_object_or_404(BackupSource, environment=environment,
                               name=request.POST.get("source", ""))
    return start_from_form(request, lambda: source.start_retention(request=request),
                           _back_url(environment))


@require_POST
def restore(request, pk: int):
    backup = get_object_or_404(Backup.objects.select_related("source__environment"), pk=pk)
    return start_from_form(request, lambda: backup.start_restore(request.POST, request=request),
                           _back_url(backup.source.environment))


@require_POST
def drill(request, env: str):
    environment = get_object_or_404(Environment, name=env)
    return start_from_form(request, lambda: jobs.start_drill(environment, request=request),
                           _back_url(environment))


@require_GET
def state_versions(request, env: str):
    environment = get_object_or_404(Environment, name=env)
    return render(request, "backups/_state_versions.html",
                  {"env": environment, "state": bucket.state_versions(environment)})

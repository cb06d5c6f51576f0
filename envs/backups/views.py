"""Backup pages. Thin: each form post calls one function of services.py (the same one the
API calls) through portal.runs.pages.start_from_form, which goes to the run's page or back
to the Backups section with the refusal in one line; and the state-versions fragment."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from envs.models import Environment
from portal.runs.pages import start_from_form

from . import bucket, services
from .models import Backup, BackupSource
from .serializers import SourceSerializer, source_form_data


def _back_url(env: Environment) -> str:
    return f"/envs/{env.name}/backups/"


@require_POST
def add_source(request, env: str):
    environment = get_object_or_404(Environment, name=env)

    def register() -> None:
        data = SourceSerializer(data=source_form_data(request.POST))
        data.is_valid(raise_exception=True)
        source = services.register_source(environment, data.validated_data, request)
        messages.success(request, f"Backup source {source.name} added.")

    return start_from_form(request, register, _back_url(environment))


def _source(environment: Environment, request) -> BackupSource:
    return get_object_or_404(BackupSource, environment=environment,
                             name=request.POST.get("source", ""))


@require_POST
def backup_now(request, env: str):
    environment = get_object_or_404(Environment, name=env)
    source = _source(environment, request)
    return start_from_form(request, lambda: services.start_backup(source, request),
                           _back_url(environment))


@require_POST
def retention_now(request, env: str):
    environment = get_object_or_404(Environment, name=env)
    source = _source(environment, request)
    return start_from_form(request, lambda: services.start_retention(source, request),
                           _back_url(environment))


@require_POST
def restore(request, pk: int):
    backup = get_object_or_404(Backup.objects.select_related("source__environment"), pk=pk)
    return start_from_form(request, lambda: services.start_restore(backup, request.POST, request),
                           _back_url(backup.source.environment))


@require_POST
def drill(request, env: str):
    environment = get_object_or_404(Environment, name=env)
    return start_from_form(request, lambda: services.start_drill(environment, request=request),
                           _back_url(environment))


@require_GET
def state_versions(request, env: str):
    environment = get_object_or_404(Environment, name=env)
    return render(request, "backups/_state_versions.html",
                  {"env": environment, "state": bucket.state_versions(environment)})

"""Pages and form posts of provisioning. Thin: each form post calls one function of
services.py (the same one the API calls) through portal.runs.pages.start_from_form, which
goes to the run's page or back with the refusal in one line."""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from envs.models import Environment
from portal.runs.models import Run
from portal.runs.pages import start_from_form

from . import services
from .models import PlanArtifact
from .serializers import VariablesForm


def _env(name: str) -> Environment:
    return get_object_or_404(Environment, name=name)


def _env_page(env: Environment) -> str:
    return reverse("env-tab", kwargs={"name": env.name, "tab": "infrastructure"})


@require_POST
def env_plan(request, name: str):
    env = _env(name)
    return start_from_form(request, lambda: services.start_plan(env, request), _env_page(env))


@require_POST
def env_destroy(request, name: str):
    env = _env(name)
    return start_from_form(request, lambda: services.start_destroy(env, request.POST, request),
                           _env_page(env))


@require_POST
def env_drift(request, name: str):
    env = _env(name)
    return start_from_form(request, lambda: services.start_drift(env, request), _env_page(env))


@require_POST
def env_force_unlock(request, name: str):
    env = _env(name)
    return start_from_form(
        request, lambda: services.start_force_unlock(env, request.POST, request), _env_page(env))


@require_POST
def env_variables(request, name: str):
    env = _env(name)

    def save() -> None:
        form = VariablesForm(data=request.POST)
        form.is_valid(raise_exception=True)
        services.update_variables(env, form.changes_for(env), request, partial=True)
        messages.success(request, "Variables saved. Plan to see their effect.")

    return start_from_form(request, save, _env_page(env))


def plan_review(request, pk: int):
    artifact = get_object_or_404(PlanArtifact.objects.select_related("run", "environment"),
                                 run_id=pk)
    rows = []
    for change in artifact.resource_changes:
        rows.append({**change, "diff": [
            {"key": d["key"], "before": _show(d["before"]), "after": _show(d["after"])}
            for d in change["diff"]]})
    return render(request, "provisioning/plan_review.html", {
        "artifact": artifact, "run": artifact.run, "env": artifact.environment, "rows": rows,
        "outputs": [{**o, "before": _show(o["before"]), "after": _show(o["after"])}
                    for o in artifact.output_changes],
        "apply": artifact.run.children.filter(kind="apply").first(),
        "needs_confirm": artifact.environment.is_prod or artifact.mode == "destroy",
    })


def _show(value) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@require_POST
def plan_approve(request, pk: int):
    def approve() -> Run:
        apply = services.approve(services.plan_run(pk), request.POST, request)
        messages.success(request, f"Approved: apply run #{apply.pk} started.")
        return apply

    return start_from_form(request, approve, reverse("plan-review", kwargs={"pk": pk}))


@require_POST
def plan_discard(request, pk: int):
    def discard() -> None:
        services.discard(services.plan_run(pk), request)
        messages.info(request, f"Plan run #{pk} discarded.")

    return start_from_form(request, discard, reverse("plan-review", kwargs={"pk": pk}))


@require_POST
def run_force_stop(request, pk: int):
    run = get_object_or_404(Run, pk=pk)

    def force_stop() -> None:
        services.force_stop(run, request)
        messages.warning(request, f"Force stop requested for run #{pk}: Terraform is killed.")

    return start_from_form(request, force_stop, reverse("run", kwargs={"pk": pk}))

"""Pages and form posts of provisioning: thin wrappers around actions.py (the API calls
the same functions)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from envs.models import Environment
from portal.api.errors import ApiError
from portal.runs.models import Run

from . import actions
from .models import PlanArtifact


def _refused(request, exc: ApiError) -> None:
    messages.error(request, f"Refused: {exc.detail}")


def _env(name: str) -> Environment:
    return get_object_or_404(Environment, name=name)


def _start(request, name: str, start) -> object:
    env = _env(name)
    try:
        run = start(env)
    except ApiError as exc:
        _refused(request, exc)
        return redirect("env", name=env.name)
    return redirect("run", pk=run.pk)


@require_POST
def env_plan(request, name: str):
    return _start(request, name, lambda env: actions.start_plan(env, request))


@require_POST
def env_destroy(request, name: str):
    return _start(request, name, lambda env: actions.start_destroy(env, request.POST, request))


@require_POST
def env_drift(request, name: str):
    return _start(request, name, lambda env: actions.start_drift(env, request))


@require_POST
def env_force_unlock(request, name: str):
    return _start(request, name,
                  lambda env: actions.start_force_unlock(env, request.POST, request))


@require_POST
def env_variables(request, name: str):
    env = _env(name)
    try:
        plain = json.loads(request.POST.get("variables") or "{}")
    except ValueError as exc:
        messages.error(request, f"Variables: not valid JSON ({exc})")
        return redirect("env", name=env.name)
    if not isinstance(plain, dict):
        messages.error(request, "Variables: expected a JSON object")
        return redirect("env", name=env.name)
    plain.update({old: None for old in env.tf_variables or {} if old not in plain})
    secret = {n: None for n in request.POST.getlist("remove_secret")}
    if request.POST.get("secret_name"):
        secret[request.POST["secret_name"].strip()] = request.POST.get("secret_value", "")
    try:
        actions.update_variables(env, {"variables": plain, "secret_variables": secret}, request,
                                 partial=True)
    except ApiError as exc:
        _refused(request, exc)
    else:
        messages.success(request, "Variables saved. Plan to see their effect.")
    return redirect("env", name=env.name)


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
    try:
        apply = actions.approve(actions.plan_run(pk), request.POST, request)
    except ApiError as exc:
        _refused(request, exc)
        return redirect("plan-review", pk=pk)
    messages.success(request, f"Approved: apply run #{apply.pk} started.")
    return redirect("run", pk=apply.pk)


@require_POST
def plan_discard(request, pk: int):
    try:
        actions.discard(actions.plan_run(pk), request)
    except ApiError as exc:
        _refused(request, exc)
    else:
        messages.info(request, f"Plan run #{pk} discarded.")
    return redirect("plan-review", pk=pk)


@require_POST
def run_force_stop(request, pk: int):
    run = get_object_or_404(Run, pk=pk)
    try:
        actions.force_stop(run, request)
    except ApiError as exc:
        _refused(request, exc)
    else:
        messages.warning(request, f"Force stop requested for run #{pk}: Terraform is killed.")
    return redirect("run", pk=pk)

"""Parts of the environment page and the dashboard that provisioning adds."""

from __future__ import annotations

import json

from envs.sections import attention, dashboard_section, env_section, memo
from portal.runs.choices import Status
from portal.runs.models import Run

from .jobs import TERRAFORM_KINDS
from .models import DriftStatus, PlanArtifact, StateSnapshot
from .serializers import variable_rows
from .statelock import state_lock_info


def _snapshot(env):
    return StateSnapshot.objects.filter(environment=env).select_related(
        "last_apply_run").first()


def overview(env, request=None) -> dict:
    """Status at a glance, shared by the page section and the API."""
    snapshot = memo(request, ("snapshot", env.pk), lambda: _snapshot(env))
    drift = DriftStatus.objects.filter(environment=env).first()
    pending = list(PlanArtifact.objects.filter(environment=env, run__status=Status.PLANNED)
                   .select_related("run").order_by("-created_at"))
    return {"snapshot": snapshot, "drift": drift, "pending": pending}


@attention
def drift_attention(request, env) -> list[dict]:
    """The Overview's word on drift: the last drift check found changes (or failed)."""
    drift = DriftStatus.objects.filter(environment=env).first()
    if drift is None or drift.status not in ("drifted", "error"):
        return []
    if drift.status == "drifted":
        n = len(drift.drifted or [])
        text = f"Drift: {n} resource{'s' if n != 1 else ''} changed outside Terraform"
    else:
        text = f"The last drift check failed: {drift.message[:200]}"
    return [{"text": text, "url": f"/envs/{env.name}/infrastructure/",
             "level": "warning" if drift.status == "drifted" else "error",
             "action": "Plan to reconcile" if drift.status == "drifted" else "Open"}]


@env_section(10, "provisioning/_env_status.html")
def status_section(request, env):
    data = overview(env, request)
    data["lock"] = memo(request, ("lock", env.pk), env.lock_holder)
    data["state_lock"] = state_lock_info(env)
    data["running"] = Run.objects.filter(target=env.target, kind__in=TERRAFORM_KINDS,
                                         status=Status.RUNNING).first()
    return data


@env_section(20, "provisioning/_env_state.html")
def state_section(request, env):
    snapshot = memo(request, ("snapshot", env.pk), lambda: _snapshot(env))
    if snapshot is None or snapshot.serial is None:
        return None
    outputs = [{"name": name, "sensitive": o["sensitive"],
                "value": o["value"] if isinstance(o["value"], str) else json.dumps(o["value"])}
               for name, o in snapshot.outputs.items()]
    return {"snapshot": snapshot, "outputs": outputs}


@env_section(30, "provisioning/_env_variables.html")
def variables_section(request, env):
    rows = variable_rows(env)
    declared = {row["name"] for row in rows or []}
    return {
        "rows": rows,
        "variables_json": json.dumps(env.tf_variables or {}, indent=2, sort_keys=True),
        "secret_names": env.secret_variable_names,
        "sensitive_names": [row["name"] for row in rows or [] if row["sensitive"]],
        # Set before the stack stopped declaring them: saving the table removes them.
        "undeclared": sorted(set(env.tf_variables or {}) - declared) if rows is not None
        else [],
        "git_source": env.is_git_source,
    }


@dashboard_section(10, "provisioning/_dashboard.html")
def dashboard_drift(request, envs):
    drift = {d.environment_id: d for d in DriftStatus.objects.all()}
    pending = set(PlanArtifact.objects.filter(run__status=Status.PLANNED)
                  .values_list("environment_id", flat=True))
    rows = [{"env": env, "drift": drift.get(env.pk), "pending": env.pk in pending}
            for env in envs]
    return {"rows": rows} if rows else None

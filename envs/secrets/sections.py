"""The secrets parts of the environment page and the dashboard (metadata only)."""

from __future__ import annotations

from envs.sections import dashboard_section, env_section

from .bundle import auto_export_status
from .config import config_check
from .models import Generator, PendingValue, Secret


@env_section(40, "secrets/_env_section.html")
def env_secrets(request, env) -> dict:
    secrets = Secret.with_active_runs(
        Secret.objects.filter(environment=env).select_related("environment"))
    stranded = PendingValue.objects.filter(secret__environment=env).exclude(
        run__status__in=["queued", "running"]).select_related("secret", "run")
    return {
        "secrets": secrets,
        "overdue": sum(1 for s in secrets if s.overdue),
        "not_in_cluster": [s for s in secrets if s.in_cluster is False],
        "stranded": list(stranded),
        "config": config_check(env, use_cache=True),
        "generators": Generator.choices,
        "confirm": env.is_prod,
    }


@dashboard_section(40, "secrets/_dashboard.html")
def dashboard_secrets(request, envs) -> dict:
    rows = []
    secrets = list(Secret.objects.select_related("environment"))
    for env in envs:
        mine = [s for s in secrets if s.environment_id == env.pk]
        rows.append({"env": env, "count": len(mine),
                     "overdue": [s.name for s in mine if s.overdue],
                     "auto": sum(1 for s in mine if s.auto_rotate)})
    return {"rows": rows, "export": auto_export_status(),
            "total_overdue": sum(len(r["overdue"]) for r in rows)}

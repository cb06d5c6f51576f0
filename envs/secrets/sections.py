"""The secrets parts of the environment page and the dashboard (metadata only)."""

from __future__ import annotations

from django.utils import timezone

from envs.sections import attention, dashboard_section, env_section

from .config_keys import page_check
from .export import auto_export_status
from .models import Generator, PendingValue, Secret


@attention
def overdue_attention(request, env) -> list[dict]:
    """The Overview's word on secrets older than their rotation policy."""
    late = [s.name for s in Secret.objects.filter(environment=env).only(
        "name", "set_at", "rotated_at", "max_age_days") if s.overdue]
    if not late:
        return []
    return [{"text": f"{len(late)} secret{'s are' if len(late) > 1 else ' is'} overdue for "
             f"rotation: {', '.join(late[:5])}{' …' if len(late) > 5 else ''}",
             "url": f"/envs/{env.name}/secrets/", "level": "warning", "action": "Rotate"}]


@env_section(40, "secrets/_env_section.html")
def env_secrets(request, env) -> dict:
    secrets = list(Secret.objects.filter(environment=env))
    for secret in secrets:  # the page's own environment, not one decrypted copy per row
        secret.environment = env
    secrets = Secret.with_active_runs(secrets)
    stranded = PendingValue.objects.filter(secret__environment=env).exclude(
        run__status__in=["queued", "running"]).select_related("secret", "run")
    return {
        "secrets": secrets,
        "overdue": sum(1 for s in secrets if s.overdue),
        "not_in_cluster": [s for s in secrets if s.in_cluster is False],
        "stranded": list(stranded),
        # from the database (or the last cluster read, cached): the page never waits on it
        "config": page_check(env),
        "generators": Generator.choices,
        "confirm": env.is_prod,
    }


@dashboard_section(40, "secrets/_dashboard.html")
def dashboard_secrets(request, envs) -> dict:
    # Plain values, not model rows: the dashboard needs names, counts and ages only.
    now = timezone.now()
    by_env = {env.pk: {"env": env, "count": 0, "overdue": [], "auto": 0} for env in envs}
    for env_id, name, set_at, rotated_at, max_age, auto in Secret.objects.filter(
            environment_id__in=by_env).order_by("name").values_list(
            "environment_id", "name", "set_at", "rotated_at", "max_age_days", "auto_rotate"):
        row = by_env[env_id]
        row["count"] += 1
        row["auto"] += bool(auto)
        if Secret.is_overdue(rotated_at or set_at, max_age, now):
            row["overdue"].append(name)
    rows = list(by_env.values())
    return {"rows": rows, "export": auto_export_status(),
            "total_overdue": sum(len(r["overdue"]) for r in rows)}

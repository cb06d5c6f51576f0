"""The deploys parts of the environment page and the dashboard."""

from __future__ import annotations

from envs.sections import dashboard_section, env_section, head

from . import promotions
from .connection import cluster_info, output_sources
from .models import Release
from .status import live_status


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@env_section(30, "deploys/_env_section.html")
def env_deploys(request, env) -> dict:
    info = cluster_info(env)
    status = live_status(env) if info["set"] else None
    targets = list(env.deploy_targets.order_by("component"))  # no join for the ordering
    workloads = []
    for w in (status or {}).get("workloads", []):
        owner = next((t for t in targets if t.effective_namespace() == w["namespace"] and (
            (t.deployment and t.deployment == w["name"])
            or (t.kuberoapp and w.get("managed_by") == f"KuberoApp/{t.kuberoapp}"))), None)
        workloads.append({**w, "age_text": _age(w["age"]), "component": owner.component
                          if owner else ""})
    live = {r.component: r for r in Release.objects.filter(
        environment=env, status=Release.Status.LIVE)}
    releases, more = head(request, Release.objects.filter(environment=env)
                          .select_related("run"), "releases", 10)
    return {
        "cluster": info, "status": status, "workloads": workloads,
        # Environments whose last apply left a `kubeconfig` output (the platform's).
        "kubeconfig_sources": output_sources("kubeconfig"),
        "targets": [{"target": t, "live": live.get(t.component)} for t in targets],
        "releases": releases, "more_releases": more,
        "confirm": env.is_prod,
    }


@dashboard_section(30, "deploys/_dashboard.html")
def dashboard_promotions(request, envs) -> dict | None:
    rows = promotions.pending()
    return {"pending": rows, "count": len(rows)}

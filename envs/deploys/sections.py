"""The deploys parts of the environment page and the dashboard."""

from __future__ import annotations

from django.core.cache import cache
from django.utils import timezone

from envs.sections import dashboard_section, env_section, head

from . import promotions
from .components import short
from .connection import cluster_info, output_sources
from .models import Release
from .status import live_status

UNREACHABLE_KEY = "deploys:unreachable-since:{pk}"


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def live_workloads(env) -> dict:
    """What runs in the environment, read from the cluster (page timeout, cached briefly):
    the "What runs here" fragment the page loads apart, so the page never waits on it.
    Remembers since when the cluster could not be read."""
    status = live_status(env)
    targets = list(env.deploy_targets.order_by("component"))  # no join for the ordering
    workloads = []
    for w in status.get("workloads", []):
        owner = next((t for t in targets if t.effective_namespace() == w["namespace"] and (
            (t.deployment and t.deployment == w["name"])
            or (t.kuberoapp and w.get("managed_by") == f"KuberoApp/{t.kuberoapp}"))), None)
        workloads.append({**w, "age_text": _age(w["age"]), "component": owner.component
                          if owner else ""})
    key = UNREACHABLE_KEY.format(pk=env.pk)
    since = None
    if status.get("error"):
        since = cache.get(key) or timezone.now()
        cache.set(key, since, 7 * 86400)
    else:
        cache.delete(key)
    return {"status": status, "workloads": workloads, "unreachable_since": since}


@env_section(30, "deploys/_env_section.html")
def env_deploys(request, env) -> dict:
    """From the database only: the live part comes from ``live_workloads`` apart."""
    info = cluster_info(env)
    targets = list(env.deploy_targets.order_by("component"))  # no join for the ordering
    live = {r.component: r for r in Release.objects.filter(
        environment=env, status=Release.Status.LIVE)}
    releases, more = head(request, Release.objects.filter(environment=env)
                          .select_related("run"), "releases", 10)
    return {
        "cluster": info,
        "unreachable_since": cache.get(UNREACHABLE_KEY.format(pk=env.pk)),
        # Environments whose last apply left a `kubeconfig` output (the platform's), that
        # this one may copy from; another's output on prod needs the typed name.
        "kubeconfig_sources": [
            {"name": name, "confirm": env.is_prod and name != env.name}
            for name in output_sources("kubeconfig", for_env=env)],
        "targets": [{"target": t, "live": live.get(t.component)} for t in targets],
        "releases": releases, "more_releases": more,
        "confirm": env.is_prod,
    }


@env_section(15, "deploys/_env_overview.html", tab="overview")
def env_overview(request, env) -> dict | None:
    """The Overview's line per component: what runs, since when, by whom (database only)."""
    live = list(Release.objects.filter(environment=env, status=Release.Status.LIVE)
                .order_by("component"))
    if not live:
        return None
    rows = []
    for release in live:
        name = short(release.component)
        rows.append({"release": release, "name": name,
                     "cell": "".join(c if c.isalnum() else "-" for c in name)})
    return {"live": rows}


@dashboard_section(30, "deploys/_dashboard.html")
def dashboard_promotions(request, envs) -> dict | None:
    rows = promotions.pending()
    return {"pending": rows, "count": len(rows)}

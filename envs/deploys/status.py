"""What runs in an environment's namespaces, read from the cluster for its page and
cached briefly."""

from __future__ import annotations

from django.core.cache import cache
from django.utils import timezone

from envs.cluster import NoCluster, connect
from envs.models import Environment
from portal.lib.kube import KubeError
from portal.runs.models import Run

STATUS_CACHE_SECONDS = 10


def live_status(env: Environment, refresh: bool = False) -> dict:
    """What runs in the environment's namespaces, read from the cluster and cached for
    STATUS_CACHE_SECONDS: {"workloads": [...], "error": text, "read_at": iso}."""
    # The newest run on the environment (and its status) is part of the key, so the page
    # shows what a deploy, rollback or restart just did instead of the cached workloads.
    last_pk, last_status = Run.objects.filter(target=env.target).order_by("-pk").values_list(
        "pk", "status").first() or (0, "")
    key = (f"deploys:status:{env.pk}:{env.updated_at.timestamp() if env.updated_at else 0}:"
           f"{last_pk}-{last_status}")
    if not refresh:
        hit = cache.get(key)
        if hit is not None:
            return hit
    namespaces = sorted({t.effective_namespace() for t in env.deploy_targets.all()}
                        | {env.namespace})
    result: dict = {"workloads": [], "error": "", "read_at": timezone.now().isoformat()}
    try:
        with connect(env, for_page=True) as cluster:
            for ns in namespaces:
                try:
                    for w in cluster.workload_status(ns):
                        result["workloads"].append({**w, "namespace": ns})
                except KubeError as exc:
                    if exc.kind != "not_found":
                        raise
    except NoCluster as exc:
        result["error"] = str(exc)
    except KubeError as exc:
        result["error"] = exc.message
    cache.set(key, result, STATUS_CACHE_SECONDS)
    return result

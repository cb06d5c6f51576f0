"""Configuration completeness: does every component of an environment get every key of its
``.env.example``?

Components of an environment: its deploy Targets when deploys recorded any, else the catalog
Components whose ``eaas.portal/environments`` annotation names it. A key is provided when a
Secret of that name exists in the environment, or when the component's live workload sets
it (a plain or valueFrom ``env`` entry, or an ``envFrom`` Secret/ConfigMap holding it).
Keys the workload sets that the ``.env.example`` does not list are "extra".
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache

from catalog.models import Entity
from envs.cluster import NoCluster, connect
from envs.deploys.components import normalize_component
from envs.deploys.models import Target
from envs.deploys.resolve import label_selector
from envs.models import Environment
from portal.lib.kube import Cluster, KubeError
from portal.runs.models import Run

from .models import Secret

log = logging.getLogger(__name__)
CACHE_SECONDS = 10


def _entities(refs: list[str]) -> dict[str, Entity]:
    return {e.ref: e for e in Entity.objects.filter(ref__in={r.lower() for r in refs})
            .only("ref", "config_keys", "annotations")}


def components(env: Environment) -> list[dict]:
    """[{ref, keys (None: unknown), target}] for the components deployed in ``env``."""
    out: dict[str, dict] = {}
    for t in Target.objects.filter(environment=env):
        t.environment = env  # one environment: one namespace look-up
        out[t.component] = {"ref": t.component, "target": t}
    if not out:
        for e in Entity.in_environment(env.name).filter(kind="component"):
            out[e.ref] = {"ref": e.ref, "target": None}
    # One query for every component's entity (not one per component).
    entities = _entities(list(out))
    for ref, row in out.items():
        entity = entities.get(ref.lower())
        row["entity"] = entity
        keys = entity.config_keys if entity is not None else None
        row["keys"] = sorted({str(k) for k in keys}) if isinstance(keys, list) else None
    return [out[k] for k in sorted(out)]


def _deployments_of(cluster: Cluster, env: Environment, row: dict) -> tuple[str, list[dict]]:
    target: Target | None = row.get("target")
    entity: Entity | None = row.get("entity")
    if target is not None and (target.deployment or target.kuberoapp):
        ns = target.effective_namespace()
        if target.kuberoapp:
            return ns, cluster.kubero_app_deployments(ns, target.kuberoapp)
        return ns, [cluster.get_deployment(ns, target.deployment)]
    ns = target.effective_namespace() if target is not None else env.namespace
    annotations = (entity.annotations or {}) if entity is not None else {}
    return ns, cluster.find_deployments(ns, label_selector(row["ref"], annotations))


def workload_keys(cluster: Cluster, ns: str, deployments: list[dict],
                  container: str = "") -> set[str]:
    keys: set[str] = set()
    for dep in deployments:
        spec = ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in spec.get("containers") or []:
            if container and c.get("name") != container:
                continue
            keys |= {e["name"] for e in c.get("env") or [] if e.get("name")}
            for source in c.get("envFrom") or []:
                prefix = source.get("prefix") or ""
                try:
                    if (source.get("secretRef") or {}).get("name"):
                        found = cluster.secret_keys(ns, source["secretRef"]["name"])
                    elif (source.get("configMapRef") or {}).get("name"):
                        found = cluster.configmap_keys(ns, source["configMapRef"]["name"])
                    else:
                        found = []
                except KubeError as exc:
                    if exc.kind != "not_found":
                        raise
                    found = []  # an optional source that does not exist provides nothing
                keys |= {prefix + k for k in found}
    return keys


def _check(env: Environment, cluster: Cluster | None) -> dict:
    secret_names = set(Secret.objects.filter(environment=env).values_list("name", flat=True))
    rows = []
    listed: set[str] = set()
    for row in components(env):
        out = {"component": row["ref"], "keys": row["keys"], "missing": [], "extra": [],
               "provided_by_secret": [], "provided_by_workload": [], "workload": None,
               "error": None}
        live: set[str] = set()
        target: Target | None = row["target"]
        if cluster is not None:
            try:
                ns, deps = _deployments_of(cluster, env, row)
                container = target.container if target is not None else ""
                live = workload_keys(cluster, ns, deps, container if deps and not (
                    target is not None and target.kuberoapp) else "")
                out["workload"] = ", ".join(f"{ns}/{d['metadata']['name']}" for d in deps) or None
            except KubeError as exc:
                out["error"] = exc.message
        if row["keys"] is None:
            out["error"] = out["error"] or "no .env.example recorded by the catalog"
            rows.append(out)
            continue
        keys = set(row["keys"])
        listed |= keys
        out["provided_by_secret"] = sorted(keys & secret_names)
        out["provided_by_workload"] = sorted((keys & live) - secret_names)
        out["missing"] = sorted(keys - secret_names - live)
        out["extra"] = sorted(live - keys)
        rows.append(out)
    return {"environment": env.name, "components": rows,
            "unused_secrets": sorted(secret_names - listed) if rows else [],
            "cluster": cluster is not None}


def _cache_key(env: Environment) -> str:
    secrets = sorted(Secret.objects.filter(environment=env).values_list("name", "version"))
    last_run = Run.objects.filter(target=env.target).order_by("-pk").values_list(
        "pk", "status").first()
    fingerprint = hashlib.sha256(repr((secrets, last_run)).encode()).hexdigest()[:16]
    return f"secrets:config-check:{env.pk}:{fingerprint}"


def config_check(env: Environment, use_cache: bool = False, for_page: bool = True) -> dict:
    """Missing and extra keys per component of ``env`` (reads the cluster when connected,
    with a page's timeouts unless ``for_page`` is false: a run's)."""
    # Keyed on what the answer depends on in the portal (its secrets and versions, the newest
    # run on the environment), so the page never says a key is missing right after adding it.
    key = _cache_key(env)
    if use_cache:
        cached = cache.get(key)
        if cached is not None:
            return cached
    cluster = None
    try:
        cluster = connect(env, for_page=for_page)
    except NoCluster:
        pass
    except KubeError as exc:
        log.info("config check of %s without the cluster: %s", env.name, exc.kind)
    try:
        result = _check(env, cluster)
    finally:
        if cluster is not None:
            cluster.close()
    cache.set(key, result, CACHE_SECONDS)
    return result


def page_check(env: Environment) -> dict:
    """For a page, without waiting on a cluster: the last cluster-read answer when it is
    cached and still current, else the answer from the portal's own rows only (keys a live
    workload sets are not counted; ``cluster`` is False and the page says so)."""
    cached = cache.get(_cache_key(env))
    return cached if cached is not None else _check(env, None)


def missing_keys(env: Environment, component_ref: str) -> list[str]:
    """Keys of the component's ``.env.example`` nothing provides in ``env`` (for the deploy
    run: warn, and refuse on prod unless forced). Empty when the keys are unknown;
    ValueError when ``component_ref`` is not a component reference."""
    ref = normalize_component(component_ref)
    for row in config_check(env, for_page=False)["components"]:
        if row["component"] == ref:
            return list(row["missing"])
    entity = Entity.objects.filter(ref=ref).only("config_keys").first()
    keys = entity.config_keys if entity is not None else None
    if not isinstance(keys, list):
        return []
    names = set(Secret.objects.filter(environment=env).values_list("name", flat=True))
    return sorted({str(k) for k in keys} - names)

"""Configuration completeness: does every component of an environment get every key of its
``.env.example``?

Components of an environment: its deploy Targets when deploys recorded any, else the catalog
Components whose ``eaas.portal/environments`` annotation names it. A key is provided when a
Secret of that name exists in the environment, or when the component's live workload sets
it (a plain or valueFrom ``env`` entry, or an ``envFrom`` Secret/ConfigMap holding it).
Keys the workload sets that the ``.env.example`` does not list are "extra". Other apps are
read defensively: the catalog and deploys may be absent or still being built.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache

from envs.models import Environment
from portal.lib.kube import Cluster, KubeError
from portal.runs.models import Run

from .models import Secret, environment_namespace

log = logging.getLogger(__name__)
CACHE_SECONDS = 10
ID_ANNOTATION = "backstage.io/kubernetes-id"
SELECTOR_ANNOTATION = "backstage.io/kubernetes-label-selector"


def _entity(ref: str):
    try:
        from catalog.models import Entity
    except ImportError:
        return None
    return Entity.objects.filter(ref=ref.lower()).first()


def _entities(refs: list[str]) -> dict:
    try:
        from catalog.models import Entity
    except ImportError:
        return {}
    return {e.ref: e for e in Entity.objects.filter(ref__in={r.lower() for r in refs})
            .only("ref", "config_keys", "annotations")}


def _normalize(ref: str) -> str:
    ref = ref.strip().lower()
    if ":" not in ref:
        ref = f"component:{ref}"
    kind, _, rest = ref.partition(":")
    if "/" not in rest:
        rest = f"default/{rest}"
    return f"{kind}:{rest}"


def components(env: Environment) -> list[dict]:
    """[{ref, keys (None: unknown), target}] for the components deployed in ``env``."""
    out: dict[str, dict] = {}
    targets = []
    try:
        from envs.deploys.models import Target

        targets = list(Target.objects.filter(environment=env))
    except (ImportError, LookupError):
        targets = []
    for t in targets:
        out[t.component] = {"ref": t.component, "target": t}
    if not out:
        try:
            from catalog.models import Entity

            for e in Entity.in_environment(env.name).filter(kind="component"):
                out[e.ref] = {"ref": e.ref, "target": None}
        except (ImportError, AttributeError):
            pass
    # One query for every component's entity (not one per component).
    entities = _entities(list(out))
    for ref, row in out.items():
        entity = entities.get(ref.lower())
        row["entity"] = entity
        keys = getattr(entity, "config_keys", None) if entity is not None else None
        row["keys"] = sorted({str(k) for k in keys}) if isinstance(keys, list) else None
    return [out[k] for k in sorted(out)]


def _deployments_of(cluster: Cluster, env: Environment, row: dict) -> tuple[str, list[dict]]:
    target, entity = row.get("target"), row.get("entity")
    if target is not None and (getattr(target, "deployment", "") or
                               getattr(target, "kuberoapp", "")):
        ns = target.effective_namespace()
        if target.kuberoapp:
            return ns, cluster.kubero_app_deployments(ns, target.kuberoapp)
        return ns, [cluster.get_deployment(ns, target.deployment)]
    ns = target.effective_namespace() if target is not None else environment_namespace(env)
    annotations = (getattr(entity, "annotations", None) or {}) if entity is not None else {}
    selector = annotations.get(SELECTOR_ANNOTATION) or \
        f"{ID_ANNOTATION}={annotations.get(ID_ANNOTATION) or row['ref'].rpartition('/')[2]}"
    return ns, cluster.find_deployments(ns, selector)


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
        if cluster is not None:
            try:
                ns, deps = _deployments_of(cluster, env, row)
                container = getattr(row.get("target"), "container", "") or ""
                live = workload_keys(cluster, ns, deps, container if deps and not getattr(
                    row.get("target"), "kuberoapp", "") else "")
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


def config_check(env: Environment, use_cache: bool = False) -> dict:
    """Missing and extra keys per component of ``env`` (reads the cluster when connected)."""
    # Keyed on what the answer depends on in the portal (its secrets and versions, the newest
    # run on the environment), so the page never says a key is missing right after adding it.
    secrets = sorted(Secret.objects.filter(environment=env).values_list("name", "version"))
    last_run = Run.objects.filter(target=env.target).order_by("-pk").values_list(
        "pk", "status").first()
    fingerprint = hashlib.sha256(repr((secrets, last_run)).encode()).hexdigest()[:16]
    key = f"secrets:config-check:{env.pk}:{fingerprint}"
    if use_cache:
        cached = cache.get(key)
        if cached is not None:
            return cached
    cluster = None
    if env.kubeconfig:
        try:
            cluster = Cluster(env.kubeconfig, request_timeout=(3, 10))
        except KubeError as exc:
            log.info("config check of %s without the cluster: %s", env.name, exc.kind)
    try:
        result = _check(env, cluster)
    finally:
        if cluster is not None:
            cluster.close()
    cache.set(key, result, CACHE_SECONDS)
    return result


def missing_keys(env: Environment, component_ref: str) -> list[str]:
    """Keys of the component's ``.env.example`` nothing provides in ``env`` (for the deploy
    run: warn, and refuse on prod unless forced). Empty when the keys are unknown."""
    ref = _normalize(component_ref)
    for row in config_check(env)["components"]:
        if row["component"] == ref:
            return list(row["missing"])
    entity = _entity(ref)
    keys = getattr(entity, "config_keys", None) if entity is not None else None
    if not isinstance(keys, list):
        return []
    names = set(Secret.objects.filter(environment=env).values_list("name", flat=True))
    return sorted({str(k) for k in keys} - names)

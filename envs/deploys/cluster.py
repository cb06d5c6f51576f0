"""The cluster side of deploys: connecting with an environment's kubeconfig, resolving
targets from catalog annotations, reading what runs where (cached briefly for pages)."""

from __future__ import annotations

import yaml
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from portal.lib.kube import Cluster, KubeError, managed_by, server_url
from portal.runs.models import Run

from . import refs
from .models import Target

STATUS_CACHE_SECONDS = 10
ID_ANNOTATION = "backstage.io/kubernetes-id"
SELECTOR_ANNOTATION = "backstage.io/kubernetes-label-selector"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


class NoCluster(Exception):
    """The environment has no cluster connection."""


def cluster_info(env) -> dict:
    """What may be shown about the connection: whether it is set, the server URL, and
    where it came from (by hand, or a Terraform output: then whether that environment was
    applied again since, which may have changed the kubeconfig)."""
    if env.kubeconfig:
        try:
            server = server_url(env.kubeconfig)
        except KubeError:
            server = None
        return {"set": True, "server": server, "in_cluster": False,
                "source": _source_info(env.kubeconfig_source)}
    if settings.DEPLOY_IN_CLUSTER:
        return {"set": True, "server": "in-cluster", "in_cluster": True, "source": None}
    return {"set": False, "server": None, "in_cluster": False, "source": None}


def _source_info(source: dict | None) -> dict | None:
    if not source or not source.get("env"):
        return None
    from envs.provisioning.models import StateSnapshot

    latest = StateSnapshot.objects.filter(environment__name=source["env"]).values_list(
        "last_apply_run_id", flat=True).first()
    return {"env": source["env"], "output": source.get("output", ""),
            "run": source.get("run"), "outdated": bool(latest and latest != source.get("run"))}


def output_sources(output: str = "kubeconfig") -> list[str]:
    """Environments whose last apply left an output of that name (the page's choices)."""
    from envs.provisioning.models import StateSnapshot

    return sorted(StateSnapshot.objects.filter(outputs__has_key=output).values_list(
        "environment__name", flat=True))


def kubeconfig_secrets(text: str | None) -> list[str]:
    """Every credential inside a kubeconfig, for the run's redactor."""
    if not text:
        return []
    values = [text]
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return values
    users = data.get("users") if isinstance(data, dict) else None
    for user in users if isinstance(users, list) else []:
        fields = (user.get("user") if isinstance(user, dict) else None) or {}
        if not isinstance(fields, dict):
            continue
        for key in ("token", "password", "client-key-data", "client-certificate-data"):
            if fields.get(key):
                values.append(str(fields[key]))
    return values


def connect(env, request_timeout: tuple[float, float] | None = None) -> Cluster:
    request_timeout = request_timeout or (5, settings.KUBE_REQUEST_TIMEOUT)
    if env.kubeconfig:
        return Cluster(env.kubeconfig, request_timeout=request_timeout)
    if settings.DEPLOY_IN_CLUSTER:
        return Cluster(in_cluster=True, request_timeout=request_timeout)
    raise NoCluster(f"environment {env.name} has no cluster connection: set its kubeconfig "
                    f"(PUT /api/envs/{env.name}/cluster/ or the environment page)")


def resolve(target: Target, cluster: Cluster) -> Target:
    """Find the target's object from the catalog annotations when the owner named none: the
    single Deployment labelled backstage.io/kubernetes-id=<id> (or matching the label
    selector annotation). A match owned by a KuberoApp becomes a KuberoApp target, so the
    portal changes the app and not the operator's Deployment. Saves the outcome either way."""
    if target.explicit or target.resolved:
        return target
    annotations = refs.catalog_annotations(target.component) or {}
    namespace = target.effective_namespace()
    if annotations.get(SELECTOR_ANNOTATION):
        selector = annotations[SELECTOR_ANNOTATION]
    else:
        kube_id = annotations.get(ID_ANNOTATION) or refs.entity_name(target.component)
        selector = f"{ID_ANNOTATION}={kube_id}"
    found = cluster.find_deployments(namespace, selector)
    names = sorted(d["metadata"]["name"] for d in found)
    target.candidates = names
    target.unresolved_reason = ""
    if len(found) != 1:
        what = "no Deployment" if not found else f"{len(found)} Deployments ({', '.join(names)})"
        target.unresolved_reason = (f"{what} in namespace {namespace} match {selector!r}: "
                                    "name the deployment and container, or a KuberoApp")
    else:
        dep = found[0]
        owner = next((o for o in dep["metadata"].get("ownerReferences") or []
                      if o.get("controller") and o.get("kind") == "KuberoApp"), None)
        containers = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
        if owner:
            target.kuberoapp = owner["name"]
        else:
            wanted = refs.entity_name(target.component)
            default = ((dep["spec"]["template"].get("metadata") or {}).get("annotations")
                       or {}).get(DEFAULT_CONTAINER)
            container = containers[0] if len(containers) == 1 else (
                wanted if wanted in containers else default if default in containers else "")
            target.deployment = dep["metadata"]["name"]
            target.container = container
            if not container:
                target.unresolved_reason = (
                    f"deployment {namespace}/{dep['metadata']['name']} has several containers "
                    f"({', '.join(containers)}), none is named {wanted} and no "
                    f"{DEFAULT_CONTAINER} annotation picks one: name the container")
        if not target.unresolved_reason:
            target.resolved_at = timezone.now()
    target.save()
    return target


def live_status(env, refresh: bool = False) -> dict:
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
                        | {refs.environment_namespace(env)})
    result: dict = {"workloads": [], "error": "", "read_at": timezone.now().isoformat()}
    try:
        with connect(env, request_timeout=(2, 5)) as cluster:
            cluster.read_retries = 0  # a page must not hang on a dead cluster
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


def refuse_if_managed(dep: dict) -> None:
    owner = managed_by(dep)
    if owner:
        meta = dep["metadata"]
        raise KubeError(f"deployment {meta.get('namespace')}/{meta.get('name')} is managed by "
                        f"{owner}; use a KuberoApp target (or change it where {owner} takes "
                        "its configuration): the portal does not fight a reconciler", "refused")

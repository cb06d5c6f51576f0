"""The platform services and their health: what the Platform page, its API and the periodic
check call (views call nothing else).

``overview()`` reads the database only: the page renders from it at once. ``refresh()``
reads the cluster (Deployments, StatefulSets, PersistentVolumeClaims of each service's
namespace, SigNoz's and PostHog's own health endpoints) with the page's short timeout and
stores what it found; it does nothing when the last read is younger than
PORTAL_PLATFORM_REFRESH_SECONDS, so a page, its fragment and the API share one read.
``check_health()`` (every minute, from the worker) refreshes and turns "not ready for
longer than PORTAL_PLATFORM_UNHEALTHY_MINUTES" into ``platform.unhealthy`` and its end
into ``platform.recovered``.

Where each service lives comes from the ``services`` output of the platform-services
stack's last recorded apply (environment PORTAL_PLATFORM_ENVIRONMENT); the cluster is that
environment's connection, else the ``platform`` environment's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from envs.cluster import NoCluster, connect
from envs.models import Environment
from envs.notifications.messages import Draft
from envs.notifications.outbox import emit
from portal.audit.models import Outcome, record
from portal.lib import safe_http
from portal.lib.kube import Cluster, KubeError

from .definitions import BY_KEY, SERVICES, ServiceDefinition
from .models import ClusterReach, ServiceStatus, State

log = logging.getLogger(__name__)

UNHEALTHY = "platform.unhealthy"
RECOVERED = "platform.recovered"
CLUSTER = "cluster"  # the pseudo-service an unreachable cluster is reported as
HEALTH_TIMEOUT = 3.0
REFRESH_LOCK = "platform:refreshing"
BADGES = {State.READY: "succeeded", State.NOT_READY: "failed", State.ABSENT: "info",
          State.UNKNOWN: "unknown"}


# --------------------------------------------------------------------------- where things are


@dataclass(frozen=True)
class Location:
    namespace: str
    address: str
    url: str


def platform_environment() -> Environment | None:
    return Environment.objects.filter(name=settings.PLATFORM_ENVIRONMENT).first()


def stack_outputs(env: Environment | None) -> dict[str, Any]:
    """The ``services`` output of the environment's last recorded apply, or {}."""
    if env is None:
        return {}
    try:
        outputs = env.state_snapshot.outputs or {}  # reverse one-to-one, provisioning's
    except ObjectDoesNotExist:
        return {}
    output = outputs.get("services")
    if not isinstance(output, dict) or output.get("sensitive"):
        return {}
    value = output.get("value")
    return value if isinstance(value, dict) else {}


def locations(env: Environment | None) -> dict[str, Location]:
    outputs = stack_outputs(env)
    found = {}
    for service in SERVICES:
        given = outputs.get(service.key)
        given = given if isinstance(given, dict) else {}
        found[service.key] = Location(
            namespace=_text(given.get("namespace")) or service.namespace,
            address=_text(given.get("address")),
            url=_public_url(given.get("url")),
        )
    return found


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _public_url(value: Any) -> str:
    """Only http(s) URLs become links on the page."""
    text = _text(value)
    return text if urlsplit(text).scheme in ("http", "https") and urlsplit(text).netloc else ""


def cluster_environment(env: Environment | None) -> Environment | None:
    """Whose cluster connection reads the platform: the services environment's, else the
    ``platform`` environment's (the same k3s), else the services environment (which falls
    back to the in-cluster service account when the portal runs there)."""
    if env is not None and env.kubeconfig:
        return env
    platform = Environment.objects.filter(name="platform").exclude(kubeconfig=None).first()
    if platform is not None and platform.kubeconfig:
        return platform
    return env


# --------------------------------------------------------------------------- the database view


def overview() -> dict[str, Any]:
    """Everything the page and the API show, from the database only (no outside call)."""
    env = platform_environment()
    where = locations(env)
    stored = {s.key: s for s in ServiceStatus.objects.all()}
    reach = ClusterReach.objects.filter(key="platform").first()
    rows = []
    for service in SERVICES:
        status = stored.get(service.key)
        detail = status.detail if status is not None else {}
        location = where[service.key]
        rows.append({
            "key": service.key,
            "title": service.title,
            "namespace": location.namespace,
            "address": location.address,
            "url": location.url,
            "state": status.state if status is not None else State.UNKNOWN,
            "state_label": State(status.state).label if status is not None else "unknown",
            "badge": BADGES[State(status.state) if status is not None else State.UNKNOWN],
            "not_ready_since": status.not_ready_since if status is not None else None,
            "alerted": bool(status and status.alerted),
            "checked_at": status.checked_at if status is not None else None,
            "workloads": detail.get("workloads", []),
            "volumes": detail.get("volumes", []),
            "images": detail.get("images", []),
            "health": detail.get("health"),
            "error": detail.get("error", ""),
        })
    ready = sum(1 for r in rows if r["state"] == State.READY)
    counted = sum(1 for r in rows if r["state"] != State.ABSENT)
    return {
        "environment": settings.PLATFORM_ENVIRONMENT,
        "environment_exists": env is not None,
        "outputs_recorded": bool(stack_outputs(env)),
        "cluster": {
            "reachable": reach.reachable if reach is not None else None,
            "unreachable_since": reach.unreachable_since if reach is not None else None,
            "last_ok_at": reach.last_ok_at if reach is not None else None,
            "checked_at": reach.checked_at if reach is not None else None,
            "error": reach.error if reach is not None else "",
        },
        "services": rows,
        "ready": ready,
        "counted": counted,
        "unhealthy_minutes": settings.PLATFORM_UNHEALTHY_MINUTES,
    }


def status(live: bool = True) -> dict[str, Any]:
    """For the API: a refresh when the stored read is older than the refresh interval
    (short timeouts), then the database view."""
    if live:
        refresh()
    return overview()


# --------------------------------------------------------------------------- reading the cluster


def is_fresh(now: datetime | None = None) -> bool:
    now = now or timezone.now()
    reach = ClusterReach.objects.filter(key="platform").only("checked_at").first()
    return bool(reach and reach.checked_at and
                now - reach.checked_at < timedelta(seconds=settings.PLATFORM_REFRESH_SECONDS))


def refresh(force: bool = False) -> bool:
    """Read the cluster and store what each service looks like. Returns whether a read
    happened (False: the stored one is fresh, or another read is under way)."""
    if not force and is_fresh():
        return False
    if not cache.add(REFRESH_LOCK, "1", timeout=60):
        return False
    try:
        read_and_store()
    finally:
        cache.delete(REFRESH_LOCK)
    return True


def read_and_store() -> None:
    env = platform_environment()
    where = locations(env)
    now = timezone.now()
    results: dict[str, tuple[str, dict[str, Any]]] = {}
    reach_error = ""
    reachable: bool | None = True
    try:
        source = cluster_environment(env)
        if source is None:
            raise NoCluster(detail=f"no environment named {settings.PLATFORM_ENVIRONMENT} "
                            "(run manage.py envs_sync, or set PORTAL_PLATFORM_ENVIRONMENT)")
        with connect(source, for_page=True) as cluster:
            for service in SERVICES:
                if service.in_cluster:
                    results[service.key] = read_service(cluster, service, where[service.key])
            signoz = results.get("signoz")
            if signoz is not None and signoz[1].get("workloads"):
                signoz[1]["health"] = in_cluster_health(cluster, BY_KEY["signoz"],
                                                        where["signoz"])
    except NoCluster as exc:
        reachable, reach_error = None, str(exc)
    except KubeError as exc:
        if exc.kind in ("unreachable", "timeout"):
            reachable = False
        else:  # answered, but refused us (credentials, RBAC): say it, it is not "down"
            reachable = None
        reach_error = exc.message
    posthog = where["posthog"]
    results["posthog"] = outside_service(BY_KEY["posthog"], posthog)
    store(results, reachable, reach_error, now)



def read_service(cluster: Cluster, service: ServiceDefinition,
                 location: Location) -> tuple[str, dict[str, Any]]:
    """(state, detail) of one service from its namespace. KubeError "unreachable" and
    "timeout" propagate (the cluster is down); a namespace that is missing or forbidden is
    this service's own problem."""
    namespace = location.namespace
    try:
        deployments = cluster.find_deployments(namespace)
        stateful_sets = cluster.find_stateful_sets(namespace)
        pods = cluster.find_pods(namespace)
        claims = cluster.find_volume_claims(namespace)
    except KubeError as exc:
        if exc.kind == "not_found":
            return State.ABSENT, {"error": f"namespace {namespace} not found"}
        if exc.kind in ("forbidden", "unauthorized", "invalid", "server_error"):
            return State.UNKNOWN, {"error": exc.message}
        raise
    workloads = ([workload_summary("Deployment", d) for d in deployments]
                 + [workload_summary("StatefulSet", s) for s in stateful_sets]
                 + operator_managed(pods))
    detail: dict[str, Any] = {
        "workloads": workloads,
        "volumes": [volume_summary(c) for c in claims],
        "images": sorted({image for w in workloads for image in w["images"]}),
    }
    if not workloads:
        return State.ABSENT, {**detail, "error": f"nothing runs in namespace {namespace}"}
    ready = all(w["ready"] >= w["desired"] for w in workloads)
    return (State.READY if ready else State.NOT_READY), detail


def workload_summary(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = spec.get("replicas")
    desired = 1 if desired is None else int(desired)
    pod_spec = ((spec.get("template") or {}).get("spec") or {})
    images = [c.get("image", "") for c in pod_spec.get("containers") or []]
    return {"kind": kind, "name": (obj.get("metadata") or {}).get("name", ""),
            "ready": int(status.get("readyReplicas") or 0), "desired": desired,
            "images": [i for i in images if i]}


# Pods these controllers own are counted through their Deployment or StatefulSet.
APPS_OWNERS = {"ReplicaSet", "StatefulSet", "DaemonSet", "Job"}


def operator_managed(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pods an operator runs itself (CloudNativePG's ``Cluster`` owns its instances' pods,
    no StatefulSet): one workload per owner, desired = its pods, ready = the Ready ones."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for pod in pods:
        owner = next((o for o in (pod.get("metadata") or {}).get("ownerReferences") or []
                      if o.get("controller")), None)
        if owner is None or owner.get("kind") in APPS_OWNERS:
            continue
        key = (str(owner.get("kind", "")), str(owner.get("name", "")))
        group = groups.setdefault(key, {"kind": key[0], "name": key[1], "ready": 0,
                                        "desired": 0, "images": []})
        group["desired"] += 1
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            group["ready"] += 1
        for container in ((pod.get("spec") or {}).get("containers") or []):
            image = container.get("image", "")
            if image and image not in group["images"]:
                group["images"].append(image)
    return [groups[k] for k in sorted(groups)]


def volume_summary(claim: dict[str, Any]) -> dict[str, Any]:
    spec, status = claim.get("spec") or {}, claim.get("status") or {}
    requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "")
    capacity = (status.get("capacity") or {}).get("storage", "")
    return {"name": (claim.get("metadata") or {}).get("name", ""),
            "size": capacity or requested, "requested": requested,
            "phase": status.get("phase", ""), "storage_class": spec.get("storageClassName") or ""}


def in_cluster_health(cluster: Cluster, service: ServiceDefinition,
                      location: Location) -> dict[str, Any]:
    """The service's own health endpoint, through the API server's service proxy."""
    name, port = service.health_service, service.health_port
    host = urlsplit(location.address if "://" in location.address
                    else f"http://{location.address}")
    if host.hostname:
        name = host.hostname.split(".")[0]
        port = host.port or port
    checked = timezone.now().isoformat()
    try:
        code, body = cluster.service_get(location.namespace, name, port, service.health_path)
    except KubeError as exc:
        return {"ok": False, "reachable": False, "detail": exc.message, "checked_at": checked}
    return {"ok": 200 <= code < 300, "reachable": code < 500,
            "detail": f"HTTP {code}: {body.strip()[:200]}", "checked_at": checked,
            "endpoint": f"{name}:{port}{service.health_path}"}


def outside_service(service: ServiceDefinition, location: Location) -> tuple[str, dict]:
    """A service outside the cluster (PostHog): its state is its health endpoint's."""
    if not location.url:
        return State.ABSENT, {"error": "not installed (its Helm chart was retired); set the "
                              "stack's posthog_url to a PostHog elsewhere to watch it"}
    url = location.url.rstrip("/") + service.health_path
    host = urlsplit(url).hostname or ""
    checked = timezone.now().isoformat()
    try:
        body = safe_http.get(url, allowed_hosts=[host], max_bytes=64 * 1024,
                             timeout=HEALTH_TIMEOUT)
    except safe_http.FetchError as exc:
        health = {"ok": False, "reachable": False, "detail": str(exc), "checked_at": checked,
                  "endpoint": url}
        return State.UNKNOWN, {"health": health}
    health = {"ok": True, "reachable": True, "checked_at": checked, "endpoint": url,
              "detail": body.decode(errors="replace").strip()[:200]}
    return State.READY, {"health": health}


def store(results: dict[str, tuple[str, dict[str, Any]]], reachable: bool | None,
          error: str, now: datetime) -> None:
    with transaction.atomic():
        reach, _ = ClusterReach.objects.select_for_update().get_or_create(key="platform")
        reach.checked_at, reach.error = now, error
        reach.reachable = reachable
        if reachable:
            reach.last_ok_at, reach.unreachable_since = now, None
        elif reachable is False and reach.unreachable_since is None:
            reach.unreachable_since = now
        elif reachable is None:
            reach.unreachable_since = None
        reach.save()
        for service in SERVICES:
            row, _ = ServiceStatus.objects.select_for_update().get_or_create(key=service.key)
            if service.key not in results:  # the cluster did not answer: keep what we knew
                if row.state != State.UNKNOWN:
                    row.state, row.changed_at = State.UNKNOWN, now
                row.save(update_fields=["state", "changed_at"])
                continue
            state, detail = results[service.key]
            if state != row.state:
                row.changed_at = now
            row.state, row.detail, row.checked_at = state, detail, now
            if state == State.NOT_READY:
                row.not_ready_since = row.not_ready_since or now
            elif state in (State.READY, State.ABSENT):
                row.not_ready_since = None
            row.save()


# --------------------------------------------------------------------------- watching


@dataclass(frozen=True)
class Alert:
    event: str  # platform.unhealthy | platform.recovered
    service: str  # a service key, or "cluster"
    subject: str
    body: str


def check_health(now: datetime | None = None) -> list[Alert]:
    """Refresh (always), then decide the events: a service not ready (or the cluster
    unreachable) for PORTAL_PLATFORM_UNHEALTHY_MINUTES is ``platform.unhealthy`` once; once
    it is ready again (or no longer installed), ``platform.recovered`` once."""
    refresh(force=True)
    now = now or timezone.now()
    limit = timedelta(minutes=settings.PLATFORM_UNHEALTHY_MINUTES)
    titles = {s.key: s.title for s in SERVICES}
    alerts: list[Alert] = []
    with transaction.atomic():
        reach = ClusterReach.objects.select_for_update().filter(key="platform").first()
        if reach is not None:
            down_since = reach.unreachable_since if reach.reachable is False else None
            if down_since is not None and not reach.alerted and now - down_since >= limit:
                reach.alerted = True
                alerts.append(Alert(UNHEALTHY, CLUSTER, "Platform cluster unreachable",
                                    f"The Kubernetes API has not answered since "
                                    f"{reach.unreachable_since:%Y-%m-%d %H:%M %Z}: "
                                    f"{reach.error}"))
            elif reach.alerted and reach.reachable:
                reach.alerted = False
                alerts.append(Alert(RECOVERED, CLUSTER, "Platform cluster reachable again",
                                    "The Kubernetes API answers again."))
            reach.save(update_fields=["alerted"])
        for row in ServiceStatus.objects.select_for_update():
            title = titles.get(row.key, row.key)
            since = row.not_ready_since
            if (row.state == State.NOT_READY and since is not None and not row.alerted
                    and now - since >= limit):
                row.alerted = True
                alerts.append(Alert(UNHEALTHY, row.key, f"{title} is not ready",
                                    f"{title} has not been ready since "
                                    f"{since:%Y-%m-%d %H:%M %Z}: {not_ready_reason(row)}"))
            elif row.alerted and row.state in (State.READY, State.ABSENT):
                row.alerted = False
                alerts.append(Alert(RECOVERED, row.key, f"{title} is ready again",
                                    f"{title} is {row.get_state_display()} again."))
            else:
                continue
            row.save(update_fields=["alerted"])
        for alert in alerts:
            announce(alert)
    return alerts


def not_ready_reason(row: ServiceStatus) -> str:
    waiting = [f"{w['kind']} {w['name']} {w['ready']}/{w['desired']} ready"
               for w in (row.detail or {}).get("workloads", []) if w["ready"] < w["desired"]]
    return "; ".join(waiting) or (row.detail or {}).get("error", "") or "not ready"


def announce(alert: Alert) -> None:
    """Record the event in the audit log and write its notification (delivered afterwards
    by the worker), inside check_health's transaction."""
    log.info("%s: %s", alert.event, alert.subject)
    record(alert.event, outcome=Outcome.FAILURE if alert.event == UNHEALTHY
           else Outcome.SUCCESS, target=f"platform:{alert.service}", actor="system",
           subject=alert.subject, body=alert.body)
    # One message per change: the health check itself fires each event once per episode.
    emit([Draft(event=alert.event, subject=alert.subject, body=alert.body, link="/platform/",
                dedup_key=f"{alert.event}:{alert.service}:{timezone.now():%Y%m%d%H%M}",
                window=timedelta(minutes=1))])

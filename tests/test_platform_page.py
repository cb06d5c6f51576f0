"""The Platform page and GET /api/platform/ against the Kubernetes API test server holding
the platform's workloads (Deployments, StatefulSets, CloudNativePG's pods, PVCs); the
official client is used as it is. SigNoz's health endpoint is answered through the API
server's service proxy (a handler added to the test server for this file)."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.utils import timezone

from envs.models import Environment
from envs.notifications.models import Notification
from envs.platform import services
from envs.platform.models import ClusterReach, ServiceStatus, State
from envs.provisioning.models import StateSnapshot
from portal.audit.models import AuditEvent
from tests.fakes.kubeserver import KubeTestServer, _Handler, deployment

OUTPUTS = {"services": {"sensitive": False, "value": {
    "kubero": {"namespace": "kubero", "address": "http://kubero.kubero.svc.cluster.local:80",
               "url": "https://kubero.example.com"},
    "postgresql": {"namespace": "postgresql",
                   "address": "postgresql-rw.postgresql.svc.cluster.local:5432", "url": None},
    "redis": {"namespace": "redis", "address": "redis.redis.svc.cluster.local:6379",
              "url": None},
    "signoz": {"namespace": "signoz", "address": "http://signoz.signoz.svc.cluster.local:8080",
               "url": "https://signoz.example.com"},
    "posthog": {"namespace": None, "address": None, "url": None},
}}}


class ProxyHandler(_Handler):
    """Answers /api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path> from
    ``kube.proxied``; everything else as the test server does."""

    def _handle(self) -> None:
        if "/proxy/" in self.path and self.headers.get("Authorization"):
            key = unquote(self.path.split("?")[0])
            code, body = getattr(self.kube, "proxied", {}).get(key, (503, b"no endpoints"))
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super()._handle()


@pytest.fixture
def kube():
    srv = KubeTestServer().start()
    assert srv._httpd is not None
    srv._httpd.RequestHandlerClass = type("Handler", (ProxyHandler,), {"kube": srv})
    srv.proxied = {"/api/v1/namespaces/signoz/services/signoz:8080/proxy/api/v1/health":
                   (200, b'{"status":"ok"}')}
    yield srv
    srv.stop()


def statefulset(name: str, namespace: str, image: str, ready: int, replicas: int = 1) -> dict:
    match = {"app": name}
    return {"metadata": {"name": name, "namespace": namespace, "labels": match},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": match},
                     "template": {"metadata": {"labels": match}, "spec": {
                         "containers": [{"name": name, "image": image}]}}},
            "status": {"replicas": replicas, "readyReplicas": ready}}


def claim(name: str, namespace: str, size: str) -> dict:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                     "resources": {"requests": {"storage": size}}},
            "status": {"phase": "Bound", "capacity": {"storage": size}}}


def cnpg_pod(name: str, ready: bool) -> dict:
    return {"metadata": {"name": name, "namespace": "postgresql", "ownerReferences": [
                {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "postgresql",
                 "uid": "u-1", "controller": True}]},
            "spec": {"containers": [{"name": "postgres",
                                     "image": "ghcr.io/cloudnative-pg/postgresql:17.5"}]},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def seed(srv: KubeTestServer) -> None:
    store = srv.store
    store.apply("deployments", deployment(
        "kubero-operator", "ghcr.io/kubero-dev/kubero-operator/kuberoapp:v0.1.3",
        namespace="kubero"))
    store.apply("deployments", deployment("kubero-ui", "ghcr.io/kubero-dev/kubero:v3.1.1",
                                          namespace="kubero"))
    store.apply("pods", cnpg_pod("postgresql-1", ready=True))
    store.apply("persistentvolumeclaims", claim("postgresql-1", "postgresql", "10Gi"))
    store.apply("statefulsets", statefulset("redis", "redis", "redis:7.4.5-alpine", ready=1))
    store.apply("persistentvolumeclaims", claim("data-redis-0", "redis", "2Gi"))
    store.apply("deployments", deployment("signoz-otel-collector",
                                          "signoz/signoz-otel-collector:v0.144.5",
                                          namespace="signoz"))
    store.apply("statefulsets", statefulset("signoz", "signoz", "signoz/signoz:v0.131.0",
                                            ready=1))
    store.apply("statefulsets", statefulset("chi-signoz-clickhouse-cluster-0-0", "signoz",
                                            "clickhouse/clickhouse-server:25.12.5", ready=1))
    store.apply("persistentvolumeclaims", claim("data-signoz-clickhouse-0", "signoz", "20Gi"))


def wait_ready(srv: KubeTestServer) -> None:
    deadline = time.monotonic() + 10
    names = [("kubero", "kubero-operator"), ("kubero", "kubero-ui"),
             ("signoz", "signoz-otel-collector")]
    while time.monotonic() < deadline:
        if all((srv.store.get("deployments", ns, n).get("status") or {}).get("readyReplicas")
               for ns, n in names):
            return
        time.sleep(0.05)
    raise AssertionError("the test server's controller did not make the deployments ready")


@pytest.fixture
def platform(db, kube, settings):
    settings.PLATFORM_REFRESH_SECONDS = 15
    env = Environment.objects.create(name="platform-services", tier="platform",
                                     kubeconfig=kube.kubeconfig())
    StateSnapshot.objects.create(environment=env, serial=3, outputs=OUTPUTS)
    seed(kube)
    wait_ready(kube)
    return env


def set_status(srv: KubeTestServer, plural: str, namespace: str, name: str,
               **status: object) -> None:
    """Change an object's status as its controller would (through the status subresource)."""
    def change(obj: dict) -> None:
        obj.setdefault("status", {}).update(status)
    srv.store.mutate(plural, namespace, name, change, subresource="status")


def rows(data: dict) -> dict[str, dict]:
    return {row["key"]: row for row in data["services"]}


# --------------------------------------------------------------------------- reading


def test_live_part_shows_every_service_from_the_cluster(signed_in, platform, kube):
    response = signed_in.get("/platform/live/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("kubero-ui", "kubero-operator", "ghcr.io/kubero-dev/kubero:v3.1.1",
                 "data-redis-0", "2Gi", "10Gi", "data-signoz-clickhouse-0", "20Gi",
                 "Cluster <code>postgresql</code>", "https://kubero.example.com",
                 "https://signoz.example.com", "redis.redis.svc.cluster.local:6379",
                 "healthy", "cluster answers"):
        assert text in html, text
    assert "kubetest-token" not in html
    data = services.overview()
    by_key = rows(data)
    assert {k: r["state"] for k, r in by_key.items()} == {
        "kubero": "ready", "postgresql": "ready", "redis": "ready", "signoz": "ready",
        "posthog": "absent"}
    assert {(w["kind"], w["name"], w["ready"], w["desired"])
            for w in by_key["signoz"]["workloads"]} == {
        ("Deployment", "signoz-otel-collector", 1, 1), ("StatefulSet", "signoz", 1, 1),
        ("StatefulSet", "chi-signoz-clickhouse-cluster-0-0", 1, 1)}
    assert by_key["signoz"]["health"]["ok"] is True
    assert "signoz:8080/api/v1/health" in by_key["signoz"]["health"]["endpoint"]
    assert by_key["posthog"]["health"] is None and "retired" in by_key["posthog"]["error"]
    assert data["ready"] == 4 and data["counted"] == 4


def test_page_renders_from_the_database_without_calling_the_cluster(signed_in, platform,
                                                                    kube):
    services.refresh(force=True)
    kube.clear_requests()
    started = time.monotonic()
    response = signed_in.get("/platform/")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert kube.requests == []
    assert elapsed < 1.0
    html = response.content.decode()
    assert 'hx-get="/platform/live/"' in html
    assert "kubero-ui" in html  # the stored read, rendered at once
    assert '<a href="/platform/"' in html  # the navigation link


def test_api_answers_the_same_and_shares_one_read(api, platform, kube):
    kube.clear_requests()
    first = api.get("/api/platform/")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["environment"] == "platform-services" and body["outputs_recorded"] is True
    assert body["cluster"]["reachable"] is True
    kubero = rows(body)["kubero"]
    assert kubero["namespace"] == "kubero" and kubero["url"] == "https://kubero.example.com"
    assert {w["name"] for w in kubero["workloads"]} == {"kubero-operator", "kubero-ui"}
    assert rows(body)["redis"]["volumes"][0] == {
        "name": "data-redis-0", "size": "2Gi", "requested": "2Gi", "phase": "Bound",
        "storage_class": "local-path"}
    reads = len(kube.requests)
    assert reads > 0
    assert api.get("/api/platform/").status_code == 200
    assert len(kube.requests) == reads  # within PORTAL_PLATFORM_REFRESH_SECONDS: no new read
    assert api.get("/api/platform/?live=false").json()["services"] == body["services"]
    assert len(kube.requests) == reads
    assert "kubetest-token" not in first.content.decode()


def test_namespace_missing_is_absent_not_down(signed_in, platform, kube):
    kube.store.delete("statefulsets", "redis", "redis")
    kube.store.delete("persistentvolumeclaims", "redis", "data-redis-0")
    services.refresh(force=True)
    redis = rows(services.overview())["redis"]
    assert redis["state"] == State.ABSENT and "nothing runs" in redis["error"]


def test_forbidden_namespace_is_that_services_problem(platform, kube):
    kube.forbid_namespace("signoz")
    services.refresh(force=True)
    data = services.overview()
    assert rows(data)["signoz"]["state"] == State.UNKNOWN
    assert "forbidden" in rows(data)["signoz"]["error"]
    assert rows(data)["kubero"]["state"] == State.READY
    assert data["cluster"]["reachable"] is True


def test_signoz_health_failing_is_shown(platform, kube):
    kube.proxied = {}  # the proxy answers 503: no endpoints
    services.refresh(force=True)
    health = rows(services.overview())["signoz"]["health"]
    assert health["ok"] is False and health["reachable"] is False and "503" in health["detail"]


# --------------------------------------------------------------------------- watching


def test_not_ready_for_minutes_is_unhealthy_once_then_recovered(platform, kube):
    set_status(kube, "statefulsets", "redis", "redis", readyReplicas=0)
    assert services.check_health() == []  # not ready, but not for long
    redis = ServiceStatus.objects.get(key="redis")
    assert redis.state == State.NOT_READY and redis.not_ready_since is not None
    later = timezone.now() + timedelta(minutes=6)
    alerts = services.check_health(now=later)
    assert [(a.event, a.service) for a in alerts] == [("platform.unhealthy", "redis")]
    assert "StatefulSet redis 0/1 ready" in alerts[0].body
    assert services.check_health(now=later + timedelta(minutes=1)) == []  # once
    event = AuditEvent.objects.get(action="platform.unhealthy")
    assert event.target == "platform:redis"
    set_status(kube, "statefulsets", "redis", "redis", readyReplicas=1)
    alerts = services.check_health(now=later + timedelta(minutes=2))
    assert [(a.event, a.service) for a in alerts] == [("platform.recovered", "redis")]
    assert ServiceStatus.objects.get(key="redis").not_ready_since is None
    assert AuditEvent.objects.filter(action="platform.recovered").count() == 1
    # Both reached the notification outbox, once each, with the platform page as the link.
    sent = list(Notification.objects.order_by("pk").values_list("event", "link"))
    assert sent == [("platform.unhealthy", "/platform/"), ("platform.recovered", "/platform/")]


def test_cnpg_instance_not_ready_counts(platform, kube):
    set_status(kube, "pods", "postgresql", "postgresql-1",
               conditions=[{"type": "Ready", "status": "False"}])
    services.refresh(force=True)
    postgresql = rows(services.overview())["postgresql"]
    assert postgresql["state"] == State.NOT_READY
    assert postgresql["workloads"] == [{"kind": "Cluster", "name": "postgresql", "ready": 0,
                                        "desired": 1,
                                        "images": ["ghcr.io/cloudnative-pg/postgresql:17.5"]}]


# --------------------------------------------------------------------------- unreachable


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_cluster_page_fast_from_the_database(signed_in, platform, kube,
                                                          settings):
    services.refresh(force=True)
    settings.PLATFORM_REFRESH_SECONDS = 0  # the next page load reads again
    kube.stop()
    config = kube.kubeconfig().replace(f":{kube.port}", f":{closed_port()}")
    Environment.objects.filter(pk=platform.pk).update(kubeconfig=None)
    env = Environment.objects.get(pk=platform.pk)
    env.kubeconfig = config
    env.save()
    started = time.monotonic()
    response = signed_in.get("/platform/live/")
    assert time.monotonic() - started < 8  # connect refused at once; no retries on a page
    html = response.content.decode()
    assert "Unreachable since" in html
    assert "kubero-ui" in html  # the last known workloads stay, marked "as of"
    reach = ClusterReach.objects.get()
    assert reach.reachable is False and reach.unreachable_since is not None
    assert rows(services.overview())["kubero"]["state"] == State.UNKNOWN
    started = time.monotonic()
    page = signed_in.get("/platform/")
    assert time.monotonic() - started < 1.0
    assert "Unreachable since" in page.content.decode()
    dashboard = signed_in.get("/")
    assert "cluster unreachable since" in dashboard.content.decode()
    alerts = services.check_health(now=timezone.now() + timedelta(minutes=6))
    assert [(a.event, a.service) for a in alerts] == [("platform.unhealthy", "cluster")]
    assert "kubetest-token" not in alerts[0].body


def test_without_the_environment_the_page_says_what_to_do(signed_in, db):
    page = signed_in.get("/platform/").content.decode()
    assert "manage.py envs_sync" in page
    live = signed_in.get("/platform/live/").content.decode()
    assert "not connected" in live and "platform-services" in live
    assert ClusterReach.objects.get().reachable is None


def test_without_outputs_the_stack_defaults_are_used(db, kube):
    Environment.objects.create(name="platform-services", tier="platform",
                               kubeconfig=kube.kubeconfig())
    seed(kube)
    services.refresh(force=True)
    data = services.overview()
    assert data["outputs_recorded"] is False
    assert rows(data)["redis"]["namespace"] == "redis"
    assert rows(data)["redis"]["state"] == State.READY
    assert rows(data)["kubero"]["url"] == ""

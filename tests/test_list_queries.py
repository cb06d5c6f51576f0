"""The number of SQL queries a list page or list API makes must not grow with its rows.

Each case seeds a small world (fewer rows than a page holds), counts the queries of one
request, seeds five times more of everything the page lists (more rows than a page
holds: every row shown is then a different one), and counts again. A query per row (an
N+1: a serializer or template touching a relation, a per-row helper) makes the second
count larger. Correctness only: no timing here (bench/load.py measures latency).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Entity, Location, Relation
from envs.backups.models import Backup, BackupSource, Drill, Verification
from envs.deploys.models import Release, Target
from envs.models import Environment
from envs.provisioning.models import DriftStatus, PlanArtifact, StateSnapshot
from envs.secrets.models import Secret, SecretVersion
from portal.audit.models import AuditEvent
from portal.runs.choices import Status
from portal.runs.models import Lock, Run, RunLine

SMALL, GROWTH = 3, 15  # rows per kind: 3 (< a page of 50), then +15 x 5 (> a page)
_serial = itertools.count(1)
STATUSES = [Status.SUCCEEDED, Status.FAILED, Status.RUNNING, Status.QUEUED, Status.CANCELED,
            Status.PLANNED]


# --- factories: bulk rows, no side effects (no runs enqueued, no cluster, no bucket) ----
def _runs(n: int, target: str, kind: str = "selfcheck", **fields) -> list[Run]:
    now = timezone.now()
    runs = Run.objects.bulk_create([
        Run(kind=kind, target=target, status=fields.get("status", STATUSES[i % 4]),
            actor="owner", params=fields.get("params", {}),
            created_at=now - timedelta(minutes=i), started_at=now - timedelta(minutes=i),
            finished_at=None if i % 4 in (2, 3) else now - timedelta(minutes=i, seconds=-5))
        for i in range(n)])
    if runs[0].pk is None:  # a SQLite older than 3.35 returns no ids from bulk_create
        runs = list(Run.objects.filter(target=target, kind=kind).order_by("-id")[:n])
    RunLine.objects.bulk_create([RunLine(run=r, seq=s, ts=now, text=f"line {s}")
                                 for r in runs for s in (1, 2)])
    return runs


def _audit(n: int) -> None:
    AuditEvent.objects.bulk_create([
        AuditEvent(actor="owner", action=["run.start", "token.create", "signin"][i % 3],
                   target=f"env:e{i % 4}", outcome="success", detail={"n": i})
        for i in range(n)])


def _catalog(n: int) -> Location:
    serial = next(_serial)
    location = Location.objects.create(kind="local", target=f"/srv/catalog-{serial}",
                                       trusted=True, status="ok", entity_count=n)
    entities, relations = [], []
    for i in range(n):
        name = f"svc-{serial}-{i}"
        ref = f"component:default/{name}"
        entities.append(Entity(
            ref=ref, kind="component", namespace="default", name=name,
            api_version="backstage.io/v1alpha1", type="service", lifecycle="production",
            owner="group:default/team-a", system="system:default/shop", title=f"Svc {i}",
            tags=["web"], tag_index=",web,", raw={"kind": "Component"}, sha256="0" * 64,
            fingerprint="0" * 64, file="catalog-info.yaml", line=i + 1, location=location,
            search=name))
        relations += [Relation(location=location, source=ref, type="ownedBy",
                               target="group:default/team-a"),
                      Relation(location=location, source="group:default/team-a",
                               type="ownerOf", target=ref)]
    Entity.objects.bulk_create(entities)
    Relation.objects.bulk_create(relations)
    return location


def _environments(n: int) -> list[Environment]:
    envs = []
    for _ in range(n):
        serial = next(_serial)
        env = Environment.objects.create(name=f"env-{serial}", tier=["dev", "test", "prod"][
            serial % 3], description="load test")
        holder = _runs(1, env.target, status=Status.RUNNING)[0]
        Lock.objects.create(key=env.lock_key, run=holder)
        DriftStatus.objects.create(environment=env, status="clean", checked_at=timezone.now())
        StateSnapshot.objects.create(environment=env, serial=1, outputs={
            "url": {"value": "https://x", "sensitive": False}}, resources=[])
        _env_rows(env, 1)
        envs.append(env)
    return envs


def _env_rows(env: Environment, n: int) -> None:
    """Releases, targets, backups (with drills), secrets (with versions and a rotation in
    flight) and pending plans of one environment."""
    serial = next(_serial)
    now = timezone.now()
    targets = Target.objects.bulk_create([
        Target(environment=env, component=f"component:default/app-{serial}-{i}",
               deployment=f"app-{i}", container="app", explicit=True) for i in range(n)])
    Release.objects.bulk_create([
        Release(environment=env, component=f"component:default/app-{serial}-{i}",
                workload=f"deployment {env.name}/app-{i} container app",
                image=f"ghcr.io/o/app:{i}", actor="owner",
                status=Release.Status.LIVE if i < len(targets) else Release.Status.SUPERSEDED)
        for i in range(n)])
    source = BackupSource.objects.create(environment=env, name=f"db-{serial}",
                                         database_url="postgres://u:p@127.0.0.1/app")
    backups = Backup.objects.bulk_create([
        Backup(source=source, key=f"backups/{env.name}/{serial}/{i}", sha256="0" * 64,
               verification=Verification.VERIFIED, row_counts={"t": i}, size=10 + i)
        for i in range(n)])
    if backups[0].pk is None:
        backups = list(source.backups.all())
    Drill.objects.bulk_create([Drill(source=source, backup=b, passed=True) for b in backups])
    secrets = Secret.objects.bulk_create([
        Secret(environment=env, name=f"KEY_{serial}_{i}", version=1, cluster_version=1,
               k8s_secret="app" if i % 2 else "", set_at=now, set_by="owner")
        for i in range(n)])
    if secrets[0].pk is None:
        secrets = list(Secret.objects.filter(environment=env, name__startswith=f"KEY_{serial}_"))
    SecretVersion.objects.bulk_create([SecretVersion(secret=s, version=1, how="set", by="owner")
                                       for s in secrets])
    _runs(1, env.target, kind="rotate_secret", status=Status.QUEUED,
          params={"secrets": [s.pk for s in secrets[:2]]})
    for run in _runs(n, env.target, kind="plan", status=Status.PLANNED):
        PlanArtifact.objects.create(run=run, environment=env, plan_sha256="0" * 64,
                                    fingerprint="f", config_hash="c", counts={"add": 1})


# --- the world a case grows ----------------------------------------------------------------
@pytest.fixture
def world(db):
    """``world.grow(k)`` adds k of everything: runs (portal and dev), audit events,
    entities with relations, a location, environments and the dev environment's rows."""
    dev = Environment.objects.create(name="dev", tier="dev")
    DriftStatus.objects.create(environment=dev, status="clean", checked_at=timezone.now())

    class World:
        env = dev

        @staticmethod
        def grow(k: int) -> None:
            _runs(k, "portal")
            _runs(k, dev.target, kind="apply")
            _audit(k)
            _catalog(k)
            _environments(max(1, k // SMALL))
            _env_rows(dev, k)

    return World


def count_queries(client, url: str) -> int:
    cache.clear()  # cached fragments (cluster status, config check) are recomputed each time
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:500])
    return len(captured)


def assert_flat(client, world, url: str) -> tuple[int, int]:
    world.grow(SMALL)
    client.get(url)  # first use: session, token touch, lazy caches
    small = count_queries(client, url)
    world.grow(GROWTH * 5)
    large = count_queries(client, url)
    detail = ""
    if large > small:
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        # The statements that repeat, most first: where the N+1 is.
        seen = Counter(re.sub(r"\d+", "N", q["sql"])[:160] for q in captured.captured_queries)
        detail = "\n".join(f"{n} x {sql}" for sql, n in seen.most_common(8) if n > 1)
    assert large <= small, f"{url}: {small} queries with few rows, {large} with many\n{detail}"
    return small, large


PAGES = ["/", "/runs/", "/runs/?status=succeeded", "/catalog/", "/catalog/?kind=component",
         "/catalog/locations/", "/audit/", "/envs/", "/promotions/", "/envs/dev/"]
APIS = ["/api/runs/", "/api/runs/?page_size=50&status=failed,running",
        "/api/catalog/entities/", "/api/catalog/entities/?tag=web&page_size=50",
        "/api/catalog/locations/", "/api/audit/", "/api/envs/", "/api/envs/dev/",
        "/api/envs/dev/releases/", "/api/envs/dev/targets/", "/api/envs/dev/backups/",
        "/api/envs/dev/backup-sources/", "/api/envs/dev/secrets/", "/api/promotions/"]


@pytest.mark.parametrize("url", PAGES)
def test_page_queries_do_not_grow_with_rows(signed_in, world, url):
    assert_flat(signed_in, world, url)


@pytest.mark.parametrize("url", APIS)
def test_api_queries_do_not_grow_with_rows(api, world, url):
    assert_flat(api, world, url)


def test_the_lists_really_grow(api, signed_in, world):
    """Guard against a vacuous pass: the seeded rows are what the lists show."""
    world.grow(SMALL)
    world.grow(GROWTH)
    assert api.get("/api/runs/").json()["count"] == Run.objects.count()
    assert len(api.get("/api/runs/").json()["results"]) == 50
    assert api.get("/api/catalog/entities/").json()["count"] == SMALL + GROWTH
    assert api.get("/api/audit/").json()["count"] >= SMALL + GROWTH
    envs = api.get("/api/envs/?page_size=500").json()
    assert envs["count"] == Environment.objects.count() > 2
    assert len(api.get("/api/envs/dev/releases/").json()) == SMALL + GROWTH
    assert api.get("/api/envs/dev/backups/").json()["count"] == SMALL + GROWTH
    assert len(api.get("/api/envs/dev/secrets/").json()["secrets"]) == SMALL + GROWTH
    assert len(api.get("/api/envs/dev/targets/").json()) == SMALL + GROWTH
    page = signed_in.get("/envs/dev/all/").content.decode()
    assert "KEY_" in page and "ghcr.io/o/app" in page
    assert signed_in.get("/runs/").content.decode().count('href="/runs/') >= 50


def test_each_environment_shows_its_own_newest_runs_however_old(api, signed_in, world):
    """The dashboard cards and /api/envs/ read the newest runs per environment in one
    query: an environment whose last run is older than hundreds of others still shows it."""
    old = _runs(7, "env:dev", kind="plan")  # newest first: old[0] is the newest of dev
    stale = timezone.now() - timedelta(days=30)
    Run.objects.filter(pk__in=[r.pk for r in old]).update(created_at=stale)
    Run.objects.filter(pk=old[0].pk).update(created_at=stale + timedelta(minutes=5))
    _runs(300, "portal")  # newer runs of another target
    Environment.objects.create(name="quiet", tier="test")  # no runs at all
    body = {e["name"]: e for e in api.get("/api/envs/").json()["results"]}
    assert [r["id"] for r in body["dev"]["last_runs"]][:1] == [old[0].pk]
    assert len(body["dev"]["last_runs"]) == 5
    assert body["quiet"]["last_runs"] == []
    page = signed_in.get("/").content.decode()
    assert f'href="/runs/{old[0].pk}/">#{old[0].pk} plan</a>' in page

"""Backups through the API and the pages: contracts, the prod guard, and no URL ever shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from envs.backups.models import Backup, BackupSource, Drill
from envs.models import Environment
from portal.lib.s3 import S3Settings, S3Store
from portal.runs.engine import execute_run
from portal.runs.models import Run

from .test_backups_runs import (  # noqa: F401 - fixtures
    ADMIN,
    SECRET,
    assert_no_secrets,
    audit_text,
    run_text,
    srcdb,
)

DB_URL = f"postgresql://reader:{SECRET}@db.internal:5432/ledger"


@pytest.fixture
def stage(transactional_db):
    return Environment.objects.create(name="stage", tier="dev")


@pytest.fixture
def prod(transactional_db):
    return Environment.objects.create(name="prod", tier="prod")


def _register(api, env="stage", **extra):
    body = {"name": "ledger", "database_url": DB_URL, **extra}
    return api.post(f"/api/envs/{env}/backup-sources/", body, format="json")


def _backup(source, **fields) -> Backup:
    defaults = {"key": f"{source.prefix}x-{timezone.now().timestamp()}.dump.zst",
                "sha256": "a" * 64, "size": 1234, "raw_size": 5000,
                "row_counts": {"public.t": 3}, "verification": "verified"}
    return Backup.objects.create(source=source, **{**defaults, **fields})


def test_register_source_never_returns_urls(api, read_api, stage):
    r = _register(api, admin_url=f"postgresql://admin:{SECRET}@db.internal/postgres")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["name"] == "ledger" and body["kind"] == "postgres" and body["has_admin_url"]
    assert body["description"] == "database ledger on db.internal:5432"
    assert body["schedule"] == "daily 02:00 UTC" and body["retention"] == "keep 30 days"
    listed = api.get("/api/envs/stage/backup-sources/")
    assert listed.status_code == 200 and listed.json()["results"][0]["name"] == "ledger"
    for resp in (r, listed):
        assert_no_secrets(resp.content.decode())
        assert "database_url" not in resp.content.decode()
    assert BackupSource.objects.get().database_url == DB_URL  # stored, encrypted
    assert_no_secrets(audit_text())
    again = _register(api)
    assert again.status_code == 409 and again.json()["error"] == "exists"
    assert read_api.get("/api/envs/stage/backup-sources/").status_code == 200
    assert _register(read_api, name="other").status_code == 403


def test_register_source_validation_does_not_echo_urls(api, stage):
    bad = api.post("/api/envs/stage/backup-sources/",
                   {"name": "x", "database_url": f"not a url {SECRET} ==="}, format="json")
    assert bad.status_code == 400 and bad.json()["fields"]["database_url"]
    assert SECRET not in bad.content.decode()
    missing = api.post("/api/envs/stage/backup-sources/", {"name": "x"}, format="json")
    assert missing.json()["fields"]["database_url"] == ["required for a PostgreSQL source"]
    git = api.post("/api/envs/stage/backup-sources/",
                   {"name": "code", "kind": "git", "repo_url": "https://git.example/x.git",
                    "repo_token": SECRET}, format="json")
    assert git.status_code == 201 and git.json()["schedule"] == "weekly Sun 03:00 UTC"
    assert SECRET not in git.content.decode()
    assert api.get("/api/envs/nope/backup-sources/").status_code == 404


def test_start_backup_list_and_detail(api, stage, s3):
    _register(api)
    r = api.post("/api/envs/stage/backups/", {"source": "ledger"}, format="json")
    assert r.status_code == 201
    assert set(r.json()) == {"id", "kind", "status"} and r.json()["kind"] == "backup"
    run = Run.objects.get(pk=r.json()["id"])
    assert run.lock_key == "backup:stage/ledger" and run.target == "env:stage"
    held = api.post("/api/envs/stage/backups/", {"source": "ledger"}, format="json")
    assert held.status_code == 409 and held.json()["run"] == run.pk
    assert api.post("/api/envs/stage/backups/", {"source": "nope"},
                    format="json").status_code == 404

    source = BackupSource.objects.get()
    old = _backup(source, created_at=timezone.now() - timedelta(days=1))
    new = _backup(source)
    _backup(source, deleted_at=timezone.now(), deleted_reason="retention")
    listed = api.get("/api/envs/stage/backups/").json()["results"]
    assert [b["id"] for b in listed] == [new.pk, old.pk]
    detail = api.get(f"/api/backups/{new.pk}/").json()
    assert detail["sha256"] == "a" * 64 and detail["row_counts"] == {"public.t": 3}
    assert detail["links"]["restore"] == f"/api/backups/{new.pk}/restore/"
    assert_no_secrets(str(listed), str(detail))


def test_restore_needs_confirmation_on_prod_and_a_verified_backup(api, prod, s3):
    assert _register(api, env="prod").status_code == 201
    source = BackupSource.objects.get()
    good = _backup(source)
    refused = api.post(f"/api/backups/{good.pk}/restore/", {}, format="json")
    assert refused.status_code == 400 and refused.json()["error"] == "confirmation_required"
    ok = api.post(f"/api/backups/{good.pk}/restore/", {"confirm": "prod"}, format="json")
    assert ok.status_code == 201 and ok.json()["kind"] == "restore"
    run = Run.objects.get(pk=ok.json()["id"])
    assert run.lock_key == "env:prod" and run.params == {"backup": good.pk, "source": "ledger"}
    busy = api.post(f"/api/backups/{good.pk}/restore/", {"confirm": "prod"}, format="json")
    assert busy.status_code == 409
    failed = _backup(source, verification="failed")
    r = api.post(f"/api/backups/{failed.pk}/restore/", {"confirm": "prod"}, format="json")
    assert r.status_code == 409 and r.json()["error"] == "not_verified"


def test_drill_endpoint(api, stage, s3):
    nothing = api.post("/api/envs/stage/restore-drill/", {}, format="json")
    assert nothing.status_code == 400 and nothing.json()["error"] == "no_sources"
    _register(api)
    r = api.post("/api/envs/stage/restore-drill/", {}, format="json")
    assert r.status_code == 201 and r.json()["kind"] == "restore_drill"
    assert Run.objects.get(pk=r.json()["id"]).lock_key == "drill:stage"


def test_openapi_lists_the_backup_endpoints(api, stage):
    paths = api.get("/api/schema/?format=json").json()["paths"]
    for p in ("/api/envs/{env}/backup-sources/", "/api/envs/{env}/backups/",
              "/api/backups/{id}/", "/api/backups/{id}/restore/",
              "/api/envs/{env}/restore-drill/", "/api/envs/{env}/backup-retention/"):
        assert p in paths, p


# --- pages --------------------------------------------------------------------------------
def test_dashboard_warns_when_a_source_is_overdue_by_the_shared_rule(signed_in, stage, api,
                                                                    settings):
    settings.BACKUP_MAX_AGE_HOURS = 26
    _register(api)
    source = BackupSource.objects.get()
    page = signed_in.get("/").content.decode()  # just added: new, not yet overdue
    assert "no verified backup yet" in page and "first backup due by" in page
    assert "overdue" not in page
    _backup(source, created_at=timezone.now() - timedelta(hours=30))
    page = signed_in.get("/").content.decode()
    assert "no verified backup for 30 h" in page and "(expected within 26 h)" in page
    b = _backup(source, created_at=timezone.now() - timedelta(hours=2))
    Drill.objects.create(source=source, backup=b, passed=True,
                         created_at=timezone.now() - timedelta(days=3, hours=1))
    page = signed_in.get("/").content.decode()
    assert "overdue" not in page and "last verified" in page and "2 h ago" in page
    assert "backups proven restorable 3 days ago" in page
    assert_no_secrets(page)


def test_env_page_shows_sources_backups_and_restore_confirm(signed_in, prod, api, s3):
    _register(api, env="prod")
    source = BackupSource.objects.get()
    b = _backup(source, row_counts={"public.orders": 8000, "public.customers": 3000})
    page = signed_in.get("/envs/prod/all/").content.decode()
    assert "Back up now" in page and "database ledger on db.internal:5432" in page
    assert f"/backups/{b.pk}/restore/" in page and 'name="confirm"' in page
    assert "public.orders: 8000" in page and "11000 rows in 2 tables" in page
    assert_no_secrets(page)
    # The form refuses a prod restore without the name, like the API.
    r = signed_in.post(f"/backups/{b.pk}/restore/", {})
    assert r.status_code == 302 and not Run.objects.filter(kind="restore").exists()
    r = signed_in.post(f"/backups/{b.pk}/restore/", {"confirm": "prod"})
    run = Run.objects.get(kind="restore")
    assert r["Location"] == f"/runs/{run.pk}/"


def test_ui_back_up_now_and_add_source(signed_in, stage, s3):
    r = signed_in.post("/envs/stage/backup-sources/add/",
                       {"name": "ledger", "kind": "postgres", "database_url": DB_URL,
                        "keep_days": "14"})
    assert r.status_code == 302
    source = BackupSource.objects.get()
    assert source.keep_days == 14 and source.database_url == DB_URL
    r = signed_in.post("/envs/stage/backups/run/", {"source": "ledger"})
    assert r["Location"] == f"/runs/{Run.objects.get(kind='backup').pk}/"


def test_state_versions_fragment(signed_in, stage, s3srv):  # noqa: F811
    r = signed_in.get("/envs/stage/backups/state/")
    assert "No S3 backend configured" in r.content.decode()
    s3srv.reset()
    st = S3Store(S3Settings(bucket="tfstate", endpoint_url=s3srv.endpoint_url,
                            access_key="test", secret_key="test"))
    st.ensure_bucket()
    st.set_versioning(True)
    for serial in (1, 2, 3):
        st.put_bytes("envs/stage/terraform.tfstate", b'{"serial": %d}' % serial)
    Environment.objects.filter(pk=stage.pk).update(
        backend_bucket="tfstate", backend_key="envs/stage/terraform.tfstate",
        backend_endpoint=s3srv.endpoint_url, backend_region="auto",
        backend_credentials='{"access_key_id": "test", "secret_access_key": "test"}')
    page = signed_in.get("/envs/stage/backups/state/").content.decode()
    assert "Enabled" in page and page.count("<code>") >= 3 and "current" in page
    assert "test\"" not in page


def test_full_api_flow_backup_then_restore(api, s3, srcdb, stage):  # noqa: F811
    r = _register(api, database_url=srcdb.url, admin_url=ADMIN)
    assert r.status_code == 201
    run_id = api.post("/api/envs/stage/backups/", {"source": "ledger"}, format="json").json()["id"]
    execute_run(run_id)
    run = Run.objects.get(pk=run_id)
    assert run.status == "succeeded", run_text(run)
    backup = api.get("/api/envs/stage/backups/").json()["results"][0]
    assert backup["verification"] == "verified" and backup["row_counts"]["public.orders"] == 8000
    restore = api.post(f"/api/backups/{backup['id']}/restore/", {}, format="json").json()
    execute_run(restore["id"])
    done = api.get(f"/api/runs/{restore['id']}/").json()
    assert done["status"] == "succeeded" and done["result"]["kept_as"].startswith(srcdb.name)
    assert_no_secrets(str(done), run_text(Run.objects.get(pk=restore["id"])), audit_text())

"""Volume backups with the real restic binary against the test S3 server over HTTP: backup,
restic check, retention with forget --prune, restores whose files are byte-identical, and
the live path replaced only when confirmed."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from envs.backups import services, volume
from envs.backups.models import Backup, BackupSource
from envs.models import Environment
from portal.errors import DomainError
from portal.lib import restic
from portal.runs.engine import execute_run
from portal.runs.models import Run

from .test_backups_runs import assert_no_secrets, audit_text, run_text


@pytest.fixture(autouse=True)
def volume_roots(settings, tmp_path):
    settings.BACKUP_VOLUME_ROOTS = [str(tmp_path)]


@pytest.fixture
def env(transactional_db):
    return Environment.objects.create(name="stage", tier="dev")


@pytest.fixture
def prod(transactional_db):
    return Environment.objects.create(name="prod", tier="prod")


def _tree(root: Path) -> None:
    (root / "uploads" / "2026").mkdir(parents=True)
    (root / "uploads" / "2026" / "photo.bin").write_bytes(os.urandom(300_000))
    (root / "uploads" / "notes.txt").write_text("héllo\nwörld\n", encoding="utf-8")
    (root / "db").mkdir()
    (root / "db" / "data.bin").write_bytes(os.urandom(70_000) + b"\0" * 10_000)
    (root / "db" / "empty").write_bytes(b"")
    (root / "cache").mkdir()
    (root / "cache" / "junk.tmp").write_bytes(b"x" * 5000)
    (root / "with space & 'quote'.txt").write_text("odd name")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _volume(env, path: Path, **extra) -> BackupSource:
    return services.register_source(env, {"name": "files", "kind": "volume", "path": str(path),
                                           **extra})


def _run(run: Run) -> Run:
    execute_run(run.pk)
    run.refresh_from_db()
    return run


# --- the wrapper, directly ----------------------------------------------------------------
def test_restic_wrapper_round_trip_keeps_the_password_out_of_argv(s3, tmp_path, monkeypatch):  # noqa: F811
    src = tmp_path / "src"
    _tree(src)
    repo = restic.Repository.on_s3(bucket=s3.bucket, prefix="lib/restic",
                                   endpoint_url=s3.client.meta.endpoint_url,
                                   region="us-east-1", password="pw-" + "z" * 20,
                                   access_key="test", secret_key="test-secret",
                                   cache_dir=str(tmp_path / "cache"))
    argvs: list[list[str]] = []
    real = subprocess.Popen

    def spy(args, **kwargs):
        argvs.append(list(args))
        assert "shell" not in kwargs
        return real(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    assert restic.is_initialized(repo) is False
    restic.init(repo)
    assert restic.is_initialized(repo) is True
    lines: list[str] = []
    summary = restic.backup(repo, str(src), exclude=["*.tmp"], on_line=lines.append)
    assert summary.files == 5 and summary.snapshot_id
    restic.check(repo)
    (snap,) = restic.snapshots(repo)
    # restic 0.14's summary names the short id; snapshots --json the full one.
    assert snap.id.startswith(summary.snapshot_id) and snap.paths == [str(src)]
    restic.restore(repo, snap.id, str(tmp_path / "out"))
    restored = tmp_path / "out" / str(src).lstrip("/")
    expected = {k: v for k, v in _digests(src).items() if not k.endswith(".tmp")}
    assert _digests(restored) == expected
    assert argvs and all("pw-" + "z" * 20 not in " ".join(a) for a in argvs)
    assert all("test-secret" not in " ".join(a) for a in argvs)


def test_restic_wrapper_reports_a_wrong_password(s3, tmp_path):  # noqa: F811
    def repo(password: str) -> restic.Repository:
        return restic.Repository.on_s3(bucket=s3.bucket, prefix="lib/pw", region="us-east-1",
                                       endpoint_url=s3.client.meta.endpoint_url,
                                       password=password, access_key="test",
                                       secret_key="test-secret")
    restic.init(repo("right-password-123"))
    with pytest.raises(restic.ResticError) as err:
        restic.snapshots(repo("wrong-password-456"))
    assert "wrong password" in str(err.value).lower() or "no key found" in str(err.value)


# --- runs ------------------------------------------------------------------------------------
def test_volume_backup_run_checks_and_a_restore_is_byte_identical(s3, env, tmp_path):  # noqa: F811
    live = tmp_path / "pvc-123"
    _tree(live)
    source = _volume(env, live, exclude=["cache"])
    assert source.encryption_key and len(source.encryption_key) >= 40  # generated password
    run = _run(services.start_backup(source))
    text = run_text(run)
    assert run.status == "succeeded", text
    assert "restic check" in text and "no errors were found" in text
    backup = Backup.objects.get(source=source)
    assert backup.is_verified and backup.snapshot and backup.row_counts == {"files": 5}
    assert backup.key == f"{source.restic_prefix}#{backup.snapshot}"
    assert "restic check: no errors" in backup.verify_detail
    # restic's encrypted repository is in the bucket under the source's own prefix.
    stored = [o.key for o in s3.list(source.restic_prefix + "/")]
    assert any(k.endswith("/config") for k in stored) and any("/data/" in k for k in stored)
    assert source.encryption_key not in text and source.encryption_key not in audit_text()

    target = tmp_path / "restored-here"
    restore = _run(services.start_restore(backup, {"target": str(target)}))
    assert restore.status == "succeeded", run_text(restore)
    expected = {k: v for k, v in _digests(live).items() if not k.startswith("cache/")}
    assert _digests(target) == expected
    assert restore.result["path"] == "target" and restore.result["files"] == 5
    assert not list(tmp_path.glob(".*restore-run*"))  # the scratch directory is gone


def test_include_patterns_back_up_only_what_they_match(s3, env, tmp_path):  # noqa: F811
    live = tmp_path / "vol"
    _tree(live)
    source = _volume(env, live, include=["uploads", "db/*.bin"])
    run = _run(services.start_backup(source))
    assert run.status == "succeeded", run_text(run)
    backup = Backup.objects.get(source=source)
    assert backup.row_counts == {"files": 3}
    _run(services.start_restore(backup, {}))
    out = Path(f"{live}.restored-{backup.pk}")  # the default target, next to the live path
    assert sorted(_digests(out)) == ["db/data.bin", "uploads/2026/photo.bin",
                                     "uploads/notes.txt"]
    assert _digests(out)["db/data.bin"] == _digests(live)["db/data.bin"]


def test_the_live_path_is_replaced_only_when_confirmed(s3, prod, tmp_path):  # noqa: F811
    live = tmp_path / "pvc-live"
    _tree(live)
    before = _digests(live)
    source = _volume(prod, live)
    _run(services.start_backup(source))
    backup = Backup.objects.get(source=source)
    (live / "uploads" / "notes.txt").write_text("changed after the backup")
    (live / "new-file").write_text("new")
    for data in ({"confirm": "prod", "target": str(live)},
                 {"confirm": "prod", "target": str(live / "uploads")},
                 {"confirm": "prod", "replace_live": str(tmp_path)},
                 {"replace_live": str(live)}):  # prod: the name too
        with pytest.raises(DomainError):
            services.start_restore(backup, data)
    assert not Run.objects.filter(kind="restore").exists()
    run = _run(services.start_restore(backup, {"confirm": "prod", "replace_live": str(live)}))
    assert run.status == "succeeded", run_text(run)
    assert _digests(live) == before
    kept = Path(run.result["kept_as"])
    assert kept.name.startswith("pvc-live.pre-restore-")
    assert (kept / "new-file").read_text() == "new"  # the old tree is kept, not deleted
    assert '"path": "replace_live"' in audit_text()  # the backup.restored event


def test_a_target_that_is_not_empty_is_refused_by_the_run(s3, env, tmp_path):  # noqa: F811
    live = tmp_path / "v"
    _tree(live)
    source = _volume(env, live)
    _run(services.start_backup(source))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep-me").write_text("mine")
    run = _run(services.start_restore(Backup.objects.get(), {"target": str(busy)}))
    assert run.status == "failed" and "not empty" in run.error
    assert (busy / "keep-me").read_text() == "mine"


def test_retention_forgets_and_prunes_by_the_sources_policy(s3, env, tmp_path):  # noqa: F811
    live = tmp_path / "r"
    _tree(live)
    source = _volume(env, live, keep_daily=1)
    for i in range(3):
        (live / f"day-{i}").write_text(str(i))
        assert _run(services.start_backup(source)).status == "succeeded"
    newest = Backup.objects.filter(source=source).order_by("-created_at").first()
    assert newest is not None
    live_rows = Backup.objects.filter(source=source, deleted_at__isnull=True)
    assert list(live_rows) == [newest]  # the run's own retention: one a day, newest kept
    assert Backup.objects.filter(source=source, deleted_reason__startswith="retention").count() \
        == 2
    repo_snaps = restic.snapshots(_repo_of(source))
    assert [s.id for s in repo_snaps] == [newest.snapshot]
    run = _run(services.start_retention(source))
    assert run.status == "succeeded" and run.result["deleted"] == []
    assert "restic forget" in run_text(run)


def test_a_missing_path_fails_the_run_saying_why(s3, env, tmp_path):  # noqa: F811
    source = _volume(env, tmp_path / "nope")
    run = _run(services.start_backup(source))
    assert run.status == "failed" and "is not a directory on the worker's host" in run.error
    assert not Backup.objects.exists()


def test_the_api_registers_a_volume_source_without_showing_its_password(api, env, tmp_path):
    r = api.post("/api/envs/stage/backup-sources/", {
        "name": "uploads", "kind": "volume", "path": str(tmp_path) + "/x/../y",
        "repo_password": "a-very-long-password-1"}, format="json")
    assert r.status_code == 400 and "path" in r.json()["fields"]
    r = api.post("/api/envs/stage/backup-sources/", {
        "name": "uploads", "kind": "volume", "path": str(tmp_path / "storage"),
        "exclude": ["*.tmp"], "include": ["pvc-*"], "repo_password": "a-very-long-password-1"},
        format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["kind"] == "volume" and body["path"] == str(tmp_path / "storage")
    assert body["include"] == ["pvc-*"] and body["exclude"] == ["*.tmp"]
    assert "a-very-long-password-1" not in r.content.decode()
    assert BackupSource.objects.get(name="uploads").encryption_key == "a-very-long-password-1"
    bad = api.post("/api/envs/stage/backup-sources/", {
        "name": "b", "kind": "volume", "path": str(tmp_path / "s"), "include": ["/abs"],
        "database_url": "postgresql://x@y/z"}, format="json")
    assert bad.status_code == 400
    assert {"include", "database_url"} <= set(bad.json()["fields"])


def test_env_page_and_dashboard_show_volume_backups_and_overdue_sources(signed_in, env, s3,  # noqa: F811
                                                                        tmp_path, settings):
    live = tmp_path / "page"
    _tree(live)
    source = _volume(env, live)
    page = signed_in.get("/envs/stage/all/").content.decode()
    # never backed up, just added: new, not yet overdue (the shared rule)
    assert "volume " + str(live) in page and "first backup due by" in page
    assert "source overdue" not in page
    assert "files (volume) <span class=\"badge queued\">new</span>" in signed_in.get(
        "/").content.decode()
    BackupSource.objects.filter(pk=source.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.BACKUP_MAX_AGE_HOURS + 1))
    page = signed_in.get("/envs/stage/all/").content.decode()
    assert "1 source overdue: files." in page and "no verified backup yet, added" in page
    _run(services.start_backup(source))
    backup = Backup.objects.get()
    page = signed_in.get("/envs/stage/all/").content.decode()
    assert "6 files, snapshot" in page and backup.snapshot[:8] in page
    assert 'name="replace_live"' in page and "source overdue" not in page
    assert re.search(r'fresh</span>: verified <time datetime="[^"]+" title="\d{4}-\d\d-\d\d '
                     r'\d\d:\d\d:\d\d [^"]*">(less than a minute|\d+ min) ago</time>', page)
    assert_no_secrets(page)
    assert source.encryption_key not in page


def _repo_of(source: BackupSource) -> restic.Repository:
    return volume.repository(source)  # the repository exactly as the run opens it


def test_paths_outside_the_volume_roots_are_refused(api, env, s3, tmp_path, settings):  # noqa: F811
    for path in ("/etc", str(tmp_path), str(tmp_path) + "-other/x"):
        r = api.post("/api/envs/stage/backup-sources/", {
            "name": "sneaky", "kind": "volume", "path": path}, format="json")
        assert r.status_code == 400 and "PORTAL_BACKUP_VOLUME_ROOTS" in r.json()["fields"][
            "path"][0], path
    live = tmp_path / "ok"
    _tree(live)
    source = _volume(env, live)
    _run(services.start_backup(source))
    with pytest.raises(DomainError) as err:
        services.start_restore(Backup.objects.get(), {"target": "/root/.ssh-restored"})
    assert "PORTAL_BACKUP_VOLUME_ROOTS" in str(err.value)
    settings.BACKUP_VOLUME_ROOTS = ["/nowhere"]  # narrowed after registration: the run refuses
    run = _run(services.start_backup(source))
    assert run.status == "failed" and "not under PORTAL_BACKUP_VOLUME_ROOTS" in run.error


def test_the_page_form_adds_a_volume_source_with_pattern_lists(signed_in, env, tmp_path):
    r = signed_in.post("/envs/stage/backup-sources/add/", {
        "name": "pvcs", "kind": "volume", "path": str(tmp_path / "storage"),
        "include": "pvc-a*\npvc-b*", "exclude": "cache, *.tmp", "keep_days": "14"})
    assert r.status_code == 302
    source = BackupSource.objects.get(name="pvcs")
    assert source.include == ["pvc-a*", "pvc-b*"] and source.exclude == ["cache", "*.tmp"]
    assert source.keep_days == 14 and source.encryption_key

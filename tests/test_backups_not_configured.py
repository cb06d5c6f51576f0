"""Backups that cannot work say so before they are tried: without a backup bucket the
Backups tab shows its buttons disabled with the setting to set, and the API and the page
forms refuse with 409 ``not_configured`` naming it, writing nothing (no run, no lock, no
audit event, no row). With the bucket on the S3 test server the same buttons are enabled
and the same calls start runs."""

from __future__ import annotations

import re

import pytest

from envs.backups.models import Backup, BackupSource, Drill, Kind, Verification
from envs.models import Environment
from portal.audit.models import AuditEvent
from portal.runs.models import Lock, Run

pytestmark = pytest.mark.django_db
SETTING = "PORTAL_BACKUP_BUCKET"
BUTTONS = ("Back up now", "Apply retention", "Run a restore drill", "Restore")


@pytest.fixture
def no_bucket(settings):
    settings.BACKUP_BUCKET = ""


@pytest.fixture
def dev(db):
    env = Environment.objects.create(name="dev", tier="dev")
    source = BackupSource.objects.create(environment=env, name="app-db", kind=Kind.POSTGRES,
                                         database_url="postgresql://ro:pw@127.0.0.1/app")
    Backup.objects.create(source=source, key="backups/dev/app-db/1.dump", sha256="0" * 64,
                          verification=Verification.VERIFIED, row_counts={"t": 3}, size=10)
    return env


def buttons(page: str) -> dict[str, list[str]]:
    """Each button's label -> the attributes of every button with it."""
    found: dict[str, list[str]] = {}
    for attrs, label in re.findall(r"<button([^>]*)>([^<]+)</button>", page):
        found.setdefault(label.strip(), []).append(attrs)
    return found


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count()
            for model in (Run, Lock, AuditEvent, Backup, Drill, BackupSource)}


def test_without_a_bucket_the_buttons_are_disabled_and_name_the_setting(signed_in, dev,
                                                                        no_bucket):
    page = signed_in.get("/envs/dev/backups/").content.decode()
    found = buttons(page)
    for label in BUTTONS:
        assert found.get(label), f"no {label!r} button on the Backups tab"
        for attrs in found[label]:
            assert " disabled" in attrs, f"{label!r} is enabled without a bucket"
            assert f'title="needs a backup bucket: set {SETTING}"' in attrs
    notice = re.search(r'<p id="backups-no-bucket">(.*?)</p>', page, re.S)
    assert notice, "no line says why the buttons are off"
    assert f"<code>{SETTING}</code>" in notice.group(1)
    assert "Back up now, Apply retention, Restore and Run a restore drill" in notice.group(1)
    assert 'id="drill-no-bucket"' in page
    # the line comes before the first disabled button: read before trying
    assert page.index('id="backups-no-bucket"') < page.index(">Back up now</button>")
    # the same on the page with every section
    assert 'id="backups-no-bucket"' in signed_in.get("/envs/dev/all/").content.decode()


@pytest.mark.parametrize("path,body", [
    ("/api/envs/dev/backups/", {"source": "app-db"}),
    ("/api/envs/dev/backup-retention/", {"source": "app-db"}),
    ("/api/envs/dev/restore-drill/", {}),
    ("restore", {}),
])
def test_the_api_refuses_with_not_configured_and_writes_nothing(api, dev, no_bucket, path,
                                                                  body):
    if path == "restore":
        path = f"/api/backups/{Backup.objects.get().pk}/restore/"
    before = counts()
    response = api.post(path, body, format="json")
    assert response.status_code == 409, response.content
    error = response.json()
    assert error["error"] == "not_configured"
    assert error["setting"] == SETTING
    assert f"set {SETTING}" in error["detail"] and "needs a backup bucket" in error["detail"]
    assert counts() == before


def test_bad_input_is_still_named_first(api, dev, no_bucket):
    before = counts()
    response = api.post("/api/envs/dev/backups/", {"source": "nope"}, format="json")
    assert response.status_code == 404 and response.json()["fields"] == {
        "source": ["no such backup source"]}
    response = api.post("/api/envs/dev/backup-retention/", {}, format="json")
    assert response.status_code == 400 and "source" in response.json()["fields"]
    assert counts() == before


@pytest.mark.parametrize("path", ["/envs/dev/backups/run/", "/envs/dev/backups/retention/",
                                  "/envs/dev/restore-drill/"])
def test_a_page_form_posted_anyway_is_refused_in_one_line(signed_in, dev, no_bucket, path):
    before = counts()
    response = signed_in.post(path, {"source": "app-db"}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "needs a backup bucket" in page and SETTING in page
    assert counts() == before


def test_with_a_bucket_the_buttons_are_enabled_and_the_calls_start_runs(signed_in, api, dev,
                                                                         s3):
    page = signed_in.get("/envs/dev/backups/").content.decode()
    assert 'id="backups-no-bucket"' not in page and 'id="drill-no-bucket"' not in page
    found = buttons(page)
    for label in BUTTONS:
        assert found.get(label) and all(" disabled" not in a for a in found[label]), label
    assert "Bucket: s3://portal-backups" in page
    backup = api.post("/api/envs/dev/backups/", {"source": "app-db"}, format="json")
    assert backup.status_code == 201, backup.content
    assert Run.objects.get(pk=backup.json()["id"]).kind == "backup"
    Run.objects.filter(pk=backup.json()["id"]).update(status="succeeded")
    Lock.objects.all().delete()
    retention = api.post("/api/envs/dev/backup-retention/", {"source": "app-db"},
                         format="json")
    assert retention.status_code == 201, retention.content
    assert Run.objects.get(pk=retention.json()["id"]).kind == "backup_retention"
    drill = api.post("/api/envs/dev/restore-drill/", {}, format="json")
    assert drill.status_code == 201, drill.content

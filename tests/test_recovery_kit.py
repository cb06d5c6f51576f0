"""The recovery kit (command and page download after a recent sign-in, stale after a key
change), retention of self-backups, and the Recovery page."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from envs.recovery import retention
from envs.recovery.models import KitDownload
from envs.recovery.signals import SIGNED_IN_AT
from envs.recovery.storage import LocalStorage
from portal.audit.models import AuditEvent

PHRASE = "kit-test-passphrase-0123456789"


@pytest.fixture
def kit_settings(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.SELF_BACKUP_PASSPHRASE = PHRASE
    settings.BACKUP_BUCKET = "portal-self"
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9000"
    settings.AWS_SECRET_ACCESS_KEY = "bucket-secret-not-in-the-kit"
    return settings


def test_kit_prints_every_restore_value_as_env_lines_and_the_commands(kit_settings, db):
    out = StringIO()
    call_command("recovery_kit", stdout=out)
    text = out.getvalue()
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", text, re.M))
    assert values["PORTAL_ENCRYPTION_KEYS"] == ",".join(kit_settings.ENCRYPTION_KEYS)
    assert values["PORTAL_SECRET_KEY"] == kit_settings.SECRET_KEY
    assert values["PORTAL_SELF_BACKUP_PASSPHRASE"] == PHRASE
    assert values["PORTAL_BACKUP_BUCKET"] == "portal-self"
    assert values["PORTAL_SELF_BACKUP_PREFIX"] == "portal/"
    # credentials that come from the environment are named, not printed
    assert "bucket-secret-not-in-the-kit" not in text and "# AWS_SECRET_ACCESS_KEY=" in text
    assert "manage.py portal_restore --latest" in text and "make setup" in text
    assert KitDownload.objects.count() == 1
    event = AuditEvent.objects.get(action="recovery.kit_printed")
    assert PHRASE not in str(event.__dict__)


def test_kit_download_needs_a_recent_sign_in_and_goes_stale_on_key_change(kit_settings,
                                                                         signed_in):
    page = signed_in.get("/settings/recovery/")
    assert page.status_code == 200 and b"Download the recovery kit" in page.content
    assert b"never downloaded" in page.content and PHRASE.encode() not in page.content
    got = signed_in.post("/settings/recovery/kit/")
    assert got.status_code == 200 and got["Cache-Control"] == "no-store"
    assert f"PORTAL_SELF_BACKUP_PASSPHRASE={PHRASE}" in got.content.decode()
    assert "attachment" in got["Content-Disposition"]
    assert AuditEvent.objects.filter(action="recovery.kit_downloaded").count() == 1
    # an old sign-in: refused, and the page offers to sign in again
    session = signed_in.session
    session[SIGNED_IN_AT] = time.time() - 3600
    session.save()
    refused = signed_in.post("/settings/recovery/kit/", follow=True)
    assert b"Refused: sign in again" in refused.content
    assert b"Sign in again" in signed_in.get("/settings/recovery/").content
    assert AuditEvent.objects.filter(action="recovery.kit_refused").count() == 1
    # rotate the keys: the downloaded kit is out of date
    kit_settings.ENCRYPTION_KEYS = ["x" * 43 + "=", *kit_settings.ENCRYPTION_KEYS]
    assert b"out of date" in signed_in.get("/settings/recovery/").content


def test_the_kit_is_never_served_by_the_api(kit_settings, api):
    for path in ("/api/portal/recovery/", "/api/portal/backups/", "/api/portal/drills/"):
        response = api.get(path)
        assert response.status_code == 200
        assert PHRASE not in response.content.decode()
    assert api.get("/api/portal/kit/").status_code == 404


def test_page_says_a_local_copy_does_not_survive_the_machine(settings, signed_in, tmp_path):
    settings.BACKUP_BUCKET = ""
    settings.DATA_DIR = tmp_path
    page = signed_in.get("/settings/recovery/").content.decode()
    assert "protects against mistakes, not against losing the machine" in page
    assert str(tmp_path / "self-backups") in page


def _fake(root: Path, name: str, days_old: float) -> str:
    key = f"portal-{name}.tar.zst.enc"
    path = root / key
    path.write_bytes(b"x")
    (root / (key + ".sha256.json")).write_text("{}")
    when = time.time() - days_old * 86400
    os.utime(path, (when, when))
    return key


def test_retention_keeps_recent_ones_and_never_the_newest_verified(tmp_path):
    store = LocalStorage(tmp_path)
    old_verified = _fake(tmp_path, "a", 40)
    older = _fake(tmp_path, "b", 50)
    now = datetime.now(UTC)
    # nothing recent is verified: the newest verified one stays although it is old
    recent = _fake(tmp_path, "c", 1)
    deleted = retention.apply(store, now, 30, {old_verified}, lambda _: None)
    assert deleted == [older]
    assert {s.key for s in store.list()} == {old_verified, recent}
    # once a recent one is verified, the old one goes
    deleted = retention.apply(store, now + timedelta(seconds=1), 30, {recent, old_verified},
                              lambda _: None)
    assert deleted == [old_verified] and [s.key for s in store.list()] == [recent]
    assert not (tmp_path / (old_verified + ".sha256.json")).exists()

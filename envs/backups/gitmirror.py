"""Git repository mirrors: ``git clone --mirror`` -> ``git bundle create`` -> the bucket.

Small by design (the design's "Git repositories: weekly mirror"). Credentials never reach
argv: a token (or user:password in the URL, which is stripped) goes to git as an
``http.extraHeader`` through GIT_CONFIG_* environment variables. A bundle is checked with
``git bundle verify`` before upload and hashed again from the bucket after.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from django.conf import settings

from portal.lib.s3 import S3Error, S3Store
from portal.runs.engine import Canceled, RunFailed

from .models import Backup, BackupSource, Verification


def _git_env(user: str, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false", LC_ALL="C")
    if secret:
        basic = base64.b64encode(f"{user or 'x-access-token'}:{secret}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                   GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}")
    return env


def split_credentials(url: str) -> tuple[str, str, str]:
    """``https://user:pw@host/x`` -> (``https://host/x``, user, pw); other URLs unchanged."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, "", ""
    creds, host = parts.netloc.rsplit("@", 1)
    user, _, password = creds.partition(":")
    return urlunsplit(parts._replace(netloc=host)), unquote(user), unquote(password)


def _git(ctx, args: list[str], env: dict[str, str], cwd: Path | None = None,
         timeout: int = 3600) -> str:
    verb = args[2] if args[0] == "-c" else args[0]
    proc = subprocess.Popen(["git", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    with ctx.on_interrupt(proc.kill):
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise RunFailed(f"git {verb} took longer than {timeout} s") from None
    if ctx.canceled:
        raise Canceled()
    if proc.returncode != 0:
        raise RunFailed(f"git {verb} failed (exit {proc.returncode}): "
                        f"{ctx.redactor(err.strip())[-2000:]}")
    return out


def _chunks(path: Path, size: int = 1 << 20):
    with open(path, "rb") as f:
        while data := f.read(size):
            yield data


def backup_git(ctx, source: BackupSource, store: S3Store) -> Backup:
    start = time.monotonic()
    url, user, password = split_credentials(source.repo_url or "")
    ctx.secret(password)
    env = _git_env(user, source.repo_token or password)
    version = _git(ctx, ["--version"], env).strip().removeprefix("git version ")
    work = ctx.workdir()
    mirror, bundle = work / "mirror.git", work / "repo.bundle"
    ctx.log(f"git clone --mirror (git {version})")
    timeout = settings.BACKUP_TIMEOUT
    # No redirects: a public URL must not bounce git to a private address (hardening).
    _git(ctx, ["-c", "http.followRedirects=false", "clone", "--mirror", "--quiet", "--", url,
               str(mirror)], env, timeout=timeout)
    _git(ctx, ["bundle", "create", "--quiet", str(bundle), "--all"], env, cwd=mirror,
         timeout=timeout)
    heads = [ln for ln in _git(ctx, ["bundle", "list-heads", str(bundle)], env, cwd=mirror)
             .splitlines() if ln.strip()]
    _git(ctx, ["bundle", "verify", "--quiet", str(bundle)], env, cwd=mirror)
    key = source.new_key(ctx.run.pk)
    size = bundle.stat().st_size
    ctx.log(f"Bundle of {len(heads)} refs, {size} bytes, verified; uploading to "
            f"s3://{store.bucket}/{key}")
    try:
        up = store.upload_stream(key, _chunks(bundle), metadata={"format": "git-bundle"},
                                 sidecar={"format": "git-bundle", "refs": len(heads)})
    except S3Error as exc:
        raise RunFailed(f"upload of the bundle failed: {exc} -- the multipart upload was "
                        "aborted, no object was left in the bucket") from None
    backup = Backup.objects.create(
        source=source, run=ctx.run, key=key, size=up.size, raw_size=size, sha256=up.sha256,
        tool_version=f"git {version}", duration=time.monotonic() - start,
        row_counts={"refs": len(heads)})
    digest = hashlib.sha256()
    problem = ""
    try:
        for chunk in store.download_stream(key):
            digest.update(chunk)
    except S3Error as exc:
        problem = f"download failed: {exc}"
    if not problem and digest.hexdigest() != up.sha256:
        problem = "sha256 of the stored bundle differs"
    if not problem:
        Backup.objects.filter(pk=backup.pk).update(
            verification=Verification.VERIFIED,
            verify_detail=f"git bundle verify ok before upload; {len(heads)} refs; sha256 "
                          "matches after upload")
    else:
        Backup.objects.filter(pk=backup.pk).update(verification=Verification.FAILED,
                                                   verify_detail=problem)
        raise RunFailed(f"verification of backup #{backup.pk} failed: {problem}")
    ctx.log(f"Verified: {len(heads)} refs, sha256 {up.sha256}")
    if not heads:
        Backup.objects.filter(pk=backup.pk).update(flagged="empty: no refs")
    backup.refresh_from_db()
    return backup

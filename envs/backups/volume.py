"""Volume backups with restic: a directory on the worker's host into a restic repository in
the backup bucket (``backups/<env>/<source>/restic``), encrypted by restic with the
source's own password (kept in the portal's encrypted store).

A backup run initialises the repository on first use, backs up, runs ``restic check``, and
records the snapshot as a Backup (verified once the check passed). Retention is
``restic forget --prune`` with the source's policy, after which rows whose snapshot is gone
are marked deleted. A restore goes into a scratch directory next to its target first and
is moved into place only when ``restic restore --verify`` passed; the live path is replaced
only when the owner confirmed it, and then by renaming (the old tree is kept).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from portal.lib import restic
from portal.runs.engine import Canceled, RunFailed

from .models import Backup, BackupSource, Verification


def repository(source: BackupSource) -> restic.Repository:
    cache = Path(settings.DATA_DIR) / "restic-cache"
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    return restic.Repository.on_s3(
        bucket=settings.BACKUP_BUCKET, prefix=source.restic_prefix,
        endpoint_url=settings.S3_ENDPOINT_URL or None,
        region=settings.AWS_DEFAULT_REGION or "us-east-1",
        password=source.encryption_key or "", access_key=settings.AWS_ACCESS_KEY_ID or "",
        secret_key=settings.AWS_SECRET_ACCESS_KEY or "", cache_dir=str(cache))


class _Child:
    """The running restic child, so a cancel can kill it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def spawned(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


def _step(ctx, what: str, fn, *args, **kwargs):
    child = _Child()
    with ctx.on_interrupt(child.kill):
        try:
            return fn(*args, on_line=lambda ln: ctx.log(f"  {ln}"), on_spawn=child.spawned,
                      **kwargs)
        except restic.ResticError as exc:
            if ctx.canceled:
                raise Canceled() from None
            raise RunFailed(f"{what} failed: {ctx.redactor(str(exc))[-2000:]}") from None
        finally:
            if ctx.canceled:
                raise Canceled()


def _ensure_repository(ctx, repo: restic.Repository) -> None:
    try:
        exists = restic.is_initialized(repo)
    except restic.ResticError as exc:
        raise RunFailed(f"cannot open the restic repository: {ctx.redactor(str(exc))}") from None
    if not exists:
        ctx.log("No restic repository yet: restic init (encrypted with the source's password)")
        try:
            restic.init(repo, on_line=lambda ln: ctx.log(f"  {ln}"))
        except restic.ResticError as exc:
            raise RunFailed(f"restic init failed: {ctx.redactor(str(exc))}") from None


def backup_volume(ctx, source: BackupSource) -> Backup:
    start = time.monotonic()
    try:
        version = restic.version()
    except restic.ResticError as exc:
        raise RunFailed(str(exc)) from None
    root = source.path
    if not under_volume_roots(root):
        raise RunFailed(f"{root} is not under PORTAL_BACKUP_VOLUME_ROOTS "
                        f"({', '.join(settings.BACKUP_VOLUME_ROOTS) or 'none'})")
    if not os.path.isdir(root):
        raise RunFailed(f"{root} is not a directory on the worker's host "
                        f"({os.uname().nodename}); the worker must run where the volume is")
    repo = repository(source)
    ctx.secret(repo.password, repo.secret_key)
    ctx.log(f"restic {version}: {root} -> {repo.url}")
    _ensure_repository(ctx, repo)
    summary = _step(ctx, "restic backup", restic.backup, repo, root, include=source.include,
                    exclude=source.exclude, tags=[f"run-{ctx.run.pk}"],
                    timeout=settings.BACKUP_TIMEOUT)
    # restic 0.14 reports the short id in its summary: record the full one.
    try:
        full = next((x.id for x in restic.snapshots(repo) if x.id.startswith(
            summary.snapshot_id)), summary.snapshot_id)
    except restic.ResticError as exc:
        raise RunFailed(f"restic snapshots failed: {ctx.redactor(str(exc))}") from None
    summary.snapshot_id = full
    ctx.log(f"Snapshot {summary.snapshot_id[:8]}: {summary.files} files, {summary.bytes} bytes "
            f"({summary.files_new} new, {summary.files_changed} changed, {summary.added} bytes "
            "added to the repository)")
    backup = Backup.objects.create(
        source=source, run=ctx.run, key=f"{source.restic_prefix}#{summary.snapshot_id}",
        snapshot=summary.snapshot_id, size=summary.added, raw_size=summary.bytes,
        sha256="", encrypted=True, tool_version=f"restic {version}",
        duration=time.monotonic() - start, row_counts={"files": summary.files})
    ctx.log("restic check")
    try:
        _step(ctx, "restic check", restic.check, repo, timeout=settings.BACKUP_TIMEOUT)
    except RunFailed as exc:
        Backup.objects.filter(pk=backup.pk).update(verification=Verification.FAILED,
                                                   verify_detail=str(exc)[:2000])
        raise
    Backup.objects.filter(pk=backup.pk).update(
        verification=Verification.VERIFIED, verified_at=timezone.now(),
        verify_detail=f"restic check: no errors; snapshot {summary.snapshot_id[:8]} of "
                      f"{summary.files} files")
    if summary.files == 0:
        Backup.objects.filter(pk=backup.pk).update(flagged="empty: no files in the snapshot")
    backup.refresh_from_db()
    return backup


def apply_retention(ctx, source: BackupSource) -> dict:
    """``restic forget --prune`` by the source's policy; rows of forgotten snapshots are
    marked deleted, snapshots the portal did not record are listed and left alone."""
    repo = repository(source)
    ctx.secret(repo.password, repo.secret_key)
    if source.uses_counts:
        policy = dict(keep_daily=source.keep_daily, keep_weekly=source.keep_weekly,
                      keep_monthly=source.keep_monthly)
    else:
        policy = dict(keep_within_days=source.keep_days)
    ctx.log(f"Retention for {source}: {source.retention_text()} (restic forget --prune)")
    _step(ctx, "restic forget", restic.forget, repo, timeout=settings.BACKUP_TIMEOUT,
          **policy)
    try:
        remaining = {s.id for s in restic.snapshots(repo)}
    except restic.ResticError as exc:
        raise RunFailed(f"restic snapshots failed: {ctx.redactor(str(exc))}") from None
    live = list(source.backups.filter(deleted_at__isnull=True))
    deleted = []
    now = timezone.now()
    for b in live:
        if b.snapshot and not any(r.startswith(b.snapshot) for r in remaining):
            Backup.objects.filter(pk=b.pk, deleted_at__isnull=True).update(
                deleted_at=now, deleted_reason=f"retention: {source.retention_text()}")
            deleted.append(b.key)
            ctx.log(f"  forgotten: snapshot {b.snapshot[:8]} (backup #{b.pk})")
    known = {b.snapshot for b in source.backups.all()}
    unknown = sorted(remaining - known)
    if unknown:
        ctx.log(f"  {len(unknown)} snapshot(s) the portal did not record (left alone): "
                + ", ".join(s[:8] for s in unknown))
    return {"deleted": deleted, "unknown": unknown, "missing": [],
            "kept": len(live) - len(deleted)}


def under_volume_roots(path: str) -> bool:
    """Whether ``path`` is strictly inside one of PORTAL_BACKUP_VOLUME_ROOTS: a volume
    source reads (and a restore writes) files as the worker, so not anywhere on the host."""
    real = os.path.realpath(path)
    for root in settings.BACKUP_VOLUME_ROOTS:
        base = os.path.realpath(root)
        if real != base and real.startswith(base.rstrip("/") + "/"):
            return True
    return False


def _same_or_inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents or a in b.parents


def touches_live(source: BackupSource, target: str) -> bool:
    """Whether restoring into ``target`` would write over (or into) the live path."""
    return _same_or_inside(Path(os.path.abspath(target)), Path(os.path.abspath(source.path)))


def default_target(source: BackupSource, backup: Backup) -> str:
    return f"{source.path.rstrip('/')}.restored-{backup.pk}"


def restore_volume(ctx, backup: Backup, target: str, replace_live: bool) -> dict:
    """Restore the snapshot into ``target`` (which must not exist or be empty), or, with
    ``replace_live``, swap it in for the live path by renaming (the old tree is kept)."""
    source = backup.source
    repo = repository(source)
    ctx.secret(repo.password, repo.secret_key)
    live = Path(source.path)
    final = live if replace_live else Path(os.path.abspath(target))
    if not replace_live and touches_live(source, str(final)):
        raise RunFailed("the target is the live path (or inside it): confirm replacing the "
                        "live path instead")
    if not replace_live and final.exists() and any(final.iterdir()):
        raise RunFailed(f"{final} exists and is not empty: choose a new target directory")
    scratch = final.parent / f".{final.name}.restore-run{ctx.run.pk}"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True, mode=0o700)
    ctx.log(f"restic restore {backup.snapshot[:8]} into {scratch} (then checked and moved to "
            f"{final})")
    try:
        _step(ctx, "restic restore", restic.restore, repo, backup.snapshot, str(scratch),
              timeout=settings.BACKUP_TIMEOUT)
        restored = scratch / str(live).lstrip("/")
        if not restored.is_dir():
            raise RunFailed(f"the snapshot holds no {live}")
        files = sum(len(f) for _, _, f in os.walk(restored))
        expected = (backup.row_counts or {}).get("files")
        ctx.log(f"Restored {files} files (the snapshot recorded {expected})")
        if expected is not None and files != expected:
            raise RunFailed(f"restored {files} files, the snapshot recorded {expected}: "
                            "nothing was moved into place")
        kept_as = ""
        if replace_live:
            stamp = timezone.now().strftime("%Y%m%d%H%M")
            kept = live.parent / f"{live.name}.pre-restore-{stamp}"
            if live.exists():
                os.rename(live, kept)
                kept_as = str(kept)
            try:
                os.rename(restored, live)
            except OSError:
                if kept_as:
                    os.rename(kept, live)
                raise
            ctx.log(f"Swapped in: {live}; the previous tree is kept as {kept_as or '(none)'} "
                    "-- remove it yourself once satisfied")
        else:
            if final.exists():
                final.rmdir()
            os.rename(restored, final)
            ctx.log(f"Restored into {final}; the live path {live} was not touched")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"path": "replace_live" if replace_live else "target", "target": str(final),
            "kept_as": kept_as, "files": files}


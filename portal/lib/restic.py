"""restic, the file backup tool, run as a child process against an S3 repository.

The repository password and the bucket credentials reach restic only through its
environment (``RESTIC_PASSWORD``, ``AWS_*``), never argv. There is no shell: every call is
an argv list. Output is read line by line and handed to ``on_line`` (the caller redacts
and logs it); ``on_spawn`` receives the child so a cancel can kill it. Commands that answer
JSON (``backup --json``, ``snapshots --json``) are parsed here; the rest is passed through.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

LineSink = Callable[[str], None]
SpawnHook = Callable[[subprocess.Popen[str]], None]


class ResticError(Exception):
    """A restic command failed; ``tail`` holds its last output lines (unredacted: the
    caller scrubs them before showing)."""

    def __init__(self, message: str, tail: str = "", exit_code: int | None = None):
        super().__init__(message + (f": {tail}" if tail else ""))
        self.tail = tail
        self.exit_code = exit_code


@dataclass(frozen=True)
class Repository:
    """Where the repository lives and how to open it."""

    url: str  # s3:http://host:port/bucket/prefix or s3:https://s3.<region>.amazonaws.com/...
    password: str
    access_key: str = ""
    secret_key: str = ""
    region: str = ""
    binary: str = "restic"
    cache_dir: str = ""  # empty: restic's own (~/.cache/restic)

    @classmethod
    def on_s3(cls, *, bucket: str, prefix: str, endpoint_url: str | None, region: str,
              password: str, access_key: str = "", secret_key: str = "",
              cache_dir: str = "") -> Repository:
        prefix = prefix.strip("/")
        host = (endpoint_url or f"https://s3.{region or 'us-east-1'}.amazonaws.com").rstrip("/")
        return cls(url=f"s3:{host}/{bucket}/{prefix}", password=password,
                   access_key=access_key, secret_key=secret_key, region=region,
                   cache_dir=cache_dir)

    def env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(RESTIC_REPOSITORY=self.url, RESTIC_PASSWORD=self.password,
                   RESTIC_PROGRESS_FPS="0.2", LC_ALL="C")
        if self.access_key:
            env["AWS_ACCESS_KEY_ID"] = self.access_key
        if self.secret_key:
            env["AWS_SECRET_ACCESS_KEY"] = self.secret_key
        if self.region:
            env["AWS_DEFAULT_REGION"] = self.region
        if self.cache_dir:
            env["RESTIC_CACHE_DIR"] = self.cache_dir
        return env


@dataclass
class BackupSummary:
    snapshot_id: str
    files: int  # total files processed
    dirs: int
    bytes: int  # total bytes processed
    added: int  # bytes added to the repository
    files_new: int
    files_changed: int
    seconds: float


@dataclass
class Snapshot:
    id: str
    short_id: str
    time: str
    paths: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def version(binary: str = "restic") -> str:
    """``0.14.0`` (raises ResticError when restic is not installed)."""
    path = shutil.which(binary)
    if path is None:
        raise ResticError(f"{binary} is not installed on the worker (Debian: apt-get install "
                          "restic)")
    out = subprocess.run([path, "version"], capture_output=True, text=True, check=False,
                         stdin=subprocess.DEVNULL, timeout=30)
    parts = out.stdout.split()
    return parts[1] if len(parts) > 1 else out.stdout.strip()


def _run(repo: Repository, args: list[str], *, on_line: LineSink | None = None,
         on_spawn: SpawnHook | None = None, timeout: float | None = None,
         json_lines: bool = False) -> list[str]:
    """Run restic; returns stdout lines (stderr goes to ``on_line`` as it comes)."""
    path = shutil.which(repo.binary)
    if path is None:
        raise ResticError(f"{repo.binary} is not installed on the worker")
    proc = subprocess.Popen([path, *args], env=repo.env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, start_new_session=True)
    if on_spawn is not None:
        on_spawn(proc)
    lines: list[str] = []
    tail: list[str] = []
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            if json_lines and line.startswith("{"):
                lines.append(line)
                continue
            lines.append(line)
            tail = (tail + [line])[-20:]
            if on_line is not None and line.strip():
                on_line(line)
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise ResticError(f"restic {args[0]} took longer than {timeout} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise ResticError(f"restic {args[0]} failed (exit {code})", "\n".join(tail[-8:]),
                          exit_code=code)
    return lines


def is_initialized(repo: Repository, *, timeout: float = 120) -> bool:
    """Whether the repository exists (``restic cat config`` succeeds)."""
    try:
        _run(repo, ["cat", "config", "--no-lock"], timeout=timeout)
    except ResticError as exc:
        # restic 0.14 has no dedicated exit code for "no repository here" (0.17 has 10).
        if exc.exit_code == 10 or any(s in exc.tail for s in (
                "Is there a repository", "unable to open config file", "does not exist")):
            return False
        raise
    return True


def init(repo: Repository, *, on_line: LineSink | None = None, timeout: float = 300) -> None:
    _run(repo, ["init"], on_line=on_line, timeout=timeout)


def backup(repo: Repository, root: str, *, include: Iterable[str] = (),
           exclude: Iterable[str] = (), tags: Iterable[str] = (),
           on_line: LineSink | None = None, on_spawn: SpawnHook | None = None,
           timeout: float | None = None) -> BackupSummary:
    """Back up ``root`` (or only the entries ``include`` globs match under it).

    ``exclude`` patterns go to ``--exclude`` as restic reads them. Includes are globs relative
    to ``root`` expanded here into a ``--files-from-verbatim`` list, so a pattern that matches
    nothing is an error rather than an empty snapshot."""
    from pathlib import Path  # local: only this function needs it

    args = ["backup", "--json", "--host", "portal"]
    for pattern in exclude:
        args += ["--exclude", pattern]
    for tag in tags:
        args += ["--tag", tag]
    patterns = [p for p in include if p.strip()]
    listing = None
    if patterns:
        matched = sorted({str(m) for p in patterns for m in Path(root).glob(p.strip("/"))})
        if not matched:
            raise ResticError(f"no file under {root} matches the include patterns "
                              f"{', '.join(patterns)}")
        listing = tempfile.NamedTemporaryFile("w", prefix="restic-files-", delete=False)
        listing.write("\n".join(matched) + "\n")
        listing.close()
        args += ["--files-from-verbatim", listing.name]
    else:
        args.append(root)
    try:
        lines = _run(repo, args, on_line=on_line, on_spawn=on_spawn, timeout=timeout,
                     json_lines=True)
    finally:
        if listing is not None:
            os.unlink(listing.name)
    summary: dict[str, Any] | None = None
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("message_type") == "summary":
            summary = msg
        elif msg.get("message_type") == "error" and on_line is not None:
            on_line(f"error: {msg.get('item', '')}: {msg.get('error', {}).get('message', '')}")
    if summary is None or not summary.get("snapshot_id"):
        raise ResticError("restic backup ended without a snapshot summary")
    return BackupSummary(
        snapshot_id=summary["snapshot_id"],
        files=int(summary.get("total_files_processed", 0)),
        dirs=int(summary.get("dirs_new", 0)) + int(summary.get("dirs_changed", 0))
        + int(summary.get("dirs_unmodified", 0)),
        bytes=int(summary.get("total_bytes_processed", 0)),
        added=int(summary.get("data_added", 0)),
        files_new=int(summary.get("files_new", 0)),
        files_changed=int(summary.get("files_changed", 0)),
        seconds=float(summary.get("total_duration", 0.0)))


def check(repo: Repository, *, read_data_subset: str = "", on_line: LineSink | None = None,
          on_spawn: SpawnHook | None = None, timeout: float | None = None) -> None:
    """``restic check`` (structure and index; ``read_data_subset`` e.g. ``5%`` also reads
    that share of the data packs back from the bucket)."""
    args = ["check"]
    if read_data_subset:
        args.append(f"--read-data-subset={read_data_subset}")
    _run(repo, args, on_line=on_line, on_spawn=on_spawn, timeout=timeout)


def snapshots(repo: Repository, *, timeout: float = 300) -> list[Snapshot]:
    lines = _run(repo, ["snapshots", "--json", "--no-lock"], timeout=timeout, json_lines=True)
    text = "\n".join(ln for ln in lines if ln.startswith("[") or ln.startswith("{"))
    data = json.loads(text or "[]")
    return [Snapshot(id=s["id"], short_id=s.get("short_id", s["id"][:8]), time=s["time"],
                     paths=list(s.get("paths") or []), tags=list(s.get("tags") or []))
            for s in data]


def forget(repo: Repository, *, keep_within_days: int | None = None,
           keep_daily: int | None = None, keep_weekly: int | None = None,
           keep_monthly: int | None = None, prune: bool = True,
           on_line: LineSink | None = None, on_spawn: SpawnHook | None = None,
           timeout: float | None = None) -> None:
    """``restic forget --keep-last 1 [policy] --prune``: the newest snapshot always stays."""
    args = ["forget", "--keep-last", "1"]
    if keep_within_days:
        args += ["--keep-within", f"{int(keep_within_days)}d"]
    for flag, value in (("--keep-daily", keep_daily), ("--keep-weekly", keep_weekly),
                        ("--keep-monthly", keep_monthly)):
        if value:
            args += [flag, str(int(value))]
    if prune:
        args.append("--prune")
    _run(repo, args, on_line=on_line, on_spawn=on_spawn, timeout=timeout)


def restore(repo: Repository, snapshot_id: str, target: str, *,
            include: Iterable[str] = (), verify: bool = True, on_line: LineSink | None = None,
            on_spawn: SpawnHook | None = None, timeout: float | None = None) -> None:
    """Restore a snapshot into ``target`` (the snapshot's absolute paths appear below it);
    ``verify`` makes restic read every restored file back and compare it."""
    if not snapshot_id or snapshot_id.startswith("-"):
        raise ResticError("not a snapshot id")
    args = ["restore", snapshot_id, "--target", target]
    if verify:
        args.append("--verify")
    for pattern in include:
        args += ["--include", pattern]
    _run(repo, args, on_line=on_line, on_spawn=on_spawn, timeout=timeout)

"""Fetch a git repository at a ref into a cache, safely. Used by the catalog and (later)
by provisioning for Terraform sources.

Public API
----------
``fetch(url, ref="", token=None, *, allow_local=False, allowed_hosts=None,
cache_dir=None, timeout=None, max_bytes=None, log=None) -> Checkout``
    Shallow-fetch ``ref`` (branch, tag, or a full commit id where the server allows it;
    empty = the remote's HEAD) of ``url`` and check it out in a work tree under
    ``cache_dir`` (default ``DATA_DIR/cache/git``), one per (url, ref). Returns a
    ``Checkout(path, commit, url, ref)``; use it as a context manager (or call
    ``release()``): it holds a file lock on that cache entry so a concurrent fetch of the
    same url and ref cannot change the files while they are read.
``FetchError`` (from ``safe_http``) for every refusal and failure.

Safety
------
* Transports: only ``https`` (``-c protocol.allow=never -c protocol.https.allow=always``
  and ``GIT_ALLOW_PROTOCOL=https``), so ``ext::``, ``file://``, ``ssh`` and submodule
  tricks are refused by git itself. ``allow_local=True`` (the CLI, for its own user)
  additionally accepts an absolute local repository path via the ``file`` transport.
* The host must be on ``allowed_hosts``; its DNS answers must all be public addresses
  (``safe_http.resolve_public``), and git is pinned to the checked address with
  ``-c http.curloptResolve=host:port:address`` (git >= 2.37) so a second DNS answer
  cannot differ (rebinding). Redirects are off (``http.followRedirects=false``).
* No user or system git config is read (``GIT_CONFIG_NOSYSTEM``, ``GIT_CONFIG_GLOBAL``
  = /dev/null, an empty ``HOME``): no ``url.insteadOf`` rewrites, credential helpers or
  hooks sneak in. Symlinks are checked out as plain files (``core.symlinks=false``).
* The token goes in an ``http.<url>.extraHeader`` set through ``GIT_CONFIG_COUNT`` /
  ``GIT_CONFIG_KEY_n`` / ``GIT_CONFIG_VALUE_n`` environment variables: never argv (``ps``
  shows it), never the URL, never a message. Git's output is scrubbed of it anyway.
* A total timeout and a size cap on the cache entry are enforced while git runs (the
  process group is killed), and slow transfers are cut by ``http.lowSpeedLimit``.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .safe_http import FetchError, check_url

__all__ = ["Checkout", "FetchError", "check_ref", "fetch", "git_version"]

_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}")
_MIN_GIT = (2, 37)  # http.curloptResolve


@dataclass
class Checkout:
    path: Path
    commit: str
    url: str
    ref: str
    _lock_fd: int | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    def __enter__(self) -> Checkout:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def git_version() -> tuple[int, int]:
    out = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _check_ref(ref: str) -> str:
    ref = ref.strip()
    if ref and (not _REF_RE.fullmatch(ref) or ".." in ref or ref.endswith((".lock", "/"))):
        raise FetchError(f"invalid ref {ref!r}: expected a branch, tag or commit id")
    return ref


# Public: the API checks refs when they are entered, not only when a run fetches them.
check_ref = _check_ref


def _settings(name: str, default: Any) -> Any:
    try:
        from django.conf import settings

        return getattr(settings, name, default)
    except Exception:  # used without Django (scripts): the defaults apply
        return default


def fetch(
    url: str,
    ref: str = "",
    token: str | None = None,
    *,
    allow_local: bool = False,
    allowed_hosts: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Checkout:
    log = log or (lambda _text: None)
    ref = _check_ref(ref)
    if allowed_hosts is None:
        allowed_hosts = _settings("CATALOG_ALLOWED_HOSTS", ["github.com"])
    if timeout is None:
        timeout = float(_settings("CATALOG_FETCH_TIMEOUT", 120))
    if max_bytes is None:
        max_bytes = int(_settings("CATALOG_MAX_FETCH_MB", 200)) * 1024 * 1024
    if cache_dir is None:
        cache_dir = Path(_settings("DATA_DIR", "var")) / "cache" / "git"

    config: list[str] = [
        "-c", "protocol.allow=never",
        "-c", "http.followRedirects=false",
        "-c", "http.lowSpeedLimit=1024", "-c", "http.lowSpeedTime=30",
        "-c", "core.symlinks=false", "-c", "core.hooksPath=/dev/null",
        "-c", "submodule.recurse=false", "-c", "fetch.recurseSubmodules=false",
        "-c", "advice.detachedHead=false", "-c", "init.defaultBranch=portal",
    ]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_PROTOCOL_FROM_USER": "0",
    }
    lowered = url.strip().lower()
    if lowered.startswith("https://"):
        if git_version() < _MIN_GIT:
            raise FetchError("git >= 2.37 is required (http.curloptResolve pins the address)")
        target = check_url(url.strip(), allowed_hosts)
        address = f"[{target.address}]" if ":" in target.address else target.address
        config += ["-c", "protocol.https.allow=always",
                   "-c", f"http.curloptResolve={target.host}:{target.port}:{address}"]
        env["GIT_ALLOW_PROTOCOL"] = "https"
        source = url.strip()
        if token:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update({
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": f"http.https://{target.host}/.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            })
    elif allow_local and "::" not in url and not re.match(r"^[a-z][a-z0-9+.-]*://", lowered):
        source = os.path.realpath(url)
        if not os.path.isdir(source):
            raise FetchError(f"no git repository at {url}")
        config += ["-c", "protocol.file.allow=always"]
        env["GIT_ALLOW_PROTOCOL"] = "file"
        if token:
            raise FetchError("a token is only sent to https remotes")
    else:
        raise FetchError("refused: git sources must be https URLs on an allowed host")

    key = hashlib.sha256(f"{source}\n{ref}".encode()).hexdigest()[:24]
    entry = Path(cache_dir) / key
    entry.mkdir(parents=True, exist_ok=True, mode=0o700)
    home = entry / "home"
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    repo = entry / "repo"
    lock_fd = os.open(entry / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        _flock(lock_fd, timeout)
        deadline = time.monotonic() + timeout
        basic_header = env.get("GIT_CONFIG_VALUE_0", "")[len("Authorization: Basic "):]
        secrets = [s for s in (token, basic_header) if s]
        if not (repo / ".git").is_dir():
            shutil.rmtree(repo, ignore_errors=True)
            _git(["init", "-q", str(repo)], config, env, deadline, entry, max_bytes, secrets)
        log(f"git: fetching {ref or 'HEAD'} from {source}")
        _git(["-C", str(repo), "fetch", "--depth=1", "--no-tags", "--no-recurse-submodules",
              "--force", "--", source, ref or "HEAD"],
             config, env, deadline, entry, max_bytes, secrets)
        _git(["-C", str(repo), "checkout", "-q", "--force", "--detach", "FETCH_HEAD"],
             config, env, deadline, entry, max_bytes, secrets)
        _git(["-C", str(repo), "clean", "-q", "-ffdx"],
             config, env, deadline, entry, max_bytes, secrets)
        commit = _git(["-C", str(repo), "rev-parse", "HEAD"], config, env, deadline, entry,
                      max_bytes, secrets).strip()
        if _size(entry) > max_bytes:  # a fetch may finish between two size checks
            raise FetchError(f"refused: the repository is larger than {max_bytes // 2**20} MB")
        log(f"git: checked out commit {commit}")
    except BaseException:
        os.close(lock_fd)
        raise
    return Checkout(repo, commit, url, ref, lock_fd)


def _flock(fd: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise FetchError("another fetch of the same source is still running") from None
            time.sleep(0.2)


def _size(path: Path) -> int:
    total = 0
    for current, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(current, name)).st_size
            except OSError:
                pass
    return total


def _git(args: list[str], config: list[str], env: dict[str, str], deadline: float, entry: Path,
         max_bytes: int, secrets: list[str]) -> str:
    proc = subprocess.Popen(
        ["git", *config, *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    problem = None
    while True:
        try:
            out, err = proc.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                problem = "timed out"
            elif _size(entry) > max_bytes:
                problem = f"refused: the repository is larger than {max_bytes // 2**20} MB"
            if problem:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise FetchError(f"git {args[2] if args[0] == '-C' else args[0]}: {problem}")
    if proc.returncode != 0:
        message = (err or out).strip().splitlines()
        text = " / ".join(line for line in message[-4:] if line) or f"exit {proc.returncode}"
        for secret in secrets:
            text = text.replace(secret, "***")
        raise FetchError(f"git {args[2] if args[0] == '-C' else args[0]} failed: {text}")
    return out

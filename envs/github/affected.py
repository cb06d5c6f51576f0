"""Which environments a pull request touches: those whose ``git_path`` holds a changed file,
or a local module (``source = "../modules/x"``) the stack uses. Only answerable when the
repository is on this machine (a local path or mirror the worker reads) and holds both
commits; everywhere else the answer is "cannot tell", and the portal plans."""

from __future__ import annotations

import os
import posixpath
import subprocess

from envs.provisioning.sources import MODULE_SOURCE

GIT_TIMEOUT = 5


def _git(repo: str, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                                timeout=GIT_TIMEOUT, check=False,
                                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def local_repository(url: str) -> str | None:
    if not url or "://" in url or "::" in url or url.startswith("git@"):
        return None
    return url if os.path.isdir(url) else None


def changed_files(repo: str, base_sha: str, head_sha: str) -> list[str] | None:
    out = _git(repo, "diff", "--name-only", "--no-renames", f"{base_sha}...{head_sha}", "--")
    return None if out is None else [line for line in out.splitlines() if line]


def stack_directories(repo: str, sha: str, git_path: str, depth: int = 4) -> set[str]:
    """The stack's directory and every local module directory it reaches, at ``sha``."""
    start = posixpath.normpath(git_path.strip("/") or ".")
    seen: set[str] = set()
    todo = [start]
    while todo and len(seen) < 50:
        directory = todo.pop()
        if directory in seen or directory.startswith(".."):
            continue
        seen.add(directory)
        if len(seen) > depth * 10:
            break
        names = _git(repo, "ls-tree", "--name-only", sha, f"{directory}/" if directory != "."
                     else ".") or ""
        for name in names.splitlines():
            if not name.endswith(".tf"):
                continue
            text = _git(repo, "show", f"{sha}:{name}") or ""
            for source in MODULE_SOURCE.findall(text):
                todo.append(posixpath.normpath(posixpath.join(directory, source)))
    return seen


def touches(files: list[str], directories: set[str]) -> bool:
    for directory in directories:
        if directory == ".":
            return bool(files)
        prefix = directory.rstrip("/") + "/"
        if any(f.startswith(prefix) for f in files):
            return True
    return False


def affected(url: str, git_path: str, base_sha: str, head_sha: str) -> bool | None:
    """True/False when the portal can tell, None when it cannot (then it plans)."""
    repo = local_repository(url)
    if repo is None or not base_sha or not head_sha:
        return None
    files = changed_files(repo, base_sha, head_sha)
    if files is None:
        return None
    return touches(files, stack_directories(repo, head_sha, git_path))

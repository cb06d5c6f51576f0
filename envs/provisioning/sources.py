"""Where an environment's Terraform configuration comes from.

* The places a source may be, checked when the owner sets it (``check_source``): a
  directory under the portal's ``terraform/`` or PORTAL_CATALOG_LOCAL_ROOTS, a git URL on
  an allowed host (or a local repository under those roots), a relative git path, a ref
  that is a branch, tag or commit.
* The variables a directory source declares (``stack_variables``), for pages, the API and
  ``tfvars_import``.
* The private copy of the stack, and the local modules it uses, that each run works on
  (``copy_stack``, ``fetch_git``; worker side).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

from envs.models import Environment
from portal.errors import Invalid
from portal.lib import gitfetch
from portal.lib.safe_http import check_url
from portal.runs.engine import RunFailed

MODULE_SOURCE = re.compile(r'^\s*source\s*=\s*"(\.{1,2}/[^"]*)"', re.MULTILINE)
_IGNORE = shutil.ignore_patterns(
    ".*", "*.tfstate", "*.tfstate.*", "*.tfplan", "crash.log", "portal_backend_override.tf"
)


class SourceError(RunFailed):
    pass


# --------------------------------------------------------------------------- allowed places


def git_local_allowed(url: str) -> bool:
    """A local git repository is accepted as a Terraform source only under the roots the
    owner allowed for local sources (PORTAL_CATALOG_LOCAL_ROOTS), like catalog locations."""
    if "://" in url or "::" in url:
        return False
    real = os.path.realpath(url)
    return any(real == str(root) or real.startswith(str(root).rstrip("/") + "/")
               for root in (os.path.realpath(r) for r in settings.CATALOG_LOCAL_ROOTS))


def _refuse(field: str, message: str) -> Invalid:
    return Invalid(detail=f"{field}: {message}", fields={field: [message]})


def check_source_paths(env: Environment, data: Any) -> None:
    """A directory only under the repo's terraform/ or PORTAL_CATALOG_LOCAL_ROOTS (after
    resolving symlinks); a git path relative and inside the repository; a git ref that is a
    branch, tag or commit (never an option such as --upload-pack=...). Hardening: these
    were checked only when a run used them, or not at all for the directory."""
    if "directory" in data and env.tf_directory:
        real = os.path.realpath(env.stack_directory())
        roots = [Path(settings.BASE_DIR) / "terraform", *settings.CATALOG_LOCAL_ROOTS]
        if not any(Path(real).is_relative_to(os.path.realpath(r)) for r in roots):
            raise _refuse("directory", f"{real} is outside the allowed places (the portal's "
                          "terraform/ and PORTAL_CATALOG_LOCAL_ROOTS)")
    if "git_path" in data and env.tf_git_path:
        parts = Path(env.tf_git_path).parts
        if Path(env.tf_git_path).is_absolute() or ".." in parts or "\\" in env.tf_git_path \
                or env.tf_git_path.startswith("~"):
            raise _refuse("git_path", "must be a relative path inside the repository")
    if "git_ref" in data:
        try:
            gitfetch.check_ref(env.tf_git_ref)
        except gitfetch.FetchError as exc:
            raise _refuse("git_ref", str(exc)) from None


def check_git_url(env: Environment) -> None:
    """A git source is an https URL on an allowed host, or a repository under
    PORTAL_CATALOG_LOCAL_ROOTS."""
    if not env.tf_git_url:
        return
    try:
        if env.tf_git_url.lower().startswith("https://"):
            check_url(env.tf_git_url, settings.CATALOG_ALLOWED_HOSTS)
        elif not git_local_allowed(env.tf_git_url):
            raise gitfetch.FetchError("git sources must be https URLs on an allowed host, or "
                                      "repositories under PORTAL_CATALOG_LOCAL_ROOTS")
    except gitfetch.FetchError as exc:
        raise Invalid(detail=f"git_url: {exc}", fields={"git_url": [str(exc)]}) from None


# --------------------------------------------------------------------------- declared variables


def stack_variables(env: Environment) -> dict[str, dict]:
    """Variables the stack declares ({name: {sensitive, required, description, type,
    default}}), read with python-hcl2 from a directory source; empty when the stack cannot
    be read (git sources: unknown until a run)."""
    return declared_variables(env) or {}


def declared_variables(env: Environment) -> dict[str, dict] | None:
    """Like ``stack_variables``, or None when the stack cannot be read: a git source, a
    missing directory, no ``.tf`` file, or a file python-hcl2 cannot parse. ``type`` is the
    constraint as written (``map(string)``; ``any`` when none), ``default`` is left out
    for a required variable and for a sensitive one."""
    import hcl2  # the HCL parser (lark) is slow to import: only where a stack is read

    if env.is_git_source:
        return None
    directory = env.stack_directory()
    paths = sorted(Path(directory).glob("*.tf")) if directory.is_dir() else []
    if not paths:
        return None
    # Parsing HCL costs ~20 ms a page view: parse again only when a file changed.
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    cached = _STACK_VARIABLES.get(str(directory))
    if cached is not None and cached[0] == stamp:
        return None if cached[1] is None else {n: dict(v) for n, v in cached[1].items()}
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False,
                                        with_comments=False, preserve_heredocs=False)
    found: dict[str, dict] | None = {}
    try:
        for path in paths:
            with open(path) as f:
                doc = hcl2.load(f, serialization_options=options)
            for block in doc.get("variable", []):
                for name, body in block.items():
                    found[name.strip('"')] = _declared(body)  # type: ignore[index]
    except Exception:  # noqa: BLE001 - any parse failure: the stack is unreadable here
        found = None
    _STACK_VARIABLES[str(directory)] = (stamp, found)
    return None if found is None else {n: dict(v) for n, v in found.items()}


def _declared(body: dict) -> dict:
    sensitive = body.get("sensitive") in (True, "true")
    vartype = str(body.get("type") or "any")
    if vartype.startswith("${") and vartype.endswith("}"):
        vartype = vartype[2:-1]
    spec = {"sensitive": sensitive, "required": "default" not in body,
            "description": str(body.get("description", "")).strip(), "type": vartype}
    if "default" in body and not sensitive:
        spec["default"] = body["default"]
    return spec


_STACK_VARIABLES: dict[str, tuple[tuple, dict | None]] = {}  # directory -> (stamp, variables)


# --------------------------------------------------------------------------- a run's copy


def _boundary(stack: Path) -> Path:
    """How far up relative module sources may reach: the enclosing git checkout (or the
    portal's repository), else the usual ``<root>/environments/<name>`` layout's root."""
    base = Path(settings.BASE_DIR).resolve()
    if stack.is_relative_to(base):
        return base
    for parent in stack.parents:
        if (parent / ".git").exists():
            return parent
    return stack.parents[1] if len(stack.parents) > 1 else stack


def module_dirs(stack: Path, boundary: Path) -> list[Path]:
    """The stack and every local module it uses (transitively), all inside ``boundary``."""
    seen: list[Path] = []
    todo = [stack.resolve()]
    while todo:
        directory = todo.pop()
        if directory in seen:
            continue
        seen.append(directory)
        for tf in sorted(directory.glob("*.tf")):
            for match in MODULE_SOURCE.finditer(tf.read_text(errors="replace")):
                target = (directory / match.group(1)).resolve()
                if not target.is_relative_to(boundary):
                    raise SourceError(
                        f"{tf.name}: module source {match.group(1)!r} points outside {boundary}"
                    )
                if not target.is_dir():
                    raise SourceError(f"{tf.name}: module directory {match.group(1)!r} not found")
                todo.append(target)
    return seen


def copy_stack(stack: Path, dest_root: Path, boundary: Path | None = None) -> Path:
    """Copy the stack and its local modules under ``dest_root`` keeping their relative
    layout; return the stack's path in the copy."""
    stack = stack.resolve()
    if not stack.is_dir():
        raise SourceError(f"Terraform source directory {stack} does not exist")
    dirs = module_dirs(stack, (boundary or _boundary(stack)).resolve())
    common = Path(os.path.commonpath([str(d) for d in dirs]))
    for directory in dirs:
        shutil.copytree(directory, dest_root / directory.relative_to(common),
                        ignore=_IGNORE, dirs_exist_ok=True)
    return dest_root / stack.relative_to(common)


def fetch_git(env: Environment, dest: Path, ref: str | None = None,
              log=None) -> tuple[Path, str]:
    """Check out the environment's git source with the catalog's safe fetcher (https on
    allowed hosts, pinned address, no redirects; a token only as a header); returns (stack
    dir in the run's private copy, commit)."""
    url = env.tf_git_url
    try:
        with gitfetch.fetch(url, ref or env.tf_git_ref or "", env.tf_git_token or None,
                            allow_local=git_local_allowed(url), log=log) as checkout:
            root = Path(checkout.path).resolve()
            stack = (root / (env.tf_git_path or ".")).resolve()
            if not stack.is_relative_to(root) or not stack.is_dir():
                raise SourceError(f"git path {env.tf_git_path!r} is not a directory inside "
                                  f"the repository at commit {checkout.commit}")
            return copy_stack(stack, dest / "src", boundary=root), checkout.commit
    except gitfetch.FetchError as exc:
        raise SourceError(f"git fetch of {url} failed: {exc}") from None

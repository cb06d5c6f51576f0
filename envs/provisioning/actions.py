"""What the owner can do to an environment's infrastructure. The UI views and the API
views both call these functions; they validate, start runs through Run.start (lock,
audit, enqueue after commit) and raise ApiError with the reason when they refuse."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import status

from envs.guards import require_confirmation
from envs.models import Engine, Environment
from portal.api.errors import ApiError
from portal.audit.models import actor_of, record
from portal.lib.s3 import S3Error, S3Settings, S3Store
from portal.runs.api import lock_conflict
from portal.runs.choices import Status
from portal.runs.models import LockHeld, Run

from .jobs import PLAN_KINDS, expire_plans
from .models import ForceStop, PlanArtifact, PlanMode

TERRAFORM_KINDS = (*PLAN_KINDS, "apply", "drift", "force_unlock")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _actor(request) -> str:
    token = getattr(request, "auth", None)
    return actor_of(request.user, token if hasattr(token, "prefix") else None)


def _start(kind: str, env: Environment, request, params: dict | None = None,
           parent: Run | None = None) -> Run:
    try:
        return Run.start(kind, target=env.target, lock_key=env.lock_key, request=request,
                         params={"env": env.name, **(params or {})}, parent=parent)
    except LockHeld as held:
        raise lock_conflict(held) from None


def start_plan(env: Environment, request) -> Run:
    return _start("plan", env, request)


def start_destroy(env: Environment, data, request) -> Run:
    require_confirmation(env, data, always=True)
    return _start("destroy", env, request)


def start_drift(env: Environment, request) -> Run:
    return _start("drift", env, request)


def start_force_unlock(env: Environment, data, request) -> Run:
    require_confirmation(env, data, always=True)
    lock_id = str(data.get("lock_id") or "").strip()
    if not re.match(r"^[A-Za-z0-9._:-]{1,200}$", lock_id):
        raise ApiError("invalid", "lock_id: the ID of the state lock shown on the environment",
                       fields={"lock_id": ["required: the lock's ID"]})
    if not env.uses_s3_backend:
        raise ApiError("invalid", f"{env.name} keeps its state in the portal: no backend lock")
    return _start("force_unlock", env, request, {"lock_id": lock_id})


# --------------------------------------------------------------------------- review


def plan_run(pk: int) -> Run:
    run = Run.objects.filter(pk=pk, kind__in=PLAN_KINDS).first()
    if run is None:
        raise ApiError("not_found", f"no plan run #{pk}", status.HTTP_404_NOT_FOUND)
    return run


def _not_planned(run: Run) -> ApiError:
    if run.status == Status.DISCARDED:
        reason = run.error or "discarded"
        return ApiError("plan_discarded", f"plan run #{run.pk} was discarded: {reason}",
                        status.HTTP_409_CONFLICT, reason=reason)
    if run.status == Status.APPROVED:
        child = run.children.filter(kind="apply").first()
        detail = f"plan run #{run.pk} was already approved" + (
            f" (apply run #{child.pk})" if child else "")
        return ApiError("already_approved", detail, status.HTTP_409_CONFLICT)
    return ApiError("not_planned", f"run #{run.pk} is {run.status}; only a planned run with "
                    "changes can be approved or discarded", status.HTTP_409_CONFLICT)


def approve(run: Run, data, request) -> Run:
    """Approve a planned run and start its apply (which re-checks freshness under the lock)."""
    expire_plans()
    run.refresh_from_db()
    if run.status != Status.PLANNED:
        raise _not_planned(run)
    artifact = PlanArtifact.objects.select_related("environment").get(run=run)
    env = artifact.environment
    require_confirmation(env, data, always=artifact.mode == PlanMode.DESTROY)
    try:
        with transaction.atomic():
            if not run.transition(Status.PLANNED, Status.APPROVED):
                run.refresh_from_db()
                raise _not_planned(run)
            return Run.start("apply", target=env.target, lock_key=env.lock_key,
                             params={"env": env.name, "plan_run": run.pk}, parent=run,
                             request=request)
    except LockHeld as held:
        raise lock_conflict(held) from None


def discard(run: Run, request) -> Run:
    actor = _actor(request)
    reason = f"discarded by {actor}"
    if not run.transition(Status.PLANNED, Status.DISCARDED, error=reason):
        run.refresh_from_db()
        raise _not_planned(run)
    artifact = PlanArtifact.objects.filter(run=run).first()
    if artifact:
        artifact.purge(reason)
    record("plan.discard", target=run.target, request=request, run=run)
    return run


def force_stop(run: Run, request) -> Run:
    """Kill Terraform after a cancel that did not end it (owner's explicit action)."""
    if run.kind not in TERRAFORM_KINDS or run.status != Status.RUNNING:
        raise ApiError("not_running", f"run #{run.pk} is a {run.status} {run.kind} run; only "
                       "a running Terraform run can be force-stopped", status.HTTP_409_CONFLICT)
    if run.cancel_requested_at is None:
        raise ApiError("cancel_first", f"cancel run #{run.pk} first: Terraform gets the chance "
                       "to stop cleanly; force stop is for when it does not",
                       status.HTTP_409_CONFLICT)
    waited = (timezone.now() - run.cancel_requested_at).total_seconds()
    if waited < settings.TF_CANCEL_GRACE:
        left = int(settings.TF_CANCEL_GRACE - waited) + 1
        raise ApiError("grace_period", f"Terraform is still stopping: force stop is allowed "
                       f"{settings.TF_CANCEL_GRACE} s after the cancel request (in {left} s)",
                       status.HTTP_409_CONFLICT, retry_after=left)
    actor = _actor(request)
    ForceStop.objects.get_or_create(run=run, defaults={"actor": actor})
    record("run.force_stop", target=run.target, request=request, run=run, kind=run.kind)
    return run


# --------------------------------------------------------------------------- settings


def _check_names(values: dict, field: str) -> None:
    if not isinstance(values, dict):
        raise ApiError("invalid", f"{field}: expected an object of name -> value",
                       fields={field: ["expected an object"]})
    bad = [name for name in values if not VAR_NAME.match(str(name))]
    if bad:
        raise ApiError("invalid", f"{field}: invalid variable name(s) {sorted(bad)}",
                       fields={field: [f"invalid name(s): {', '.join(sorted(bad))}"]})


def update_variables(env: Environment, data, request, *, partial: bool) -> Environment:
    """PUT replaces both sets; PATCH merges (a null value removes a variable). Secret
    values are write-only: they are never returned, logged or audited (names only)."""
    plain = data.get("variables", None if partial else {})
    secret = data.get("secret_variables", None if partial else {})
    for value, field in ((plain, "variables"), (secret, "secret_variables")):
        if value is not None:
            _check_names(value, field)
    new_plain = dict(env.tf_variables or {}) if partial else {}
    new_secret = env.secret_variables if partial else {}
    for source, target in ((plain, new_plain), (secret, new_secret)):
        for name, value in (source or {}).items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
    # A variable moving between the sets leaves the other one.
    for name in plain or {}:
        if name not in (secret or {}):
            new_secret.pop(name, None)
    for name in secret or {}:
        new_plain.pop(name, None)
    env.tf_variables = new_plain
    env.secret_variables = new_secret
    env.save(update_fields=["tf_variables", "tf_secret_variables", "updated_at"])
    record("env.variables", target=env.target, request=request,
           variables=sorted(plain or {}), secret_variables=sorted(secret or {}))
    return env


BACKEND_FIELDS = {"bucket": "backend_bucket", "key": "backend_key", "region": "backend_region",
                  "endpoint": "backend_endpoint", "use_path_style": "backend_use_path_style"}
SOURCE_FIELDS = {"directory": "tf_directory", "git_url": "tf_git_url", "git_ref": "tf_git_ref",
                 "git_path": "tf_git_path", "engine": "tf_engine"}


def update_terraform(env: Environment, data, request) -> Environment:
    """Source, engine and backend of an environment (PATCH semantics)."""
    changed = []
    for key, field in SOURCE_FIELDS.items():
        if key in data:
            setattr(env, field, str(data[key] or "").strip())
            changed.append(key)
    if "engine" in data and env.tf_engine not in Engine.values:
        raise ApiError("invalid", f"engine: one of {[v for v in Engine.values if v]} (or empty)",
                       fields={"engine": ["unknown engine"]})
    if "directory" in data and env.tf_directory and not env.stack_directory().is_dir():
        raise ApiError("invalid", f"directory: {env.stack_directory()} is not a directory",
                       fields={"directory": ["not a directory"]})
    _check_source_paths(env, data)
    backend = data.get("backend")
    if backend is not None:
        if not isinstance(backend, dict):
            raise ApiError("invalid", "backend: expected an object",
                           fields={"backend": ["expected an object"]})
        for key, field in BACKEND_FIELDS.items():
            if key in backend:
                value = backend[key]
                setattr(env, field, bool(value) if key == "use_path_style"
                        else str(value or "").strip())
                changed.append(f"backend.{key}")
    if "git_token" in data:
        env.tf_git_token = str(data["git_token"] or "") or None
        changed.append("git_token")
    if env.tf_git_url:
        from portal.lib.gitfetch import FetchError, check_url  # noqa: PLC0415

        try:
            if env.tf_git_url.lower().startswith("https://"):
                check_url(env.tf_git_url, settings.CATALOG_ALLOWED_HOSTS)
            elif not git_local_allowed(env.tf_git_url):
                raise FetchError("git sources must be https URLs on an allowed host, or "
                                 "repositories under PORTAL_CATALOG_LOCAL_ROOTS")
        except FetchError as exc:
            raise ApiError("invalid", f"git_url: {exc}", fields={"git_url": [str(exc)]}) from None
    creds = data.get("backend_credentials")
    if creds is not None:
        if not isinstance(creds, dict):
            raise ApiError("invalid", "backend_credentials: expected an object",
                           fields={"backend_credentials": ["expected an object"]})
        keep = {k: str(v) for k, v in creds.items()
                if k in ("access_key_id", "secret_access_key") and v}
        env.backend_credentials = json.dumps(keep) if keep else None
        changed.append("backend_credentials")
    env.save()
    record("env.terraform", target=env.target, request=request, changed=changed)
    return env


# --------------------------------------------------------------------------- state lock


def state_lock_info(env: Environment) -> dict | None:
    """The backend's state lock (S3 ``<key>.tflock``), if any, and whether a portal run
    holds it. None without a lock (or without an S3 backend)."""
    if not env.uses_s3_backend:
        return None
    creds = env.backend_secrets()
    store = S3Store(S3Settings(
        bucket=env.backend_bucket, region=env.backend_region or "auto",
        endpoint_url=env.backend_endpoint or None, access_key=creds.get("access_key_id"),
        secret_key=creds.get("secret_access_key"), max_attempts=1, connect_timeout=2,
        read_timeout=3))
    key = f"{env.state_key}.tflock"
    try:
        info = json.loads(store.get_bytes(key))
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "404"):
            return None
        return {"error": f"could not read the state lock: {exc.code or 'unreachable'}"}
    except Exception as exc:
        return {"error": f"could not read the state lock: {type(exc).__name__}"}
    holder = env.lock_holder()
    portal = holder is not None and holder.status in (Status.QUEUED, Status.RUNNING)
    return {
        "id": str(info.get("ID", "")), "who": str(info.get("Who", "")),
        "operation": str(info.get("Operation", "")), "created": str(info.get("Created", "")),
        "path": str(info.get("Path", key)),
        "held_by_portal": portal, "portal_run": holder.pk if portal else None,
    }


def stack_variables(env: Environment) -> dict[str, dict]:
    """Variables the stack declares ({name: {sensitive, required, description}}), read
    with python-hcl2 from a directory source (git sources: unknown until a run)."""
    import hcl2

    if env.is_git_source:
        return {}
    found: dict[str, dict] = {}
    directory = env.stack_directory()
    paths = sorted(Path(directory).glob("*.tf")) if directory.is_dir() else []
    # Parsing HCL costs ~20 ms a page view: parse again only when a file changed.
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    cached = _STACK_VARIABLES.get(str(directory))
    if cached is not None and cached[0] == stamp:
        return {name: dict(spec) for name, spec in cached[1].items()}
    for path in paths:
        with open(path) as f:
            doc = hcl2.load(f)
        for block in doc.get("variable", []):
            for name, body in block.items():
                name = name.strip('"')
                found[name] = {
                    "sensitive": body.get("sensitive") in (True, "true"),
                    "required": "default" not in body,
                    "description": str(body.get("description", "")).strip('"'),
                }
    _STACK_VARIABLES[str(directory)] = (stamp, found)
    return {name: dict(spec) for name, spec in found.items()}


_STACK_VARIABLES: dict[str, tuple[tuple, dict]] = {}  # directory -> (files' stamp, variables)


def _refuse(field: str, message: str) -> ApiError:
    return ApiError("invalid", f"{field}: {message}", fields={field: [message]})


def _check_source_paths(env: Environment, data) -> None:
    """A directory only under the repo's terraform/ or PORTAL_CATALOG_LOCAL_ROOTS (after
    resolving symlinks); a git path relative and inside the repository; a git ref that is a
    branch, tag or commit (never an option such as --upload-pack=...). Hardening: these
    were checked only when a run used them, or not at all for the directory."""
    import os

    from portal.lib.gitfetch import FetchError, check_ref  # noqa: PLC0415

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
            check_ref(env.tf_git_ref)
        except FetchError as exc:
            raise _refuse("git_ref", str(exc)) from None


def git_local_allowed(url: str) -> bool:
    """A local git repository is accepted as a Terraform source only under the roots the
    owner allowed for local sources (PORTAL_CATALOG_LOCAL_ROOTS), like catalog locations."""
    import os

    if "://" in url or "::" in url:
        return False
    real = os.path.realpath(url)
    return any(real == str(root) or real.startswith(str(root).rstrip("/") + "/")
               for root in (os.path.realpath(r) for r in settings.CATALOG_LOCAL_ROOTS))

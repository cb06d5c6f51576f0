"""What the owner can do to an environment's infrastructure: the only functions the UI
views, the API views, ``tfvars_import`` and the nightly drift schedule call. Each checks
what it is given, then starts its run through Run.start (lock, run, audit event in one
transaction; enqueued after commit) or saves and audits in one transaction. A refusal is a
DomainError (portal.errors) saying why; the API renders it, the page forms show it in one
line. A held lock is LockHeld (a DomainError too)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from envs.guards import require_confirmation
from envs.models import Engine, Environment
from portal.audit.models import actor_from_request, record
from portal.errors import Conflict, DomainError, Invalid, NotFound
from portal.lib import github
from portal.runs.choices import Status
from portal.runs.models import Run

from . import vartypes
from .jobs import PLAN_KINDS, TERRAFORM_KINDS, expire_plans
from .models import ForceStop, PlanArtifact, PlanMode, StateSnapshot
from .sources import check_git_url, check_source_paths, declared_variables, stack_variables

VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
GIT_SHA = re.compile(r"^[0-9a-f]{40}$")
# Checks a feature adds (from its AppConfig.ready) that may refuse an approval by raising a
# DomainError: envs/github refuses a pull request's plan whose head moved since.
APPROVAL_CHECKS: list[Callable[[Run], None]] = []
LOCK_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


def _start(kind: str, env: Environment, request, params: dict | None = None) -> Run:
    run = Run.start(kind, target=env.target, lock_key=env.lock_key, request=request,
                    params={"env": env.name, **(params or {})})
    assert run is not None  # only scheduled runs come back None
    return run


def _acting(request) -> str:
    return actor_from_request(request) or "anonymous"


# --------------------------------------------------------------------------- runs


def start_plan(env: Environment, request) -> Run:
    return _start("plan", env, request)


def start_plan_at(env: Environment, *, git_sha: str, params: dict | None = None,
                  actor: str = "", request=None) -> Run:
    """A plan of the environment's git source at one commit (a pull request's head); the
    commit and ``params`` (the pull request) are recorded in the run's params."""
    if not env.is_git_source:
        raise Invalid(detail=f"{env.name} has no git source: nothing to plan at a commit")
    if not GIT_SHA.match(git_sha or ""):
        raise Invalid(detail="git_sha: a full 40-character commit id",
                      fields={"git_sha": ["a full 40-character commit id"]})
    run = Run.start("plan", target=env.target, lock_key=env.lock_key, request=request,
                    actor=actor or None,
                    params={"env": env.name, "git_sha": git_sha, **(params or {})})
    assert run is not None  # only scheduled runs come back None
    return run


def start_destroy(env: Environment, data, request) -> Run:
    """A destroy plan (reviewed and approved like any other); the name typed on every tier."""
    require_confirmation(env, data, always=True)
    return _start("destroy", env, request)


def start_drift(env: Environment, request) -> Run:
    return _start("drift", env, request)


def start_force_unlock(env: Environment, data, request) -> Run:
    """Release a state lock the portal did not take (terraform force-unlock)."""
    require_confirmation(env, data, always=True)
    lock_id = str(data.get("lock_id") or "").strip()
    if not LOCK_ID.match(lock_id):
        raise Invalid(detail="lock_id: the ID of the state lock shown on the environment",
                      fields={"lock_id": ["required: the lock's ID"]})
    if not env.uses_s3_backend:
        raise Invalid(detail=f"{env.name} keeps its state in the portal: no backend lock")
    return _start("force_unlock", env, request, {"lock_id": lock_id})


def drift_all() -> list[int]:
    """The nightly schedule: a drift run per environment that has state to compare.
    A held lock skips that environment (audited by Run.start) until the next night."""
    started: list[int] = []
    for env in Environment.objects.all():
        has_state = env.uses_s3_backend or StateSnapshot.objects.filter(
            environment=env, serial__isnull=False).exists()
        if not has_state:
            continue
        run = Run.start("drift", target=env.target, lock_key=env.lock_key,
                        params={"env": env.name}, scheduled=True, actor="scheduler")
        if run is not None:
            started.append(run.pk)
    return started


# --------------------------------------------------------------------------- review


def plan_run(pk: int) -> Run:
    """The plan (or destroy plan) run to review, approve or discard."""
    run = Run.objects.filter(pk=pk, kind__in=PLAN_KINDS).first()
    if run is None:
        raise NotFound(detail=f"no plan run #{pk}")
    return run


def _not_planned(run: Run) -> DomainError:
    if run.status == Status.DISCARDED:
        reason = run.error or "discarded"
        return Conflict("plan_discarded", f"plan run #{run.pk} was discarded: {reason}",
                        reason=reason)
    if run.status == Status.APPROVED:
        child = run.children.filter(kind="apply").first()
        detail = f"plan run #{run.pk} was already approved" + (
            f" (apply run #{child.pk})" if child else "")
        return Conflict("already_approved", detail)
    return Conflict("not_planned", f"run #{run.pk} is {run.status}; only a planned run with "
                    "changes can be approved or discarded")


def approve(run: Run, data, request) -> Run:
    """Approve a planned run and start its apply (which re-checks freshness under the lock).
    A held lock rolls the approval back: the plan stays planned."""
    expire_plans()
    run.refresh_from_db()
    if run.status != Status.PLANNED:
        raise _not_planned(run)
    for check in APPROVAL_CHECKS:
        check(run)
    artifact = PlanArtifact.objects.select_related("environment").get(run=run)
    env = artifact.environment
    require_confirmation(env, data, always=artifact.mode == PlanMode.DESTROY)
    with transaction.atomic():
        if not run.transition(Status.PLANNED, Status.APPROVED):
            run.refresh_from_db()
            raise _not_planned(run)
        apply = Run.start("apply", target=env.target, lock_key=env.lock_key,
                          params={"env": env.name, "plan_run": run.pk}, parent=run,
                          request=request)
    assert apply is not None  # only scheduled runs come back None
    return apply


def discard(run: Run, request) -> Run:
    """Discard a planned run; its saved plan (which holds secrets) is purged."""
    reason = f"discarded by {_acting(request)}"
    with transaction.atomic():
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
        raise Conflict("not_running", f"run #{run.pk} is a {run.status} {run.kind} run; only "
                       "a running Terraform run can be force-stopped")
    if run.cancel_requested_at is None:
        raise Conflict("cancel_first", f"cancel run #{run.pk} first: Terraform gets the chance "
                       "to stop cleanly; force stop is for when it does not")
    waited = (timezone.now() - run.cancel_requested_at).total_seconds()
    if waited < settings.TF_CANCEL_GRACE:
        left = int(settings.TF_CANCEL_GRACE - waited) + 1
        raise Conflict("grace_period", f"Terraform is still stopping: force stop is allowed "
                       f"{settings.TF_CANCEL_GRACE} s after the cancel request (in {left} s)",
                       retry_after=left)
    with transaction.atomic():
        ForceStop.objects.get_or_create(run=run, defaults={"actor": _acting(request)})
        record("run.force_stop", target=run.target, request=request, run=run, kind=run.kind)
    return run


# --------------------------------------------------------------------------- settings


def _check_names(values: Any, field: str) -> None:
    if not isinstance(values, dict):
        raise Invalid(detail=f"{field}: expected an object of name -> value",
                      fields={field: ["expected an object"]})
    bad = [name for name in values if not VAR_NAME.match(str(name))]
    if bad:
        raise Invalid(detail=f"{field}: invalid variable name(s) {sorted(bad)}",
                      fields={field: [f"invalid name(s): {', '.join(sorted(bad))}"]})


def check_declared(env: Environment, plain: dict | None, secret: dict | None) -> dict | None:
    """Variables checked against what the stack declares, when it can be read: every name
    declared, plain values of the declared type (returned as Terraform takes them: ``"5"``
    for a number is 5), none of a sensitive variable (those are secret variables). A null
    value (removing one) is always fine. Raises Invalid naming each variable refused."""
    declared = declared_variables(env)
    if declared is None:
        return plain
    errors: dict[str, list[str]] = {}
    checked = dict(plain or {})
    for name, value in (plain or {}).items():
        spec = declared.get(name)
        if value is None:
            continue
        if spec is None:
            errors[f"variables.{name}"] = ["the stack declares no such variable"]
        elif spec["sensitive"]:
            errors[f"variables.{name}"] = ["declared sensitive: set it as a secret variable"]
        else:
            try:
                checked[name] = vartypes.check(_declared_type(spec), value)
            except vartypes.TypeMismatch as exc:
                errors[f"variables.{name}"] = [exc.message]
    for name, value in (secret or {}).items():
        if value is not None and name not in declared:
            errors[f"secret_variables.{name}"] = ["the stack declares no such variable"]
    if errors:
        raise Invalid(detail="; ".join(f"{field.split('.', 1)[1]}: {msgs[0]}"
                                       for field, msgs in errors.items()), fields=errors)
    return checked if plain is not None else None


def _declared_type(spec: dict) -> vartypes.VarType:
    try:
        return vartypes.parse_type(spec.get("type"))
    except ValueError:
        return vartypes.ANY  # a constraint this reader does not know: Terraform checks it


def update_variables(env: Environment, data, request, *, partial: bool) -> Environment:
    """PUT replaces both sets; PATCH merges (a null value removes a variable). Secret
    values are write-only: they are never returned, logged or audited (names only)."""
    plain = data.get("variables", None if partial else {})
    secret = data.get("secret_variables", None if partial else {})
    for value, field in ((plain, "variables"), (secret, "secret_variables")):
        if value is not None:
            _check_names(value, field)
    plain = check_declared(env, plain, secret)
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
    with transaction.atomic():
        env.save(update_fields=["tf_variables", "tf_secret_variables", "updated_at"])
        record("env.variables", target=env.target, request=request,
               variables=sorted(plain or {}), secret_variables=sorted(secret or {}))
    return env


def import_variables(env: Environment, values: dict, *, secret: set[str],
                     actor: str) -> tuple[list[str], list[str], list[str]]:
    """Variables read from a terraform.tfvars (``tfvars_import``): those the stack marks
    sensitive, and those named in ``secret``, become secret variables; the rest plain ones.
    Returns (plain names, secret names, names the stack does not declare)."""
    declared = stack_variables(env)
    sensitive = {n for n, v in declared.items() if v["sensitive"]} | set(secret)
    unknown = sorted(set(values) - set(declared)) if declared else []
    plain = {n: v for n, v in values.items() if n not in sensitive}
    secrets = {n: v for n, v in values.items() if n in sensitive}
    variables = dict(env.tf_variables or {})
    variables.update(plain)
    stored_secrets = env.secret_variables
    stored_secrets.update(secrets)
    for name in secrets:
        variables.pop(name, None)
    for name in plain:
        stored_secrets.pop(name, None)
    env.tf_variables = variables
    env.secret_variables = stored_secrets
    with transaction.atomic():
        env.save(update_fields=["tf_variables", "tf_secret_variables", "updated_at"])
        record("env.variables", target=env.target, actor=actor,
               variables=sorted(plain), secret_variables=sorted(secrets))
    return sorted(plain), sorted(secrets), unknown


BACKEND_FIELDS = {"bucket": "backend_bucket", "key": "backend_key", "region": "backend_region",
                  "endpoint": "backend_endpoint", "use_path_style": "backend_use_path_style"}
SOURCE_FIELDS = {"directory": "tf_directory", "git_url": "tf_git_url", "git_ref": "tf_git_ref",
                 "git_path": "tf_git_path", "engine": "tf_engine",
                 "github_repo": "tf_github_repo"}


def update_terraform(env: Environment, data, request) -> Environment:
    """Source, engine and backend of an environment (PATCH semantics)."""
    changed = []
    for key, field in SOURCE_FIELDS.items():
        if key in data:
            setattr(env, field, str(data[key] or "").strip())
            changed.append(key)
    if "engine" in data and env.tf_engine not in Engine.values:
        raise Invalid(detail=f"engine: one of {[v for v in Engine.values if v]} (or empty)",
                      fields={"engine": ["unknown engine"]})
    if "directory" in data and env.tf_directory and not env.stack_directory().is_dir():
        raise Invalid(detail=f"directory: {env.stack_directory()} is not a directory",
                      fields={"directory": ["not a directory"]})
    check_source_paths(env, data)
    if "github_repo" in data and env.tf_github_repo:
        try:
            env.tf_github_repo = github.check_repo_name(env.tf_github_repo)
        except ValueError as exc:
            raise Invalid(detail=f"github_repo: {exc}", fields={"github_repo": [str(exc)]}) \
                from None
    backend = data.get("backend")
    if backend is not None:
        if not isinstance(backend, dict):
            raise Invalid(detail="backend: expected an object",
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
    check_git_url(env)
    creds = data.get("backend_credentials")
    if creds is not None:
        if not isinstance(creds, dict):
            raise Invalid(detail="backend_credentials: expected an object",
                          fields={"backend_credentials": ["expected an object"]})
        keep = {k: str(v) for k, v in creds.items()
                if k in ("access_key_id", "secret_access_key") and v}
        env.backend_credentials = json.dumps(keep) if keep else None
        changed.append("backend_credentials")
    with transaction.atomic():
        env.save()
        record("env.terraform", target=env.target, request=request, changed=changed)
    return env

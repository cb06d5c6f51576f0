"""Everything the owner can do with secrets: create, set, change the policy or placement,
rotate, delete; export and import bundles. The API, the page forms, the management commands
and the daily schedule call these.

Values arrive here and go only into encrypted fields (Secret.value, PendingValue.value);
audit events and run params carry names and versions, never values. Refusals are
DomainErrors; a run is started through ``Run.start`` (the environment's lock, audited).
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from envs.guards import require_confirmation
from envs.models import Environment
from portal.audit.models import actor_from_request, record
from portal.errors import Conflict, Invalid, NotConfigured
from portal.runs.models import Run

from .bundle import FIELDS, BundleError, export_bytes, unseal
from .export import bucket_store, export_to_bucket_if_configured
from .export import export_to_bucket as write_bundle_to_bucket
from .models import How, PendingValue, Secret, SecretVersion, generate

POLICY_FIELDS = ("max_age_days", "generator", "length", "alphabet", "auto_rotate")
PLACEMENT_FIELDS = ("k8s_namespace", "k8s_secret", "k8s_key", "tf_variable")


def _apply_fields(secret: Secret, data: dict) -> None:
    for field in POLICY_FIELDS + PLACEMENT_FIELDS:
        if field in data and data[field] is not None:
            setattr(secret, field, data[field])
    try:
        secret.full_clean(exclude=["environment", "value"], validate_unique=False)
    except ValidationError as exc:
        fields = getattr(exc, "message_dict", {"non_field_errors": [str(exc)]})
        raise Invalid(detail="; ".join(f"{k}: {v[0]}" for k, v in fields.items()),
                      fields=fields) from None


def _refuse_if_rotating(secret: Secret) -> None:
    run = secret.active_run()
    if run is not None:
        raise Conflict("locked", f"{secret.name} is being changed by run #{run.pk} "
                       f"({run.status}); wait for it to end", run=run.pk,
                       run_url=f"/api/runs/{run.pk}/")


def commit(secret: Secret, value: str, how: str, by: str, run: Run | None = None,
           in_cluster: bool = False, request=None) -> Secret:
    """Store ``value`` as the next version (one transaction), audit it, export after commit."""
    with transaction.atomic():
        locked = Secret.objects.select_for_update().get(pk=secret.pk)
        now = timezone.now()
        locked.value = value
        locked.version += 1
        locked.set_by = by
        if how == How.ROTATE:
            locked.rotated_at = now
        else:
            locked.set_at, locked.rotated_at = now, None
        if in_cluster:
            locked.cluster_version = locked.version
        locked.save()
        SecretVersion.objects.create(secret=locked, version=locked.version, how=how, at=now,
                                     by=by, run=run)
        record(f"secret.{how}", target=locked.environment.target, actor=by, run=run,
               request=request, secret=locked.name, version=locked.version,
               in_cluster=in_cluster)
        transaction.on_commit(export_to_bucket_if_configured)
    return locked


def start_rotation(env: Environment, secrets: list[Secret], *, how: str = How.ROTATE,
                   value: str | None = None, request=None, scheduled: bool = False
                   ) -> Run | None:
    """Start a ``rotate_secret`` run for ``secrets`` (an owner's ``value`` only with one).

    The owner's value goes into an encrypted PendingValue the run reads by id: run params
    hold ids and names only. Raises LockHeld (scheduled: returns None, audited)."""
    with transaction.atomic():
        run = Run.start("rotate_secret", target=env.target, lock_key=env.lock_key,
                        request=request, scheduled=scheduled,
                        actor=None if request else "scheduler",
                        params={"environment": env.name, "how": how,
                                "secrets": [s.pk for s in secrets],
                                "names": [s.name for s in secrets],
                                "owner_value": value is not None})
        if run is None:
            return None
        for s in secrets:
            PendingValue.objects.create(secret=s, value=value, how=how, run=run)
    return run


def _started(run: Run | None) -> Run:
    assert run is not None  # only scheduled runs come back None
    return run


def create_secret(env: Environment, data: dict, request, *, confirm: str | None = None
                  ) -> tuple[Secret, Run | None]:
    """A new secret (``SecretCreate``'s fields, as ``to_model`` gives them). With a
    Kubernetes placement (and ``apply``), version 1 is written by a run and committed once
    the workloads rolled; else it is stored at once."""
    require_confirmation(env, {"confirm": confirm})
    if Secret.objects.filter(environment=env, name=data["name"]).exists():
        raise Conflict("exists", f"{env.name} already has a secret named {data['name']}; "
                       "PUT a new value instead", fields={"name": ["already exists"]})
    secret = Secret(environment=env, name=data["name"])
    _apply_fields(secret, data)
    value = data.get("value")
    if value is None:
        value = generate(secret.generator, secret.length, secret.alphabet)
    with transaction.atomic():
        secret.save()
        if secret.in_kubernetes and data.get("apply", True):
            record("secret.create.pending", target=env.target, request=request,
                   secret=secret.name, placement=secret.placement_text())
            # Version 1 is committed only once the cluster has it and the workloads rolled.
            return secret, _started(start_rotation(env, [secret], how=How.CREATE,
                                                   value=value, request=request))
    return commit(secret, value, How.CREATE, actor_from_request(request) or "system",
                  request=request), None


def set_value(secret: Secret, data: dict, request, *, confirm: str | None = None
              ) -> tuple[Secret, Run | None]:
    """A new value from the owner (or generated when none is given)."""
    require_confirmation(secret.environment, {"confirm": confirm})
    _refuse_if_rotating(secret)
    _apply_fields(secret, data)
    secret.save()
    value = data.get("value")
    if value is None:
        value = generate(secret.generator, secret.length, secret.alphabet)
    if secret.in_kubernetes and data.get("apply", True):
        return secret, _started(start_rotation(secret.environment, [secret], how=How.SET,
                                               value=value, request=request))
    return commit(secret, value, How.SET, actor_from_request(request) or "system",
                  request=request), None


def update_settings(secret: Secret, data: dict, request, *, confirm: str | None = None
                    ) -> Secret:
    """Change the policy or the placement (never the value)."""
    require_confirmation(secret.environment, {"confirm": confirm})
    _apply_fields(secret, data)
    secret.save()
    record("secret.settings", target=secret.environment.target, request=request,
           secret=secret.name, fields=sorted(k for k in data if k in POLICY_FIELDS +
                                              PLACEMENT_FIELDS))
    return secret


def rotate(secret: Secret, request, value: str | None = None, *,
           confirm: str | None = None) -> Run:
    """A ``rotate_secret`` run: a new value (``value``, else by policy) written to the
    cluster and the workloads rolled; put back if a rollout fails."""
    require_confirmation(secret.environment, {"confirm": confirm})
    _refuse_if_rotating(secret)
    return _started(start_rotation(secret.environment, [secret], how=How.ROTATE, value=value,
                                   request=request))


def delete(secret: Secret, request, *, confirm: str | None = None) -> None:
    """Remove the secret from the portal (the Kubernetes Secret is not touched)."""
    require_confirmation(secret.environment, {"confirm": confirm})
    _refuse_if_rotating(secret)
    name, env = secret.name, secret.environment
    with transaction.atomic():
        secret.delete()
        record("secret.delete", target=env.target, request=request, secret=name)
        transaction.on_commit(export_to_bucket_if_configured)


def rotate_overdue() -> list[int]:
    """The daily check: one scheduled run per environment for its overdue auto-rotate
    secrets (skipped with an audit event when the environment's lock is held)."""
    by_env: dict[int, list[Secret]] = {}
    for secret in Secret.objects.filter(auto_rotate=True, version__gt=0).select_related(
            "environment"):
        if secret.overdue:
            by_env.setdefault(secret.environment_id, []).append(secret)
    started = []
    for secrets in by_env.values():
        run = start_rotation(secrets[0].environment, secrets, scheduled=True)
        if run is not None:
            started.append(run.pk)
    return started


# --- bundles ---------------------------------------------------------------------------

def export_to_file(path: Path, passphrase: str, actor: str) -> int:
    """Write every secret as an encrypted bundle to ``path`` (mode 0600); the count."""
    data, count = export_bytes(passphrase)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    record("secrets.export", actor=actor, file=str(path.name), count=count)
    return count


def export_to_bucket(passphrase: str, actor: str) -> tuple[str, str, int]:
    """A new bundle in the backup bucket (the newest PORTAL_SECRETS_EXPORT_KEEP kept):
    (bucket, key, count)."""
    store = bucket_store()
    if store is None:
        raise NotConfigured(detail="no backup bucket: set PORTAL_BACKUP_BUCKET (and "
                            "PORTAL_S3_ENDPOINT_URL, AWS_* for an S3-compatible store)")
    key, count = write_bundle_to_bucket(store, passphrase)
    record("secrets.export", actor=actor, key=key, count=count)
    return store.bucket, key, count


def import_bundle(data: bytes, passphrase: str, by: str, skip_missing: bool = False) -> dict:
    """Restore every secret of a bundle in one transaction. A changed value becomes a new
    version (how=import); the Kubernetes Secrets are not touched (the page shows which
    versions the cluster does not hold yet). Returns counts; BundleError when the bundle
    cannot be read or names environments this portal does not have."""
    payload = unseal(data, passphrase)
    wanted = payload.get("environments") or {}
    known = {e.name: e for e in Environment.objects.filter(name__in=list(wanted))}
    missing = sorted(set(wanted) - set(known))
    if missing and not skip_missing:
        raise BundleError(f"no environment named {', '.join(missing)} in this portal: create "
                          "it first, or pass --skip-missing; nothing was imported")
    counts = {"created": 0, "changed": 0, "unchanged": 0, "skipped": 0}
    with transaction.atomic():
        for env_name, rows in wanted.items():
            env = known.get(env_name)
            if env is None:
                counts["skipped"] += len(rows)
                continue
            for row in rows:
                secret, created = Secret.objects.get_or_create(environment=env,
                                                               name=row["name"])
                for f in FIELDS:
                    if f in row:
                        setattr(secret, f, row[f])
                secret.full_clean(exclude=["environment", "value"], validate_unique=False)
                secret.save()
                if secret.value == row["value"]:
                    counts["unchanged"] += 1
                    continue
                commit(secret, row["value"], How.IMPORT, by)
                counts["created" if created else "changed"] += 1
        record("secrets.import", actor=by, created=counts["created"],
               changed=counts["changed"], unchanged=counts["unchanged"],
               skipped=counts["skipped"])
    return counts

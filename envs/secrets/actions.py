"""What the UI and the API do with secrets: create, set, rotate, delete. Both call these.

Values arrive here and go only into encrypted fields (Secret.value, PendingValue.value);
audit events and run params carry names and versions, never values.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from envs.models import Environment
from portal.api.errors import ApiError, conflict
from portal.audit.models import actor_of, record
from portal.runs.models import Run

from .models import Generator, How, PendingValue, Secret, SecretVersion, generate

POLICY_FIELDS = ("max_age_days", "generator", "length", "alphabet", "auto_rotate")
PLACEMENT_FIELDS = ("k8s_namespace", "k8s_secret", "k8s_key", "tf_variable")


def request_actor(request) -> str:
    if request is None:
        return "system"
    token = getattr(request, "auth", None)
    return actor_of(getattr(request, "user", None), token if hasattr(token, "prefix") else None)


def _apply_fields(secret: Secret, data: dict) -> None:
    for field in POLICY_FIELDS + PLACEMENT_FIELDS:
        if field in data and data[field] is not None:
            setattr(secret, field, data[field])
    try:
        secret.full_clean(exclude=["environment", "value"], validate_unique=False)
    except Exception as exc:  # django ValidationError -> the API's error form
        fields = getattr(exc, "message_dict", {"non_field_errors": [str(exc)]})
        raise ApiError("invalid", "; ".join(f"{k}: {v[0]}" for k, v in fields.items()),
                       fields=fields) from None


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
        transaction.on_commit(_export_after_change)
    return locked


def _export_after_change() -> None:
    from .bundle import export_to_bucket_if_configured

    export_to_bucket_if_configured()


def _refuse_if_rotating(secret: Secret) -> None:
    run = secret.active_run()
    if run is not None:
        raise conflict(f"{secret.name} is being changed by run #{run.pk} ({run.status}); "
                       "wait for it to end", run=run.pk, run_url=f"/api/runs/{run.pk}/")


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


def create_secret(env: Environment, data: dict, request) -> tuple[Secret, Run | None]:
    if Secret.objects.filter(environment=env, name=data["name"]).exists():
        raise ApiError("exists", f"{env.name} already has a secret named {data['name']}; "
                       "PUT a new value instead", 409, fields={"name": ["already exists"]})
    secret = Secret(environment=env, name=data["name"])
    _apply_fields(secret, data)
    value = data.get("value")
    if value is None:
        value = generate(secret.generator, secret.length, secret.alphabet)
    by = request_actor(request)
    with transaction.atomic():
        secret.save()
        if secret.in_kubernetes and data.get("apply", True):
            record("secret.create.pending", target=env.target, request=request,
                   secret=secret.name, placement=secret.placement_text())
            # Version 1 is committed only once the cluster has it and the workloads rolled.
            return secret, start_rotation(env, [secret], how=How.CREATE, value=value,
                                          request=request)
    return commit(secret, value, How.CREATE, by, request=request), None


def set_value(secret: Secret, data: dict, request) -> tuple[Secret, Run | None]:
    """A new value from the owner (or generated when none is given)."""
    _refuse_if_rotating(secret)
    _apply_fields(secret, data)
    secret.save()
    value = data.get("value")
    if value is None:
        value = generate(secret.generator, secret.length, secret.alphabet)
    if secret.in_kubernetes and data.get("apply", True):
        return secret, start_rotation(secret.environment, [secret], how=How.SET, value=value,
                                      request=request)
    return commit(secret, value, How.SET, request_actor(request), request=request), None


def update_settings(secret: Secret, data: dict, request) -> Secret:
    _apply_fields(secret, data)
    secret.save()
    record("secret.settings", target=secret.environment.target, request=request,
           secret=secret.name, fields=sorted(k for k in data if k in POLICY_FIELDS +
                                              PLACEMENT_FIELDS))
    return secret


def rotate(secret: Secret, request, value: str | None = None) -> Run:
    _refuse_if_rotating(secret)
    return start_rotation(secret.environment, [secret], how=How.ROTATE, value=value,
                          request=request)


def delete(secret: Secret, request) -> None:
    _refuse_if_rotating(secret)
    name, env = secret.name, secret.environment
    with transaction.atomic():
        secret.delete()
        record("secret.delete", target=env.target, request=request, secret=name)
        transaction.on_commit(_export_after_change)


def overdue_auto(env: Environment | None = None):
    qs = Secret.objects.filter(auto_rotate=True, version__gt=0).select_related("environment")
    if env is not None:
        qs = qs.filter(environment=env)
    return [s for s in qs if s.overdue]


__all__ = ["Generator", "commit", "create_secret", "delete", "overdue_auto", "rotate",
           "set_value", "start_rotation", "update_settings"]

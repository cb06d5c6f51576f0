"""Everything the owner can do with deploys: set the cluster connection (by hand or from
another environment's Terraform output), set a target, and start deploy, rollback, promote
and restart runs. The API and the page forms call these (with input their serializers
validated); each refuses with a DomainError and starts its run through ``Run.start`` (which
takes the environment's lock and audits it) in one transaction.

Deploy, rollback, promote and restart need a cluster connection: without one they refuse
with ``NotConfigured`` before anything is written (no run, no target, no audit event), so
the owner learns it before trying, not from a failed run. Setting a target stays allowed
without a cluster: it is configuration (which Deployment or KuberoApp a component is) that
holds once a connection is set, and the owner may prepare it first; it only skips looking
the workload up. A kubeconfig copied from a Terraform output never comes from a
``local``-tier environment into a dev/test/prod one, and another environment's output on a
prod-tier environment needs the same typed confirmation as a prod deploy."""

from __future__ import annotations

from django.db import transaction

from envs.choices import Tier
from envs.cluster import connect
from envs.guards import require_confirmation
from envs.models import Environment
from envs.provisioning.models import StateSnapshot
from portal.audit.models import record
from portal.errors import Invalid, NotConfigured
from portal.runs.models import Run

from .components import normalize_component
from .connection import cluster_info, has_connection, kubeconfig_problem
from .images import validate_image
from .models import Release, Target
from .promotions import previous_tier
from .resolve import resolve


def _invalid(field: str, msg: str) -> Invalid:
    return Invalid(detail=f"{field}: {msg}", fields={field: [msg]})


def require_cluster(env: Environment) -> None:
    """Refuse (409 ``not_configured``) an action that needs the cluster when ``env`` has no
    connection: no kubeconfig and not deploying in-cluster."""
    if not has_connection(env):
        raise NotConfigured(
            detail=f"{env.name} has no cluster connection: set one on its Deploys tab or "
            "copy a Terraform output")


# --- the cluster connection ----------------------------------------------------------------

def set_cluster(env: Environment, kubeconfig: str | None, request) -> dict:
    """Set (or, with None, remove) the environment's kubeconfig by hand; forgets any
    Terraform output it came from. Answers what may be shown (``cluster_info``)."""
    with transaction.atomic():
        env.kubeconfig = kubeconfig or None
        env.kubeconfig_source = {}
        env.save(update_fields=["kubeconfig", "kubeconfig_source", "updated_at"])
        info = cluster_info(env)
        record("deploys.cluster.set" if kubeconfig else "deploys.cluster.clear",
               target=env.target, request=request, server=info["server"])
    return info


def cluster_from_output(env: Environment, source_name: str, output: str, request, *,
                        confirm: str | None = None) -> dict:
    """Copy a Terraform output (the platform's ``kubeconfig``, sensitive) recorded by the
    source environment's last apply into this environment's encrypted kubeconfig. The value
    goes from one encrypted field to the other: never into a response, a message or the
    audit (which names the source, the output and the server only).

    A ``local``-tier source serves only ``local``-tier environments (its cluster is a
    laptop's, not one dev/test/prod should deploy to); another environment's output on a
    prod-tier environment needs ``confirm`` (the prod guard)."""
    source = Environment.objects.filter(name=source_name).first()
    if source is None:
        raise _invalid("source", f"no environment named {source_name!r}")
    if source.tier == Tier.LOCAL and env.tier != Tier.LOCAL:
        raise _invalid("source", f"{source.name} is a local-tier environment: its cluster is "
                       "not one dev/test/prod should deploy to")
    if source.pk != env.pk:
        require_confirmation(env, {"confirm": confirm})
    snapshot = StateSnapshot.objects.filter(environment=source).first()
    if snapshot is None or snapshot.last_apply_run_id is None:
        raise _invalid("source", f"{source.name} has not been applied by the portal yet: "
                       "apply it, then copy its output")
    found, value = snapshot.output_value(output)
    if not found:
        names = ", ".join(sorted(snapshot.outputs)) or "none"
        raise _invalid("output", f"{source.name} has no output {output!r} (its outputs: "
                       f"{names})")
    if not isinstance(value, str) or not value.strip():
        raise _invalid("output", f"output {output!r} of {source.name} is not a kubeconfig "
                       "(it is not a non-empty string)")
    problem = kubeconfig_problem(value)
    if problem:
        raise _invalid("output", f"output {output!r} of {source.name} is not a usable "
                       f"kubeconfig: {problem}")
    with transaction.atomic():
        env.kubeconfig = value
        env.kubeconfig_source = {"env": source.name, "output": output,
                                 "run": snapshot.last_apply_run_id}
        env.save(update_fields=["kubeconfig", "kubeconfig_source", "updated_at"])
        info = cluster_info(env)
        record("deploys.cluster.from_output", target=env.target, request=request,
               source=source.name, output=output, source_run=snapshot.last_apply_run_id,
               server=info["server"])
    return info


# --- targets -------------------------------------------------------------------------------

def set_target(env: Environment, data: dict, request) -> Target:
    """Set where a component runs (``TargetInput``'s fields). Left blank, the workload is
    looked up now from the catalog annotations, so the page can name the candidates."""
    target, _ = Target.objects.get_or_create(environment=env, component=data["component"])
    explicit = bool(data["deployment"] or data["kuberoapp"])
    target.namespace = data.get("namespace", "") or ""
    target.deployment, target.container = data["deployment"], data["container"]
    target.kuberoapp, target.explicit = data["kuberoapp"], explicit
    target.auto_rollback = data.get("auto_rollback", True)
    target.rollout_timeout = data.get("rollout_timeout")
    target.unresolved_reason, target.candidates = "", []
    target.resolved_at = None
    target.save()
    if not explicit and not has_connection(env):
        target.unresolved_reason = ("not looked up yet: no cluster connection (the deploy "
                                    "run looks once one is set)")
        target.save(update_fields=["unresolved_reason"])
    elif not explicit:  # find it now so the page can name the candidates
        try:
            with connect(env, for_page=True) as cluster:
                resolve(target, cluster)
        except Exception as exc:  # noqa: BLE001 - the deploy run tries again
            target.unresolved_reason = ("not found yet (the deploy run looks again): "
                                        + getattr(exc, "message", str(exc)))
            target.save(update_fields=["unresolved_reason"])
    record("deploys.target.set", target=env.target, request=request,
           component=target.component, workload=target.describe())
    return target


def _target_for(env: Environment, component: str, field: str = "component") -> Target:
    """The component's target in ``env``; a new one found from catalog annotations
    when the owner has set none (resolved by the run, named on the page if ambiguous)."""
    try:
        ref = normalize_component(component)
    except ValueError as exc:
        raise _invalid(field, str(exc)) from None
    target, _ = Target.objects.get_or_create(environment=env, component=ref)
    return target


def existing_target(env: Environment, component: str) -> Target:
    target = Target.objects.filter(environment=env, component=component).first()
    if target is None:
        raise _invalid("component", f"{component} has no deploy target in {env.name}")
    return target


def release_of(env: Environment, component: str, release_id: int) -> Release:
    release = Release.objects.filter(pk=release_id, environment=env,
                                     component=component).first()
    if release is None:
        raise _invalid("release", f"no release #{release_id} of {component} in {env.name}")
    return release


def source_environment(env: Environment, name: str | None) -> Environment:
    """The environment to promote from: the one named, else the single one of the previous
    tier."""
    if name:
        source = Environment.objects.filter(name=name).first()
        if source is None:
            raise _invalid("from", f"no environment named {name!r}")
        return source
    tier = previous_tier(env.tier)
    candidates = list(Environment.objects.filter(tier=tier)) if tier else []
    if len(candidates) != 1:
        raise _invalid("from", f"name the environment to promote from ({len(candidates)} of "
                       f"tier {tier})")
    return candidates[0]


# --- runs ----------------------------------------------------------------------------------

def _start(target: Target, kind: str, request, **params) -> Run:
    env = target.environment
    run = Run.start(kind, target=env.target, lock_key=env.lock_key, request=request,
                    params={"environment": env.name, "component": target.component,
                            "target": target.pk, **params})
    assert run is not None  # only scheduled runs come back None
    return run


def _reason(reason: str | None, default: str = "") -> str:
    return (reason or default)[:1000]


def start_deploy(env: Environment, component: str, image: str, request, *, reason: str = "",
                 force: bool = False, confirm: str | None = None) -> Run:
    """Deploy ``image`` as ``component``: a ``deploy`` run (prod needs ``confirm``;
    ``force`` overrides the missing-configuration-keys refusal on prod, audited)."""
    require_cluster(env)
    require_confirmation(env, {"confirm": confirm})
    with transaction.atomic():
        target = _target_for(env, component)
        try:
            image = validate_image(image)
        except ValueError as exc:
            raise _invalid("image", str(exc)) from None
        if target.kuberoapp and "@" in image:
            raise _invalid("image", "a KuberoApp target takes repository:tag, not a digest")
        return _start(target, "deploy", request, image=image, reason=_reason(reason),
                      force=bool(force))


def start_rollback(env: Environment, component: str, release_id: int, request, *,
                   reason: str = "", confirm: str | None = None) -> Run:
    """Put an earlier release back (its image and plain env): a ``rollback`` run."""
    require_cluster(env)
    release = release_of(env, component, release_id)
    require_confirmation(env, {"confirm": confirm})
    with transaction.atomic():
        target = _target_for(env, release.component)
        return _start(target, "rollback", request, release=release.pk, image=release.image,
                      reason=_reason(reason, f"rollback to release #{release.pk}"))


def start_promote(env: Environment, component: str, source_name: str | None, request, *,
                  reason: str = "", confirm: str | None = None) -> Run:
    """Deploy what runs in the previous environment (dev -> test -> prod): a ``promote``
    run; ``source_name`` defaults to the single environment of the previous tier."""
    require_cluster(env)
    source = source_environment(env, source_name)
    require_confirmation(env, {"confirm": confirm})
    with transaction.atomic():
        target = _target_for(env, component)
        if source.pk == env.pk:
            raise _invalid("from", "promote from another environment")
        expected = previous_tier(env.tier)
        if expected is None or source.tier != expected:
            raise _invalid("from", f"promotions go dev -> test -> prod: {env.name} "
                           f"({env.tier}) takes from a {expected or 'no'}-tier environment, "
                           f"not {source.name} ({source.tier})")
        if not Target.objects.filter(environment=source, component=target.component).exists():
            raise _invalid("from", f"{target.component} has no deploy target in {source.name}")
        return _start(target, "promote", request, reason=_reason(reason),
                      **{"from": source.name})


def start_restart(env: Environment, component: str, request, *, reason: str = "",
                  confirm: str | None = None) -> Run:
    """Rolling restart of the component's workload: a ``restart`` run."""
    require_cluster(env)
    target = existing_target(env, component)
    require_confirmation(env, {"confirm": confirm})
    return _start(target, "restart", request, reason=_reason(reason))

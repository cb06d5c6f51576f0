"""Run kinds: deploy, rollback, promote, restart. They execute in the worker.

Every kind changes one target (a Deployment's container, or a KuberoApp) and then watches
the rollout. A failed or timed-out rollout is rolled back to the previous image and env as a
visible step of the same run (unless the target disabled it). A Release is recorded only when
the rollout completed; a cluster that is unreachable, an object or container that is missing,
or an RBAC refusal ends the run failed with which and where, and records nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from envs.cluster import NoCluster, connect, restart_and_wait
from envs.models import Environment
from envs.secrets.config_keys import missing_keys
from envs.secrets.models import versions_in_effect
from portal.audit.models import Outcome, record
from portal.lib.kube import Cluster, KubeError
from portal.runs.engine import Canceled, RunContext, RunFailed
from portal.runs.kinds import RunKind, register

from .components import short
from .images import digest_of, image_parts, pin
from .kubero import kubero_rollout
from .models import Release, Target
from .resolve import resolve
from .rollout import (
    Applied,
    container_of,
    deployment_rollout,
    kube_failure,
    log_left_state,
    refuse_if_managed,
    why,
)

CANCEL_NOTE = ("Cancel stops the portal's watch only: the cluster keeps rolling out what was "
               "applied, and nothing is rolled back; the line above says where it was left.")


@contextmanager
def connected(ctx: RunContext, env: Environment) -> Iterator[Cluster]:
    """The environment's cluster for a run: credentials redacted, errors as run failures."""
    try:
        cluster = connect(env, redact=ctx.secret)
    except NoCluster as exc:
        raise RunFailed(str(exc))
    except KubeError as exc:
        raise kube_failure(exc)
    try:
        ctx.log(f"Cluster: {cluster.server}")
        yield cluster
    except KubeError as exc:
        raise kube_failure(exc)
    finally:
        cluster.close()


def _load(ctx: RunContext) -> tuple[Environment, Target]:
    params = ctx.run.params
    env = Environment.objects.get(name=params["environment"])
    target = Target.objects.select_related("environment").get(pk=params["target"])
    return env, target


def _resolved(ctx: RunContext, target: Target, cluster: Cluster) -> Target:
    if not target.resolved:
        resolve(target, cluster)
        if target.unresolved_reason:
            raise RunFailed(f"target of {target.component} in {target.environment.name} is not "
                            f"set: {target.unresolved_reason}")
        ctx.log(f"Target found from catalog annotations: {target.describe()}")
    return target


def _roll(ctx: RunContext, cluster: Cluster, target: Target, image: str | None,
          env_vars: dict | None = None, record: dict | None = None) -> Applied:
    if target.kuberoapp:
        return kubero_rollout(ctx, cluster, target, image or "", env_vars, record)
    return deployment_rollout(ctx, cluster, target, image, env_vars)


def _record(ctx: RunContext, target: Target, applied: Applied, action: str,
            **extra) -> Release:
    run = ctx.run
    env = target.environment
    with transaction.atomic():
        Release.objects.filter(environment=env, component=target.component,
                               status=Release.Status.LIVE).update(
            status=Release.Status.SUPERSEDED)
        release = Release.objects.create(
            environment=env, component=target.component, target=target,
            workload=applied.workload, image=applied.after, digest=applied.digest,
            previous_image=applied.before, action=action, reason=run.params.get("reason", ""),
            user=run.user, actor=run.actor, run=run, env=applied.env,
            secret_versions=versions_in_effect(env, target.effective_namespace()), **extra)
    ctx.log(f"Release #{release.pk} recorded: {target.component} runs {applied.after}"
            + (f" ({applied.digest})" if applied.digest else ""))
    ctx.result = {"release": release.pk, "image": applied.after, "digest": applied.digest,
                  "previous_image": applied.before, "workload": applied.workload}
    return release


def execute_deploy(ctx: RunContext) -> None:
    env, target = _load(ctx)
    image = ctx.run.params["image"]
    ctx.log(f"Deploy {image} as {target.component} to {env.name}"
            + (f" — reason: {ctx.run.params['reason']}" if ctx.run.params.get("reason") else ""))
    _check_configuration(ctx, env, target)
    with connected(ctx, env) as cluster:
        _resolved(ctx, target, cluster)
        applied = _roll(ctx, cluster, target, image)
        _record(ctx, target, applied, Release.Action.DEPLOY)


def _check_configuration(ctx: RunContext, env: Environment, target: Target) -> None:
    """The design's "infra must fill every key of .env.example", checked before a deploy:
    a warning everywhere, a refusal on prod unless the owner forced it (audited)."""
    try:
        missing = missing_keys(env, target.component)
    except Exception as exc:  # the check must not block a deploy by itself failing
        ctx.log(f"WARNING: could not check configuration keys: {exc}")
        return
    if not missing:
        return
    ctx.log(f"WARNING: {env.name} provides no value for {', '.join(missing)} "
            f"(keys of {target.component}'s .env.example)")
    if not env.is_prod:
        return
    if not ctx.run.params.get("force"):
        raise RunFailed(f"refused: {env.name} is prod and misses configuration keys "
                        f"{', '.join(missing)}; add them as secrets, or deploy with "
                        '"force": true')
    ctx.log("continuing because the deploy was started with force")
    record("precheck.forced", outcome=Outcome.INFO, target=env.target, actor=ctx.run.actor,
           run=ctx.run, check="configuration keys", missing=missing)


def execute_rollback(ctx: RunContext) -> None:
    env, target = _load(ctx)
    release = Release.objects.get(pk=ctx.run.params["release"])
    ctx.log(f"Roll back {target.component} in {env.name} to release #{release.pk} "
            f"({release.image}, {release.created_at:%Y-%m-%d %H:%M} by {release.actor})")
    with connected(ctx, env) as cluster:
        _resolved(ctx, target, cluster)
        plain = (release.env or {}).get("plain")
        applied = _roll(ctx, cluster, target, release.image,
                        plain if isinstance(plain, dict) else None, release.env or {})
        if release.digest and applied.digest and release.digest != applied.digest:
            ctx.log(f"Warning: {release.image} now resolves to {applied.digest}; release "
                    f"#{release.pk} ran {release.digest} (the tag was moved)")
        differ = _report_secret_versions(ctx, release, target)
        _record(ctx, target, applied, Release.Action.ROLLBACK, rollback_of=release)
        ctx.result["secret_versions_differ"] = differ


def _report_secret_versions(ctx: RunContext, release: Release, target: Target) -> list[str]:
    now = versions_in_effect(target.environment, target.effective_namespace())
    then = release.secret_versions or {}
    if not then and not now:
        ctx.log("Secret versions: none recorded for this environment.")
        return []
    differ = [k for k in sorted(set(then) | set(now)) if then.get(k) != now.get(k)]
    if differ:
        ctx.log("Secret versions differ from that release: " + ", ".join(
            f"{k} (then {then.get(k, 'absent')}, now {now.get(k, 'absent')})" for k in differ)
            + ". Old secret values are never restored.")
    else:
        ctx.log("Secret versions: the same as in that release.")
    return differ


def execute_promote(ctx: RunContext) -> None:
    env, target = _load(ctx)
    source = Environment.objects.get(name=ctx.run.params["from"])
    source_target = Target.objects.filter(environment=source,
                                          component=target.component).first()
    if source_target is None:
        raise RunFailed(f"{target.component} has no deploy target in {source.name}")
    with connected(ctx, source) as src_cluster:
        _resolved(ctx, source_target, src_cluster)
        image, digest = _running_image(src_cluster, source_target)
    ctx.log(f"{source.name} runs {image}" + (f" ({digest})" if digest else ""))
    live = source_target.live_release()
    if live and live.image != image:
        ctx.log(f"Note: {source.name}'s last release was {live.image}; promoting what runs.")
    with connected(ctx, env) as cluster:
        _resolved(ctx, target, cluster)
        if target.kuberoapp:
            wanted = image.split("@", 1)[0]  # a KuberoApp takes repository:tag only
            ctx.log(f"KuberoApp target: promoting by tag {wanted}")
        else:
            wanted = pin(image, digest)
        ctx.log(f"Promote {target.component} {source.name} -> {env.name}: {wanted}")
        applied = _roll(ctx, cluster, target, wanted)
        _record(ctx, target, applied, Release.Action.PROMOTE, promoted_from=source.name)


def _running_image(cluster: Cluster, target: Target) -> tuple[str, str]:
    ns = target.effective_namespace()
    if target.kuberoapp:
        image = cluster.kubero_app_image(cluster.get_kubero_app(ns, target.kuberoapp))
        for dep in cluster.kubero_app_deployments(ns, target.kuberoapp):
            for c in dep["spec"]["template"]["spec"]["containers"]:
                if c.get("image") == image:
                    found = {digest_of(i) for i in cluster.pod_image_ids(dep, c["name"])}
                    found.discard("")
                    return image, found.pop() if len(found) == 1 else ""
        return image, ""
    dep = cluster.get_deployment(ns, target.deployment)
    image = container_of(dep, target.container).get("image", "")
    found = {digest_of(i) for i in cluster.pod_image_ids(dep, target.container)}
    found.discard("")
    return image, image_parts(image)[2] or (found.pop() if len(found) == 1 else "")


def execute_restart(ctx: RunContext) -> None:
    env, target = _load(ctx)
    with connected(ctx, env) as cluster:
        _resolved(ctx, target, cluster)
        ns = target.effective_namespace()
        if target.kuberoapp:
            names = [d["metadata"]["name"]
                     for d in cluster.kubero_app_deployments(ns, target.kuberoapp)]
        else:
            refuse_if_managed(cluster.get_deployment(ns, target.deployment))
            names = [target.deployment]
        rollouts = restart_and_wait(
            cluster, ns, names, timeout=target.rollout_timeout,
            on_restart=lambda name, dep: ctx.log(
                f"Rolling restart of deployment {ns}/{name} (generation "
                f"{dep['metadata'].get('generation')})"),
            on_progress=lambda name, line: ctx.log(f"  {line}"),
            should_cancel=lambda: ctx.canceled)
        for rollout in rollouts:
            if rollout.result.state == "canceled":
                log_left_state(ctx, cluster, ns, rollout.deployment)
                raise Canceled()
            if not rollout.result.ok:
                raise RunFailed(f"restart of deployment {ns}/{rollout.deployment} did not "
                                f"complete: {why(rollout.result, rollout.timeout)}")
        ctx.result = {"restarted": names}


def run_links(run) -> list[tuple[str, str]]:
    """The run page's next step: the release a finished run made, or, when it failed, where
    to start it again (the board's cell, or the environment's Deploys tab)."""
    env = (run.params or {}).get("environment", "")
    component = str((run.params or {}).get("component", ""))
    links: list[tuple[str, str]] = []
    if run.status == "succeeded":
        for release in Release.objects.filter(run=run).order_by("id"):
            links.append((f"Release #{release.pk}: {release.image} in {env}",
                          f"/envs/{env}/deploys/#releases"))
    if component and env:
        cell = "".join(c if c.isalnum() else "-" for c in short(component))
        label = "Retry from the board" if run.status == "failed" else "See it on the board"
        links.append((label, f"/board/#cell-{env}-{cell}"))
    return links


def register_kinds() -> None:
    for name, label, fn, endpoint in (
            ("deploy", "Deploy", execute_deploy, "/api/envs/<env>/deploys/"),
            ("rollback", "Rollback", execute_rollback, "/api/envs/<env>/rollback/"),
            ("promote", "Promote", execute_promote, "/api/envs/<env>/promote/"),
            ("restart", "Rolling restart", execute_restart, "/api/envs/<env>/restart/")):
        register(RunKind(name=name, label=label, execute=fn, mutating=True,
                         cancel_note=CANCEL_NOTE, endpoint=endpoint, links=run_links))

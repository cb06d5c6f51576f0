"""Run kinds: deploy, rollback, promote, restart. They execute in the worker.

Every kind changes one target (a Deployment's container, or a KuberoApp) and then watches
the rollout. A failed or timed-out rollout is rolled back to the previous image and env as a
visible step of the same run (unless the target disabled it). A Release is recorded only when
the rollout completed; a cluster that is unreachable, an object or container that is missing,
or an RBAC refusal ends the run failed with which and where, and records nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from envs.models import Environment
from portal.lib.kube import Cluster, KubeError, plain_env, rollout_state
from portal.runs.engine import Canceled, RunFailed
from portal.runs.kinds import RunKind, register

from . import refs
from .cluster import NoCluster, connect, kubeconfig_secrets, refuse_if_managed, resolve
from .envvars import env_record
from .models import Release, Target

CANCEL_NOTE = ("Cancel stops the portal's watch only: the cluster keeps rolling out what was "
               "applied, and nothing is rolled back; the line above says where it was left.")


@dataclass
class Applied:
    """What a roll-out did: the workload, images before/after, and the final object."""
    workload: str
    before: str
    after: str
    digest: str = ""
    env: dict = field(default_factory=dict)


def _where(target: Target) -> str:
    return f"{target.describe()} in environment {target.environment.name}"


def _kube_failure(exc: KubeError) -> RunFailed:
    prefix = {"unreachable": "cluster unreachable", "forbidden": "forbidden by RBAC",
              "unauthorized": "the cluster refused the credentials",
              "not_found": "not found", "refused": "refused", "timeout": "cluster timeout",
              "conflict": "refused (changed concurrently)"}.get(exc.kind, "cluster error")
    return RunFailed(f"{prefix}: {exc.message}")


@contextmanager
def connected(ctx, env: Environment):
    ctx.secret(*kubeconfig_secrets(env.kubeconfig))
    try:
        cluster = connect(env)
    except NoCluster as exc:
        raise RunFailed(str(exc))
    except KubeError as exc:
        raise _kube_failure(exc)
    try:
        ctx.log(f"Cluster: {cluster.server}")
        yield cluster
    except KubeError as exc:
        raise _kube_failure(exc)
    finally:
        cluster.close()


def _load(ctx) -> tuple[Environment, Target]:
    params = ctx.run.params
    env = Environment.objects.get(name=params["environment"])
    target = Target.objects.select_related("environment").get(pk=params["target"])
    return env, target


def _resolved(ctx, target: Target, cluster: Cluster) -> Target:
    if not target.resolved:
        resolve(target, cluster)
        if target.unresolved_reason:
            raise RunFailed(f"target of {target.component} in {target.environment.name} is not "
                            f"set: {target.unresolved_reason}")
        ctx.log(f"Target found from catalog annotations: {target.describe()}")
    return target


def _timeout(target: Target, deadline_seconds: int | None) -> float:
    if target.rollout_timeout:
        return float(target.rollout_timeout)
    return float((deadline_seconds or 600) + settings.DEPLOY_ROLLOUT_GRACE)


def _container(dep: dict, name: str) -> dict:
    containers = dep["spec"]["template"]["spec"]["containers"]
    for c in containers:
        if c["name"] == name:
            return c
    meta = dep["metadata"]
    raise KubeError(f"container {name!r} not found in deployment {meta['namespace']}/"
                    f"{meta['name']} (containers: {', '.join(c['name'] for c in containers)})",
                    "not_found")


def _guarded(ctx, read, write, what: str):
    """write(resourceVersion) refused as a conflict: re-read, and retry only when the spec
    and generation are unchanged (a status update by the controller moved the
    resourceVersion); a real edit by someone else is refused, never overwritten."""
    obj = read()
    for _attempt in range(6):
        try:
            return write(obj)
        except KubeError as exc:
            if exc.kind != "conflict":
                raise
            latest = read()
            if (latest["metadata"].get("generation"), latest.get("spec")) != (
                    obj["metadata"].get("generation"), obj.get("spec")):
                raise RunFailed(f"refused: {what} changed since it was read (generation "
                                f"{obj['metadata'].get('generation')} -> "
                                f"{latest['metadata'].get('generation')}); nothing was "
                                "overwritten. Look at the change, then deploy again.")
            obj = latest
    raise RunFailed(f"{what} kept changing while the portal tried to update it; try again")


def _left_state(ctx, cluster: Cluster, namespace: str, name: str) -> None:
    try:
        dep = cluster.get_deployment(namespace, name)
        images = ", ".join(f"{c['name']}={c.get('image')}"
                           for c in dep["spec"]["template"]["spec"]["containers"])
        ctx.log(f"Canceled: deployment {namespace}/{name} left with {images}; rollout state "
                f"when the watch stopped: {rollout_state(dep)[2]}")
    except KubeError as exc:
        ctx.log(f"Canceled: could not read deployment {namespace}/{name}: {exc.message}")


# --- Deployment targets ------------------------------------------------------------------

def _deployment_rollout(ctx, cluster: Cluster, target: Target, image: str | None,
                        env_vars: dict | None) -> Applied:
    ns, name, cname = target.effective_namespace(), target.deployment, target.container
    workload = f"deployment {ns}/{name} container {cname}"
    dep = cluster.get_deployment(ns, name)
    refuse_if_managed(dep)
    container = _container(dep, cname)
    before, before_env = container.get("image", ""), plain_env(dep, cname)
    new_image = image or before
    ctx.log(f"{workload}: image before: {before}")

    def apply(img: str, env: dict | None) -> dict:
        return _guarded(ctx, lambda: cluster.get_deployment(ns, name),
                        lambda obj: cluster.set_container(
                            ns, name, cname, obj["metadata"]["resourceVersion"], image=img,
                            env=env), f"deployment {ns}/{name}")

    changes_env = env_vars is not None and env_vars != before_env
    if new_image == before and not changes_env:
        ctx.log("It already runs that image and env: nothing to change; checking the rollout.")
        patched = dep
    else:
        if changes_env:
            ctx.log("Restoring plain env: " + _env_diff(before_env, env_vars or {}))
        patched = apply(new_image, env_vars if changes_env else None)
    after = _container(patched, cname).get("image", "")
    ctx.log(f"{workload}: image after: {after} (generation "
            f"{patched['metadata'].get('generation')})")
    timeout = _timeout(target, patched["spec"].get("progressDeadlineSeconds"))
    result = cluster.watch_rollout(ns, name, timeout, on_progress=lambda s: ctx.log(f"  {s}"),
                                   should_cancel=lambda: ctx.canceled)
    if result.state == "canceled":
        _left_state(ctx, cluster, ns, name)
        raise Canceled()
    if not result.ok:
        why = _why(result, timeout)
        if not target.auto_rollback:
            raise RunFailed(f"rollout of {new_image} on {workload} failed: {why}; "
                            f"auto-rollback is disabled for this target, so it keeps {after}")
        ctx.log(f"== Automatic rollback of {workload} to {before} ==")
        current = cluster.get_deployment(ns, name)
        if _container(current, cname).get("image") != after:
            raise RunFailed(f"rollout of {new_image} failed: {why}; not rolled back because "
                            f"someone changed {workload} meanwhile (it now runs "
                            f"{_container(current, cname).get('image')})")
        apply(before, before_env if changes_env else None)
        back = cluster.watch_rollout(ns, name, timeout, on_progress=lambda s: ctx.log(f"  {s}"),
                                     should_cancel=lambda: ctx.canceled)
        tail = "" if back.ok else (
            f", but the rollback did not complete either: {_why(back, timeout)}")
        ctx.log(f"Rolled back to {before}" + ("" if back.ok else tail))
        raise RunFailed(f"rollout of {new_image} on {workload} failed: {why}; rolled back "
                        f"to {before}{tail}")
    final = cluster.get_deployment(ns, name)
    ids = cluster.pod_image_ids(final, cname)
    digests = sorted({refs.digest_of(i) for i in ids} - {""})
    digest = refs.image_parts(after)[2] or (digests[0] if len(digests) == 1 else "")
    return Applied(workload, before, after, digest, env_record(_container(final, cname)))


def _why(result, timeout: float) -> str:
    text = result.reason or result.state
    if result.state == "timeout":
        text = f"no complete rollout within {timeout:g} s"
    elif result.message:
        text += f" ({result.message})"
    if result.pod_problems:
        text += "; " + "; ".join(result.pod_problems[:3])
    return text


def _env_diff(old: dict, new: dict) -> str:
    parts = [f"{k} changed" for k in sorted(set(old) & set(new)) if old[k] != new[k]]
    parts += [f"{k} added" for k in sorted(set(new) - set(old))]
    parts += [f"{k} removed" for k in sorted(set(old) - set(new))]
    return ", ".join(parts) or "no change"


# --- the kinds ---------------------------------------------------------------------------

def _roll(ctx, cluster: Cluster, target: Target, image: str | None,
          env_vars: dict | None = None, record: dict | None = None) -> Applied:
    if target.kuberoapp:
        from .kubero import kubero_rollout  # it uses this module's helpers

        return kubero_rollout(ctx, cluster, target, image or "", env_vars, record)
    return _deployment_rollout(ctx, cluster, target, image, env_vars)


def _record(ctx, target: Target, applied: Applied, action: str, **extra) -> Release:
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
            secret_versions=refs.secret_versions(env, target.effective_namespace()), **extra)
    ctx.log(f"Release #{release.pk} recorded: {target.component} runs {applied.after}"
            + (f" ({applied.digest})" if applied.digest else ""))
    ctx.result = {"release": release.pk, "image": applied.after, "digest": applied.digest,
                  "previous_image": applied.before, "workload": applied.workload}
    return release


def execute_deploy(ctx) -> None:
    env, target = _load(ctx)
    image = ctx.run.params["image"]
    ctx.log(f"Deploy {image} as {target.component} to {env.name}"
            + (f" — reason: {ctx.run.params['reason']}" if ctx.run.params.get("reason") else ""))
    _check_configuration(ctx, env, target)
    with connected(ctx, env) as cluster:
        _resolved(ctx, target, cluster)
        applied = _roll(ctx, cluster, target, image)
        _record(ctx, target, applied, Release.Action.DEPLOY)


def _check_configuration(ctx, env: Environment, target: Target) -> None:
    """The design's "infra must fill every key of .env.example", checked before a deploy:
    a warning everywhere, a refusal on prod unless the owner forced it (audited)."""
    from envs.secrets.config import missing_keys
    from portal.audit.models import Outcome, record

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


def execute_rollback(ctx) -> None:
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


def _report_secret_versions(ctx, release: Release, target: Target) -> list[str]:
    now = refs.secret_versions(target.environment, target.effective_namespace())
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


def execute_promote(ctx) -> None:
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
            wanted = refs.pin(image, digest)
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
                    found = {refs.digest_of(i) for i in cluster.pod_image_ids(dep, c["name"])}
                    found.discard("")
                    return image, found.pop() if len(found) == 1 else ""
        return image, ""
    dep = cluster.get_deployment(ns, target.deployment)
    image = _container(dep, target.container).get("image", "")
    found = {refs.digest_of(i) for i in cluster.pod_image_ids(dep, target.container)}
    found.discard("")
    return image, refs.image_parts(image)[2] or (found.pop() if len(found) == 1 else "")


def execute_restart(ctx) -> None:
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
        for name in names:
            dep = cluster.restart(ns, name)
            ctx.log(f"Rolling restart of deployment {ns}/{name} (generation "
                    f"{dep['metadata'].get('generation')})")
            timeout = _timeout(target, dep["spec"].get("progressDeadlineSeconds"))
            result = cluster.watch_rollout(ns, name, timeout,
                                           on_progress=lambda s: ctx.log(f"  {s}"),
                                           should_cancel=lambda: ctx.canceled)
            if result.state == "canceled":
                _left_state(ctx, cluster, ns, name)
                raise Canceled()
            if not result.ok:
                raise RunFailed(f"restart of deployment {ns}/{name} did not complete: "
                                f"{_why(result, timeout)}")
        ctx.result = {"restarted": names}


def register_kinds() -> None:
    for name, label, fn, endpoint in (
            ("deploy", "Deploy", execute_deploy, "/api/envs/<env>/deploys/"),
            ("rollback", "Rollback", execute_rollback, "/api/envs/<env>/rollback/"),
            ("promote", "Promote", execute_promote, "/api/envs/<env>/promote/"),
            ("restart", "Rolling restart", execute_restart, "/api/envs/<env>/restart/")):
        register(RunKind(name=name, label=label, execute=fn, mutating=True,
                         cancel_note=CANCEL_NOTE, endpoint=endpoint))

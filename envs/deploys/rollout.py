"""Changing a workload and watching it roll, shared by every deploy run kind and by both
kinds of target: the guarded write (a concurrent edit is refused, never overwritten), the
rollout's time limit and failure text, what a canceled watch left behind, and the
Deployment rollout itself (KuberoApps: ``kubero.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envs.cluster import rollout_timeout
from portal.lib.kube import Cluster, KubeError, RolloutResult, managed_by, plain_env, rollout_state
from portal.runs.engine import Canceled, RunContext, RunFailed

from .envvars import env_record
from .images import digest_of, image_parts
from .models import Target


@dataclass
class Applied:
    """What a roll-out did: the workload, images before/after, and the final object."""
    workload: str
    before: str
    after: str
    digest: str = ""
    env: dict = field(default_factory=dict)


def kube_failure(exc: KubeError) -> RunFailed:
    """The run's failure for a cluster error: which kind, and where."""
    prefix = {"unreachable": "cluster unreachable", "forbidden": "forbidden by RBAC",
              "unauthorized": "the cluster refused the credentials",
              "not_found": "not found", "refused": "refused", "timeout": "cluster timeout",
              "conflict": "refused (changed concurrently)"}.get(exc.kind, "cluster error")
    return RunFailed(f"{prefix}: {exc.message}")


def timeout_for(target: Target, progress_deadline: int | None) -> float:
    """The target's rollout timeout, else the shared one (progress deadline + grace)."""
    return rollout_timeout(progress_deadline, target.rollout_timeout)


def why(result: RolloutResult, timeout: float) -> str:
    """Why a rollout did not complete, in one line (with the first pod problems)."""
    text = result.reason or result.state
    if result.state == "timeout":
        text = f"no complete rollout within {timeout:g} s"
    elif result.message:
        text += f" ({result.message})"
    if result.pod_problems:
        text += "; " + "; ".join(result.pod_problems[:3])
    return text


def env_diff(old: dict, new: dict) -> str:
    """Which names a change of plain env changes, adds and removes (never the values)."""
    parts = [f"{k} changed" for k in sorted(set(old) & set(new)) if old[k] != new[k]]
    parts += [f"{k} added" for k in sorted(set(new) - set(old))]
    parts += [f"{k} removed" for k in sorted(set(old) - set(new))]
    return ", ".join(parts) or "no change"


def container_of(dep: dict, name: str) -> dict:
    containers = dep["spec"]["template"]["spec"]["containers"]
    for c in containers:
        if c["name"] == name:
            return c
    meta = dep["metadata"]
    raise KubeError(f"container {name!r} not found in deployment {meta['namespace']}/"
                    f"{meta['name']} (containers: {', '.join(c['name'] for c in containers)})",
                    "not_found")


def refuse_if_managed(dep: dict) -> None:
    """The portal does not fight a reconciler: refuse a Deployment another controller owns."""
    owner = managed_by(dep)
    if owner:
        meta = dep["metadata"]
        raise KubeError(f"deployment {meta.get('namespace')}/{meta.get('name')} is managed by "
                        f"{owner}; use a KuberoApp target (or change it where {owner} takes "
                        "its configuration): the portal does not fight a reconciler", "refused")


def guarded(read: Callable[[], dict], write: Callable[[dict], Any], what: str) -> Any:
    """write(object read) refused as a conflict: re-read, and retry only when the spec
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
                                "overwritten. Look at the change, then deploy again.") from None
            obj = latest
    raise RunFailed(f"{what} kept changing while the portal tried to update it; try again")


def log_left_state(ctx: RunContext, cluster: Cluster, namespace: str, name: str) -> None:
    """After a cancel: what the Deployment was left running (the cluster keeps rolling)."""
    try:
        dep = cluster.get_deployment(namespace, name)
        images = ", ".join(f"{c['name']}={c.get('image')}"
                           for c in dep["spec"]["template"]["spec"]["containers"])
        ctx.log(f"Canceled: deployment {namespace}/{name} left with {images}; rollout state "
                f"when the watch stopped: {rollout_state(dep)[2]}")
    except KubeError as exc:
        ctx.log(f"Canceled: could not read deployment {namespace}/{name}: {exc.message}")


def deployment_rollout(ctx: RunContext, cluster: Cluster, target: Target, image: str | None,
                       env_vars: dict | None) -> Applied:
    """Set the container's image (and, for a rollback, its plain env) with a guarded JSON
    patch, watch the rollout, and roll back automatically when it fails."""
    ns, name, cname = target.effective_namespace(), target.deployment, target.container
    workload = f"deployment {ns}/{name} container {cname}"
    dep = cluster.get_deployment(ns, name)
    refuse_if_managed(dep)
    container = container_of(dep, cname)
    before, before_env = container.get("image", ""), plain_env(dep, cname)
    new_image = image or before
    ctx.log(f"{workload}: image before: {before}")

    def apply(img: str, env: dict | None) -> dict:
        return guarded(lambda: cluster.get_deployment(ns, name),
                       lambda obj: cluster.set_container(
                           ns, name, cname, obj["metadata"]["resourceVersion"], image=img,
                           env=env), f"deployment {ns}/{name}")

    changes_env = env_vars is not None and env_vars != before_env
    if new_image == before and not changes_env:
        ctx.log("It already runs that image and env: nothing to change; checking the rollout.")
        patched = dep
    else:
        if changes_env:
            ctx.log("Restoring plain env: " + env_diff(before_env, env_vars or {}))
        patched = apply(new_image, env_vars if changes_env else None)
    after = container_of(patched, cname).get("image", "")
    ctx.log(f"{workload}: image after: {after} (generation "
            f"{patched['metadata'].get('generation')})")
    timeout = timeout_for(target, patched["spec"].get("progressDeadlineSeconds"))
    result = cluster.watch_rollout(ns, name, timeout, on_progress=lambda s: ctx.log(f"  {s}"),
                                   should_cancel=lambda: ctx.canceled)
    if result.state == "canceled":
        log_left_state(ctx, cluster, ns, name)
        raise Canceled()
    if not result.ok:
        failure = why(result, timeout)
        if not target.auto_rollback:
            raise RunFailed(f"rollout of {new_image} on {workload} failed: {failure}; "
                            f"auto-rollback is disabled for this target, so it keeps {after}")
        ctx.log(f"== Automatic rollback of {workload} to {before} ==")
        current = cluster.get_deployment(ns, name)
        if container_of(current, cname).get("image") != after:
            raise RunFailed(f"rollout of {new_image} failed: {failure}; not rolled back "
                            f"because someone changed {workload} meanwhile (it now runs "
                            f"{container_of(current, cname).get('image')})")
        apply(before, before_env if changes_env else None)
        back = cluster.watch_rollout(ns, name, timeout, on_progress=lambda s: ctx.log(f"  {s}"),
                                     should_cancel=lambda: ctx.canceled)
        tail = "" if back.ok else (
            f", but the rollback did not complete either: {why(back, timeout)}")
        ctx.log(f"Rolled back to {before}" + ("" if back.ok else tail))
        raise RunFailed(f"rollout of {new_image} on {workload} failed: {failure}; rolled back "
                        f"to {before}{tail}")
    final = cluster.get_deployment(ns, name)
    ids = cluster.pod_image_ids(final, cname)
    digests = sorted({digest_of(i) for i in ids} - {""})
    digest = image_parts(after)[2] or (digests[0] if len(digests) == 1 else "")
    return Applied(workload, before, after, digest, env_record(container_of(final, cname)))

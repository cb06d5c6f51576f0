"""KuberoApp targets: the portal changes the app (image, and on rollback its plain
``spec.envVars``) through the custom objects API, never the Deployments the operator renders
from it, and watches those Deployments roll."""

from __future__ import annotations

import time

from portal.lib.kube import Cluster, RolloutResult
from portal.runs.engine import Canceled, RunContext, RunFailed

from .envvars import kubero_env_record, missing_secret_entries, restore_env_vars
from .images import digest_of
from .models import Target
from .rollout import Applied, env_diff, guarded, log_left_state, timeout_for, why


def kubero_rollout(ctx: RunContext, cluster: Cluster, target: Target, image: str,
                   plain: dict | None = None, record: dict | None = None) -> Applied:
    """Set the app's image (and, for a rollback, its plain envVars) in one guarded merge
    patch, then watch the Deployments the operator renders from it."""
    ns, name = target.effective_namespace(), target.kuberoapp
    workload = f"KuberoApp {ns}/{name}"
    app = cluster.get_kubero_app(ns, name)
    before, before_vars = cluster.kubero_app_image(app), cluster.kubero_app_env_vars(app)
    ctx.log(f"{workload}: image before: {before}")
    wanted_vars = restore_env_vars(before_vars, plain) if plain is not None else None
    changes_env = wanted_vars is not None and wanted_vars != before_vars
    if plain is not None:
        for gone in missing_secret_entries(before_vars, record or {}):
            ctx.log(f"Note: {gone} was set in that release (secret, value never recorded) and "
                    "is gone now: it is not restored.")

    def apply(img: str, env_vars: list[dict] | None) -> dict:
        return guarded(lambda: cluster.get_kubero_app(ns, name),
                       lambda obj: cluster.set_kubero_app(
                           ns, name, obj["metadata"]["resourceVersion"],
                           image=img if img != cluster.kubero_app_image(obj) else None,
                           env_vars=env_vars), workload)

    if image == before and not changes_env:
        after, patched = before, app
    else:
        if changes_env:
            ctx.log("Restoring plain envVars: " + env_diff(
                kubero_env_record(before_vars)["plain"],
                kubero_env_record(wanted_vars or [])["plain"]))
        patched = apply(image, wanted_vars if changes_env else None)
        after = cluster.kubero_app_image(patched)
    ctx.log(f"{workload}: image after: {after}; waiting for the operator's Deployments")
    timeout = _kubero_timeout(cluster, target, ns, name)
    expect_env = cluster.kubero_app_env_vars(patched) if changes_env else None
    names = frozenset(e["name"] for e in (wanted_vars or []))
    dropped = frozenset(e["name"] for e in before_vars) - names
    result = _watch_kubero(ctx, cluster, ns, name, timeout, expect_env, dropped)
    if result.state == "canceled":
        for dep in cluster.kubero_app_deployments(ns, name):
            log_left_state(ctx, cluster, ns, dep["metadata"]["name"])
        raise Canceled()
    if not result.ok:
        failure = why(result, timeout)
        if not target.auto_rollback:
            raise RunFailed(f"rollout of {image} on {workload} failed: {failure}; auto-rollback "
                            f"is disabled for this target, so it keeps {after}")
        ctx.log(f"== Automatic rollback of {workload} to {before} ==")
        apply(before, before_vars if changes_env else None)
        back = _watch_kubero(ctx, cluster, ns, name, timeout,
                             before_vars if changes_env else None, names - frozenset(
                                 e["name"] for e in before_vars))
        tail = "" if back.ok else (
            f", but the rollback did not complete either: {why(back, timeout)}")
        raise RunFailed(f"rollout of {image} on {workload} failed: {failure}; rolled back to "
                        f"{before}{tail}")
    digest = ""
    for dep in cluster.kubero_app_deployments(ns, name):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            if c.get("image") == after:
                digests = {digest_of(i) for i in cluster.pod_image_ids(dep, c["name"])}
                digests.discard("")
                digest = digest or (digests.pop() if len(digests) == 1 else "")
    env = kubero_env_record(cluster.kubero_app_env_vars(cluster.get_kubero_app(ns, name)))
    return Applied(workload, before, after, digest, env)


def _kubero_timeout(cluster: Cluster, target: Target, ns: str, name: str) -> float:
    deployments = cluster.kubero_app_deployments(ns, name)
    return timeout_for(target, max([d["spec"].get("progressDeadlineSeconds") or 600
                                 for d in deployments] or [600]))


def _watch_kubero(ctx: RunContext, cluster: Cluster, ns: str, name: str, timeout: float,
                  expect_env: list[dict] | None, dropped: frozenset = frozenset()):
    """With an env change and the same image, the operator's Deployment looks complete
    until the operator renders the new env: wait for that first, then watch the rollout."""
    if expect_env is not None:
        deadline = time.monotonic() + timeout

        def rendered() -> bool:
            image = cluster.kubero_app_image(cluster.get_kubero_app(ns, name))
            found = [c for d in cluster.kubero_app_deployments(ns, name)
                     for c in d["spec"]["template"]["spec"]["containers"]
                     if c.get("image") == image]
            # The operator may add env of its own: wanted entries present, dropped ones gone.
            wanted = {e["name"]: e for e in expect_env}
            return bool(found) and all(
                all(wanted[n] in (c.get("env") or []) for n in wanted)
                and not any(e.get("name") in dropped for e in c.get("env") or [])
                for c in found)

        while not rendered():
            if ctx.canceled:
                return RolloutResult("canceled")
            if time.monotonic() > deadline:
                return RolloutResult("timeout", "OperatorDidNotApply",
                                     f"KuberoApp {ns}/{name}: the operator did not render "
                                     "the new envVars into its Deployments")
            time.sleep(0.2)
        ctx.log("  the operator rendered the envVars into its Deployments")
    return cluster.watch_kubero_app(ns, name, timeout, on_progress=lambda s: ctx.log(f"  {s}"),
                                    should_cancel=lambda: ctx.canceled)

"""One secret's rotation inside a ``rotate_secret`` run: the new value, the Kubernetes Secret
written (its other keys kept), every workload that reads the key restarted and waited for,
the version committed when all rolled, or the previous value put back when one did not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from envs.cluster import Rollout, restart_and_wait
from envs.models import Environment
from portal.lib.kube import Cluster, KubeError, managed_by
from portal.runs.engine import Canceled, RunContext, RunFailed

from .models import How, PendingValue, Secret, generate
from .services import commit


def uses_key(uses: list[str], key: str) -> bool:
    """Whether a workload (as workloads_using_secret describes it) reads ``key``: an env
    entry of another key of the same Secret does not change when this key does."""
    return any("envFrom" in u or u.startswith("volume ") or u.endswith(f"(key {key})")
               for u in uses)


class Rotation:
    """The workloads of one Kubernetes Secret key: which they are, restarting them, and
    waiting for their rollouts."""

    def __init__(self, ctx: RunContext, cluster: Cluster, secret: Secret):
        self.ctx, self.cluster, self.secret = ctx, cluster, secret
        self.ns, self.name, self.key = secret.namespace, secret.k8s_secret, secret.key
        self.rolls = 0

    def stamp(self) -> str:
        # Distinct per restart so a revert right after a failure still starts a rollout.
        self.rolls += 1
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{now}#{self.ctx.run.pk}.{self.rolls}"

    def workloads(self) -> list[tuple[str, str]]:
        """[(kind, name)] to restart: Deployments, and KuberoApps for the ones they own."""
        found = self.cluster.workloads_using_secret(self.ns, self.name)
        out: list[tuple[str, str]] = []
        for w in found:
            if not uses_key(w["uses"], self.key):
                self.ctx.log(f"  not rolled: deployment {self.ns}/{w['name']} reads other keys "
                             f"of {self.name} only")
                continue
            owner = managed_by(self.cluster.get_deployment(self.ns, w["name"])) or ""
            item = ("kuberoapp", owner.split("/", 1)[1]) if owner.startswith("KuberoApp/") \
                else ("deployment", w["name"])
            if item not in out:
                out.append(item)
            self.ctx.log(f"  uses it: deployment {self.ns}/{w['name']} ({'; '.join(w['uses'])})"
                         + (f", owned by {owner}" if owner else ""))
        return out

    def roll(self, items: list[tuple[str, str]], cancellable: bool = True) -> list[str]:
        """Restart every item and wait for every rollout; returns the failures (empty: all
        complete). A KuberoApp is restarted through the Deployments it owns (web and worker),
        as Kubero does. The rollouts after a revert are waited for even once canceled: they
        must not be left half-way."""
        owner: dict[str, tuple[str, str]] = {}
        waiting: dict[tuple[str, str], list[str]] = {}
        for kind, name in items:
            deps = ([d["metadata"]["name"]
                     for d in self.cluster.kubero_app_deployments(self.ns, name)]
                    if kind == "kuberoapp" else [name])
            waiting[(kind, name)] = list(deps)
            owner.update(dict.fromkeys(deps, (kind, name)))
            if not deps:
                self.ctx.log(f"  restarted KuberoApp {self.ns}/{name} (no pods)")

        def restarted(dep: str, _obj: dict) -> None:
            kind, name = owner[dep]
            if kind == "deployment":
                self.ctx.log(f"  restarted deployment {self.ns}/{name}")
                return
            if dep == waiting[(kind, name)][-1]:
                self.ctx.log(f"  restarted KuberoApp {self.ns}/{name} "
                             f"({', '.join(waiting[(kind, name)])})")

        rollouts = restart_and_wait(
            self.cluster, self.ns, list(owner), stamp=self.stamp, on_restart=restarted,
            on_progress=lambda dep, line: self.ctx.log(f"  {dep}: {line}"),
            should_cancel=(lambda: self.ctx.canceled) if cancellable else None)
        failures = []
        reported: set[tuple[str, str]] = set()
        for rollout in rollouts:
            item = owner[rollout.deployment]
            if not rollout.result.ok and item not in reported:
                reported.add(item)
                failures.append(self._failure(item, rollout))
        return failures

    def _failure(self, item: tuple[str, str], rollout: Rollout) -> str:
        result = rollout.result
        why = f"{result.reason or result.state}: {result.message}"
        if result.pod_problems:
            why += f" ({'; '.join(result.pod_problems[:3])})"
        return f"rollout of {item[0]} {self.ns}/{item[1]} {result.state} - {why}"


def _new_value(secret: Secret, pending: PendingValue | None) -> str:
    if pending is not None and pending.value is not None:
        return pending.value
    value = generate(secret.generator, secret.length, secret.alphabet)
    if pending is not None:
        # Kept encrypted until the run ends, so a run that dies half-way can be understood.
        pending.value = value
        pending.save(update_fields=["value"])
    return value


def rotate_one(ctx: RunContext, env: Environment, secret: Secret, pending: PendingValue | None,
               connect: Callable[[], Cluster]) -> None:
    """Rotate ``secret`` (``connect()`` gives the environment's cluster, connected once per
    run); RunFailed says what failed and what was put back."""
    how = pending.how if pending is not None else How.ROTATE
    new = _new_value(secret, pending)
    ctx.secret(new, secret.value)
    by = ctx.run.actor
    if not secret.in_kubernetes:
        commit(secret, new, how, by, run=ctx.run)
        where = (f"the next plan of {env.name} uses it as Terraform variable "
                 f"{secret.tf_variable}" if secret.tf_variable else "stored in the portal")
        ctx.log(f"{secret.name}: version {secret.version + 1} stored; {where}.")
        return
    cluster = connect()
    rot = Rotation(ctx, cluster, secret)
    ctx.log(f"{secret.name}: writing version {secret.version + 1} to secret "
            f"{rot.ns}/{rot.name} key {rot.key}")
    previous = cluster.secret_key_value(rot.ns, rot.name, rot.key)
    ctx.secret(previous)
    if pending is not None:
        pending.previous = previous
        pending.save(update_fields=["previous"])
    # Nothing in the cluster yet: a revert writes the stored value (the version in effect).
    restore = previous if previous is not None else secret.value
    cluster.write_secret_key(rot.ns, rot.name, rot.key, new, create=True)
    items: list[tuple[str, str]] = []
    try:
        items = rot.workloads()
        if not items:
            ctx.log(f"  no workload in namespace {rot.ns} reads {rot.name}/{rot.key}: "
                    "nothing to roll")
        failures = rot.roll(items)
        if ctx.canceled:
            failures.append("the run was canceled")
    except KubeError as exc:
        failures = [exc.message]
    if not failures:
        commit(secret, new, how, by, run=ctx.run, in_cluster=True)
        ctx.log(f"{secret.name}: every rollout complete; version {secret.version + 1} "
                "committed.")
        return
    ctx.log(f"{secret.name}: {failures[0]}. Putting the previous value back.")
    revert_note = _revert(ctx, cluster, rot, restore, items)
    if ctx.canceled:
        raise Canceled()
    raise RunFailed(f"{secret.name}: {'; '.join(failures)}. {revert_note} The stored version "
                    f"stays {secret.version}.")


def _revert(ctx: RunContext, cluster: Cluster, rot: Rotation, restore: str | None,
            items: list[tuple[str, str]]) -> str:
    if restore is None:
        return (f"Secret {rot.ns}/{rot.name} had no key {rot.key} before and the portal has no "
                "stored value to restore; the new value is still there.")
    try:
        cluster.write_secret_key(rot.ns, rot.name, rot.key, restore, create=True)
        ctx.log(f"  previous value back in secret {rot.ns}/{rot.name} key {rot.key}; rolling "
                "the same workloads again")
        failures = rot.roll(items, cancellable=False)
    except KubeError as exc:
        return f"Putting the previous value back failed: {exc.message}."
    if failures:
        return (f"The previous value is back in secret {rot.ns}/{rot.name}, but the rollout "
                f"after the revert did not complete either: {'; '.join(failures)}.")
    return (f"The previous value is back in secret {rot.ns}/{rot.name} and every workload "
            "rolled back to it.")

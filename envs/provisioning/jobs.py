"""Run kinds of provisioning: plan, destroy (a destroy plan), apply (of an approved plan),
drift and force_unlock. Each runs in a worker through the job frame (portal.runs.engine);
Terraform talks to us only through portal.lib.terraform, one child process per command."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import NoReturn

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from envs.models import Environment
from portal.lib.terraform import TerraformCanceled, sha256_file
from portal.runs.choices import Status
from portal.runs.engine import Canceled, RunContext, RunFailed
from portal.runs.kinds import RunKind, register
from portal.runs.models import Run

from . import changes
from .models import DriftState, DriftStatus, PlanArtifact, PlanMode, StateSnapshot
from .session import Session, planfile_state

PLAN_KINDS = ("plan", "destroy")
TERRAFORM_KINDS = (*PLAN_KINDS, "apply", "drift", "force_unlock")
RECOVERY = (
    "Terraform was killed: it may have left resources half-created and the state unsaved or "
    "locked. Recovery: 1) if the log or the environment page shows an errored state, push "
    "it back (manage.py tfstate_recover {env} --out errored.tfstate, then terraform state "
    "push errored.tfstate); 2) if the environment page shows a state lock held outside the "
    "portal, release it with Force unlock (terraform force-unlock LOCK_ID); 3) plan again "
    "and review what Terraform proposes for tainted or missing resources."
)


def environment_of(run: Run) -> Environment:
    name = run.params.get("env") or run.target.removeprefix("env:")
    env = Environment.objects.filter(name=name).first()
    if env is None:
        raise RunFailed(f"environment {name!r} no longer exists")
    return env


# --------------------------------------------------------------------------- plan


def discard_superseded(env: Environment, newer: Run) -> list[int]:
    """A newer plan makes every older plan of the environment obsolete."""
    reason = f"superseded by a newer plan (run #{newer.pk})"
    discarded = []
    older = Run.objects.filter(target=env.target, kind__in=PLAN_KINDS, status=Status.PLANNED)
    for run in older.exclude(pk=newer.pk):
        if run.transition(Status.PLANNED, Status.DISCARDED, error=reason):
            PlanArtifact.objects.filter(run=run).update(plan_encrypted=None,
                                                        discarded_reason=reason)
            discarded.append(run.pk)
    return discarded


def expire_plans() -> list[int]:
    """Discard plans older than PORTAL_PLAN_MAX_AGE (schedule, and before each approval)."""
    cutoff = timezone.now() - timedelta(minutes=settings.PLAN_MAX_AGE_MINUTES)
    reason = f"too old: plans expire after {settings.PLAN_MAX_AGE_MINUTES} minutes"
    expired = []
    for artifact in PlanArtifact.objects.filter(run__status=Status.PLANNED,
                                                created_at__lt=cutoff).select_related("run"):
        if artifact.run.transition(Status.PLANNED, Status.DISCARDED, error=reason):
            artifact.purge(reason)
            expired.append(artifact.run_id)
    return expired


def execute_plan(ctx: RunContext, mode: str = PlanMode.PLAN) -> str | None:
    env = environment_of(ctx.run)
    # A plan at one commit (a pull request's head) checks out that commit of the git source.
    with Session(ctx, env, git_ref=ctx.run.params.get("git_sha") or None) as tf:
        ctx.log(f"{'Destroy plan' if mode == PlanMode.DESTROY else 'Plan'} of {env.name} "
                f"from {env.source_label()}" + (f" (commit {tf.git_commit})" if tf.git_commit
                                                else ""))
        try:
            tf.init()
            result = tf.run(tf.ws.plan, tf.plan_path.name, destroy=mode == PlanMode.DESTROY,
                            step="plan", show_json=True)
            if not result.has_changes:
                discard_superseded(env, ctx.run)
                ctx.log("No changes: the infrastructure matches the configuration.")
                ctx.result = {"changes": False, "git_commit": tf.git_commit}
                return None
            doc = result.plan_json
        except TerraformCanceled as exc:
            report_interrupted(ctx, tf, exc)
        serial, lineage = planfile_state(tf.plan_path)
        resource_changes = changes.resource_changes(doc, ctx.redactor)
        counts = changes.counts(resource_changes)
        with transaction.atomic():
            artifact = PlanArtifact(
                run=ctx.run, environment=env, mode=mode, plan_sha256=sha256_file(tf.plan_path),
                fingerprint=tf.fingerprint, config_hash=tf.config_hash, git_commit=tf.git_commit,
                state_serial=serial, state_lineage=lineage, resource_changes=resource_changes,
                output_changes=changes.output_changes(doc, ctx.redactor), counts=counts,
            )
            artifact.store_plan(tf.plan_path.read_bytes())
            artifact.save()
            discard_superseded(env, ctx.run)
    summary = ", ".join(f"{n} to {a}" for a, n in counts.items() if n) or "output changes only"
    ctx.log(f"Plan saved for review: {summary}. Review it at /plans/{ctx.run.pk}/ and approve "
            f"before {timezone.localtime(artifact.expires_at):%Y-%m-%d %H:%M %Z}.")
    ctx.result = {"changes": True, "counts": counts, "mode": mode, "git_commit": tf.git_commit,
                  "review": f"/plans/{ctx.run.pk}/"}
    return Status.PLANNED


def execute_destroy(ctx: RunContext) -> str | None:
    return execute_plan(ctx, PlanMode.DESTROY)


# --------------------------------------------------------------------------- apply


def refuse(ctx: RunContext, artifact: PlanArtifact, check: str, message: str) -> NoReturn:
    artifact.purge()
    ctx.result = {"refused": check}
    raise RunFailed(f"apply refused ({check} check): {message}. Plan again and review the "
                    "new plan.")


def execute_apply(ctx: RunContext) -> None:
    plan_run = ctx.run.parent
    artifact = PlanArtifact.objects.filter(run=plan_run).first() if plan_run else None
    if plan_run is None or artifact is None:
        raise RunFailed("this apply has no saved plan to apply")
    env = artifact.environment
    if artifact.discarded_reason or not artifact.plan_encrypted:
        why = artifact.discarded_reason or "already applied or purged"
        refuse(ctx, artifact, "plan", f"the plan was discarded ({why})")
    if artifact.too_old:
        refuse(ctx, artifact, "age", f"the plan is older than {settings.PLAN_MAX_AGE_MINUTES} "
               f"minutes (made {timezone.localtime(artifact.created_at):%Y-%m-%d %H:%M})")
    with Session(ctx, env, git_ref=artifact.git_commit or None) as tf:
        ctx.log(f"Apply of plan run #{plan_run.pk} to {env.name}: checking the plan is fresh")
        if tf.config_hash != artifact.config_hash:
            refuse(ctx, artifact, "configuration", "the Terraform configuration changed since "
                   f"the plan (hash {artifact.config_hash[:12]} -> {tf.config_hash[:12]})")
        if tf.fingerprint != artifact.fingerprint:
            refuse(ctx, artifact, "variables", "the variables (or the backend or engine "
                   "settings) changed since the plan")
        tf.plan_path.write_bytes(artifact.plan_bytes())
        tf.plan_path.chmod(0o600)
        if sha256_file(tf.plan_path) != artifact.plan_sha256:
            refuse(ctx, artifact, "plan file", "the stored plan file does not match the hash "
                   "recorded when it was made")
        ctx.log("Configuration, variables and plan file: unchanged since the plan.")
        try:
            tf.init()
            state = tf.current_state()
            serial, lineage = state.get("serial"), state.get("lineage") or ""
            if (serial or 0, lineage) != (artifact.state_serial or 0, artifact.state_lineage):
                refuse(ctx, artifact, "state", "the state changed since the plan (serial "
                       f"{artifact.state_serial} -> {serial}"
                       + (", other lineage" if lineage != artifact.state_lineage else "")
                       + "): another apply happened in between")
            ctx.log(f"State: unchanged since the plan (serial {serial}). Applying exactly the "
                    "reviewed plan.")
            try:
                result = tf.run(tf.ws.apply, tf.plan_path.name, step="apply")
            except RunFailed:
                tf.save_local_state()
                tf.preserve_errored_state()
                _record_partial_state(ctx, tf, env)
                raise
        except TerraformCanceled as exc:
            tf.save_local_state()
            report_interrupted(ctx, tf, exc)
        finally:
            artifact.purge()
        tf.save_local_state()
        if tf.preserve_errored_state():
            raise RunFailed("Terraform applied changes but could not save the state; see the "
                            "recovery steps above")
        state = tf.current_state()
        record_state(ctx, env, state)
    DriftStatus.objects.update_or_create(environment=env, defaults={
        "status": DriftState.IN_SYNC, "drifted": [], "run": ctx.run,
        "message": f"applied by run #{ctx.run.pk}", "checked_at": timezone.now()})
    ctx.result = {"applied": result.applied, "plan_run": plan_run.pk,
                  "serial": state.get("serial")}


def _record_partial_state(ctx: RunContext, tf: Session, env: Environment) -> None:
    """After a failed apply, show what the state holds now (resources created before the
    failure), so the environment page does not keep the pre-apply picture (hardening)."""
    try:
        state = tf.current_state()
    except Exception:  # noqa: BLE001 - the run fails with Terraform's own message anyway
        ctx.log("Could not read the state after the failure: plan again to see where it is.")
        return
    if state:
        snapshot = record_state(ctx, env, state, complete=False)
        ctx.log(f"State after the failure (serial {snapshot.serial}): "
                f"{len(snapshot.resources)} resource(s) recorded.")


def record_state(ctx: RunContext, env: Environment, state: dict,
                 complete: bool = True) -> StateSnapshot:
    """What the state holds now; ``complete`` False after an apply that did not finish
    (the resources and outputs are still what the state says, but it is no "last apply")."""
    snapshot = StateSnapshot.for_env(env)
    snapshot.serial = state.get("serial")
    snapshot.lineage = state.get("lineage") or ""
    raw = {name: output.get("value") for name, output in (state.get("outputs") or {}).items()}
    for output in (state.get("outputs") or {}).values():
        if output.get("sensitive"):  # never echoed by a later line of this run either
            value = output.get("value")
            ctx.secret(value if isinstance(value, str) else json.dumps(value))
    snapshot.outputs = changes.state_outputs(state, ctx.redactor)
    snapshot.output_values = json.dumps(raw, sort_keys=True, default=str)
    snapshot.resources = changes.state_resources(state)
    fields = ["serial", "lineage", "outputs", "output_values", "resources", "updated_at"]
    if complete:
        snapshot.last_apply_run = ctx.run
        snapshot.last_applied_at = timezone.now()
        fields += ["last_apply_run", "last_applied_at"]
    snapshot.save(update_fields=fields)
    if complete:
        for name, output in snapshot.outputs.items():
            ctx.log(f"Output {name} = {output['value']}")
    return snapshot


def report_interrupted(ctx: RunContext, tf: Session, exc: TerraformCanceled) -> NoReturn:
    """Say what Terraform left behind, then end the run canceled."""
    if tf.force_stopped or (exc.result and exc.result.killed):
        ctx.log(RECOVERY.format(env=tf.env.name))
        tf.preserve_errored_state()
        raise Canceled()
    ctx.log("Terraform stopped after the interrupt and exited cleanly.")
    try:
        state = tf.current_state() if not tf.env.uses_s3_backend else _pull_quietly(tf)
    except Exception:
        state = None
    if state is None:
        ctx.log("Could not read the state after the interrupt: plan again to see where it is.")
    else:
        if state and ctx.run.kind == "apply":
            record_state(ctx, tf.env, state, complete=False)
        tainted = [r["address"] for r in changes.state_resources(state) if r["tainted"]]
        if tainted:
            ctx.log("Tainted (will be replaced by the next apply): " + ", ".join(tainted))
        else:
            ctx.log("No resource was left tainted.")
        ctx.log("The state lock was released" + (" (the state could be read again)."
                                                 if tf.env.uses_s3_backend else "."))
    tf.preserve_errored_state()
    raise Canceled()


def _pull_quietly(tf: Session) -> dict | None:
    # A fresh run of "state pull" takes the state without the lock: seeing it proves the
    # interrupted command is gone; the lock object itself is checked on the env page.
    return tf.ws.state_pull()


# --------------------------------------------------------------------------- drift


def execute_drift(ctx: RunContext) -> None:
    env = environment_of(ctx.run)
    status, found, message = DriftState.ERROR, [], ""
    try:
        with Session(ctx, env) as tf:
            tf.init()
            result = tf.run(tf.ws.plan, "drift.tfplan", step="drift plan")
            if result.has_changes:
                doc = tf.run(tf.ws.show_plan_json, "drift.tfplan", step="show", stream=False)
                found = changes.drifted(doc)
            status = DriftState.DRIFTED if found else DriftState.IN_SYNC
            message = (f"{len(found)} resource(s) differ" if found
                       else "infrastructure matches the configuration and the state")
    except TerraformCanceled:
        ctx.log("Drift check interrupted; nothing was changed.")
        raise Canceled() from None
    except RunFailed as exc:
        message = str(exc)
        raise
    finally:
        if status != DriftState.ERROR or message:
            DriftStatus.objects.update_or_create(environment=env, defaults={
                "status": status, "drifted": found, "message": message[:2000], "run": ctx.run,
                "checked_at": timezone.now()})
    for item in found:
        ctx.log(f"Drift: {item['address']} ({item['reason']}, {item['action']})")
    ctx.log(f"Drift check: {DriftState(status).label}.")
    ctx.result = {"drift": status, "drifted": len(found)}


def next_drift_time() -> datetime:
    now = timezone.localtime()
    at = timezone.make_aware(datetime.combine(now.date(), time(settings.DRIFT_HOUR)))
    return at if at > now else at + timedelta(days=1)


# --------------------------------------------------------------------------- force unlock


def execute_force_unlock(ctx: RunContext) -> None:
    env = environment_of(ctx.run)
    lock_id = str(ctx.run.params.get("lock_id") or "")
    if not env.uses_s3_backend:
        raise RunFailed(f"{env.name} keeps its state in the portal: there is no backend lock")
    with Session(ctx, env) as tf:
        tf.init()
        ctx.log(f"Releasing the state lock {lock_id} of {env.name} (owner's explicit request)")
        tf.run(tf.ws.force_unlock, lock_id, step="force-unlock", stream=False)
    ctx.log("State lock released.")
    ctx.result = {"lock_id": lock_id}


# --------------------------------------------------------------------------- registry

CANCEL_NOTE = ("Canceled: Terraform was interrupted and stopped gracefully; the lines above "
               "say what it left (tainted resources, the state lock).")

def plan_links(run) -> list[tuple[str, str]]:
    """The plan review page of a plan or destroy run, once its plan was stored."""
    if run is not None and PlanArtifact.objects.filter(run_id=run.pk).exists():
        return [("Review the plan (changes and diff)", f"/plans/{run.pk}/")]
    return []


KINDS = [
    RunKind(name="plan", label="Terraform plan", execute=execute_plan, mutating=False,
            cancel_note=CANCEL_NOTE, endpoint="/api/envs/<env>/plan/", links=plan_links),
    RunKind(name="destroy", label="Terraform destroy plan", execute=execute_destroy,
            mutating=False, cancel_note=CANCEL_NOTE, endpoint="/api/envs/<env>/destroy/",
            links=plan_links),
    RunKind(name="apply", label="Terraform apply", execute=execute_apply, cancel_note=CANCEL_NOTE,
            endpoint="/api/runs/<id>/approve/",
            links=lambda run: plan_links(run.parent) if run.parent_id else []),
    RunKind(name="drift", label="Drift check", execute=execute_drift, mutating=False,
            cancel_note="Canceled: a drift check changes nothing.",
            endpoint="/api/envs/<env>/drift/"),
    RunKind(name="force_unlock", label="Terraform force-unlock", execute=execute_force_unlock,
            endpoint="/api/envs/<env>/force-unlock/"),
]


def register_kinds() -> None:
    for kind in KINDS:
        register(kind)

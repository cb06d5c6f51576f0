"""From a run's status change to the events the owner hears about.

Connected to ``portal.runs.signals.run_status_changed`` (sent inside the transaction that
changes the status), so the notification rows commit with the change. The kinds and their
results are read as their features write them (envs/*/jobs.py):

- any kind ending ``failed`` -> ``run.failed``; before it, the more specific
  ``backup.failed`` (backup, portal_backup), ``drill.failed`` (restore_drill,
  portal_drill) or ``deploy.rolled_back``
  (deploy/promote whose failure says it rolled back): a channel gets the first it wants;
- plan/destroy ending ``planned`` with changes -> ``plan.ready``;
- apply succeeded -> ``apply.succeeded`` (and ``drift.resolved`` if drift was reported);
- deploy/promote/rollback succeeded -> ``deploy.succeeded``;
- drift succeeded: ``drift.detected`` once until a check (or an apply) finds it in sync,
  then ``drift.resolved``;
- backup succeeded but small or with tables that lost rows -> ``backup.suspicious`` (and
  the backup is flagged, so its page says so too).

Canceled and discarded runs are the owner's own doing: nobody is told.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from envs.backups.models import Backup, Verification
from portal.runs.choices import Status
from portal.runs.models import Run

from . import messages
from .messages import Draft
from .models import Event, EventState
from .outbox import emit

DEPLOY_KINDS = ("deploy", "promote", "rollback")
PLAN_KINDS = ("plan", "destroy")
RUN_WINDOW = timedelta(days=30)


def environment_of(run: Run) -> str:
    return run.target.removeprefix("env:") if run.target.startswith("env:") else ""


def on_run_status_changed(sender: type, run: Run, previous: str, **kwargs: object) -> None:
    drafts = drafts_for(run, previous)
    if drafts:
        emit(drafts, run=run)


def drafts_for(run: Run, previous: str) -> list[Draft]:
    env = environment_of(run)
    where = f"{env}" if env else (run.target or "the portal")
    link = f"/runs/{run.pk}/"
    label = run.kind_label
    by = "the scheduler" if run.scheduled or run.actor == "scheduler" else run.actor
    result = run.result if isinstance(run.result, dict) else {}
    drafts: list[Draft] = []

    def draft(event: str, headline: str, *lines: str, page: str = link,
              key: str = "") -> Draft:
        return Draft(event=event, subject=messages.subject(env, headline),
                     body=messages.body(*lines, link=page), environment=env, link=page,
                     dedup_key=key or f"{event}:run:{run.pk}", window=RUN_WINDOW)

    if run.status == Status.FAILED:
        reason = messages.first_line(run.error) or "no reason recorded"
        started = messages.when(run.started_at or run.created_at)
        context = (f"{label} run #{run.pk} on {where}, started {started} by {by}, failed "
                   f"at {messages.when(run.finished_at or timezone.now())}.")
        if run.kind == "backup":
            name = run.params.get("name") or "a source"
            drafts.append(draft(Event.BACKUP_FAILED, f"Backup of {name} failed", context,
                                f"Reason: {reason}", last_backup_line(run)))
        elif run.kind == "restore_drill":
            drafts.append(draft(Event.DRILL_FAILED, "Restore drill failed", context,
                                f"Reason: {reason}"))
        elif run.kind == "portal_backup":
            drafts.append(draft(Event.BACKUP_FAILED, "Portal self-backup failed", context,
                                f"Reason: {reason}", "Until this is fixed, a lost machine "
                                "loses the portal's data since the last good self-backup."))
        elif run.kind == "portal_drill":
            drafts.append(draft(Event.DRILL_FAILED, "Portal restore drill failed", context,
                                f"Reason: {reason}"))
        elif run.kind in ("deploy", "promote") and rolled_back(run.error):
            drafts.append(draft(Event.DEPLOY_ROLLED_BACK,
                                f"{label} failed and was rolled back", context,
                                f"Reason: {reason}"))
        drafts.append(draft(Event.RUN_FAILED, f"{label} failed (run #{run.pk})", context,
                            f"Reason: {reason}"))
        return drafts
    if run.status == Status.PLANNED and run.kind in PLAN_KINDS and result.get("changes"):
        counts = result.get("counts") or {}
        summary = ", ".join(f"{n} to {action}" for action, n in counts.items() if n) \
            or "output changes only"
        page = str(result.get("review") or f"/plans/{run.pk}/")
        what = "destroy plan" if run.kind == "destroy" else "plan"
        return [draft(Event.PLAN_READY, f"A {what} awaits your approval ({summary})",
                      f"Run #{run.pk} on {where} by {by}: {summary}.",
                      f"Approve within {settings.PLAN_MAX_AGE_MINUTES} minutes or it is "
                      "discarded.", page=page)]
    if run.status != Status.SUCCEEDED:
        return drafts
    if run.kind == "apply":
        drafts.append(draft(Event.APPLY_SUCCEEDED, "Terraform apply succeeded",
                            f"Run #{run.pk} on {where} by {by} applied the reviewed plan."))
        resolved = drift_change(env, drifted=False)
        if resolved:
            drafts.append(draft(Event.DRIFT_RESOLVED, "Drift resolved by an apply",
                                f"Apply run #{run.pk} brought {where} back in sync.",
                                key=f"drift.resolved:{env}:{run.pk}"))
    elif run.kind in DEPLOY_KINDS:
        image = result.get("image") or run.params.get("image") or ""
        drafts.append(draft(Event.DEPLOY_SUCCEEDED, f"{run.kind_label} succeeded"
                            + (f": {image}" if image else ""),
                            f"Run #{run.pk} on {where} by {by}"
                            + (f" ({result.get('workload')})" if result.get("workload") else "")
                            + "."))
    elif run.kind == "drift" and env:
        state = result.get("drift")
        if state == "drifted" and drift_change(env, drifted=True):
            n = result.get("drifted") or 0
            drafts.append(draft(Event.DRIFT_DETECTED, f"Drift detected: {n} resource(s) differ",
                                f"Drift check run #{run.pk} found {n} resource(s) that differ "
                                "from the configuration and the state.",
                                "You will not be told again until it is resolved.",
                                key=f"drift.detected:{env}:{run.pk}"))
        elif state == "in-sync" and drift_change(env, drifted=False):
            drafts.append(draft(Event.DRIFT_RESOLVED, "Drift resolved",
                                f"Drift check run #{run.pk}: {where} matches its "
                                "configuration again.", key=f"drift.resolved:{env}:{run.pk}"))
    elif run.kind == "backup":
        backup_id = result.get("backup")
        suspicion = suspicious_backup(backup_id if isinstance(backup_id, (int, str)) else None)
        if suspicion:
            backup, why = suspicion
            drafts.append(draft(Event.BACKUP_SUSPICIOUS,
                                f"Suspicious backup of {backup.source.name}",
                                f"Backup #{backup.pk} (run #{run.pk}) on {where} is kept but "
                                "looks wrong.", f"Why: {why}", page=f"/envs/{env}/backups/"))
    return drafts


def rolled_back(error: str) -> bool:
    text = error or ""
    return "rolled back to" in text and "not rolled back" not in text


def drift_change(env: str, *, drifted: bool) -> bool:
    """Record the environment's drift state; True when it changed (the event fires)."""
    key = f"drift:{env}"
    value = "drifted" if drifted else "in-sync"
    state = EventState.objects.select_for_update().filter(key=key).first()
    if state is None:
        EventState.objects.create(key=key, value=value)
        return drifted  # first word about it: only drift is news
    if state.value == value:
        return False
    EventState.objects.filter(pk=state.pk).update(value=value, changed_at=timezone.now())
    return True


def last_backup_line(run: Run) -> str:
    source = run.params.get("source")
    last = Backup.objects.filter(source_id=source, verification=Verification.VERIFIED,
                                 deleted_at__isnull=True).order_by("-created_at").first() \
        if source else None
    if last is None:
        return "There is no verified backup of this source yet."
    return (f"Last verified backup: #{last.pk}, {messages.when(last.created_at)} "
            f"({messages.ago(last.created_at)}).")


def suspicious_backup(pk: int | str | None) -> tuple[Backup, str] | None:
    """A new backup under the size threshold of the previous verified one, or with a table
    whose rows fell under the rows threshold; the backups feature's own flag counts too.
    The reason is written on the backup (its page shows it) when the feature had none."""
    backup = Backup.objects.select_related("source").filter(pk=pk).first() if pk else None
    if backup is None:
        return None
    reasons = []
    previous = (Backup.objects.filter(source=backup.source, created_at__lt=backup.created_at,
                                      verification=Verification.VERIFIED,
                                      deleted_at__isnull=True)
                .exclude(pk=backup.pk).order_by("-created_at").first())
    if previous is not None:
        size_pct = settings.BACKUP_SUSPICIOUS_SIZE_PERCENT
        new_size = backup.raw_size or backup.size
        old_size = previous.raw_size or previous.size
        if old_size and new_size * 100 < old_size * size_pct:
            reasons.append(f"{new_size} bytes, under {size_pct}% of backup #{previous.pk} "
                           f"({old_size} bytes)")
        rows_pct = settings.BACKUP_SUSPICIOUS_ROWS_PERCENT
        fell = [f"{table} {rows} rows (was {previous.row_counts[table]})"
                for table, rows in sorted((backup.row_counts or {}).items())
                if isinstance(previous.row_counts, dict)
                and previous.row_counts.get(table, 0) > 0
                and rows * 100 < previous.row_counts[table] * rows_pct]
        gone = [f"{table} missing" for table in sorted(previous.row_counts or {})
                if backup.row_counts and table not in backup.row_counts
                and previous.row_counts[table] > 0]
        if fell or gone:
            listed = fell + gone
            reasons.append("tables lost rows: " + ", ".join(listed[:5])
                           + (f" and {len(listed) - 5} more" if len(listed) > 5 else ""))
    mine = "; ".join(reasons)
    if backup.flagged:
        return backup, backup.flagged + (f"; {mine}" if mine else "")
    if not mine:
        return None
    Backup.objects.filter(pk=backup.pk, flagged="").update(flagged=f"suspicious: {mine}"[:2000])
    return backup, mine

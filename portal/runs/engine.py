"""The job frame every run goes through, and the reaper that cleans up after dead workers.

A worker receives only a run id. ``execute_run`` marks the run running (compare-and-set),
starts a watcher thread (cancel flag every 0.5 s, heartbeat every 5 s, log flush), calls the
kind's ``execute(ctx)``, then flushes every line, writes the terminal status, releases the
lock and audits the outcome.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from portal.audit.models import Outcome, record
from portal.lib.redact import Redactor

from . import kinds
from .choices import ACTIVE, Status
from .models import Lock, Run, RunLine, requeue
from .signals import announce

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.2
FLUSH_BATCH = 1000


class Canceled(Exception):
    """Raised inside a run when its cancel flag was seen."""


class RunFailed(Exception):
    """Raised by a run kind to end the run `failed` with a clear message (no traceback)."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RunContext:
    """What a run kind sees: logging, secrets for redaction, cancel, a work directory."""

    def __init__(self, run: Run):
        self.run = run
        self.redactor = Redactor()
        self.cancel_event = threading.Event()
        self._buffer: list[RunLine] = []
        self._buffer_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._seq = run.line_count
        self._interrupts: list = []
        self._workdir: Path | None = None
        self.result: dict = dict(run.result or {})

    # --- output -----------------------------------------------------------------------
    def secret(self, *values: str | None) -> None:
        """Register values that must never be stored: every later line is scrubbed."""
        for value in values:
            self.redactor.add(value)

    def log(self, text: str) -> None:
        now = timezone.now()
        clean = self.redactor(str(text))
        with self._buffer_lock:
            for line in clean.splitlines() or [""]:
                self._seq += 1
                self._buffer.append(RunLine(run_id=self.run.pk, seq=self._seq, ts=now, text=line))
            full = len(self._buffer) >= FLUSH_BATCH
        if full:
            self.flush()

    def flush(self) -> None:
        # Flushes are serialised: a reader's cursor must never skip over a batch that a
        # slower concurrent flush commits later.
        with self._flush_lock:
            with self._buffer_lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return
            for start in range(0, len(batch), FLUSH_BATCH):
                try:
                    try:
                        RunLine.objects.bulk_create(batch[start : start + FLUSH_BATCH])
                    except IntegrityError:
                        # The reaper appended its line to a run it took for dead: keep
                        # this worker's lines, numbered after it.
                        self._renumber(batch, start)
                        RunLine.objects.bulk_create(batch[start : start + FLUSH_BATCH])
                except Exception:
                    # The database blinked: keep the unwritten lines for the next flush
                    # instead of losing them (hardening).
                    with self._buffer_lock:
                        self._buffer[:0] = batch[start:]
                    raise
            Run.objects.filter(pk=self.run.pk).update(line_count=batch[-1].seq)

    def _renumber(self, batch: list[RunLine], start: int) -> None:
        last = RunLine.objects.filter(run_id=self.run.pk).order_by("-seq").values_list(
            "seq", flat=True).first() or 0
        with self._buffer_lock:
            for offset, line in enumerate(batch[start:], start=1):
                line.seq = last + offset
            for offset, line in enumerate(self._buffer, start=len(batch) - start + 1):
                line.seq = last + offset
            self._seq = last + len(batch) - start + len(self._buffer)

    # --- cancel -------------------------------------------------------------------------
    @property
    def canceled(self) -> bool:
        return self.cancel_event.is_set()

    def check_canceled(self) -> None:
        if self.cancel_event.is_set():
            raise Canceled()

    def wait(self, seconds: float) -> bool:
        """Sleep, waking early on cancel. Returns True when canceled."""
        return self.cancel_event.wait(seconds)

    def on_interrupt(self, callback):
        """Register a callback the watcher calls on cancel (kill a child, cancel a stream).
        Use as a context manager so it is unregistered when the step ends."""
        ctx = self

        class _Registration:
            def __enter__(self):
                ctx._interrupts.append(callback)
                if ctx.canceled:
                    callback()
                return callback

            def __exit__(self, *exc):
                if callback in ctx._interrupts:
                    ctx._interrupts.remove(callback)
                return False

        return _Registration()

    def _interrupt(self) -> None:
        self.cancel_event.set()
        for callback in list(self._interrupts):
            try:
                callback()
            except Exception:  # an interrupt must never kill the watcher
                log.exception("interrupt callback failed for run %s", self.run.pk)

    # --- files --------------------------------------------------------------------------
    def workdir(self) -> Path:
        """A private directory for this run under the data directory, removed at the end."""
        if self._workdir is None:
            path = Path(settings.DATA_DIR) / "runs" / str(self.run.pk)
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._workdir = path
        return self._workdir

    def cleanup(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


class _Watcher(threading.Thread):
    def __init__(self, ctx: RunContext):
        super().__init__(name=f"run-{ctx.run.pk}-watcher", daemon=True)
        self.ctx = ctx
        self.stop = threading.Event()

    def run(self) -> None:
        poll = settings.RUN_CANCEL_POLL_SECONDS
        last_beat = time.monotonic()
        last_poll = 0.0
        try:
            while not self.stop.wait(FLUSH_INTERVAL):
                try:
                    self.ctx.flush()
                    now = time.monotonic()
                    if not self.ctx.canceled and now - last_poll >= poll:
                        last_poll = now
                        row = Run.objects.filter(pk=self.ctx.run.pk).values_list(
                            "status", "cancel_requested_at").first()
                        # No longer running: the reaper failed it (heartbeats stopped while
                        # this worker was still alive) and freed its lock. Going on would
                        # mean working without the lock, so stop as if canceled.
                        if row is None or row[1] is not None or row[0] != Status.RUNNING:
                            self.ctx._interrupt()
                    if now - last_beat >= settings.RUN_HEARTBEAT_SECONDS:
                        last_beat = now
                        Run.objects.filter(pk=self.ctx.run.pk, status=Status.RUNNING).update(
                            heartbeat_at=timezone.now()
                        )
                except Exception:  # the database may blink; keep watching
                    log.exception("watcher of run %s", self.ctx.run.pk)
                    close_old_connections()
        finally:
            connection.close()


def execute_run(run_id: int) -> str | None:
    """The django-q2 task: run one Run to a final status. Safe to call twice."""
    if not connection.in_atomic_block:
        close_old_connections()
    now = timezone.now()
    started = Run.objects.filter(pk=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, worker=worker_id(), heartbeat_at=now
    )
    if not started:
        return None  # canceled while queued, or already taken by another worker
    run = Run.objects.get(pk=run_id)
    ctx = RunContext(run)
    watcher = _Watcher(ctx)
    watcher.start()
    status, error = Status.SUCCEEDED, ""
    try:
        spec = kinds.get(run.kind)
        final = spec.execute(ctx)
        if final:
            status = final
    except Canceled:
        status, error = Status.CANCELED, f"canceled by {_canceled_by(run)}"
        note = _cancel_note(run.kind)
        if note:
            ctx.log(note)
    except RunFailed as exc:
        status, error = Status.FAILED, ctx.redactor(str(exc))
        ctx.log(f"FAILED: {error}")
    except Exception as exc:
        status = Status.FAILED
        error = ctx.redactor(f"{type(exc).__name__}: {exc}")
        ctx.log("Unexpected error; traceback follows.")
        ctx.log(traceback.format_exc())
    finally:
        watcher.stop.set()
        watcher.join(timeout=5)
        ctx.cleanup()
    if status == Status.SUCCEEDED and ctx.canceled:
        ctx.log("A cancel was requested after the work had finished; it completed normally.")
    finished = timezone.now()

    def finish() -> None:
        ctx.flush()
        # One commit: nobody may see the run ended while its lock is still held (a new run
        # on the environment would be refused by a finished one).
        with transaction.atomic():
            ended = Run.objects.filter(pk=run_id, status=Status.RUNNING).update(
                status=status,
                finished_at=finished,
                error=error[:10000],
                result=_redact_json(ctx.result, ctx.redactor),
            )
            Lock.release_for(run)
            run.refresh_from_db()
            if ended:
                announce(run, Status.RUNNING)

    _retry_while_the_database_is_away(finish, run_id)
    record(
        "run.end",
        outcome=_outcome(run.status),
        target=run.target,
        actor=run.actor,
        user=run.user,
        run=run,
        kind=run.kind,
        status=run.status,
        error=run.error[:500],
    )
    return run.status


def _retry_while_the_database_is_away(fn, run_id: int) -> None:
    """Write a run's end even when the database was cut while it ran: the connection this
    thread opened at the start may be dead by now. Reconnect and retry for up to the stale
    window; after that the reaper fails the run and frees its lock (hardening)."""
    from django.db import InterfaceError, OperationalError

    deadline = time.monotonic() + settings.RUN_STALE_SECONDS
    delay = 0.2
    while True:
        try:
            fn()
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable while ending run %s; retrying", run_id)
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _redact_json(data, redactor: Redactor):
    if not redactor:
        return data
    if isinstance(data, dict):
        return {key: _redact_json(value, redactor) for key, value in data.items()}
    if isinstance(data, list):
        return [_redact_json(item, redactor) for item in data]
    if isinstance(data, str):
        return redactor(data)
    return data


def _canceled_by(run: Run) -> str:
    return Run.objects.filter(pk=run.pk).values_list("canceled_by", flat=True).first() or "owner"


def _cancel_note(kind: str) -> str:
    try:
        return kinds.get(kind).cancel_note
    except LookupError:
        return ""


def _outcome(status: str) -> str:
    if status in (Status.SUCCEEDED, Status.PLANNED):
        return Outcome.SUCCESS
    if status == Status.CANCELED:
        return Outcome.INFO
    return Outcome.FAILURE


# --- crash recovery --------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(startup: bool = False) -> list[int]:
    """Fail runs whose worker died; free locks of runs that are no longer active.

    A run is dead when its heartbeat is older than RUN_STALE_SECONDS, or (at worker start)
    when it belongs to a process on this host that no longer exists.
    """
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.RUN_STALE_SECONDS)
    reaped = []
    candidates = Run.objects.filter(status=Status.RUNNING)
    host = socket.gethostname()
    for run in candidates:
        reason = None
        if run.heartbeat_at is None or run.heartbeat_at < stale_before:
            last = run.heartbeat_at.isoformat(timespec="seconds") if run.heartbeat_at else "never"
            reason = (
                f"worker {run.worker or '?'} stopped sending heartbeats (last {last}); "
                "the run was interrupted and may have left its work half-done"
            )
        elif startup and run.worker.startswith(host + ":"):
            pid = run.worker.rsplit(":", 1)[1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                reason = (
                    f"worker {run.worker} exited while running it (found at worker start); "
                    "the run was interrupted and may have left its work half-done"
                )
        if not reason:
            continue
        # One transaction: a reader that sees the final status also sees the last line
        # (the log is finished when the status is not active).
        with transaction.atomic():
            if not run.transition(Status.RUNNING, Status.FAILED, finished_at=now, error=reason):
                continue
            _append_line(run, f"FAILED: {reason}")
            Lock.release_for(run)
        record("run.end", outcome=Outcome.FAILURE, target=run.target, actor="reaper",
               run=run, kind=run.kind, status=run.status, error=reason)
        reaped.append(run.pk)
    _requeue_forgotten(now)
    # Locks whose run is no longer active can only be leftovers of a crash.
    Lock.objects.exclude(run__status__in=ACTIVE).delete()
    return reaped


REQUEUE_AFTER = timedelta(minutes=10)


def _requeue_forgotten(now) -> None:
    """A run queued for long may have been lost by the task queue (Redis keeps nothing on
    disk here): hand it over again rather than let it hold its lock forever."""
    old = now - REQUEUE_AFTER
    for run in Run.objects.filter(status=Status.QUEUED, enqueued_at__lt=old):
        _append_line(run, f"Still queued after {int(REQUEUE_AFTER.total_seconds() // 60)} "
                     "minutes: handed to the task queue again (it may have been lost, or "
                     "every worker was busy).")
        requeue(run)


def _append_line(run: Run, text: str) -> None:
    # The run's worker may be alive and flushing at this moment: on a clash take the next seq.
    for attempt in range(5):
        last = RunLine.objects.filter(run=run).order_by("-seq").values_list(
            "seq", flat=True).first()
        seq = (last or 0) + 1
        try:
            with transaction.atomic():
                RunLine.objects.create(run=run, seq=seq, ts=timezone.now(), text=text)
            break
        except IntegrityError:
            if attempt == 4:
                raise
    Run.objects.filter(pk=run.pk).update(line_count=seq)


def reap_task() -> None:
    """The django-q2 schedule calls this every minute."""
    reap(startup=False)

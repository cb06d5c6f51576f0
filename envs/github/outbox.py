"""Talking back to GitHub without ever blocking a run: a status or a comment refresh is a
``Post`` row written in the transaction that decided it; the worker sends it after commit
(``send_due``), retrying with backoff (PORTAL_GITHUB_RETRY_SECONDS) when GitHub is down,
answers 5xx or 429, or is rate limited. A post that finally fails is marked ``failed`` and
shown on its delivery, on its run's log and in the audit trail."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from portal.audit.models import Outcome, record
from portal.lib import github
from portal.lib.redact import Redactor
from portal.runs.models import Run, RunLine

from .comment import render
from .models import Post, PostKind, PostState, PullRequest

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=90)  # a sender that died releases its claim after this


def credentials() -> github.Credentials:
    return github.Credentials(
        api_url=settings.GITHUB_API_URL, token=settings.GITHUB_TOKEN,
        app_id=settings.GITHUB_APP_ID, private_key=settings.GITHUB_APP_PRIVATE_KEY,
        timeout=settings.GITHUB_TIMEOUT)


def redactor() -> Redactor:
    """Scrubs every GitHub credential the portal holds (and the webhook secret)."""
    scrub = Redactor()
    for value in (*credentials().secrets(), settings.GITHUB_WEBHOOK_SECRET):
        scrub.add(value)
    return scrub


def absolute(path: str) -> str:
    return settings.PUBLIC_URL.rstrip("/") + path if path.startswith("/") else path


def kick() -> None:
    async_task("envs.github.jobs.send_posts", q_options={"task_name": "github-posts",
                                                         "group": "github"})


def queue_status(repository: str, sha: str, *, context: str, state: str, description: str,
                 target_url: str = "", run: Run | None = None, delivery=None) -> Post:
    """A commit status to post; older unsent statuses of the same context are superseded
    (GitHub keeps only the latest per context anyway)."""
    Post.objects.filter(kind=PostKind.STATUS, repository=repository, sha=sha, context=context,
                        status=PostState.PENDING).update(status=PostState.SUPERSEDED)
    post = Post.objects.create(kind=PostKind.STATUS, repository=repository, sha=sha,
                               context=context, state=state,
                               description=redactor()(description)[:200],
                               target_url=absolute(target_url)[:500], run=run,
                               delivery=delivery)
    transaction.on_commit(kick)
    return post


def queue_comment(pull: PullRequest, *, run: Run | None = None, delivery=None) -> Post:
    """Refresh the PR's one comment (rendered when sent); one pending refresh is enough."""
    pending = Post.objects.filter(kind=PostKind.COMMENT, pull=pull,
                                  status=PostState.PENDING, attempts=0).first()
    if pending is not None:
        return pending
    post = Post.objects.create(kind=PostKind.COMMENT, repository=pull.repository, pull=pull,
                               run=run, delivery=delivery)
    transaction.on_commit(kick)
    return post


def _claim(post: Post, now) -> bool:
    return bool(Post.objects.filter(pk=post.pk, status=PostState.PENDING,
                                    attempts=post.attempts,
                                    next_attempt_at=post.next_attempt_at).update(
        next_attempt_at=now + LEASE))


def _send(client: github.GitHub, post: Post) -> None:
    if post.kind == PostKind.STATUS:
        client.set_status(post.repository, post.sha, state=post.state, context=post.context,
                          description=post.description, target_url=post.target_url)
        return
    pull = post.pull
    assert pull is not None
    body = redactor()(render(pull))
    if pull.comment_id:
        try:
            client.edit_comment(pull.repository, pull.number, pull.comment_id, body)
            return
        except github.GitHubError as exc:
            if exc.status != 404:  # deleted by someone: write it again below
                raise
    comment_id = client.create_comment(pull.repository, pull.number, body)
    PullRequest.objects.filter(pk=pull.pk).update(comment_id=comment_id)


def _note_on_run(run_id: int | None, text: str) -> None:
    """A line at the end of a finished run's log (never while a worker writes it)."""
    if run_id is None:
        return
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_active:
            return
        seq = run.line_count + 1
        RunLine.objects.create(run=run, seq=seq, ts=timezone.now(), text=text)
        Run.objects.filter(pk=run.pk).update(line_count=seq)


def _failed(post: Post, message: str) -> None:
    Post.objects.filter(pk=post.pk).update(status=PostState.FAILED, last_error=message[:500],
                                           attempts=post.attempts + 1)
    what = (f"status {post.context} ({post.state})" if post.kind == PostKind.STATUS
            else f"the comment on {post.pull}")
    record("github.post.failed", outcome=Outcome.FAILURE, target=post.repository,
           run_id=post.run_id, post=post.pk, what=what, error=message[:300])
    try:
        _note_on_run(post.run_id, f"GitHub: posting {what} failed: {message}")
    except Exception:  # the note is a courtesy; the failure is recorded above
        log.exception("could not note the failed post on run #%s", post.run_id)


def send_due(limit: int = 50) -> dict[str, int]:
    """Send every post whose time has come, oldest first. Never raises for GitHub."""
    now = timezone.now()
    sent = failed = retried = 0
    due = list(Post.objects.filter(status=PostState.PENDING, next_attempt_at__lte=now)
               .select_related("pull").order_by("id")[:limit])
    if not due:
        return {"sent": 0, "failed": 0, "retried": 0}
    try:
        client = github.GitHub(credentials())
    except github.GitHubError as exc:
        for post in due:
            if _claim(post, now):
                _failed(post, str(exc))
                failed += 1
        return {"sent": 0, "failed": failed, "retried": 0}
    scrub = redactor()
    delays = settings.GITHUB_RETRY_SECONDS
    for post in due:
        if not _claim(post, now):
            continue  # another sender has it
        try:
            _send(client, post)
        except github.GitHubError as exc:
            message = scrub(str(exc))
            if exc.retryable and post.attempts < len(delays):
                wait = max(delays[post.attempts], exc.retry_after or 0)
                Post.objects.filter(pk=post.pk).update(
                    attempts=post.attempts + 1, last_error=message[:500],
                    next_attempt_at=timezone.now() + timedelta(seconds=wait))
                retried += 1
            else:
                _failed(post, message)
                failed += 1
            continue
        except Exception as exc:  # a bug must not stop the other posts
            log.exception("post #%s", post.pk)
            _failed(post, scrub(f"{type(exc).__name__}: {exc}"))
            failed += 1
            continue
        Post.objects.filter(pk=post.pk).update(status=PostState.SENT, sent_at=timezone.now(),
                                               attempts=post.attempts + 1, last_error="")
        sent += 1
    return {"sent": sent, "failed": failed, "retried": retried}

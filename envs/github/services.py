"""What GitHub (through its signed webhooks) and the owner can do here: the only functions
the webhook view, the API, the pages and the schedule call.

``receive`` checks the signature over the raw body, records the delivery once (a
redelivery is answered 200 and not acted on again), and dispatches: a ``push`` refreshes
the catalog locations reading that branch, a ``pull_request`` plans the environments that
follow its base branch (``pulls.py``). Everything slow is a run or an outbox post; the
handler itself only writes rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from catalog import services as catalog_services
from catalog.choices import SourceKind
from catalog.models import Location
from envs.choices import Tier
from envs.models import Environment
from portal.audit.models import AuditEvent, record
from portal.audit.models import Outcome as AuditOutcome
from portal.errors import DomainError, NotConfigured, NotFound
from portal.lib import github
from portal.runs.models import LockHeld, Run

from . import pulls, webhook
from .models import Delivery, Outcome, Post, PostState, PullRequest
from .outbox import credentials, send_due

log = logging.getLogger(__name__)

USED_EVENTS = ("push", "pull_request", "ping")
REFUSAL_AUDIT_PER_MINUTE = 10
RETRY_REFRESH_SECONDS = 30


@dataclass
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- inbound


def _audit_refusal(reason: str, client_ip: str | None) -> None:
    """A refused delivery is audited, at most REFUSAL_AUDIT_PER_MINUTE a minute (a flood of
    unsigned posts must not become a flood of audit rows)."""
    since = timezone.now() - timedelta(minutes=1)
    if AuditEvent.objects.filter(action="github.webhook.refused", at__gte=since).count() \
            >= REFUSAL_AUDIT_PER_MINUTE:
        return
    AuditEvent.objects.create(actor="github webhook", action="github.webhook.refused",
                              target="hooks/github", outcome=AuditOutcome.REFUSED,
                              client_ip=client_ip, detail={"reason": reason[:200]})


def receive(body: bytes, headers: Mapping[str, str], client_ip: str | None = None) -> Answer:
    """Handle one webhook request. Raises BadSignature (401), Invalid (400), NotConfigured."""
    secret = settings.GITHUB_WEBHOOK_SECRET
    if not secret:
        raise NotConfigured(detail="PORTAL_GITHUB_WEBHOOK_SECRET is not set: the portal "
                            "accepts no webhook until it is", status=503)
    try:
        webhook.check_signature(secret, body, headers.get("X-Hub-Signature-256"))
    except webhook.BadSignature as exc:
        _audit_refusal(exc.detail, client_ip)
        raise
    hook = webhook.parse(body, headers)
    payload = hook.payload
    with transaction.atomic():
        seen = Delivery.objects.filter(delivery_id=hook.delivery_id).first()
        if seen is not None:
            Delivery.objects.filter(pk=seen.pk).update(redeliveries=F("redeliveries") + 1)
            return Answer(200, {"delivery": hook.delivery_id, "duplicate": True,
                                "outcome": seen.outcome, "runs": seen.runs})
        delivery = Delivery(
            delivery_id=hook.delivery_id, event=hook.event,
            action=webhook.text(payload, "action", limit=50),
            repository=webhook.text(payload, "repository", "full_name", limit=200),
            sender=webhook.text(payload, "sender", "login", limit=100),
            outcome=Outcome.IGNORED)
        try:
            with transaction.atomic():
                delivery.save()
        except IntegrityError:  # the same delivery, at the same moment, on another thread
            return Answer(200, {"delivery": hook.delivery_id, "duplicate": True})
        handler = HANDLERS.get(hook.event)
        if handler is None:
            delivery.detail = f"the portal does not use {hook.event!r} events"
        else:
            try:
                with transaction.atomic():
                    handler(delivery, payload)
            except DomainError as exc:
                delivery.outcome, delivery.detail = Outcome.FAILED, exc.detail
            except Exception as exc:  # a bug: recorded on the delivery, never a 500 to GitHub
                log.exception("webhook delivery %s", hook.delivery_id)
                delivery.outcome = Outcome.FAILED
                delivery.detail = f"internal error ({type(exc).__name__}); see the logs"
        delivery.detail = delivery.detail[:2000]
        delivery.save()
    status = 202 if delivery.outcome == Outcome.IGNORED and hook.event not in USED_EVENTS \
        else 200
    return Answer(status, {"delivery": delivery.delivery_id, "event": delivery.event,
                           "outcome": delivery.outcome, "detail": delivery.detail,
                           "runs": delivery.runs})


def handle_ping(delivery: Delivery, payload: dict[str, Any]) -> None:
    delivery.outcome = Outcome.ACCEPTED
    events = (payload.get("hook") or {}).get("events") if isinstance(payload.get("hook"),
                                                                     dict) else None
    missing = sorted({"push", "pull_request"} - set(events or [])) if events else []
    delivery.detail = "ping: the webhook reaches the portal and its signature is right" + (
        f"; it does not send {', '.join(missing)} yet" if missing else "")


def locations_for(repository: str, branch: str, default_branch: str) -> list[Location]:
    return [location for location in Location.objects.filter(kind=SourceKind.GIT)
            if github.same_repo(location.github_repository, repository)
            and (location.ref or default_branch) == branch]


def handle_push(delivery: Delivery, payload: dict[str, Any]) -> None:
    ref = webhook.text(payload, "ref")
    delivery.ref = ref
    delivery.head_sha = webhook.text(payload, "after", limit=64)
    if not ref.startswith("refs/heads/"):
        delivery.detail = f"{ref or 'no ref'}: only branch pushes refresh the catalog"
        return
    if payload.get("deleted") is True:
        delivery.detail = f"{ref} was deleted: nothing to refresh"
        return
    branch = ref.removeprefix("refs/heads/")
    default = webhook.text(payload, "repository", "default_branch") or "main"
    found = locations_for(delivery.repository, branch, default)
    if not found:
        delivery.detail = (f"no catalog location reads {delivery.repository}@{branch}"
                           + pulls.environment_note(delivery.repository))
        return
    notes = []
    for location in found:
        notes.append(refresh_location(location, delivery))
    delivery.outcome = Outcome.ACCEPTED
    delivery.detail = "; ".join(notes)


def refresh_location(location: Location, delivery: Delivery) -> str:
    """The location's "Refresh now" run; a held lock (an import under way) retries soon."""
    sha = delivery.head_sha[:7]
    try:
        run = catalog_services.start_import(location, refresh=True,
                                            actor=f"github push {sha}".strip())
    except LockHeld as held:
        retry_later("envs.github.jobs.refresh_location", location.pk, delivery.pk,
                    seconds=RETRY_REFRESH_SECONDS)
        return (f"location #{location.pk}: {held.detail}; refreshing again in "
                f"{RETRY_REFRESH_SECONDS} s")
    assert run is not None
    delivery.runs = [*delivery.runs, run.pk]
    return f"location #{location.pk}: refresh run #{run.pk}"


def retry_later(func: str, *args: Any, seconds: int) -> None:
    # django_q's models exist once apps are loaded (app loading); imported where used.
    from django_q.models import Schedule

    Schedule.objects.create(func=func, args=repr(tuple(args)), schedule_type=Schedule.ONCE,
                            repeats=-1, next_run=timezone.now() + timedelta(seconds=seconds),
                            name=f"github retry {func} {args} {timezone.now():%H%M%S%f}")


def refresh_again(location_pk: int, delivery_pk: int) -> int | None:
    """The delayed refresh after a push found an import under way."""
    location = Location.objects.filter(pk=location_pk).first()
    delivery = Delivery.objects.filter(pk=delivery_pk).first()
    if location is None or delivery is None:
        return None
    with transaction.atomic():
        note = refresh_location(location, delivery)
        delivery.detail = f"{delivery.detail}; {note}"[:2000]
        delivery.save(update_fields=["detail", "runs"])
    return delivery.runs[-1] if delivery.runs else None


HANDLERS = {"ping": handle_ping, "push": handle_push,
            "pull_request": pulls.handle_pull_request}


# --------------------------------------------------------------------------- reading


def deliveries(*, event: str = "", outcome: str = "", repository: str = "") -> QuerySet[Delivery]:
    rows = Delivery.objects.all()
    if event:
        rows = rows.filter(event=event)
    if outcome:
        rows = rows.filter(outcome=outcome)
    if repository:
        rows = rows.filter(repository__iexact=repository)
    return rows


def delivery(pk: int) -> Delivery:
    found = Delivery.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(detail=f"no delivery #{pk}")
    return found


def failed_posts(delivery_row: Delivery) -> list[Post]:
    return list(delivery_row.posts.filter(status=PostState.FAILED))


def overview() -> dict[str, Any]:
    """What Settings → GitHub shows: how the portal is set up, never a secret."""
    creds = credentials()
    repos: dict[str, list[str]] = {}
    for location in Location.objects.filter(kind=SourceKind.GIT):
        if location.github_repository:
            repos.setdefault(location.github_repository, []).append(
                f"catalog location #{location.pk} ({location.ref or 'default branch'})")
    for env in Environment.objects.exclude(tf_git_url=""):
        repo = pulls.repository_of(env)
        if repo:
            repos.setdefault(repo, []).append(
                f"environment {env.name} ({env.tf_git_ref or 'default branch'}, "
                f"{env.tf_git_path or '.'})")
    return {
        "webhook_url": settings.PUBLIC_URL.rstrip("/") + "/hooks/github/",
        "secret_set": bool(settings.GITHUB_WEBHOOK_SECRET),
        "auth_mode": creds.mode or "none",
        "api_url": settings.GITHUB_API_URL,
        "owner_ids": list(settings.OWNER_GITHUB_IDS),
        "require_approved_pr": settings.GITHUB_REQUIRE_APPROVED_PR,
        "repositories": sorted(repos.items()),
        "pending_posts": Post.objects.filter(status=PostState.PENDING).count(),
        "failed_posts": Post.objects.filter(status=PostState.FAILED).count(),
        "pulls": list(PullRequest.objects.all()[:20]),
    }


def send_posts() -> dict[str, int]:
    return send_due()


def plan_pull_request(env: Environment, repository: str, number: int, request) -> Run:
    """The owner plans a pull request the portal did not plan by itself (a stranger's, a
    fork's): the owner has looked at the code it runs."""
    pull = PullRequest.objects.filter(repository__iexact=repository, number=number).first()
    if pull is None:
        raise NotFound(detail=f"the portal has not heard of {repository}#{number}")
    run = pulls.owner_plan(env, pull, request)
    record("github.pull.plan", target=env.target, request=request, run=run,
           pull=f"{pull.repository}#{pull.number}", head_sha=pull.head_sha)
    return run


# --------------------------------------------------------------------------- app CI


def deploy_token_refusal(env_name: str) -> str:
    """Why a deploy:<env> token may not deploy to ``env_name`` ("" when it may): CI deploys
    to a dev-tier environment; promotion to test and prod stays a human act."""
    env = Environment.objects.filter(name=env_name).only("tier").first()
    if env is None:
        return f"no environment named {env_name!r}"
    if env.tier != Tier.DEV:
        return (f"{env_name} is a {env.tier} environment: deploy tokens deploy to dev "
                "environments only; promotion to test and prod is a human act in the portal")
    return ""

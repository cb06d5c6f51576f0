"""Pull requests on an environment's repository, the portal's way of Atlantis: a plan run per
affected environment at the PR's head SHA, a commit status per environment, and one
comment edited in place.

A pull request runs the code in it (``local-exec``, ``external`` data sources, providers
execute on the worker), so plans start by themselves only for pull requests the owner
opened (PORTAL_OWNER_GITHUB_IDS) from a branch of the same repository. Anyone else's, and
every fork's, gets a comment saying why no plan ran; the owner may plan it from the portal.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from envs.models import Environment
from envs.provisioning import services as provisioning_services
from envs.provisioning.models import PlanArtifact
from portal.errors import Refused
from portal.lib import github
from portal.runs.choices import ACTIVE, Status
from portal.runs.models import LockHeld, Run

from . import affected, webhook
from .comment import counts_line, first_line, pull_plans
from .models import Delivery, Outcome, PullRequest, PullState
from .outbox import credentials, queue_comment, queue_status, redactor

PLAN_ACTIONS = ("opened", "synchronize", "reopened")
STRANGER = ("it was opened by someone who is not the portal's owner, and a pull request "
            "runs the code in it on the portal's worker (local-exec, external data sources, "
            "providers). The owner can read the change and plan it from the portal.")
FORK = ("it comes from a fork, and a pull request runs the code in it on the portal's "
        "worker. Fork pull requests never plan by themselves; the owner can read the "
        "change and plan it from the portal.")


def plan_context(env_name: str) -> str:
    return f"eaas-portal/plan/{env_name}"


def apply_context(env_name: str) -> str:
    return f"eaas-portal/apply/{env_name}"


def repository_of(env: Environment) -> str:
    """owner/name of the GitHub repository holding the environment's Terraform source."""
    if not env.tf_git_url:
        return ""
    return env.tf_github_repo or github.repo_from_url(env.tf_git_url)


def environments_of(repository: str) -> list[Environment]:
    return [env for env in Environment.objects.exclude(tf_git_url="")
            if github.same_repo(repository_of(env), repository)]


def environment_note(repository: str) -> str:
    envs = environments_of(repository)
    if not envs:
        return ""
    return (f"; {', '.join(e.name for e in envs)} plan{'s' if len(envs) == 1 else ''} from "
            "this repository's pull requests, not from pushes")


def github_params(pull: PullRequest, delivery: Delivery | None) -> dict[str, Any]:
    return {"repo": pull.repository, "number": pull.number, "head_sha": pull.head_sha,
            "author": pull.author_login, "author_id": pull.author_id,
            "delivery": delivery.delivery_id if delivery else ""}


def pr_info(run: Run) -> dict[str, Any] | None:
    """The pull request a plan run (or its apply) was made for, or None."""
    info = (run.params or {}).get("github")
    if not info and run.kind == "apply" and run.parent_id:
        parent = Run.objects.filter(pk=run.parent_id).only("params").first()
        info = (parent.params or {}).get("github") if parent else None
    return info if isinstance(info, dict) else None


# What a webhook writes on a pull request: never comment_id, which the outbox owns.
PULL_FIELDS = ["title", "url", "head_sha", "head_ref", "base_ref", "author_login",
               "author_id", "same_repository", "updated_at", "state", "not_planned_reason"]


def _upsert(payload: dict[str, Any], repository: str) -> PullRequest:
    pr = payload.get("pull_request") if isinstance(payload.get("pull_request"), dict) else {}
    number = webhook.number(payload, "number") or webhook.number(pr, "number")
    if not number:
        raise Refused("invalid", "the pull_request payload has no number", status=400)
    head_repo = webhook.text(pr, "head", "repo", "full_name", limit=200)
    fields = {
        "title": webhook.text(pr, "title", limit=300),
        "url": webhook.text(pr, "html_url", limit=500),
        "head_sha": webhook.text(pr, "head", "sha", limit=64),
        "head_ref": webhook.text(pr, "head", "ref"),
        "base_ref": webhook.text(pr, "base", "ref"),
        "author_login": webhook.text(pr, "user", "login", limit=100),
        "author_id": webhook.number(pr, "user", "id"),
        "same_repository": github.same_repo(head_repo, repository),
        "updated_at": timezone.now(),
    }
    pull, _ = PullRequest.objects.select_for_update().get_or_create(
        repository=repository, number=number, defaults=fields)
    for key, value in fields.items():
        setattr(pull, key, value)
    return pull


def discard_pull_plans(pull: PullRequest, reason: str, *, keep_sha: str = "") -> list[int]:
    """Plans of this PR at another head (or all, when closed): planned ones are discarded
    (their saved plan purged), queued or running ones canceled. History is kept."""
    ended = []
    for run in pull_plans(pull).filter(status__in=[*ACTIVE, Status.PLANNED]):
        if keep_sha and run.params.get("github", {}).get("head_sha") == keep_sha:
            continue
        if run.status == Status.PLANNED:
            if run.transition(Status.PLANNED, Status.DISCARDED, error=reason):
                artifact = PlanArtifact.objects.filter(run=run).first()
                if artifact is not None:
                    artifact.purge(reason)
                ended.append(run.pk)
        elif run.request_cancel(actor="github"):
            ended.append(run.pk)
    return ended


def trusted(pull: PullRequest) -> str:
    """"" when the PR may plan by itself, else why not."""
    if not pull.same_repository:
        return FORK
    if pull.author_id is None or pull.author_id not in settings.OWNER_GITHUB_IDS:
        return STRANGER
    return ""


def handle_pull_request(delivery: Delivery, payload: dict[str, Any]) -> None:
    action = delivery.action
    pr = payload.get("pull_request") if isinstance(payload.get("pull_request"), dict) else {}
    delivery.pr_number = webhook.number(payload, "number") or webhook.number(pr, "number")
    delivery.head_sha = webhook.text(pr, "head", "sha", limit=64)
    delivery.ref = webhook.text(pr, "base", "ref")
    if action not in (*PLAN_ACTIONS, "closed"):
        delivery.detail = f"pull_request {action!r}: nothing to do"
        return
    envs = environments_of(delivery.repository)
    if not envs:
        delivery.detail = (f"no environment's Terraform source is {delivery.repository} "
                           "(set github_repo on its Terraform source if it is a mirror)")
        return
    base = delivery.ref
    default = webhook.text(payload, "repository", "default_branch") or "main"
    followed = [e for e in envs if (e.tf_git_ref or default) == base]
    if not followed:
        delivery.detail = (f"no environment follows {base!r} "
                           f"({', '.join(f'{e.name}: {e.tf_git_ref or default}' for e in envs)})")
        return
    pull = _upsert(payload, delivery.repository)
    delivery.outcome = Outcome.ACCEPTED
    if action == "closed":
        pull.state = PullState.CLOSED
        pull.save(update_fields=PULL_FIELDS)
        ended = discard_pull_plans(pull, f"pull request #{pull.number} was closed")
        queue_comment(pull, delivery=delivery)
        delivery.detail = (f"closed: {len(ended)} plan(s) discarded" if ended
                           else "closed: no open plan")
        return
    pull.state = PullState.OPEN
    pull.not_planned_reason = ""
    why_not = trusted(pull)
    discard_pull_plans(pull, f"superseded: the pull request's head moved to "
                             f"{pull.head_sha[:7]}", keep_sha=pull.head_sha)
    if why_not:
        pull.not_planned_reason = why_not
        pull.save(update_fields=PULL_FIELDS)
        queue_comment(pull, delivery=delivery)
        delivery.outcome = Outcome.REFUSED
        delivery.detail = ("no plan: " + ("a fork's pull request" if not pull.same_repository
                                          else f"opened by {pull.author_login or 'unknown'}, "
                                          "not the owner"))
        return
    pull.save(update_fields=PULL_FIELDS)
    base_sha = webhook.text(pr, "base", "sha", limit=64)
    notes = []
    for env in followed:
        touched = affected.affected(env.tf_git_url, env.tf_git_path, base_sha, pull.head_sha)
        if touched is False:
            notes.append(f"{env.name}: not affected")
            continue
        notes.append(start_pull_plan(env, pull, delivery))
    queue_comment(pull, delivery=delivery)
    delivery.detail = "; ".join(notes)


LOCK_RETRY_SECONDS = 15
LOCK_RETRIES = 40  # ten minutes of a busy environment before the status says so


def start_pull_plan(env: Environment, pull: PullRequest, delivery: Delivery | None,
                    *, actor: str = "", request=None, attempt: int = 0) -> str:
    """A plan of ``env`` at the PR's head, with a pending status. While the environment's
    lock is held (an apply, the PR's previous plan still stopping) it tries again every
    LOCK_RETRY_SECONDS, as long as the head has not moved."""
    try:
        run = plan_at_head(env, pull, delivery, actor=actor, request=request)
    except LockHeld as held:
        holder = f"run #{held.holder.pk}" if held.holder else "another run"
        if attempt >= LOCK_RETRIES:
            queue_status(pull.repository, pull.head_sha, context=plan_context(env.name),
                         state="error", description=f"not planned: {env.name} stayed busy "
                         f"({holder}); push again or plan from the portal", delivery=delivery)
            return f"{env.name}: {held.detail}; gave up"
        queue_status(pull.repository, pull.head_sha, context=plan_context(env.name),
                     state="pending", description=f"waiting for {env.name} ({holder})",
                     delivery=delivery)
        services_retry(pull, env, delivery, attempt + 1)
        return f"{env.name}: {held.detail}; planning when it is free"
    queue_status(pull.repository, pull.head_sha, context=plan_context(env.name),
                 state="pending", description=f"planning {env.name}…",
                 target_url=f"/runs/{run.pk}/", run=run, delivery=delivery)
    if delivery is not None:
        delivery.runs = [*delivery.runs, run.pk]
    return f"{env.name}: plan run #{run.pk}"


def services_retry(pull: PullRequest, env: Environment, delivery: Delivery | None,
                   attempt: int) -> None:
    # django_q's models exist once apps are loaded (app loading); imported where used.
    from django_q.models import Schedule

    Schedule.objects.create(
        func="envs.github.jobs.plan_pull_later",
        args=repr((pull.pk, env.name, pull.head_sha, delivery.pk if delivery else None,
                   attempt)),
        schedule_type=Schedule.ONCE, repeats=-1,
        next_run=timezone.now() + timedelta(seconds=LOCK_RETRY_SECONDS),
        name=f"github plan {pull} {env.name} {pull.head_sha[:7]} #{attempt} "
             f"{timezone.now():%H%M%S%f}")


def plan_later(pull_pk: int, env_name: str, head_sha: str, delivery_pk: int | None,
               attempt: int) -> str:
    """The retry of a plan that met a held lock: only for the same head of an open PR."""
    pull = PullRequest.objects.filter(pk=pull_pk).first()
    env = Environment.objects.filter(name=env_name).first()
    if pull is None or env is None or pull.state != PullState.OPEN \
            or pull.head_sha != head_sha or trusted(pull):
        return "moved on"
    delivery = Delivery.objects.filter(pk=delivery_pk).first() if delivery_pk else None
    with transaction.atomic():
        note = start_pull_plan(env, pull, delivery, attempt=attempt)
        if delivery is not None:
            delivery.detail = f"{delivery.detail}; {note}"[:2000]
            delivery.save(update_fields=["detail", "runs"])
        queue_comment(pull, delivery=delivery)
    return note


def plan_at_head(env: Environment, pull: PullRequest, delivery: Delivery | None, *,
                 actor: str = "", request=None) -> Run:
    """The provisioning plan run at ``pull.head_sha``, recording the PR in its params."""
    return provisioning_services.start_plan_at(
        env, git_sha=pull.head_sha, params={"github": github_params(pull, delivery)},
        actor=actor or f"github PR #{pull.number} ({pull.author_login or 'unknown'})",
        request=request)


# --------------------------------------------------------------------------- approval


def check_approval(run: Run) -> None:
    """Before a PR plan is approved: refused when the PR's head moved since the plan (what
    the webhooks said, and GitHub itself when it answers), or is closed; with
    PORTAL_GITHUB_REQUIRE_APPROVED_PR, also unless GitHub says approved and mergeable."""
    info = pr_info(run)
    if not info:
        return
    planned_sha = str(info.get("head_sha", ""))
    label = f"{info.get('repo')}#{info.get('number')}"
    pull = PullRequest.objects.filter(repository=info.get("repo", ""),
                                      number=info.get("number") or 0).first()
    if pull is not None and pull.state != PullState.OPEN:
        raise Refused("pull_closed", f"{label} is closed: its plans are not applied")
    if pull is not None and pull.head_sha != planned_sha:
        raise Refused("head_moved", f"{label}'s head moved to {pull.head_sha[:7]} since this "
                      f"plan of {planned_sha[:7]}: review the new plan instead")
    require = settings.GITHUB_REQUIRE_APPROVED_PR
    try:
        state = github.GitHub(credentials()).pull_state(str(info.get("repo")),
                                                        int(info.get("number") or 0))
    except github.GitHubError as exc:
        if require:
            raise Refused("github_unavailable", f"cannot ask GitHub whether {label} is "
                          f"approved ({redactor()(str(exc))}); "
                          "PORTAL_GITHUB_REQUIRE_APPROVED_PR needs its answer",
                          status=503) from None
        return  # the webhooks' word stands
    if state.head_sha and state.head_sha != planned_sha:
        raise Refused("head_moved", f"{label}'s head on GitHub is {state.head_sha[:7]}, not "
                      f"the planned {planned_sha[:7]}: review the new plan instead")
    if require and not (state.approved and state.mergeable):
        why = "not approved" if not state.approved else "not mergeable"
        raise Refused("pull_not_approved", f"{label} is {why} on GitHub; "
                      "PORTAL_GITHUB_REQUIRE_APPROVED_PR=1 applies only approved, mergeable "
                      "pull requests")


def owner_plan(env: Environment, pull: PullRequest, request) -> Run:
    if pull.state != PullState.OPEN:
        raise Refused("closed", f"{pull} is closed")
    if not github.same_repo(repository_of(env), pull.repository):
        raise Refused("other_repository", f"{env.name} does not plan from {pull.repository}")
    with transaction.atomic():
        run = plan_at_head(env, pull, None, request=request)
        queue_status(pull.repository, pull.head_sha, context=plan_context(env.name),
                     state="pending", description=f"planning {env.name}…",
                     target_url=f"/runs/{run.pk}/", run=run)
        queue_comment(pull, run=run)
    return run


# --------------------------------------------------------------------------- outcomes


def on_run_status(run: Run, previous: str) -> None:
    """Inside the transaction that changed a PR plan's (or its apply's) status: the status
    and the comment refresh to post once it commits."""
    if run.kind not in ("plan", "apply"):
        return
    info = pr_info(run)
    if not info:
        return
    pull = PullRequest.objects.filter(repository=info.get("repo", ""),
                                      number=info.get("number") or 0).first()
    if pull is None:
        return
    env = str(run.params.get("env", ""))
    sha = str(info.get("head_sha", ""))
    status = run.status
    if run.kind == "plan":
        review = f"/plans/{run.pk}/"
        if status == Status.PLANNED:
            counts = (run.result or {}).get("counts") or {}
            queue_status(pull.repository, sha, context=plan_context(env), state="success",
                         description=f"{counts_line(counts)}: review and approve in the "
                         "portal", target_url=review, run=run)
        elif status == Status.SUCCEEDED:
            queue_status(pull.repository, sha, context=plan_context(env), state="success",
                         description="no changes", target_url=f"/runs/{run.pk}/", run=run)
        elif status == Status.FAILED:
            queue_status(pull.repository, sha, context=plan_context(env), state="failure",
                         description=first_line(run.error, 130) or "plan failed",
                         target_url=f"/runs/{run.pk}/", run=run)
        elif status == Status.CANCELED:
            queue_status(pull.repository, sha, context=plan_context(env), state="error",
                         description="plan canceled", target_url=f"/runs/{run.pk}/", run=run)
        elif status == Status.APPROVED:
            queue_status(pull.repository, sha, context=apply_context(env), state="pending",
                         description=f"approved: applying to {env}…", target_url=review,
                         run=run)
        elif status != Status.DISCARDED:
            return
    else:
        if status == Status.RUNNING or status == Status.QUEUED:
            return
        outcomes: dict[str, str] = {Status.SUCCEEDED: "success", Status.FAILED: "failure"}
        state = outcomes.get(status, "error")
        description = (f"applied to {env}" if status == Status.SUCCEEDED
                       else first_line(run.error, 130) or f"apply {status}")
        queue_status(pull.repository, sha, context=apply_context(env), state=state,
                     description=description, target_url=f"/runs/{run.pk}/", run=run)
    queue_comment(pull, run=run)

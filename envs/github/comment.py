"""The one comment a pull request gets, rendered from what the portal knows when it is sent:
a section per environment with the plan's counts, the resource addresses and their
actions, the link to review and approve, and what happens next. Atlantis users know the
shape; the decision stays in the portal. Never a value from the plan: addresses and counts
only, redacted by the sender, and kept under GitHub's 65,536-character limit."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from envs.provisioning.models import PlanArtifact
from portal.lib.github import COMMENT_LIMIT, fit_comment
from portal.runs.choices import Status
from portal.runs.models import Run

from .models import PullRequest, PullState

MARKER = "<!-- eaas-portal:pull-request-comment -->"
ROWS_PER_ENV = 60
OLDER_SHOWN = 5
ICONS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "import": "<=",
         "read": "<="}


def link(path: str) -> str:
    return settings.PUBLIC_URL.rstrip("/") + path


def counts_line(counts: dict) -> str:
    """Atlantis' tally as "+2 ~1 −0": a replacement adds and destroys."""
    add = int(counts.get("create", 0)) + int(counts.get("replace", 0))
    change = int(counts.get("update", 0))
    destroy = int(counts.get("delete", 0)) + int(counts.get("replace", 0))
    return f"+{add} ~{change} −{destroy}"


def first_line(text: str, limit: int = 200) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def pull_plans(pull: PullRequest) -> QuerySet[Run]:
    return Run.objects.filter(kind="plan", params__github__repo=pull.repository,
                              params__github__number=pull.number).order_by("-created_at",
                                                                           "-id")


def _plan_section(run: Run, artifact: PlanArtifact | None) -> list[str]:
    env = run.params.get("env", "?")
    sha = str(run.params.get("github", {}).get("head_sha", ""))[:7]
    review = link(f"/plans/{run.pk}/")
    page = link(f"/runs/{run.pk}/")
    if run.status in (Status.QUEUED, Status.RUNNING):
        return [f"#### `{env}`: planning `{sha}`…", f"Follow it: [run #{run.pk}]({page})"]
    if run.status == Status.FAILED:
        return [f"#### `{env}`: ❌ plan of `{sha}` failed",
                f"> {first_line(run.error) or 'see the run log'}", "",
                f"[Run #{run.pk}]({page}) has the log. Push a fix to plan again."]
    if run.status == Status.CANCELED:
        return [f"#### `{env}`: plan of `{sha}` canceled", f"[Run #{run.pk}]({page})"]
    if run.status == Status.SUCCEEDED:
        return [f"#### `{env}`: ✅ no changes at `{sha}`",
                "The infrastructure already matches this pull request."]
    lines = []
    counts = artifact.counts if artifact else {}
    if run.status == Status.DISCARDED:
        lines += [f"#### `{env}`: ~~plan of `{sha}`~~ discarded ({counts_line(counts)})",
                  f"{first_line(run.error) or 'discarded'}. The history is kept: "
                  f"[plan run #{run.pk}]({review})."]
        return lines
    lines.append(f"#### `{env}`: plan of `{sha}`: **{counts_line(counts)}**")
    changes = artifact.resource_changes if artifact else []
    if changes:
        lines += ["", "```diff"]
        for change in changes[:ROWS_PER_ENV]:
            action = change.get("action", "")
            lines.append(f"{ICONS.get(action, '?'):>3} {change.get('address', '')} ({action})")
        if len(changes) > ROWS_PER_ENV:
            lines.append(f"... and {len(changes) - ROWS_PER_ENV} more: see the full plan")
        lines.append("```")
    if run.status == Status.PLANNED:
        expires = f", before {artifact.expires_at:%Y-%m-%d %H:%M} UTC" if artifact else ""
        lines += ["", f"**[Review and approve in the portal]({review})**{expires}.",
                  "Next: approving applies exactly this plan to "
                  f"`{env}`; a new push plans again and discards this one."]
        return lines
    apply = run.children.filter(kind="apply").order_by("-id").first()
    if apply is None or apply.status in (Status.QUEUED, Status.RUNNING):
        lines += ["", f"Approved by {apply.actor if apply else 'the owner'}: applying "
                  f"([run #{apply.pk if apply else '?'}]"
                  f"({link(f'/runs/{apply.pk}/') if apply else review})) …"]
    elif apply.status == Status.SUCCEEDED:
        lines += ["", f"✅ Applied to `{env}` by {apply.actor} "
                  f"([run #{apply.pk}]({link(f'/runs/{apply.pk}/')})). Merge when ready."]
    else:
        lines += ["", f"❌ Apply {apply.status}: {first_line(apply.error)} "
                  f"([run #{apply.pk}]({link(f'/runs/{apply.pk}/')})). Plan again to retry."]
    return lines


def render(pull: PullRequest, limit: int = COMMENT_LIMIT) -> str:
    lines = [MARKER, "### EaaS Portal: Terraform plans", ""]
    if pull.state == PullState.CLOSED:
        lines += ["This pull request was closed: its plans were discarded. The history is "
                  "kept in the portal.", ""]
    if pull.not_planned_reason:
        lines += [f"No plan ran for `{pull.head_sha[:7]}`: {pull.not_planned_reason}", ""]
    latest: dict[str, Run] = {}
    older: dict[str, list[Run]] = {}
    for run in pull_plans(pull)[:200]:
        env_name = str(run.params.get("env", ""))
        if env_name in latest:
            older.setdefault(env_name, []).append(run)
        else:
            latest[env_name] = run
    artifacts = {a.run_id: a for a in PlanArtifact.objects.filter(
        run_id__in=[r.pk for r in latest.values()])}
    if not latest and not pull.not_planned_reason:
        lines.append("No environment follows this pull request's base branch and path.")
    for env in sorted(latest):
        run = latest[env]
        lines += _plan_section(run, artifacts.get(run.pk))
        if older.get(env):
            earlier = ", ".join(
                f"[#{r.pk}]({link(f'/runs/{r.pk}/')}) "
                f"`{str(r.params.get('github', {}).get('head_sha', ''))[:7]}` {r.status}"
                for r in older[env][:OLDER_SHOWN])
            more = len(older[env]) - OLDER_SHOWN
            lines.append(f"<sub>Earlier plans (discarded when the head moved; history "
                         f"kept): {earlier}{f' and {more} more' if more > 0 else ''}</sub>")
        lines.append("")
    lines.append("<sub>Plans run in the portal's worker; applying is a human act in the "
                 "portal. This comment is edited in place on every new plan.</sub>")
    return fit_comment("\n".join(lines), limit)

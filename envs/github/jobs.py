"""What the worker does for GitHub: send the outbox (kicked after each commit that wrote a
post, and every minute for the retries), the delayed catalog refresh after a push met an
import under way, and the receiver that turns PR plan outcomes into posts."""

from __future__ import annotations

from typing import Any

from envs.provisioning import services as provisioning_services
from portal.runs.models import Run
from portal.runs.schedules import SCHEDULES
from portal.runs.signals import run_status_changed

from . import services
from .pulls import check_approval, on_run_status, plan_later


def send_posts() -> dict[str, int]:
    """django-q task: post every due status and comment to GitHub."""
    return services.send_posts()


def refresh_location(location_pk: int, delivery_pk: int) -> int | None:
    """django-q task (once): the refresh a push asked for while an import held the lock."""
    return services.refresh_again(location_pk, delivery_pk)


def plan_pull_later(pull_pk: int, env_name: str, head_sha: str, delivery_pk: int | None,
                    attempt: int) -> str:
    """django-q task (once): a PR plan that met the environment's lock, tried again."""
    return plan_later(pull_pk, env_name, head_sha, delivery_pk, attempt)


def _received(sender: Any, run: Run, previous: str, **kwargs: Any) -> None:
    on_run_status(run, previous)


def register() -> None:
    run_status_changed.connect(_received, sender=Run, dispatch_uid="github-run-status")
    provisioning_services.APPROVAL_CHECKS.append(check_approval)
    SCHEDULES["github: send statuses and comments"] = {
        "func": "envs.github.jobs.send_posts", "schedule_type": "I", "minutes": 1,
    }

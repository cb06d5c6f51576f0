"""GitHub's part of the environment page: the open pull requests planned for it."""

from __future__ import annotations

from typing import Any

from envs.models import Environment
from envs.sections import env_section

from .models import PullRequest, PullState
from .pulls import repository_of


@env_section(order=35, template="github/_env_section.html")
def pull_requests(request: Any, env: Environment) -> dict[str, Any] | None:
    repo = repository_of(env)
    if not repo:
        return None
    pulls = list(PullRequest.objects.filter(repository__iexact=repo, state=PullState.OPEN)[:10])
    return {"github_repo": repo, "pulls": pulls}

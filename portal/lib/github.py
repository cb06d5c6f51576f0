"""The one small wrapper over GitHub's REST API (PyGithub): commit statuses, the one comment
a pull request gets (created once, then edited in place), and whether a pull request is
approved and mergeable. Knows no models.

Authentication is a fine-grained token, or a GitHub App: a JWT signed with the App's
private key buys an installation token per repository, cached until shortly before it
expires. PyGithub's own retries and throttling are off: the caller (an outbox) retries with
backoff, so a slow or rate-limited GitHub never holds a worker. Every error comes out as
``GitHubError`` saying whether a later attempt may succeed (5xx, 429, rate limit, network)
and carrying no credential.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubIntegration

COMMENT_LIMIT = 65_536  # characters GitHub accepts in an issue or pull request comment
DESCRIPTION_LIMIT = 140  # characters GitHub keeps of a commit status description
STATES = ("pending", "success", "failure", "error")
TOKEN_MARGIN = 300  # seconds before expiry an installation token is replaced


REPO_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_GITHUB_URL = re.compile(r"^(?:https://|ssh://git@|git@)github\.com[/:]"
                         r"(?P<repo>[^/\s]+/[^/\s]+?)(?:\.git)?/?$", re.IGNORECASE)


def check_repo_name(value: str) -> str:
    """``owner/name`` as GitHub spells it (compared case-insensitively); raises ValueError."""
    value = (value or "").strip()
    if value.endswith(".git"):
        value = value[:-4]
    if not REPO_NAME.match(value) or value.split("/")[1] in (".", ".."):
        raise ValueError("expected a GitHub repository as owner/name")
    return value


def repo_from_url(url: str) -> str:
    """``owner/name`` of an https://github.com/owner/name(.git) URL (or git@github.com:
    owner/name.git); "" for anything else (a mirror, a local path)."""
    match = _GITHUB_URL.match((url or "").strip())
    if not match:
        return ""
    try:
        return check_repo_name(match.group("repo"))
    except ValueError:
        return ""


def same_repo(a: str, b: str) -> bool:
    return bool(a) and a.lower() == (b or "").lower()


@dataclass(frozen=True)
class Credentials:
    """Where GitHub is and how the portal signs in: ``token`` or ``app_id`` + key."""

    api_url: str
    token: str = ""
    app_id: str = ""
    private_key: str = ""
    timeout: int = 10

    @property
    def mode(self) -> str:
        if self.app_id and self.private_key:
            return "app"
        if self.token:
            return "token"
        return ""

    def secrets(self) -> list[str]:
        """What must never be written anywhere (for the caller's redactor)."""
        return [value for value in (self.token, self.private_key) if value]


class GitHubError(Exception):
    """A call to GitHub failed; ``retryable`` says whether trying later may succeed."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class PullState:
    approved: bool
    mergeable: bool | None
    head_sha: str
    state: str


def _retry_after(headers: Mapping[str, Any], now: float) -> float | None:
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    if lowered.get("retry-after", "").isdigit():
        return float(lowered["retry-after"])
    if lowered.get("x-ratelimit-remaining") == "0" and lowered.get("x-ratelimit-reset",
                                                                     "").isdigit():
        return max(1.0, float(lowered["x-ratelimit-reset"]) - now)
    return None


def _message(data: Any) -> str:
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:300]
    return str(data or "")[:300]


def classify(exc: Exception, now: float | None = None) -> GitHubError:
    """Turn what PyGithub or requests raised into a GitHubError (no credential in it)."""
    now = time.time() if now is None else now
    if isinstance(exc, GitHubError):
        return exc
    if isinstance(exc, GithubException):
        headers = exc.headers or {}
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        limited = lowered.get("x-ratelimit-remaining") == "0"
        status = exc.status
        retryable = status >= 500 or status == 429 or (status == 403 and limited)
        what = "rate limited" if limited or status == 429 else f"HTTP {status}"
        return GitHubError(f"GitHub answered {what}: {_message(exc.data)}", status=status,
                           retryable=retryable, retry_after=_retry_after(headers, now))
    if isinstance(exc, requests.RequestException):
        return GitHubError(f"GitHub unreachable: {type(exc).__name__}", retryable=True)
    return GitHubError(f"GitHub call failed: {type(exc).__name__}: {exc}"[:300])


# Installation ids per (api, app, repository) and tokens per (api, app, installation),
# shared by every client of the process (one worker serves many runs).
_INSTALLATIONS: dict[tuple[str, str, str], int] = {}
_TOKENS: dict[tuple[str, str, int], tuple[str, float]] = {}
_CACHE_LOCK = threading.Lock()


def forget_tokens() -> None:
    """Drop cached installation tokens (tests; a rotated App key)."""
    with _CACHE_LOCK:
        _INSTALLATIONS.clear()
        _TOKENS.clear()


class GitHub:
    """A client for one set of credentials. Every method raises GitHubError only."""

    def __init__(self, credentials: Credentials, clock: Callable[[], float] = time.time) -> None:
        if not credentials.mode:
            raise GitHubError("GitHub is not configured: set PORTAL_GITHUB_TOKEN or "
                              "PORTAL_GITHUB_APP_ID and PORTAL_GITHUB_APP_PRIVATE_KEY")
        self.credentials = credentials
        self.clock = clock

    # --- connections ------------------------------------------------------------------
    def _client(self, auth: Auth.Auth) -> Github:
        return Github(auth=auth, base_url=self.credentials.api_url.rstrip("/"),
                      timeout=self.credentials.timeout, retry=None, lazy=True,
                      seconds_between_requests=None, seconds_between_writes=None)

    def _integration(self) -> GithubIntegration:
        auth = Auth.AppAuth(int(self.credentials.app_id), self.credentials.private_key)
        return GithubIntegration(auth=auth, base_url=self.credentials.api_url.rstrip("/"),
                                 timeout=self.credentials.timeout, retry=None,
                                 seconds_between_requests=None, seconds_between_writes=None)

    def installation_token(self, repo: str) -> str:
        """The App's installation token for ``repo`` ("owner/name"), cached until
        TOKEN_MARGIN seconds before it expires."""
        api, app = self.credentials.api_url, self.credentials.app_id
        owner, _, name = repo.partition("/")
        with _CACHE_LOCK:
            installation = _INSTALLATIONS.get((api, app, repo))
            cached = _TOKENS.get((api, app, installation)) if installation else None
        if cached and cached[1] - TOKEN_MARGIN > self.clock():
            return cached[0]
        try:
            integration = self._integration()
            if installation is None:
                installation = integration.get_repo_installation(owner, name).id
            access = integration.get_access_token(installation)
        except Exception as exc:
            raise classify(exc, self.clock()) from None
        expires = access.expires_at.timestamp() if access.expires_at else self.clock() + 3600
        with _CACHE_LOCK:
            _INSTALLATIONS[(api, app, repo)] = installation
            _TOKENS[(api, app, installation)] = (access.token, expires)
        return access.token

    def _repo_client(self, repo: str) -> Github:
        if self.credentials.mode == "app":
            return self._client(Auth.Token(self.installation_token(repo)))
        return self._client(Auth.Token(self.credentials.token))

    def _call(self, repo: str, action: Callable[[Github], Any]) -> Any:
        try:
            return action(self._repo_client(repo))
        except GitHubError:
            raise
        except Exception as exc:
            raise classify(exc, self.clock()) from None

    # --- what the portal says -----------------------------------------------------------
    def set_status(self, repo: str, sha: str, *, state: str, context: str,
                   description: str = "", target_url: str = "") -> None:
        """A commit status on ``sha``: one per context, the latest wins on GitHub."""
        if state not in STATES:
            raise GitHubError(f"unknown commit status state {state!r}")
        description = description if len(description) <= DESCRIPTION_LIMIT else (
            description[: DESCRIPTION_LIMIT - 1] + "…")

        def post(gh: Github) -> None:
            commit = gh.get_repo(repo).get_commit(sha)
            if target_url:
                commit.create_status(state, target_url=target_url, description=description,
                                     context=context)
            else:
                commit.create_status(state, description=description, context=context)

        self._call(repo, post)

    def create_comment(self, repo: str, number: int, body: str) -> int:
        """A new comment on pull request ``number``; returns its id."""
        body = fit_comment(body)
        return int(self._call(
            repo, lambda gh: gh.get_repo(repo).get_issue(number).create_comment(body).id))

    def edit_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        """Replace the body of a comment the portal wrote (404 if someone deleted it)."""
        body = fit_comment(body)
        self._call(repo, lambda gh: gh.get_repo(repo).get_issue(number).get_comment(
            comment_id).edit(body))

    def pull_state(self, repo: str, number: int) -> PullState:
        """Whether the pull request is approved (its reviewers' latest word) and mergeable."""

        def read(gh: Github) -> PullState:
            pull = gh.get_repo(repo).get_pull(number)
            latest: dict[str, str] = {}
            for review in pull.get_reviews():
                if review.user is not None and review.state in ("APPROVED",
                                                                "CHANGES_REQUESTED"):
                    latest[review.user.login] = review.state
            approved = bool(latest) and all(s == "APPROVED" for s in latest.values())
            return PullState(approved=approved, mergeable=pull.mergeable,
                             head_sha=pull.head.sha, state=pull.state)

        result: PullState = self._call(repo, read)
        return result


def fit_comment(body: str, limit: int = COMMENT_LIMIT) -> str:
    """A body GitHub accepts: cut at a line, with a note, when over ``limit`` characters."""
    if len(body) <= limit:
        return body
    note = "\n\n… (cut to fit GitHub's comment limit; the full plan is behind the link)\n"
    cut = body[: limit - len(note)]
    if "\n" in cut:
        cut = cut[: cut.rfind("\n")]
    return cut + note

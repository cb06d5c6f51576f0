"""Back to GitHub: statuses and the one comment go through the outbox, against the fake
GitHub REST API over real HTTP. A PR plan's outcome (run_status_changed) becomes a status
per environment and an edit of the one comment; GitHub down, 5xx, 429 or rate limited is
retried with backoff and never blocks a run; a post that finally fails is visible on the
delivery and on the run; secrets never reach GitHub."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from envs.github import outbox, pulls
from envs.github.comment import MARKER, render
from envs.github.models import Delivery, Post, PostState, PullRequest
from envs.models import Environment
from envs.provisioning.models import PlanArtifact
from portal.lib import github
from portal.runs.choices import Status
from portal.runs.models import Run, RunLine
from tests.fakes.github_api import FakeGitHubAPI

TOKEN = "ghp_fake_token_0123456789abcdef"  # noqa: S105 (a test value)
REPO = "acme/infra"
SHA = "a" * 40


@pytest.fixture
def fake(settings):
    with FakeGitHubAPI(tokens={TOKEN}) as gh:
        settings.GITHUB_API_URL = gh.api_url
        settings.GITHUB_TOKEN = TOKEN
        settings.GITHUB_APP_ID = ""
        settings.GITHUB_RETRY_SECONDS = [1, 2]
        settings.PUBLIC_URL = "https://portal.example"
        yield gh


@pytest.fixture
def pull(db):
    Environment.objects.create(name="dev", tier="dev", tf_git_url="https://github.com/acme/infra.git")
    return PullRequest.objects.create(repository=REPO, number=7, head_sha=SHA, base_ref="main",
                                      author_login="owner", author_id=1)


def pr_plan(pull: PullRequest, env: str = "dev", status: str = Status.RUNNING,
            sha: str = SHA) -> Run:
    params = {"env": env, "github": {"repo": pull.repository, "number": pull.number,
                                     "head_sha": sha, "author": pull.author_login}}
    return Run.objects.create(kind="plan", target=f"env:{env}", status=status, params=params)


def planned(run: Run, changes: list[tuple[str, str]]) -> PlanArtifact:
    counts = {a: 0 for a in ("create", "update", "replace", "delete", "import", "read")}
    for _, action in changes:
        counts[action] += 1
    Run.objects.filter(pk=run.pk).update(result={"changes": True, "counts": counts})
    run.refresh_from_db()
    artifact = PlanArtifact.objects.create(
        run=run, environment=Environment.objects.get(name=run.params["env"]),
        plan_sha256="x", fingerprint="f", config_hash="c", counts=counts,
        resource_changes=[{"address": a, "action": act} for a, act in changes])
    run.transition(Status.RUNNING, Status.PLANNED)
    return artifact


def send():
    # Every post is due now (retries are tested with their own clock below).
    Post.objects.filter(status=PostState.PENDING).update(next_attempt_at=timezone.now())
    return outbox.send_due()


def test_a_plan_outcome_posts_a_status_and_edits_one_comment(fake, pull, transactional_db):
    run = pr_plan(pull)
    planned(run, [("aws_s3_bucket.logs", "create"), ("aws_iam_role.ci", "create"),
                  ("aws_instance.web", "update")])
    assert send()["sent"] == 2
    [status] = fake.statuses_for("eaas-portal/plan/dev")
    assert status["state"] == "success" and status["sha"] == SHA
    assert status["description"].startswith("+2 ~1 −0")
    assert status["target_url"] == f"https://portal.example/plans/{run.pk}/"
    [comment] = fake.comments.values()
    assert comment["body"].startswith(MARKER)
    assert "aws_s3_bucket.logs (create)" in comment["body"]
    assert f"https://portal.example/plans/{run.pk}/" in comment["body"]
    assert "approving applies exactly this plan" in comment["body"]

    # A new head: the old plan is discarded, the new one planned; the SAME comment is edited.
    pull.refresh_from_db()
    pull.head_sha = "b" * 40
    pull.save()
    assert pulls.discard_pull_plans(pull, "superseded", keep_sha=pull.head_sha) == [run.pk]
    newer = pr_plan(pull, sha=pull.head_sha)
    planned(newer, [("aws_instance.web", "replace")])
    send()
    assert len(fake.comments) == 1
    [comment] = fake.comments.values()
    assert len(comment["edits"]) >= 1
    assert "discarded" in comment["body"] and "+1 ~0 −1" in comment["body"]
    run.refresh_from_db()
    assert run.status == Status.DISCARDED
    assert not PlanArtifact.objects.get(run=run).plan_encrypted  # purged


def test_apply_outcome_posts_the_apply_status(fake, pull, transactional_db):
    run = pr_plan(pull)
    planned(run, [("null_resource.a", "create")])
    run.transition(Status.PLANNED, Status.APPROVED)
    apply = Run.objects.create(kind="apply", target="env:dev", parent=run,
                               params={"env": "dev", "plan_run": run.pk},
                               status=Status.RUNNING)
    apply.transition(Status.RUNNING, Status.SUCCEEDED)
    send()
    states = [s["state"] for s in fake.statuses_for("eaas-portal/apply/dev")]
    assert states == ["success"]  # the pending one was superseded before it was sent
    body = next(iter(fake.comments.values()))["body"]
    assert f"Applied to `dev` by {apply.actor}" in body


def test_a_failed_plan_posts_failure_with_the_first_line_redacted(fake, pull, transactional_db):
    run = pr_plan(pull)
    run.transition(Status.RUNNING, Status.FAILED,
                   error=f"Error: provider said no to {TOKEN}\nmore lines")
    send()
    [status] = fake.statuses_for("eaas-portal/plan/dev")
    assert status["state"] == "failure" and status["description"].startswith("Error:")
    everything = str(fake.statuses) + str(fake.comments)
    assert TOKEN not in everything and "more lines" not in status["description"]


def test_github_down_or_limited_is_retried_with_backoff_then_failed(fake, pull,
                                                                    transactional_db):
    delivery = Delivery.objects.create(delivery_id="d-1", event="pull_request",
                                       outcome="accepted")
    run = pr_plan(pull, status=Status.SUCCEEDED)
    outbox.queue_status(REPO, SHA, context="eaas-portal/plan/dev", state="success",
                        description="no changes", run=run, delivery=delivery)
    fake.fail(1, 502)
    assert outbox.send_due() == {"sent": 0, "failed": 0, "retried": 1}
    post = Post.objects.get()
    assert post.attempts == 1 and post.next_attempt_at > timezone.now()
    assert outbox.send_due()["retried"] == 0  # not due yet: backoff
    fake.fail(1, 403, {"x-ratelimit-remaining": "0",
                       "x-ratelimit-reset": str(int(timezone.now().timestamp()) + 30)})
    send()
    post.refresh_from_db()
    assert post.attempts == 2 and "rate limited" in post.last_error
    assert post.next_attempt_at > timezone.now() + timedelta(seconds=20)  # reset honoured
    fake.fail(1, 429)
    assert send()["failed"] == 1  # out of attempts
    post.refresh_from_db()
    assert post.status == PostState.FAILED
    assert fake.statuses == []
    line = RunLine.objects.filter(run=run).last()
    assert "GitHub: posting status eaas-portal/plan/dev" in line.text
    from envs.github.serializers import DeliverySerializer

    assert DeliverySerializer(delivery).data["failed_posts"][0]["last_error"]


def test_an_unreachable_github_never_raises(settings, pull, transactional_db):
    settings.GITHUB_API_URL = "http://127.0.0.1:9/api/v3"
    settings.GITHUB_TOKEN = TOKEN
    settings.GITHUB_RETRY_SECONDS = [1]
    outbox.queue_comment(pull)
    assert outbox.send_due()["retried"] == 1
    assert "unreachable" in Post.objects.get().last_error


def test_no_credentials_fail_the_post_clearly(settings, pull, transactional_db):
    settings.GITHUB_TOKEN = ""
    settings.GITHUB_APP_ID = ""
    outbox.queue_comment(pull)
    assert outbox.send_due()["failed"] == 1
    assert "not configured" in Post.objects.get().last_error


def test_a_deleted_comment_is_written_again(fake, pull, transactional_db):
    outbox.queue_comment(pull)
    send()
    pull.refresh_from_db()
    first = pull.comment_id
    fake.comments.clear()
    outbox.queue_comment(pull)
    send()
    pull.refresh_from_db()
    assert pull.comment_id != first and list(fake.comments) == [pull.comment_id]


def test_the_comment_stays_under_githubs_limit(pull, db):
    run = pr_plan(pull, status=Status.RUNNING)
    planned(run, [(f"module.m.aws_thing.r[{i}]" + "x" * 900, "create") for i in range(200)])
    body = render(pull)
    assert len(body) <= github.COMMENT_LIMIT
    assert "140 more: see the full plan" in body
    small = render(pull, limit=5000)
    assert len(small) <= 5000 and "the full plan is behind the link" in small


def test_github_app_installation_tokens_are_cached_until_near_expiry(settings):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo
                                           ).decode()
    github.forget_tokens()
    with FakeGitHubAPI(app_id=321, public_key=public, token_ttl=3600) as gh:
        now = [1_000_000.0]
        import time as _time

        now[0] = _time.time()
        client = github.GitHub(github.Credentials(api_url=gh.api_url, app_id="321",
                                                  private_key=private),
                               clock=lambda: now[0])
        client.set_status(REPO, SHA, state="pending", context="c")
        client.set_status(REPO, SHA, state="success", context="c")
        assert len(gh.issued_tokens) == 1  # cached
        now[0] += 3600 - github.TOKEN_MARGIN + 1  # shortly before expiry: a new one
        client.set_status(REPO, SHA, state="success", context="c")
        assert len(gh.issued_tokens) == 2
        assert [s["state"] for s in gh.statuses] == ["pending", "success", "success"]
        wrong = github.GitHub(github.Credentials(api_url=gh.api_url, app_id="999",
                                                 private_key=private))
        with pytest.raises(github.GitHubError) as refused:
            wrong.set_status("other/repo", SHA, state="success", context="c")
        assert refused.value.status == 401 and not refused.value.retryable
        assert private not in str(refused.value)
    github.forget_tokens()

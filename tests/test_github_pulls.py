"""Pull requests on the infra repository (a local git repository with a branch and commits
for the PR head): a plan per affected environment at the head SHA recording the PR, a
status per environment and one comment edited in place (fake GitHub REST API over real
HTTP), discarding on a new head and on close, owner-only automatic plans (never a fork's),
and approval refused when the head moved or, with PORTAL_GITHUB_REQUIRE_APPROVED_PR, unless
GitHub says approved and mergeable."""

from __future__ import annotations

import subprocess

import pytest

from envs.github import outbox
from envs.github.models import Delivery, Post, PostState, PullRequest
from envs.models import Environment
from envs.provisioning.models import PlanArtifact
from portal.runs.choices import Status
from portal.runs.engine import execute_run
from portal.runs.models import Run
from tests.fakes.github_api import FakeGitHubAPI

from .test_github_webhook import SECRET, hook
from .test_provisioning_flow import copy_local_stack, new_token

TOKEN = "ghp_fake_token_for_pulls_0123456789"  # noqa: S105 (a test value)
OWNER_ID = 4242
REPO = "acme/infra"
STACK = "terraform/environments/local"


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
                               "PATH": "/usr/bin:/bin", "HOME": str(cwd)}).stdout.strip()


class Infra:
    """The infra repository: main, and a feature branch whose commits are the PR's head."""

    def __init__(self, root):
        self.path = root / "infra"
        copy_local_stack(self.path / STACK)
        (self.path / "docs").mkdir()
        (self.path / "docs" / "README.md").write_text("infra\n")
        git("init", "-q", "-b", "main", cwd=self.path)
        git("add", ".", cwd=self.path)
        git("commit", "-q", "-m", "infra", cwd=self.path)
        self.base = git("rev-parse", "HEAD", cwd=self.path)
        git("checkout", "-q", "-b", "feature", cwd=self.path)

    def commit(self, path: str, text: str) -> str:
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        git("add", ".", cwd=self.path)
        git("commit", "-q", "-m", f"change {path}", cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path)


def pr_payload(action: str, head: str, base: str, *, number: int = 7,
               author_id: int = OWNER_ID, head_repo: str = REPO) -> dict:
    return {
        "action": action, "number": number,
        "pull_request": {
            "number": number, "title": "Tune the stack",
            "html_url": f"https://github.com/{REPO}/pull/{number}",
            "user": {"login": "owner" if author_id == OWNER_ID else "stranger", "id": author_id},
            "head": {"sha": head, "ref": "feature", "repo": {"full_name": head_repo}},
            "base": {"sha": base, "ref": "main", "repo": {"full_name": REPO}},
        },
        "repository": {"full_name": REPO, "default_branch": "main"},
        "sender": {"login": "owner", "id": author_id},
    }


@pytest.fixture
def fake(settings):
    with FakeGitHubAPI(tokens={TOKEN}) as gh:
        settings.GITHUB_API_URL = gh.api_url
        settings.GITHUB_TOKEN = TOKEN
        settings.GITHUB_WEBHOOK_SECRET = SECRET
        settings.OWNER_GITHUB_IDS = [OWNER_ID]
        settings.PUBLIC_URL = "https://portal.example"
        yield gh


@pytest.fixture
def infra(tmp_path, settings, transactional_db, api):
    settings.CATALOG_LOCAL_ROOTS = [tmp_path]
    repo = Infra(tmp_path)
    env = Environment(name="dev", tier="dev", tf_variables={"environment": "dev"})
    env.secret_variables = {"api_token": new_token()}
    env.save()
    response = api.patch("/api/envs/dev/terraform/", {
        "git_url": str(repo.path), "git_ref": "main", "git_path": STACK,
        "github_repo": REPO}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["github_repo"] == REPO
    return repo


def send():
    Post.objects.filter(status=PostState.PENDING).update(next_attempt_at="2000-01-01T00:00Z")
    return outbox.send_due()


def open_pr(client, infra, head, action="opened", **kwargs):
    response = hook(client, "pull_request", pr_payload(action, head, infra.base, **kwargs))
    assert response.status_code == 200, response.content
    return response.json()


def test_github_repo_on_the_terraform_source_is_validated(infra, api):
    bad = api.patch("/api/envs/dev/terraform/", {"github_repo": "no slash"}, format="json")
    assert bad.status_code == 400 and "github_repo" in bad.json()["fields"]


def test_a_pr_plans_at_its_head_with_a_status_and_one_comment(client, fake, infra, api):
    head = infra.commit(f"{STACK}/extra.tf", 'resource "terraform_data" "extra" {}\n')
    answer = open_pr(client, infra, head)
    assert answer["outcome"] == "accepted"
    [run_id] = answer["runs"]
    run = Run.objects.get(pk=run_id)
    assert run.kind == "plan" and run.params["git_sha"] == head
    recorded = run.params["github"]
    assert (recorded["repo"], recorded["number"], recorded["head_sha"], recorded["author"],
            recorded["author_id"]) == (REPO, 7, head, "owner", OWNER_ID)
    send()
    assert [s["state"] for s in fake.statuses_for("eaas-portal/plan/dev")] == ["pending"]
    execute_run(run_id)
    run.refresh_from_db()
    assert run.status == Status.PLANNED, run.error
    assert run.result["git_commit"] == head
    send()
    final = fake.statuses_for("eaas-portal/plan/dev")[-1]
    assert final["state"] == "success" and final["sha"] == head
    counts = PlanArtifact.objects.get(run_id=run_id).counts
    assert final["description"].startswith(f"+{counts['create']} ~0 −0")
    assert final["target_url"] == f"https://portal.example/plans/{run_id}/"
    [comment] = fake.comments.values()
    assert "terraform_data.extra (create)" in comment["body"]
    assert f"https://portal.example/plans/{run_id}/" in comment["body"]

    # A newer head: the old plan is discarded, a new one runs, the same comment is edited.
    newer = infra.commit(f"{STACK}/more.tf", 'resource "terraform_data" "more" {}\n')
    again = open_pr(client, infra, newer, action="synchronize")
    [second] = again["runs"]
    run.refresh_from_db()
    assert run.status == Status.DISCARDED and "head moved" in run.error
    execute_run(second)
    send()
    assert len(fake.comments) == 1
    [comment] = fake.comments.values()
    assert comment["edits"] and "terraform_data.more (create)" in comment["body"]
    assert "Earlier plans" in comment["body"]

    # Approving the old plan is refused; approving the new one applies it.
    stale = api.post(f"/api/runs/{run_id}/approve/", {}, format="json")
    assert stale.status_code == 409
    fake.pull(REPO, 7, head_sha=newer)
    apply = api.post(f"/api/runs/{second}/approve/", {}, format="json")
    assert apply.status_code == 201, apply.content
    execute_run(apply.json()["id"])
    assert Run.objects.get(pk=apply.json()["id"]).status == Status.SUCCEEDED
    send()
    assert fake.statuses_for("eaas-portal/apply/dev")[-1]["state"] == "success"
    assert "Applied to `dev`" in next(iter(fake.comments.values()))["body"]


def test_approve_is_refused_when_the_head_moved_or_the_pr_is_not_approved(client, fake,
                                                                          infra, api,
                                                                          settings):
    head = infra.commit(f"{STACK}/extra.tf", 'resource "terraform_data" "extra" {}\n')
    [run_id] = open_pr(client, infra, head)["runs"]
    execute_run(run_id)
    fake.pull(REPO, 7, head_sha="f" * 40)  # GitHub knows a newer head we missed
    moved = api.post(f"/api/runs/{run_id}/approve/", {}, format="json")
    assert moved.status_code == 409 and moved.json()["error"] == "head_moved"
    settings.GITHUB_REQUIRE_APPROVED_PR = True
    fake.pull(REPO, 7, head_sha=head, changes_requested_by=["reviewer"])
    refused = api.post(f"/api/runs/{run_id}/approve/", {}, format="json")
    assert refused.status_code == 409 and refused.json()["error"] == "pull_not_approved"
    assert Run.objects.get(pk=run_id).status == Status.PLANNED  # still approvable
    fake.pull(REPO, 7, head_sha=head, approved_by=["reviewer"], mergeable=True)
    assert api.post(f"/api/runs/{run_id}/approve/", {}, format="json").status_code == 201


def test_strangers_and_forks_never_plan_by_themselves(client, fake, infra, api):
    head = infra.commit(f"{STACK}/extra.tf", 'resource "terraform_data" "x" {}\n')
    stranger = open_pr(client, infra, head, author_id=999)
    assert stranger["outcome"] == "refused" and stranger["runs"] == []
    fork = open_pr(client, infra, head, number=8, head_repo="mallory/infra")
    assert fork["outcome"] == "refused" and fork["runs"] == []
    assert not Run.objects.filter(kind="plan").exists()
    send()
    bodies = {c["number"]: c["body"] for c in fake.comments.values()}
    assert "not the portal's owner" in bodies[7] and "from a fork" in bodies[8]
    # The owner read it and plans it from the portal.
    pull = PullRequest.objects.get(number=7)
    planned = api.post(f"/api/github/pulls/{pull.pk}/plan/", {"env": "dev"}, format="json")
    assert planned.status_code == 201, planned.content
    assert Run.objects.get(pk=planned.json()["id"]).params["github"]["number"] == 7


def test_closing_discards_and_the_comment_says_so(client, fake, infra):
    head = infra.commit(f"{STACK}/extra.tf", 'resource "terraform_data" "x" {}\n')
    [run_id] = open_pr(client, infra, head)["runs"]
    execute_run(run_id)
    closed = open_pr(client, infra, head, action="closed")
    assert "1 plan(s) discarded" in closed["detail"]
    assert Run.objects.get(pk=run_id).status == Status.DISCARDED
    send()
    assert "was closed" in next(iter(fake.comments.values()))["body"]


def test_a_pr_that_does_not_touch_the_stack_plans_nothing(client, fake, infra):
    head = infra.commit("docs/README.md", "more words\n")
    answer = open_pr(client, infra, head)
    assert answer["runs"] == [] and "not affected" in answer["detail"]


def test_a_pr_against_another_branch_or_repository_is_ignored(client, fake, infra):
    head = infra.commit(f"{STACK}/extra.tf", "# x\n")
    payload = pr_payload("opened", head, infra.base)
    payload["pull_request"]["base"]["ref"] = "release"
    assert "no environment follows" in hook(client, "pull_request", payload).json()["detail"]
    payload = pr_payload("opened", head, infra.base)
    payload["repository"]["full_name"] = "acme/elsewhere"
    assert hook(client, "pull_request", payload).json()["outcome"] == "ignored"
    assert Delivery.objects.filter(outcome="ignored").count() == 2


def test_a_busy_environment_plans_the_pr_when_free(client, fake, infra, api):
    from django_q.models import Schedule

    from envs.github.jobs import plan_pull_later

    busy = Run.start("plan", target="env:dev", lock_key="env:dev", params={"env": "dev"},
                     enqueue=False)
    head = infra.commit(f"{STACK}/extra.tf", 'resource "terraform_data" "x" {}\n')
    answer = open_pr(client, infra, head)
    assert answer["runs"] == [] and "planning when it is free" in answer["detail"]
    schedule = Schedule.objects.get(func="envs.github.jobs.plan_pull_later")
    busy.request_cancel(actor="test")
    args = eval(schedule.args)  # noqa: S307 - what django-q itself does with it
    assert "plan run #" in plan_pull_later(*args)
    assert Run.objects.filter(kind="plan", params__github__number=7).count() == 1

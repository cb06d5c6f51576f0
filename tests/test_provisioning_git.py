"""A Terraform source in a git repository (the owner's private infra repo), fetched with
the catalog's safe git fetcher; the run records the commit it planned."""

from __future__ import annotations

import subprocess

from envs.models import Environment
from portal.runs.models import Run

from .test_provisioning_flow import copy_local_stack, log_of, new_token, run_now


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
                        "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def infra_repo(tmp_path):
    repo = tmp_path / "infra"
    copy_local_stack(repo / "terraform" / "environments" / "local")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "infra", cwd=repo)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    return repo, head


def test_plan_from_a_git_source_records_the_commit(transactional_db, api, tmp_path, settings):
    repo, head = infra_repo(tmp_path)
    settings.CATALOG_LOCAL_ROOTS = [tmp_path]
    env = Environment(name="local", tier="local", tf_variables={"environment": "local"})
    env.secret_variables = {"api_token": new_token()}
    env.save()
    response = api.patch("/api/envs/local/terraform/", {
        "git_url": str(repo), "git_ref": "main", "git_path": "terraform/environments/local",
    }, format="json")
    assert response.status_code == 200, response.content
    pk = api.post("/api/envs/local/plan/", format="json").json()["id"]
    run = run_now(pk)
    assert run.status == "planned", run.error + log_of(pk)
    assert f"at commit {head}" in log_of(pk)
    from envs.provisioning.models import PlanArtifact

    assert PlanArtifact.objects.get(run_id=pk).git_commit == head


def test_git_sources_outside_allowed_places_are_refused(transactional_db, api, tmp_path):
    Environment.objects.create(name="local", tier="local")
    for url in ("file:///etc", "ext::sh -c id", str(tmp_path), "https://127.0.0.1/x.git",
                "ssh://git@github.com/x/y.git"):
        response = api.patch("/api/envs/local/terraform/", {"git_url": url}, format="json")
        assert response.status_code == 400, (url, response.content)
        assert response.json()["fields"]["git_url"]
    assert Run.objects.count() == 0


def test_the_git_token_is_write_only(transactional_db, api, settings):
    Environment.objects.create(name="local", tier="local")
    settings.CATALOG_ALLOWED_HOSTS = ["github.com"]
    token = "ghp_secret_token_value_123456"
    response = api.patch("/api/envs/local/terraform/", {
        "git_url": "https://github.com/example/infra.git", "git_token": token}, format="json")
    # github.com does not resolve offline: the address check refuses it, naming the host.
    if response.status_code == 200:
        assert token not in response.content.decode()
        assert api.get("/api/envs/local/terraform/").json()["git_token_set"] is True
    else:
        assert response.status_code == 400 and token not in response.content.decode()

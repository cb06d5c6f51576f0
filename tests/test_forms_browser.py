"""Refused forms in Chromium: back on the env tab the form was on, the error next to the field
that was wrong, the form's section open and in view, the non-secret values typed kept and
the secret ones empty; the Terraform variables table refusing a bad number next to its row
and asking before saving no variables."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from envs.models import Environment
from envs.secrets.models import Secret
from portal.runs.models import Run

from .conftest import shot
from .test_provisioning_flow import copy_local_stack, make_env

pytestmark = pytest.mark.browser
SECRET_VALUE = "browser-secret-never-kept-7d1e"


def test_a_refused_form_on_an_env_tab_comes_back_in_place(signed_in_page):
    page = signed_in_page
    env = Environment.objects.create(name="dev", tier="dev")
    Secret.objects.create(environment=env, name="DB_PASSWORD")
    page.set_viewport_size({"width": 1280, "height": 520})
    page.goto(f"{page.base}/envs/dev/secrets/")
    details = page.locator("details", has=page.locator("form.secrets-form"))
    details.locator("summary").click()
    form = details.locator("form")
    form.locator("[name=name]").fill("DB_PASSWORD")
    form.locator("[name=value]").fill(SECRET_VALUE)
    form.locator("[name=k8s_secret]").fill("app-env")
    form.locator("[name=terraform_variable]").fill("db_password")
    form.locator("[name=max_age_days]").fill("45")
    form.get_by_role("button", name="Add").click()

    page.wait_for_url("**/envs/dev/secrets/")
    expect(page.locator(".messages")).to_contain_text("already has a secret named DB_PASSWORD")
    assert details.evaluate("d => d.open") is True
    error = form.locator("[name=name] + .field-error")
    expect(error).to_have_text("already exists")
    expect(error).to_be_in_viewport()
    error_id = error.get_attribute("id")
    assert error_id in form.locator("[name=name]").get_attribute("aria-describedby")
    expect(form.locator("[name=name]")).to_have_value("DB_PASSWORD")
    expect(form.locator("[name=k8s_secret]")).to_have_value("app-env")
    expect(form.locator("[name=terraform_variable]")).to_have_value("db_password")
    expect(form.locator("[name=max_age_days]")).to_have_value("45")
    expect(form.locator("[name=value]")).to_have_value("")
    assert SECRET_VALUE not in page.content()
    shot(page, "form-refused")
    # Not kept for later: a reload shows the form as it is.
    page.reload()
    expect(page.locator(".field-error")).to_have_count(0)


def test_a_refusal_of_the_whole_form_goes_in_a_box_at_its_top(signed_in_page, tmp_path):
    page = signed_in_page
    env = make_env(copy_local_stack(tmp_path / "local"))
    holder = Run.start("drift", target=env.target, lock_key=env.lock_key, actor="someone",
                       enqueue=False)
    page.goto(f"{page.base}/envs/local/infrastructure/")
    page.click("#start-plan")
    page.wait_for_url("**/envs/local/infrastructure/")
    box = page.locator("form:has(#start-plan) .form-refusal")
    expect(box).to_contain_text(f"run #{holder.pk}")
    expect(box).to_be_in_viewport()


def test_the_variables_table_refuses_a_bad_number_next_to_its_row(signed_in_page, tmp_path):
    page = signed_in_page
    env = make_env(copy_local_stack(tmp_path / "local"), token="first-tf-token-value")
    page.goto(f"{page.base}/envs/local/infrastructure/")
    table = page.locator("#tf-vars")
    expect(table.locator("tr[data-variable]")).to_have_count(9)
    expect(page.locator("#tf-var-api_token")).to_contain_text("set as a secret variable")
    expect(page.locator("[name='variables.bucket_names']")).to_have_attribute(
        "placeholder", '["eaas-local-backups", "eaas-local-state"]')
    page.fill("[name='variables.zone']", "kept.test")
    page.fill("[name='variables.sleep_seconds']", "ten")
    page.fill("[name=secret_name]", "api_token")
    page.fill("[name=secret_value]", SECRET_VALUE)
    page.get_by_role("button", name="Save variables").click()

    page.wait_for_url("**/envs/local/infrastructure/")
    error = page.locator("#tf-var-sleep_seconds .field-error")
    expect(error).to_have_text('expected a number, got "ten"')
    expect(error).to_be_in_viewport()
    expect(page.locator("[name='variables.zone']")).to_have_value("kept.test")
    expect(page.locator("[name='variables.sleep_seconds']")).to_have_value("ten")
    expect(page.locator("[name=secret_value]")).to_have_value("")
    assert SECRET_VALUE not in page.content()
    env.refresh_from_db()
    assert env.tf_variables == {"environment": "local"}
    assert env.secret_variables == {"api_token": "first-tf-token-value"}
    shot(page, "variables-table")

    page.fill("[name='variables.sleep_seconds']", "10")
    page.get_by_role("button", name="Save variables").click()
    expect(page.locator(".messages")).to_contain_text("Variables saved")
    env.refresh_from_db()
    assert env.tf_variables == {"environment": "local", "zone": "kept.test", "sleep_seconds": 10}

    # Saving no variables asks first.
    for name in ("environment", "zone", "sleep_seconds"):
        page.fill(f"[name='variables.{name}']", "")
    confirm = page.locator("[name=confirm_empty]")
    expect(confirm).to_be_hidden()
    page.get_by_role("button", name="Save variables").click()
    expect(page.locator("[name=confirm_empty] + .field-error")).to_contain_text(
        "Save no variables? The plan will use the defaults")
    expect(confirm).to_be_visible()
    env.refresh_from_db()
    assert env.tf_variables["sleep_seconds"] == 10
    confirm.check()
    page.get_by_role("button", name="Save variables").click()
    expect(page.locator(".messages")).to_contain_text("Variables saved")
    env.refresh_from_db()
    assert env.tf_variables == {}

    # At 390 px the table folds into one column: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    expect(page.locator("#tf-vars")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "variables-table-390")

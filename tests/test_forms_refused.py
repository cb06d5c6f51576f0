"""A refused page form keeps, for the next page only, what the page needs to show the refusal
in place: the form's address, the errors by field and the non-secret values typed; secret
values are never in the session nor the page. Back on the page the form was on."""

from __future__ import annotations

import json

import pytest
from rest_framework.exceptions import ValidationError

from envs.models import Environment
from envs.secrets.models import Secret
from portal.errors import Invalid
from portal.runs.pages import SESSION_KEY, field_errors, refusal, secret_looking

SECRET_VALUE = "hunter2-never-kept-0f9c"
TAB = "/envs/dev/secrets/"
HERE = f"http://testserver{TAB}"
ADD_FIELDS = ["name", "k8s_namespace", "k8s_secret", "k8s_key", "terraform_variable",
              "max_age_days", "generator", "length", "alphabet", "auto_rotate"]


def blob(page: str) -> dict | None:
    marker = 'id="form-refusal" type="application/json">'
    if marker not in page:
        return None
    return json.loads(page.split(marker)[1].split("</script>")[0])


def session_text(client) -> str:
    return json.dumps(dict(client.session.items()))


@pytest.fixture
def dev(db):
    env = Environment.objects.create(name="dev", tier="dev")
    Secret.objects.create(environment=env, name="DB_PASSWORD")
    return env


def add_secret(client, referer: str | None = HERE, **extra):
    data = {"name": "DB_PASSWORD", "value": SECRET_VALUE, "k8s_secret": "app-env",
            "terraform_variable": "db_password_var", "max_age_days": "30",
            "generator": "urlsafe", "length": "32", "alphabet": "",
            # what static/forms.js posts: the fields it may keep (no password input)
            "_keep": ",".join(ADD_FIELDS), "_form": "0", **extra}
    headers = {"HTTP_REFERER": referer} if referer else {}
    return client.post("/envs/dev/secrets/add/", data, **headers)


def test_a_refused_form_keeps_its_errors_and_non_secret_values_for_the_page(signed_in, dev):
    response = add_secret(signed_in)
    assert response.status_code == 302 and response["Location"] == HERE
    kept = signed_in.session[SESSION_KEY]
    assert kept["action"] == "/envs/dev/secrets/add/" and kept["page"] == TAB
    assert kept["form"] == "0" and kept["fields"] == {"name": ["already exists"]}
    assert kept["values"]["name"] == ["DB_PASSWORD"]
    assert kept["values"]["k8s_secret"] == ["app-env"]
    assert "value" not in kept["values"]
    assert kept["values"]["terraform_variable"] == ["db_password_var"]
    assert kept["values"]["auto_rotate"] == []  # listed, left unticked
    assert SECRET_VALUE not in session_text(signed_in)

    page = signed_in.get(TAB).content.decode()
    assert "Refused: dev already has a secret named DB_PASSWORD" in page  # the one line
    shown = blob(page)
    assert shown == kept
    assert SECRET_VALUE not in page
    assert '<script src="/static/forms.js" defer></script>' in page
    # one-shot, like messages
    assert SESSION_KEY not in signed_in.session
    assert blob(signed_in.get(TAB).content.decode()) is None


def test_secret_values_are_never_kept_even_when_listed(signed_in, dev):
    add_secret(signed_in, _keep="name,value,secret_value,kubeconfig,confirm,token")
    text = session_text(signed_in)
    assert SECRET_VALUE not in text
    assert set(signed_in.session[SESSION_KEY]["values"]) == {"name"}
    assert SECRET_VALUE not in signed_in.get(TAB).content.decode()


def test_without_the_page_script_nothing_typed_is_kept(signed_in, dev):
    add_secret(signed_in, _keep="")
    assert signed_in.session[SESSION_KEY]["values"] == {}
    assert "already exists" in signed_in.get(TAB).content.decode()


def test_back_to_the_referer_only_on_this_site(signed_in, dev):
    assert add_secret(signed_in, referer="http://testserver/envs/dev/all/")["Location"] == \
        "http://testserver/envs/dev/all/"
    assert add_secret(signed_in, referer="https://evil.example/envs/dev/")["Location"] == TAB
    assert add_secret(signed_in, referer=None)["Location"] == TAB


def test_a_kept_refusal_shows_only_on_the_page_it_went_back_to(signed_in, dev):
    add_secret(signed_in)
    assert blob(signed_in.get("/envs/dev/deploys/").content.decode()) is None
    assert blob(signed_in.get(TAB).content.decode()) is None  # dropped, not kept for later


def test_a_refusal_escaping_a_view_is_kept_too(signed_in, owner):
    """Notifications let their refusals reach DomainErrorMiddleware."""
    url = f"not-an-apprise-url://user:{SECRET_VALUE}@host"
    response = signed_in.post("/settings/notifications/add/", {
        "name": "phone", "url": url, "events-present": "1", "events": ["run.failed"],
        "_keep": "name,url,events"},
        HTTP_REFERER="http://testserver/settings/notifications/")
    assert response["Location"] == "http://testserver/settings/notifications/"
    kept = signed_in.session[SESSION_KEY]
    assert set(kept["fields"]) == {"url"}
    assert kept["values"] == {"name": ["phone"], "events": ["run.failed"]}
    assert SECRET_VALUE not in session_text(signed_in)
    page = signed_in.get("/settings/notifications/").content.decode()
    assert blob(page)["fields"]["url"] and SECRET_VALUE not in page


def test_field_errors_of_every_refusal_shape():
    assert field_errors(Invalid(detail="x", fields={"image": ["required"]})) == {
        "image": ["required"]}
    assert field_errors(ValidationError({"backend": {"bucket": ["too long"]},
                                         "items": [{"a": ["bad"]}]})) == {
        "backend.bucket": ["too long"], "items.0.a": ["bad"]}
    assert field_errors(ValidationError(["whole form"])) == {}
    assert refusal(ValidationError({"backend": {"bucket": ["too long"]}})) == \
        "Refused: backend.bucket: too long"  # no Python repr of the nested error
    assert "PUT" not in refusal(Invalid(detail="dev already has one; PUT a new value instead"))


@pytest.mark.parametrize("name, secret", [
    ("value", True), ("secret_value", True), ("kubeconfig", True), ("git_token", True),
    ("password", True), ("database_url", True), ("admin_url", True), ("url", True),
    ("confirm", True), ("backend_credentials.secret_access_key", True),
    ("name", False), ("image", False), ("k8s_secret", False), ("secret", True),
    ("variables.zone", False),
    ("component", False), ("repo_url", False),
])
def test_which_names_look_secret(name, secret):
    assert secret_looking(name) is secret


def test_a_big_post_keeps_only_a_bounded_part(signed_in, dev):
    big = {f"f{i}": "x" * 3000 for i in range(40)}
    add_secret(signed_in, _keep=",".join(["name", *big]), **big)
    assert len(json.dumps(signed_in.session[SESSION_KEY]["values"])) < 40000

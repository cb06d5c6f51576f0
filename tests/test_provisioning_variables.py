"""Terraform variables as a typed table built from the variables the stack declares (the real
stacks under terraform/), values checked against the declared types by the page and the
API alike, an empty set asked first, and the raw JSON editor when the stack can't be read."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from envs.models import Environment
from envs.provisioning.sources import declared_variables
from envs.provisioning.vartypes import TypeMismatch, check, parse_type
from portal.runs.pages import SESSION_KEY

from .test_provisioning_flow import copy_local_stack, make_env

ROOT = Path(__file__).resolve().parent.parent
STACKS = sorted(p for p in (ROOT / "terraform").glob("*/*") if list(p.glob("*.tf")))
TAB = "/envs/local/infrastructure/"


def declared_names(stack: Path) -> list[str]:
    """The variables a stack declares, read apart from the portal's reader."""
    names = []
    for tf in sorted(stack.glob("*.tf")):
        names += re.findall(r'^variable\s+"([^"]+)"', tf.read_text(), re.MULTILINE)
    return names


def row(page: str, name: str) -> str:
    match = re.search(rf'<tr id="tf-var-{name}".*?</tr>', page, re.DOTALL)
    assert match, f"no row for {name}"
    return match.group(0)


@pytest.fixture
def local(transactional_db, tmp_path):
    return make_env(copy_local_stack(tmp_path / "local"), token="tf-secret-token-1")


def test_every_real_stack_is_read_with_types_the_checker_knows():
    assert len(STACKS) >= 10
    for stack in STACKS:
        env = Environment(name="x", tf_directory=str(stack))
        declared = declared_variables(env)
        assert declared is not None, stack
        assert list(declared) == declared_names(stack), stack
        for name, spec in declared.items():
            parsed = parse_type(spec["type"])
            assert str(parsed).replace(" ", "") == spec["type"].replace(" ", ""), (stack, name)
            if spec["sensitive"]:
                assert "default" not in spec  # never shown, not even the stack's default
    local = declared_variables(Environment(
        name="x", tf_directory=str(ROOT / "terraform/environments/local")))
    assert local["sleep_seconds"] == {"sensitive": False, "required": False, "type": "number",
                                      "default": 0, "description": local["sleep_seconds"][
                                          "description"]}
    assert local["bucket_names"]["default"] == ["eaas-local-backups", "eaas-local-state"]
    assert local["api_token"]["sensitive"] and local["api_token"]["required"]


def test_types_and_values_as_terraform_converts_them():
    obj = parse_type("${object({name = string, size = optional(number, 3), tags = list(string)})}")
    assert check(obj, {"name": "n", "tags": ["a", 1]}) == {"name": "n", "tags": ["a", "1"]}
    with pytest.raises(TypeMismatch, match=r'^tags\[1\]: expected a string'):
        check(obj, {"name": "n", "tags": ["a", {"x": 1}]})
    with pytest.raises(TypeMismatch, match='attribute "name" is required'):
        check(obj, {"tags": []})
    with pytest.raises(TypeMismatch, match='unexpected attribute "colour"'):
        check(obj, {"name": "n", "tags": [], "colour": "red"})
    assert check(parse_type("number"), "5") == 5 and check(parse_type("number"), "1.5") == 1.5
    with pytest.raises(TypeMismatch, match='expected a number, got "abc"'):
        check(parse_type("number"), "abc")
    assert check(parse_type("bool"), "true") is True
    with pytest.raises(TypeMismatch, match="expected true or false"):
        check(parse_type("bool"), "yes")
    with pytest.raises(TypeMismatch, match=r"^team: expected a string"):
        check(parse_type("map(string)"), {"team": ["x"]})
    assert check(parse_type("tuple([string, number])"), ["a", "2"]) == ["a", 2]
    assert str(parse_type("set(map(bool))")) == "set(map(bool))"
    assert check(parse_type(None), {"any": [1]}) == {"any": [1]}
    with pytest.raises(ValueError):
        parse_type("list(")


def test_the_table_has_a_typed_row_per_declared_variable(signed_in, local):
    page = unescape(signed_in.get(TAB).content.decode())
    table = page.split('id="tf-vars"')[1].split("</table>")[0]
    assert re.findall(r'<tr id="tf-var-([^"]+)"', table) == declared_names(
        ROOT / "terraform/environments/local")
    zone = row(page, "zone")
    assert 'type="text" name="variables.zone"' in zone and 'placeholder="example.test"' in zone
    assert "DNS zone the environment records live in." in zone
    assert 'value="local"' in row(page, "environment")
    sleep = row(page, "sleep_seconds")
    assert 'inputmode="decimal"' in sleep and 'placeholder="0"' in sleep and ">number<" in sleep
    buckets = row(page, "bucket_names")
    assert '<textarea name="variables.bucket_names"' in buckets
    assert 'placeholder="["eaas-local-backups", "eaas-local-state"]"' in buckets
    token = row(page, "api_token")
    assert "variables.api_token" not in token and "set as a secret variable" in token
    assert 'href="#tf-secret-name"' in token and "tf-secret-token-1" not in page
    assert 'name="variables"' not in page  # no raw editor: the stack is readable
    for repr_ in (">None<", ">True<", ">False<", "{'"):
        assert repr_ not in table


def test_a_bool_is_a_select_and_required_ones_say_so(signed_in, transactional_db):
    Environment.objects.create(name="dev", tier="dev",
                               tf_directory=str(ROOT / "terraform/environments/dev"))
    page = unescape(signed_in.get("/envs/dev/infrastructure/").content.decode())
    apex = row(page, "dns_apex")
    assert '<select name="variables.dns_apex"' in apex and "default (false)" in apex
    assert "required" in row(page, "zone_name") and "required" not in apex
    assert '<textarea name="variables.kube_cluster_ca_certificate"' in page  # a PEM: lines


def test_the_table_saves_typed_values(signed_in, local):
    response = signed_in.post("/envs/local/variables/", {
        "variables.environment": "local", "variables.zone": "t.test",
        "variables.sleep_seconds": "5", "variables.labels": '{"team": "x", "n": 2}',
        "variables.bucket_names": "", "variables.vps_ipv4": ""},
        HTTP_REFERER=f"http://testserver{TAB}")
    assert response.status_code == 302 and response["Location"] == TAB
    local.refresh_from_db()
    assert local.tf_variables == {"environment": "local", "zone": "t.test", "sleep_seconds": 5,
                                  "labels": {"team": "x", "n": "2"}}
    assert local.secret_variables == {"api_token": "tf-secret-token-1"}
    page = unescape(signed_in.get(TAB).content.decode())
    assert 'value="5"' in row(page, "sleep_seconds")
    assert '"team": "x"' in row(page, "labels") and '"n": "2"' in row(page, "labels")


@pytest.mark.parametrize("field, typed, message", [
    ("variables.sleep_seconds", "abc", 'expected a number, got "abc"'),
    ("variables.labels", '["x"]', "expected an object of name -> value"),
    ("variables.labels", '{"team": ', "not valid JSON"),
    ("variables.nope", "x", "the stack declares no such variable"),
])
def test_a_wrong_value_is_refused_next_to_its_row(signed_in, local, field, typed, message):
    before = dict(local.tf_variables)
    response = signed_in.post("/envs/local/variables/", {
        "variables.environment": "local", "variables.zone": "kept.test", field: typed,
        "_keep": f"variables.environment,variables.zone,{field}"},
        HTTP_REFERER=f"http://testserver{TAB}", follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == f"http://testserver{TAB}"
    assert message in unescape(page) and field.split(".", 1)[1] in page
    local.refresh_from_db()
    assert local.tf_variables == before  # nothing half-written
    refusal = json.loads(page.split('id="form-refusal" type="application/json">')[1]
                         .split("</script>")[0])
    assert message in refusal["fields"][field][0]
    assert refusal["values"]["variables.zone"] == ["kept.test"]
    assert refusal["action"] == "/envs/local/variables/" and refusal["page"] == TAB
    assert SESSION_KEY not in signed_in.session  # one-shot


def test_a_secret_variable_the_stack_does_not_declare_is_refused_next_to_its_name(signed_in,
                                                                                  local):
    response = signed_in.post("/envs/local/variables/", {
        "variables.environment": "local", "secret_name": "nope",
        "secret_value": "never-kept-secret-9", "_keep": "variables.environment,secret_name"},
        HTTP_REFERER=f"http://testserver{TAB}", follow=True)
    page = response.content.decode()
    kept = json.loads(page.split('id="form-refusal" type="application/json">')[1]
                      .split("</script>")[0])
    assert kept["fields"] == {"secret_name": ["the stack declares no such variable"]}
    assert kept["values"] == {"variables.environment": ["local"], "secret_name": ["nope"]}
    assert "never-kept-secret-9" not in page and "never-kept-secret-9" not in json.dumps(
        dict(signed_in.session.items()))
    local.refresh_from_db()
    assert local.secret_variable_names == ["api_token"]


def test_an_empty_set_asks_first(signed_in, local):
    blank = {"variables.environment": "", "variables.zone": ""}
    response = signed_in.post("/envs/local/variables/", blank, follow=True)
    assert "Save no variables? The plan will use the defaults" in response.content.decode()
    local.refresh_from_db()
    assert local.tf_variables == {"environment": "local"}
    page = signed_in.get(TAB).content.decode()
    assert 'name="confirm_empty"' in page and "data-refusal-reveal" in page
    response = signed_in.post("/envs/local/variables/", {**blank, "confirm_empty": "true"})
    assert response.status_code == 302
    local.refresh_from_db()
    assert local.tf_variables == {} and local.secret_variable_names == ["api_token"]


def test_a_variable_the_stack_no_longer_declares_is_listed_and_removed(signed_in, local):
    local.tf_variables = {"environment": "local", "retired": "x"}
    local.save()
    page = signed_in.get(TAB).content.decode()
    assert "<code>retired</code>" in page.split('id="tf-undeclared"')[1].split("</p>")[0]
    signed_in.post("/envs/local/variables/", {"variables.environment": "local"})
    local.refresh_from_db()
    assert local.tf_variables == {"environment": "local"}


def test_the_api_checks_the_declared_types_the_same_way(api, local):
    url = "/api/envs/local/variables/"
    bad = api.patch(url, {"variables": {"sleep_seconds": "abc"}}, format="json")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid"
    assert bad.json()["fields"] == {"variables.sleep_seconds": ['expected a number, got "abc"']}
    assert "sleep_seconds" in bad.json()["detail"]
    bad = api.put(url, {"variables": {"nope": 1, "environment": "local"}}, format="json")
    assert bad.status_code == 400 and "nope: the stack declares no such variable" in \
        bad.json()["detail"]
    bad = api.patch(url, {"variables": {"api_token": "plain"}}, format="json")
    assert bad.status_code == 400 and "declared sensitive" in bad.json()["detail"]
    bad = api.patch(url, {"secret_variables": {"nope": "v"}}, format="json")
    assert bad.status_code == 400 and "secret_variables.nope" in bad.json()["fields"]
    local.refresh_from_db()
    assert local.tf_variables == {"environment": "local"}
    body = api.patch(url, {"variables": {"sleep_seconds": "7", "labels": {"a": 1}}},
                     format="json").json()
    assert body["variables"] == {"environment": "local", "sleep_seconds": 7,
                                 "labels": {"a": "1"}}
    assert body["declared"]["zone"]["type"] == "string"
    assert body["declared"]["zone"]["default"] == "example.test"
    assert "default" not in body["declared"]["api_token"]


def test_a_stack_that_cannot_be_read_keeps_the_raw_json_editor(signed_in, api, transactional_db,
                                                               tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "main.tf").write_text('variable "x" {\n  type = \n')
    Environment.objects.create(name="local", tier="local", tf_directory=str(broken))
    page = signed_in.get(TAB).content.decode()
    assert 'id="tf-raw-note"' in page and "cannot be read here" in page
    assert '<textarea name="variables"' in page and 'id="tf-vars"' not in page
    response = signed_in.post("/envs/local/variables/", {"variables": '{"anything": [1]}'})
    assert response.status_code == 302
    assert Environment.objects.get().tf_variables == {"anything": [1]}
    assert api.patch("/api/envs/local/variables/", {"variables": {"other": "x"}},
                     format="json").status_code == 200
    bad = signed_in.post("/envs/local/variables/", {"variables": "[1"}, follow=True)
    assert "not valid JSON" in bad.content.decode()


def test_a_git_source_says_why_its_variables_are_json(signed_in, transactional_db):
    Environment.objects.create(name="local", tier="local",
                               tf_git_url="https://github.com/acme/infra.git")
    page = signed_in.get(TAB).content.decode()
    assert "The stack comes from git" in page and '<textarea name="variables"' in page

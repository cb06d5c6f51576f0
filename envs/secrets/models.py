"""Secrets of an environment: write-only values, their history (never values) and the
owner-supplied values waiting for a rotation run.

A Secret is the environment variable it provides. It lives in a Kubernetes Secret
(namespace, secret, key) and/or is a Terraform variable of its environment. ``version``
counts committed values; ``cluster_version`` is the version the Kubernetes Secret holds
(written by a successful run), so "stored but not in the cluster" is visible.
"""

from __future__ import annotations

import secrets as pysecrets
import string
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from envs.models import Environment
from portal.lib.crypto import EncryptedTextField
from portal.runs.choices import ACTIVE
from portal.runs.models import Run

env_var_name = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$",
    "an environment variable name: uppercase letters, digits and '_', not starting with "
    "a digit",
)
MAX_VALUE_LENGTH = 65536
DEFAULT_MAX_AGE_DAYS = 90


class Generator(models.TextChoices):
    PASSWORD = "password", "password (letters, digits, punctuation)"
    HEX = "hex", "hex token"
    URLSAFE = "urlsafe", "URL-safe token"
    ALPHABET = "alphabet", "length + alphabet"


class How(models.TextChoices):
    CREATE = "create"
    SET = "set"
    ROTATE = "rotate"
    IMPORT = "import"


# Punctuation that survives shells, URLs' userinfo after quoting, YAML and .env files.
PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.~!@#%^*+="


def generate(kind: str, length: int, alphabet: str = "") -> str:
    """A new value by policy. ``length`` counts characters (bytes of entropy for hex and
    url-safe tokens are derived so the text has about that length)."""
    length = max(8, min(int(length or 32), 4096))
    if kind == Generator.HEX:
        return pysecrets.token_hex((length + 1) // 2)[:length]
    if kind == Generator.URLSAFE:
        return pysecrets.token_urlsafe(length)[:length]
    chars = alphabet if kind == Generator.ALPHABET and alphabet else PASSWORD_ALPHABET
    if kind == Generator.PASSWORD:
        # Retry until every class is present: some consumers insist on it.
        while True:
            value = "".join(pysecrets.choice(chars) for _ in range(length))
            if (any(c.islower() for c in value) and any(c.isupper() for c in value)
                    and any(c.isdigit() for c in value)):
                return value
    return "".join(pysecrets.choice(chars) for _ in range(length))


class Secret(models.Model):
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE,
                                    related_name="secrets")
    name = models.CharField(max_length=128, validators=[env_var_name],
                            help_text="the environment variable it provides")
    value = EncryptedTextField(null=True, blank=True,
                               help_text="write-only; null until the first value is committed")
    version = models.PositiveIntegerField(default=0)
    cluster_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="version the Kubernetes Secret holds, when known")
    # --- placement ---------------------------------------------------------------------
    k8s_namespace = models.CharField(max_length=63, blank=True,
                                     help_text="blank: the environment's namespace")
    k8s_secret = models.CharField(max_length=253, blank=True)
    k8s_key = models.CharField(max_length=253, blank=True, help_text="blank: the name")
    tf_variable = models.CharField(max_length=128, blank=True)
    # --- rotation policy ---------------------------------------------------------------
    max_age_days = models.PositiveIntegerField(default=DEFAULT_MAX_AGE_DAYS)
    generator = models.CharField(max_length=10, choices=Generator.choices,
                                 default=Generator.PASSWORD)
    length = models.PositiveSmallIntegerField(default=32)
    alphabet = models.CharField(max_length=200, blank=True)
    auto_rotate = models.BooleanField(default=False)
    # --- who and when --------------------------------------------------------------------
    set_at = models.DateTimeField(null=True, blank=True)
    set_by = models.CharField(max_length=150, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["environment__name", "name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"],
                                               name="secrets_unique_name_per_env")]

    def __str__(self) -> str:
        return f"{self.name} in {self.environment.name}"

    def clean(self) -> None:
        checks = (
            ("k8s_secret", r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "a Kubernetes object name: "
             "lowercase letters, digits, '-' and '.'"),
            ("k8s_namespace", r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "a namespace name"),
            ("k8s_key", r"^[-._a-zA-Z0-9]+$", "a Secret key: letters, digits, '-', '_', '.'"),
            ("tf_variable", r"^[A-Za-z_][A-Za-z0-9_-]*$", "a Terraform variable name"),
        )
        errors = {}
        for field, pattern, message in checks:
            value = getattr(self, field)
            if value:
                try:
                    RegexValidator(pattern, message)(value)
                except ValidationError:
                    errors[field] = [message]
        if self.generator == Generator.ALPHABET and len(set(self.alphabet)) < 2:
            errors["alphabet"] = ["give at least two distinct characters"]
        if errors:
            raise ValidationError(errors)

    # --- placement -----------------------------------------------------------------------
    @property
    def in_kubernetes(self) -> bool:
        return bool(self.k8s_secret)

    @property
    def key(self) -> str:
        return self.k8s_key or self.name

    @property
    def namespace(self) -> str:
        return self.k8s_namespace or self.environment.namespace

    def placement_text(self) -> str:
        parts = []
        if self.in_kubernetes:
            parts.append(f"secret {self.namespace}/{self.k8s_secret} key {self.key}")
        if self.tf_variable:
            parts.append(f"Terraform variable {self.tf_variable}")
        return " and ".join(parts) or "stored in the portal only"

    # --- age against the policy ----------------------------------------------------------
    @property
    def changed_at(self):
        return self.rotated_at or self.set_at

    @property
    def age_days(self) -> int | None:
        if self.changed_at is None:
            return None
        return (timezone.now() - self.changed_at).days

    @property
    def due_at(self):
        if self.changed_at is None:
            return None
        return self.changed_at + timedelta(days=self.max_age_days)

    @property
    def overdue(self) -> bool:
        return self.is_overdue(self.changed_at, self.max_age_days)

    @staticmethod
    def is_overdue(changed_at, max_age_days: int, now=None) -> bool:
        """The policy on plain values, for lists read with values_list (the dashboard)."""
        return changed_at is not None and (now or timezone.now()) > changed_at + timedelta(
            days=max_age_days)

    @property
    def in_cluster(self) -> bool | None:
        """Whether the Kubernetes Secret holds the stored version (None: not placed there)."""
        if not self.in_kubernetes:
            return None
        return self.version > 0 and self.cluster_version == self.version

    def active_run(self):
        """The queued/running rotation of this secret, if any."""
        if hasattr(self, "_active_run"):  # set for a whole list by with_active_runs()
            return self._active_run
        for run in Run.objects.filter(kind="rotate_secret", target=self.environment.target,
                                      status__in=ACTIVE):
            if self.pk in (run.params or {}).get("secrets", []):
                return run
        return None

    @staticmethod
    def with_active_runs(secrets) -> list[Secret]:
        """The secrets, each with its active rotation looked up in one query for the whole
        list (a list page must not run a query per secret)."""
        secrets = list(secrets)
        targets = {s.environment.target for s in secrets}
        by_secret: dict[int, Run] = {}
        if targets:
            for run in Run.objects.filter(kind="rotate_secret", target__in=targets,
                                          status__in=ACTIVE):
                for pk in (run.params or {}).get("secrets", []):
                    by_secret.setdefault(pk, run)
        for secret in secrets:
            secret._active_run = by_secret.get(secret.pk)
        return secrets


class SecretVersion(models.Model):
    """One committed value of a secret: who, when, how. Never the value."""

    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    how = models.CharField(max_length=10, choices=How.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.CharField(max_length=150)
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["secret", "version"],
                                               name="secrets_unique_version")]


class PendingValue(models.Model):
    """A value handed to a rotation run without putting it in the run's params.

    ``value`` is the owner's new value (or the generated one, stored before it is written
    anywhere so a crashed run can be understood); ``previous`` is what the Kubernetes
    Secret held, kept only while the run may need to put it back. The run deletes the row
    when it ends; a row left behind names a run that died half-way.
    """

    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="pending")
    value = EncryptedTextField(null=True, blank=True)
    previous = EncryptedTextField(null=True, blank=True)
    how = models.CharField(max_length=10, choices=How.choices, default=How.ROTATE)
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)


# --- read by other features ------------------------------------------------------------
def terraform_secret_variables(env: Environment) -> dict[str, str]:
    """Secret Terraform variables this app provides for ``env``'s plans: {variable: value}.

    Provisioning merges it over ``env.secret_variables`` and registers every value with
    ``ctx.secret``; a rotated value is used by the next plan."""
    return {s.tf_variable: s.value for s in Secret.objects.filter(environment=env)
            .exclude(tf_variable="") if s.value is not None}


def versions_in_effect(env: Environment, namespace: str) -> dict[str, int]:
    """{secret name: version} of the secrets the Kubernetes Secrets of ``namespace`` hold,
    recorded by deploys with each release."""
    out = {}
    for s in env.secrets.exclude(k8s_secret=""):  # one environment: one namespace look-up
        if s.namespace == namespace and s.cluster_version:
            out[s.name] = s.cluster_version
    return out

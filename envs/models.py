"""Environments: dev/test/prod (and local/platform), one per Terraform stack folder."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from portal.lib.crypto import EncryptedTextField

from .choices import Tier

dns_label = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    "a DNS-1123 label: lowercase letters, digits and '-', 1-63 characters, "
    "starting and ending with a letter or digit",
)


class Environment(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[dns_label])
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.DEV)
    description = models.TextField(blank=True)
    kubeconfig = EncryptedTextField(
        null=True, blank=True, help_text="cluster connection; write-only, encrypted at rest"
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

    def lock_holder(self):
        from portal.runs.models import Lock

        return Lock.holder(self.lock_key)

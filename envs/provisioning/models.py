"""What provisioning keeps: saved plans awaiting review, the state seen after each apply,
drift, and force-stop requests.

Plan files and local state hold secret values in clear (Terraform embeds every variable
in a saved plan); they are stored only as Fernet tokens (portal.lib.crypto.encrypt_bytes)
and decrypted into a run's private directory, which the job frame removes.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from envs.models import Environment
from portal.lib import crypto
from portal.runs.models import Run


class PlanMode(models.TextChoices):
    PLAN = "plan"
    DESTROY = "destroy"


class PlanArtifact(models.Model):
    """A saved plan of a run that ended ``planned``: exactly what its apply will apply."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="plan_artifact")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="plans")
    mode = models.CharField(max_length=10, choices=PlanMode.choices, default=PlanMode.PLAN)
    plan_encrypted = models.BinaryField(null=True, help_text="Fernet token of the plan file")
    plan_sha256 = models.CharField(max_length=64)
    # HMAC (key derived from the encryption key) over the configuration hash, the variable
    # values (secret ones included), backend settings and engine: equal iff nothing changed.
    fingerprint = models.CharField(max_length=64)
    config_hash = models.CharField(max_length=64)
    git_commit = models.CharField(max_length=64, blank=True)
    state_serial = models.IntegerField(null=True)
    state_lineage = models.CharField(max_length=64, blank=True)
    resource_changes = models.JSONField(default=list, help_text="sensitive values masked")
    output_changes = models.JSONField(default=list, help_text="sensitive values masked")
    counts = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    discarded_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"plan of run #{self.run_id} ({self.environment.name})"

    def store_plan(self, data: bytes) -> None:
        self.plan_encrypted = crypto.encrypt_bytes(data)

    def plan_bytes(self) -> bytes:
        if not self.plan_encrypted:
            raise ValueError("the plan file was purged (applied or discarded)")
        return crypto.decrypt_bytes(bytes(self.plan_encrypted))

    @property
    def expires_at(self):
        return self.created_at + timedelta(minutes=settings.PLAN_MAX_AGE_MINUTES)

    @property
    def too_old(self) -> bool:
        return timezone.now() > self.expires_at

    def purge(self, reason: str = "") -> None:
        """Drop the encrypted plan (it holds secrets) once it can no longer be applied."""
        fields: dict[str, str | None] = {"plan_encrypted": None}
        if reason:
            fields["discarded_reason"] = reason[:500]
        PlanArtifact.objects.filter(pk=self.pk).update(**fields)
        for key, value in fields.items():
            setattr(self, key, value)


class StateSnapshot(models.Model):
    """What the environment's state held after the last portal run that touched it."""

    environment = models.OneToOneField(
        Environment, on_delete=models.CASCADE, related_name="state_snapshot"
    )
    serial = models.IntegerField(null=True)
    lineage = models.CharField(max_length=64, blank=True)
    outputs = models.JSONField(default=dict, help_text="name -> {value, sensitive}; masked")
    # The outputs' real values (sensitive ones included), for actions that consume an
    # output, such as filling a cluster connection from a platform's `kubeconfig`.
    output_values = crypto.EncryptedTextField(
        null=True, blank=True, help_text="JSON name -> value; encrypted, never shown")
    resources = models.JSONField(default=list, help_text="addresses and types in state")
    last_apply_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_applied_at = models.DateTimeField(null=True, blank=True)
    # Local state (no S3 backend): the whole state file, encrypted.
    local_state = models.BinaryField(null=True)
    # When saving state failed: Terraform's errored.tfstate, encrypted, until recovered.
    errored_state = models.BinaryField(null=True)
    errored_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"state of {self.environment.name} (serial {self.serial})"

    @classmethod
    def for_env(cls, env: Environment) -> StateSnapshot:
        snapshot, _ = cls.objects.get_or_create(environment=env)
        return snapshot

    def output_value(self, name: str) -> tuple[bool, object]:
        """(found, value) of an output as the last run that read the state left it."""
        values = json.loads(self.output_values) if self.output_values else {}
        return (name in values, values.get(name))

    def local_state_bytes(self) -> bytes | None:
        if not self.local_state:
            return None
        return crypto.decrypt_bytes(bytes(self.local_state))

    def errored_state_bytes(self) -> bytes | None:
        if not self.errored_state:
            return None
        return crypto.decrypt_bytes(bytes(self.errored_state))


class DriftState(models.TextChoices):
    UNKNOWN = "unknown"
    IN_SYNC = "in-sync", "in sync"
    DRIFTED = "drifted"
    ERROR = "error"


class DriftStatus(models.Model):
    environment = models.OneToOneField(
        Environment, on_delete=models.CASCADE, related_name="drift_status"
    )
    status = models.CharField(max_length=10, choices=DriftState.choices,
                              default=DriftState.UNKNOWN)
    drifted = models.JSONField(default=list, help_text="[{address, reason, actions}]")
    message = models.TextField(blank=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.environment.name}: {self.status}"


class ForceStop(models.Model):
    """The owner asked to kill a Terraform run that did not stop after its cancel. The job
    polls for this row (a table, not a file: the API and the worker may not share a disk)."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="force_stop")
    requested_at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150)

    def __str__(self) -> str:
        return f"force stop of run #{self.run_id}"

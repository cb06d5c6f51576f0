"""Deploy targets and releases.

A Target ties a catalog Component to an environment: a Deployment + container, or a
KuberoApp, in a namespace. A Release is one successful deploy, rollback or promotion: what
image (and digest) runs, who put it there and why, and the container's non-secret env, so a
rollback restores configuration and not only the image.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from envs.models import Environment
from portal.runs.models import Run

from .components import short
from .images import pin


class Target(models.Model):
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE,
                                    related_name="deploy_targets")
    component = models.CharField(max_length=255, help_text="entity ref, lowercase: "
                                 "component:<namespace>/<name>")
    namespace = models.CharField(max_length=63, blank=True,
                                 help_text="blank: the environment's namespace")
    deployment = models.CharField(max_length=253, blank=True)
    container = models.CharField(max_length=63, blank=True)
    kuberoapp = models.CharField(max_length=253, blank=True)
    # True when the owner named the object; False when found through catalog annotations
    explicit = models.BooleanField(default=False)
    auto_rollback = models.BooleanField(default=True)
    rollout_timeout = models.PositiveIntegerField(
        null=True, blank=True, help_text="seconds; blank: progressDeadlineSeconds + grace")
    unresolved_reason = models.TextField(blank=True)
    candidates = models.JSONField(default=list, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["environment__name", "component"]
        constraints = [models.UniqueConstraint(fields=["environment", "component"],
                                               name="deploy_target_unique")]

    def __str__(self) -> str:
        return f"{self.component} in {self.environment.name}"

    @property
    def component_name(self) -> str:
        return short(self.component)

    @property
    def kind(self) -> str:
        if self.kuberoapp:
            return "kuberoapp"
        return "deployment" if self.deployment else ""

    @property
    def resolved(self) -> bool:
        return bool(self.kuberoapp or (self.deployment and self.container))

    def effective_namespace(self) -> str:
        return self.namespace or self.environment.namespace

    def describe(self) -> str:
        ns = self.effective_namespace()
        if self.kuberoapp:
            return f"KuberoApp {ns}/{self.kuberoapp}"
        if self.deployment:
            return f"deployment {ns}/{self.deployment} container {self.container or '?'}"
        return f"not resolved in namespace {ns}"

    def live_release(self) -> Release | None:
        return (Release.objects.filter(environment=self.environment, component=self.component,
                                       status=Release.Status.LIVE).order_by("-id").first())

    def to_dict(self) -> dict:
        return {
            "id": self.pk, "component": self.component, "environment": self.environment.name,
            "namespace": self.namespace, "effective_namespace": self.effective_namespace(),
            "kind": self.kind, "deployment": self.deployment, "container": self.container,
            "kuberoapp": self.kuberoapp, "explicit": self.explicit,
            "auto_rollback": self.auto_rollback, "rollout_timeout": self.rollout_timeout,
            "resolved": self.resolved, "unresolved_reason": self.unresolved_reason,
            "candidates": self.candidates, "resolved_at": self.resolved_at,
        }


class Release(models.Model):
    class Status(models.TextChoices):
        LIVE = "live"  # the latest successful release of this component here
        SUPERSEDED = "superseded"

    class Action(models.TextChoices):
        DEPLOY = "deploy"
        ROLLBACK = "rollback"
        PROMOTE = "promote"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE,
                                    related_name="releases")
    component = models.CharField(max_length=255)
    target = models.ForeignKey(Target, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="releases")
    workload = models.CharField(max_length=300, help_text="e.g. deployment dev/shop container "
                                "app, at the time of the release")
    image = models.CharField(max_length=512)
    digest = models.CharField(max_length=80, blank=True, help_text="sha256:... as reported "
                              "by the cluster (pod imageID) or pinned in the image reference")
    previous_image = models.CharField(max_length=512, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.DEPLOY)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.LIVE)
    reason = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL)
    actor = models.CharField(max_length=150)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="releases")
    # {"plain": {NAME: value}, "refs": {NAME: "secretKeyRef db/pw"}, "env_from": [...]}:
    # plain values only; of valueFrom/envFrom only what they point at, never the values.
    env = models.JSONField(default=dict, blank=True)
    secret_versions = models.JSONField(default=dict, blank=True)
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", help_text="the release restored")
    promoted_from = models.CharField(max_length=63, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["environment", "component", "-created_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.component} {self.image} in {self.environment.name}"

    @property
    def pinned(self) -> str:
        """The exact image to run elsewhere: by digest when known."""
        return pin(self.image, self.digest)

    def to_dict(self) -> dict:
        return {
            "id": self.pk, "environment": self.environment.name, "component": self.component,
            "workload": self.workload, "image": self.image, "digest": self.digest,
            "previous_image": self.previous_image, "action": self.action,
            "status": self.status, "reason": self.reason, "actor": self.actor,
            "run": self.run_id, "env": self.env, "secret_versions": self.secret_versions,
            "rollback_of": self.rollback_of_id, "promoted_from": self.promoted_from,
            "created_at": self.created_at,
        }

"""What recovery keeps about itself: the self-backups taken (the bucket or directory is the
truth; these rows are for the page and the API), the portal drills, and each download of
the recovery kit (when, and under which key fingerprint)."""

from __future__ import annotations

from django.db import models

from portal.runs.models import Run


class SelfBackup(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    key = models.CharField(max_length=400)
    location = models.CharField(max_length=20)  # "bucket" | "local"
    where = models.CharField(max_length=400, blank=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    engine = models.CharField(max_length=20, blank=True)
    portal_version = models.CharField(max_length=40, blank=True)
    counts = models.JSONField(default=dict)
    schema = models.JSONField(default=dict)
    pre_migrate = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.key

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def rows(self) -> int:
        return sum(int(n) for n in self.counts.values())


class PortalDrill(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    key = models.CharField(max_length=400)
    passed = models.BooleanField(default=False)
    detail = models.TextField(blank=True)
    seconds = models.FloatField(default=0)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"drill of {self.key} ({'passed' if self.passed else 'failed'})"


class KitDownload(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"kit downloaded {self.created_at:%Y-%m-%d %H:%M} by {self.actor}"

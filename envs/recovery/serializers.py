"""Shapes of the recovery API: a self-backup (never its key material) and the status."""

from __future__ import annotations

from rest_framework import serializers

from .models import PortalDrill, SelfBackup


class SelfBackupSerializer(serializers.ModelSerializer):
    verified = serializers.BooleanField(read_only=True)
    rows = serializers.IntegerField(read_only=True)

    class Meta:
        model = SelfBackup
        fields = ["id", "created_at", "key", "location", "where", "size", "sha256", "verified",
                  "verified_at", "engine", "portal_version", "rows", "counts", "schema",
                  "pre_migrate", "deleted_at", "run"]
        read_only_fields = fields


class DrillSerializer(serializers.ModelSerializer):
    class Meta:
        model = PortalDrill
        fields = ["id", "created_at", "key", "passed", "detail", "seconds", "run"]
        read_only_fields = fields


class StatusSerializer(serializers.Serializer):
    where = serializers.CharField()
    offsite = serializers.BooleanField()
    last_backup = SelfBackupSerializer(allow_null=True)
    drill = DrillSerializer(allow_null=True, help_text="the last passed drill")
    drill_days = serializers.IntegerField(allow_null=True)
    kit_downloaded_at = serializers.DateTimeField(allow_null=True)
    kit_stale = serializers.BooleanField()
    hour = serializers.IntegerField()
    retention_days = serializers.IntegerField()


def status_data(status: dict) -> dict:
    kit = status["kit"]
    return {**{k: status[k] for k in ("where", "offsite", "last_backup", "drill", "drill_days",
                                      "kit_stale", "hour", "retention_days")},
            "kit_downloaded_at": kit.created_at if kit else None}

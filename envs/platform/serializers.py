"""What ``GET /api/platform/`` answers: per service its namespace, addresses, workloads
(ready/desired), images, volumes and health; and whether the cluster answered."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class WorkloadSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="Deployment or StatefulSet")
    name = serializers.CharField()
    ready = serializers.IntegerField()
    desired = serializers.IntegerField()
    images = serializers.ListField(child=serializers.CharField())


class VolumeSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.CharField(help_text="capacity when bound, else the requested size")
    requested = serializers.CharField()
    phase = serializers.CharField()
    storage_class = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    reachable = serializers.BooleanField()
    detail = serializers.CharField()
    checked_at = serializers.CharField()
    endpoint = serializers.CharField(required=False)


class ServiceSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    namespace = serializers.CharField(allow_blank=True)
    address = serializers.CharField(allow_blank=True, help_text="in-cluster address")
    url = serializers.CharField(allow_blank=True, help_text="public URL of its UI")
    state = serializers.CharField(help_text="ready, not_ready, absent or unknown")
    not_ready_since = serializers.DateTimeField(allow_null=True)
    alerted = serializers.BooleanField(help_text="platform.unhealthy went out for it")
    checked_at = serializers.DateTimeField(allow_null=True)
    workloads = WorkloadSerializer(many=True)
    volumes = VolumeSerializer(many=True)
    images = serializers.ListField(child=serializers.CharField())
    health = HealthSerializer(allow_null=True, help_text="SigNoz and PostHog only")
    error = serializers.CharField(allow_blank=True)


class ClusterSerializer(serializers.Serializer):
    reachable = serializers.BooleanField(allow_null=True,
                                         help_text="null: not configured or refused")
    unreachable_since = serializers.DateTimeField(allow_null=True)
    last_ok_at = serializers.DateTimeField(allow_null=True)
    checked_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class PlatformSerializer(serializers.Serializer):
    environment = serializers.CharField(help_text="the platform-services environment")
    environment_exists = serializers.BooleanField()
    outputs_recorded = serializers.BooleanField(
        help_text="whether an apply of the stack left its services output")
    cluster = ClusterSerializer()
    services = ServiceSerializer(many=True)
    ready = serializers.IntegerField()
    counted = serializers.IntegerField(help_text="services that are installed")
    unhealthy_minutes = serializers.IntegerField()


def platform_body(data: dict[str, Any]) -> Any:
    return PlatformSerializer(data).data

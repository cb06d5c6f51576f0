"""Input of the notifications API and page forms (the same rules for both)."""

from __future__ import annotations

from rest_framework import serializers

from portal.lib import notify
from portal.scopes import existing

from .models import ALL, DEFAULT_EVENTS, DeliveryStatus, Event

EVENT_CHOICES = [ALL, *[str(e) for e in Event]]


class ChannelInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(
        max_length=2000, write_only=True, trim_whitespace=True,
        help_text="an Apprise URL (ntfy://, json://, mailto://, discord://, ...); stored "
        "encrypted and never returned")
    events = serializers.ListField(
        child=serializers.ChoiceField(EVENT_CHOICES), required=False, allow_empty=False,
        help_text='event names, or ["*"] for all; default: every failure event and '
        "plan.ready")
    environments = serializers.ListField(
        child=serializers.CharField(max_length=63), required=False,
        help_text="environment names; empty or omitted: all")
    enabled = serializers.BooleanField(required=False)

    def validate_url(self, value: str) -> str:
        try:
            notify.parse(value)
        except notify.InvalidURL as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value.strip()

    def validate_events(self, value: list[str]) -> list[str]:
        return [ALL] if ALL in value else sorted(set(value), key=EVENT_CHOICES.index)

    def validate_environments(self, value: list[str]) -> list[str]:
        names = sorted(set(value))
        unknown = sorted(set(names) - existing(names))
        if unknown:
            raise serializers.ValidationError(f"no environment named {', '.join(unknown)}")
        return names

    def to_fields(self) -> dict:
        data = dict(self.validated_data)
        if not self.partial:
            data.setdefault("events", list(DEFAULT_EVENTS))
            data.setdefault("environments", [])
        return data


class ChannelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    display = serializers.CharField(help_text="scheme and host only")
    events = serializers.ListField(child=serializers.CharField())
    environments = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    consecutive_failures = serializers.IntegerField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(help_text="redacted")
    created_at = serializers.DateTimeField()


class TestResult(serializers.Serializer):
    status = serializers.ChoiceField(["sent", "failed"])
    error = serializers.CharField(allow_blank=True)


class DeliveryFilter(serializers.Serializer):
    channel = serializers.IntegerField(required=False, min_value=1)
    event = serializers.CharField(required=False, max_length=40)
    status = serializers.ChoiceField(DeliveryStatus.choices, required=False)


class DeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.IntegerField(source="channel_id")
    channel_name = serializers.CharField(source="channel.name")
    event = serializers.CharField(source="notification.event")
    environment = serializers.CharField(source="notification.environment")
    subject = serializers.CharField(source="notification.subject")
    link = serializers.CharField(source="notification.link")
    run = serializers.IntegerField(source="notification.run_id", allow_null=True)
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(help_text="redacted")
    sent_at = serializers.DateTimeField(allow_null=True)
    batch_size = serializers.IntegerField(help_text="deliveries sent in the same message")
    created_at = serializers.DateTimeField()

"""Input and output shapes of backups, shared by the API and the page forms. URLs, tokens
and keys are write-only: no output shape carries them, and no validation message quotes
them (they hold passwords)."""

from __future__ import annotations

import ipaddress
import socket
from datetime import time
from urllib.parse import urlsplit

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from portal.lib.pg import PgConn, PgError
from portal.runs.models import Run

from .models import Backup, BackupSource, Frequency, Kind


def repo_url_problem(url: str) -> str | None:
    """Why a git mirror URL is refused, or None. Hardening: ``git clone`` would otherwise take
    ext::, file://, ssh:// or option-looking URLs, and loopback or metadata addresses. Private
    addresses stay allowed: an internal git server is a normal thing to back up. Messages
    never quote the URL (it may carry credentials)."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        return "not a valid URL"
    if parts.scheme.lower() != "https" or not parts.hostname:
        return "must be an https:// URL (no ext::, file://, ssh:// or local paths)"
    try:
        addresses = {str(i[4][0]) for i in socket.getaddrinfo(parts.hostname, port,
                                                              type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        return None  # may resolve only where the worker runs; git refuses it otherwise
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast
                or ip.is_reserved or str(ip) in ("100.100.100.200", "fd00:ec2::254")):
            return f"refused: the host resolves to {ip}, a loopback, link-local, metadata " \
                   "or reserved address"
    return None


class SourceSerializer(serializers.ModelSerializer):
    """Read: what a source is, never its URLs. Write: register one (API and page form)."""

    database_url = serializers.CharField(write_only=True, required=False, allow_blank=False)
    admin_url = serializers.CharField(write_only=True, required=False, allow_blank=True)
    repo_url = serializers.CharField(write_only=True, required=False)
    repo_token = serializers.CharField(write_only=True, required=False, allow_blank=True)
    environment = serializers.CharField(source="environment.name", read_only=True)
    description = serializers.CharField(source="describe", read_only=True)
    has_admin_url = serializers.SerializerMethodField()
    schedule = serializers.CharField(source="schedule_text", read_only=True)
    retention = serializers.CharField(source="retention_text", read_only=True)
    last_backup = serializers.SerializerMethodField()

    class Meta:
        model = BackupSource
        fields = ["id", "environment", "name", "kind", "description", "has_admin_url",
                  "database_url", "admin_url", "repo_url", "repo_token",
                  "frequency", "at", "weekday", "schedule", "keep_days", "keep_daily",
                  "keep_weekly", "keep_monthly", "retention", "encrypt", "last_backup",
                  "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"frequency": {"required": False}, "at": {"required": False}}

    def get_has_admin_url(self, obj) -> bool:
        return bool(obj.admin_url)

    def get_last_backup(self, obj) -> dict | None:
        if hasattr(obj, "last_backups"):  # prefetched for a list (see SourceListView)
            b = obj.last_backups[0] if obj.last_backups else None
        else:
            b = obj.backups.filter(deleted_at__isnull=True).first()
        if b is None:
            return None
        return {"id": b.pk, "created_at": b.created_at, "verification": b.verification,
                "flagged": b.flagged}

    def validate(self, data):
        kind = data.get("kind", Kind.POSTGRES)
        errors = {}
        if kind == Kind.POSTGRES:
            # Messages never quote the value: it carries a password.
            for field in ("database_url", "admin_url"):
                value = data.get(field)
                if field == "database_url" and not value:
                    errors[field] = ["required for a PostgreSQL source"]
                elif value:
                    try:
                        if not PgConn.parse(value).dbname and field == "database_url":
                            errors[field] = ["must name a database"]
                    except PgError:
                        errors[field] = ["not a valid PostgreSQL connection URL"]
            if data.get("repo_url"):
                errors["repo_url"] = ["only for kind 'git'"]
        else:
            if not data.get("repo_url"):
                errors["repo_url"] = ["required for a git source"]
            elif problem := repo_url_problem(data["repo_url"]):
                errors["repo_url"] = [problem]
            if data.get("database_url") or data.get("admin_url"):
                errors["database_url"] = ["only for kind 'postgres'"]
            data.setdefault("frequency", Frequency.WEEKLY)
            data.setdefault("at", time(3, 0))
        if errors:
            raise serializers.ValidationError(errors)
        return data


def source_form_data(post) -> dict:
    """The page's add-a-source form as the API's body: empty fields are left out, the
    encrypt checkbox is a boolean."""
    data = {k: v for k, v in post.items() if k != "csrfmiddlewaretoken" and v != ""}
    data["encrypt"] = post.get("encrypt") == "on"
    return data


class BackupSerializer(serializers.ModelSerializer):
    environment = serializers.CharField(source="source.environment.name", read_only=True)
    # The API's field is named "source" (DRF collects declared fields by name); the stubs
    # read the class attribute as Field.source, the field's own source path.
    source = serializers.CharField(source="source.name",  # type: ignore[assignment]
                                   read_only=True)
    kind = serializers.CharField(source="source.kind", read_only=True)
    run: serializers.PrimaryKeyRelatedField[Run] = serializers.PrimaryKeyRelatedField(
        read_only=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = Backup
        fields = ["id", "environment", "source", "kind", "key", "size", "raw_size", "sha256",
                  "encrypted", "tool_version", "server_version", "duration", "row_counts",
                  "verification", "verify_detail", "verified_at", "flagged", "created_at",
                  "deleted_at", "deleted_reason", "reason", "run", "links"]
        read_only_fields = fields

    def get_links(self, obj) -> dict:
        return {"self": f"/api/backups/{obj.pk}/", "restore": f"/api/backups/{obj.pk}/restore/",
                "run": f"/api/runs/{obj.run_id}/" if obj.run_id else None}


class StartBackupSerializer(serializers.Serializer):
    # A field named "source", as above: the stubs read it as Field.source.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="name of a backup source of this environment")


RestoreRequest = inline_serializer("RestoreRequest", {"confirm": serializers.CharField(
    required=False, help_text="the environment's name; required for prod")})
DrillRequest = inline_serializer("DrillRequest", {"source": serializers.CharField(
    required=False, help_text="only this source (default: every PostgreSQL source)")})

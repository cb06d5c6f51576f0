"""Input and output shapes of backups, shared by the API and the page forms. URLs, tokens
and keys are write-only: no output shape carries them, and no validation message quotes
them (they hold passwords)."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from datetime import time
from urllib.parse import urlsplit

from django.conf import settings
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from portal.lib.clickhouse import ClickHouseConn, ClickHouseError
from portal.lib.pg import PgConn, PgError
from portal.runs.models import Run

from .models import Backup, BackupSource, Frequency, Kind
from .volume import under_volume_roots


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
    # A volume's restic password (default: generated); write-only like every secret.
    repo_password = serializers.CharField(write_only=True, required=False, min_length=16,
                                          source="encryption_key")
    path = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    include = serializers.ListField(child=serializers.CharField(max_length=300),
                                    required=False, max_length=50)
    exclude = serializers.ListField(child=serializers.CharField(max_length=300),
                                    required=False, max_length=50)
    databases = serializers.ListField(child=serializers.CharField(max_length=200),
                                      required=False, max_length=50)
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
                  "repo_password", "path", "include", "exclude", "databases", "frequency",
                  "at", "weekday", "schedule", "keep_days", "keep_daily",
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
        elif kind == Kind.VOLUME:
            errors.update(_volume_problems(data))
        elif kind == Kind.CLICKHOUSE:
            errors.update(_clickhouse_problems(data))
            data.setdefault("frequency", Frequency.WEEKLY)
            data.setdefault("at", time(3, 30))
        else:
            if not data.get("repo_url"):
                errors["repo_url"] = ["required for a git source"]
            elif problem := repo_url_problem(data["repo_url"]):
                errors["repo_url"] = [problem]
            if data.get("database_url") or data.get("admin_url"):
                errors["database_url"] = ["only for kind 'postgres'"]
            data.setdefault("frequency", Frequency.WEEKLY)
            data.setdefault("at", time(3, 0))
        if kind != Kind.VOLUME and data.get("encryption_key"):
            errors["repo_password"] = ["only for kind 'volume'"]
        for field in ("path", "include", "exclude"):
            if kind != Kind.VOLUME and data.get(field):
                errors[field] = ["only for kind 'volume'"]
        if kind != Kind.CLICKHOUSE and data.get("databases"):
            errors["databases"] = ["only for kind 'clickhouse'"]
        if errors:
            raise serializers.ValidationError(errors)
        return data


_CH_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _volume_problems(data) -> dict:
    errors: dict[str, list[str]] = {}
    path = (data.get("path") or "").strip()
    if not path:
        errors["path"] = ["required for a volume source: a directory on the worker's host"]
    elif not os.path.isabs(path) or ".." in path.split("/") or path.rstrip("/") in ("", "/"):
        errors["path"] = ["an absolute directory path, not / and without '..'"]
    elif not under_volume_roots(path):
        errors["path"] = ["not under a directory volume sources may use "
                          "(PORTAL_BACKUP_VOLUME_ROOTS: "
                          f"{', '.join(settings.BACKUP_VOLUME_ROOTS) or 'none'})"]
    else:
        data["path"] = os.path.normpath(path)
    for field in ("include", "exclude"):
        for pattern in data.get(field) or []:
            if not pattern.strip() or any(ord(ch) < 32 for ch in pattern):
                errors[field] = ["patterns are non-empty, without control characters"]
            elif field == "include" and (pattern.startswith("/") or ".." in pattern.split("/")):
                errors[field] = ["include patterns are relative to the path, without '..'"]
    if data.get("database_url") or data.get("admin_url") or data.get("repo_url"):
        errors["database_url"] = ["not for kind 'volume'"]
    if data.get("encrypt"):
        errors["encrypt"] = ["restic encrypts a volume repository anyway: leave it off"]
    return errors


def _clickhouse_problems(data) -> dict:
    errors: dict[str, list[str]] = {}
    url = data.get("database_url")
    if not url:
        errors["database_url"] = ["required for a ClickHouse source: http(s)://user:password@"
                                  "host:8123"]
    else:
        try:
            ClickHouseConn.parse(url)
        except ClickHouseError:  # the message never quotes the URL (it holds a password)
            errors["database_url"] = ["not a ClickHouse URL: http(s)://user:password@host:port"]
    names = data.get("databases") or []
    if not names:
        errors["databases"] = ["name the databases to back up (SigNoz: signoz_traces, "
                               "signoz_metrics, signoz_logs, ...)"]
    elif any(not _CH_NAME.match(n) for n in names) or len(set(names)) != len(names):
        errors["databases"] = ["database names: letters, digits and '_', each once"]
    elif any(n.lower() in ("system", "information_schema") for n in names):
        errors["databases"] = ["system databases are not backed up"]
    if data.get("admin_url") or data.get("repo_url"):
        errors["admin_url"] = ["not for kind 'clickhouse'"]
    if data.get("encrypt"):
        errors["encrypt"] = ["ClickHouse writes the backup itself: use the bucket's "
                             "encryption"]
    return errors


def source_form_data(post) -> dict:
    """The page's add-a-source form as the API's body: empty fields are left out, the
    encrypt checkbox is a boolean, list fields are one entry a line (or comma-separated)."""
    data = {k: v for k, v in post.items() if k != "csrfmiddlewaretoken" and v != ""}
    data["encrypt"] = post.get("encrypt") == "on"
    for field in ("include", "exclude", "databases"):
        if field in data:
            data[field] = [p.strip() for p in re.split(r"[\n,]", data[field]) if p.strip()]
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


RestoreRequest = inline_serializer("RestoreRequest", {
    "confirm": serializers.CharField(required=False,
                                     help_text="the environment's name; required for prod"),
    "target": serializers.CharField(required=False, help_text="volume: the directory to "
                                    "restore into (default <path>.restored-<id>)"),
    "replace_live": serializers.CharField(required=False, help_text="volume: the live path, "
                                          "repeated, to replace it (the old tree is kept)"),
})
DrillRequest = inline_serializer("DrillRequest", {"source": serializers.CharField(
    required=False, help_text="only this source (default: every PostgreSQL source)")})

"""REST API of backups. URLs, tokens and keys are write-only: no response ever carries them."""

from __future__ import annotations

from datetime import time

from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from envs.guards import get_environment
from portal.api.errors import ApiError
from portal.audit.models import record
from portal.lib.pg import PgConn, PgError
from portal.runs.api import RunStartResponse, lock_conflict, started
from portal.runs.models import LockHeld

from . import jobs
from .models import Backup, BackupSource, Frequency, Kind


class SourceSerializer(serializers.ModelSerializer):
    """Read: what a source is, never its URLs. Write: register one."""

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


def repo_url_problem(url: str) -> str | None:
    """Why a git mirror URL is refused, or None. Hardening: ``git clone`` would otherwise take
    ext::, file://, ssh:// or option-looking URLs, and loopback or metadata addresses. Private
    addresses stay allowed: an internal git server is a normal thing to back up. Messages
    never quote the URL (it may carry credentials)."""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

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
        addresses = {i[4][0] for i in socket.getaddrinfo(parts.hostname, port,
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


def register_source(env, data, request=None) -> BackupSource:
    """Validate and create a source (the UI form and the API both come here)."""
    ser = SourceSerializer(data=data)
    ser.is_valid(raise_exception=True)
    try:
        with transaction.atomic():
            source = ser.save(environment=env)
    except IntegrityError:
        raise ApiError("exists", f"{env.name} already has a backup source named "
                       f"{ser.validated_data['name']!r}", 409,
                       fields={"name": ["already exists in this environment"]}) from None
    record("backup.source_added", target=env.target, request=request, source=source.name,
           kind=source.kind, encrypt=source.encrypt)
    return source


class BackupSerializer(serializers.ModelSerializer):
    environment = serializers.CharField(source="source.environment.name", read_only=True)
    source = serializers.CharField(source="source.name", read_only=True)
    kind = serializers.CharField(source="source.kind", read_only=True)
    run = serializers.PrimaryKeyRelatedField(read_only=True)
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


class SourceListView(generics.ListAPIView):
    serializer_class = SourceSerializer

    def get_queryset(self):
        env = get_environment(self.kwargs["env"])
        # The newest live backup of every source in one query (a sliced prefetch).
        last = Prefetch("backups", to_attr="last_backups",
                        queryset=Backup.objects.filter(deleted_at__isnull=True)[:1])
        return BackupSource.objects.filter(environment=env).select_related(
            "environment").prefetch_related(last)

    @extend_schema(request=SourceSerializer, responses={201: SourceSerializer})
    def post(self, request, env):
        source = register_source(get_environment(env), request.data, request)
        return Response(SourceSerializer(source).data, status=201)


class StartBackupSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="name of a backup source of this environment")


class BackupListView(generics.ListAPIView):
    serializer_class = BackupSerializer

    def get_queryset(self):
        env = get_environment(self.kwargs["env"])
        qs = Backup.objects.filter(source__environment=env).select_related(
            "source__environment")
        if self.request.query_params.get("deleted") not in ("1", "true"):
            qs = qs.filter(deleted_at__isnull=True)
        if self.request.query_params.get("source"):
            qs = qs.filter(source__name=self.request.query_params["source"])
        return qs.order_by("-created_at", "-id")

    @extend_schema(request=StartBackupSerializer, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        data = StartBackupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = BackupSource.objects.filter(environment=environment,
                                             name=data.validated_data["source"]).first()
        if source is None:
            raise ApiError("not_found", f"{env} has no backup source named "
                           f"{data.validated_data['source']!r}", 404,
                           fields={"source": ["no such backup source"]})
        try:
            run = source.start_backup(request=request)
        except LockHeld as held:
            raise lock_conflict(held) from None
        return started(run)


class BackupDetailView(generics.RetrieveAPIView):
    serializer_class = BackupSerializer
    queryset = Backup.objects.select_related("source__environment")


class RestoreView(APIView):
    @extend_schema(
        request=inline_serializer("RestoreRequest", {"confirm": serializers.CharField(
            required=False, help_text="the environment's name; required for prod")}),
        responses={201: RunStartResponse})
    def post(self, request, pk):
        backup = get_object_or_404(Backup.objects.select_related("source__environment"), pk=pk)
        try:
            run = backup.start_restore(request.data, request=request)
        except LockHeld as held:
            raise lock_conflict(held) from None
        return started(run)


class DrillView(APIView):
    @extend_schema(
        request=inline_serializer("DrillRequest", {"source": serializers.CharField(
            required=False, help_text="only this source (default: every PostgreSQL source)")}),
        responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        source = None
        if request.data.get("source"):
            source = BackupSource.objects.filter(environment=environment,
                                                 name=request.data["source"]).first()
            if source is None:
                raise ApiError("not_found", f"{env} has no backup source named "
                               f"{request.data['source']!r}", 404)
        if not environment.backup_sources.filter(kind=Kind.POSTGRES).exists():
            raise ApiError("no_sources", f"{env} has no PostgreSQL backup source to drill")
        try:
            run = jobs.start_drill(environment, request=request, source=source)
        except LockHeld as held:
            raise lock_conflict(held) from None
        return started(run)

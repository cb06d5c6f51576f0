"""REST API of backups. Thin: each view parses its input (serializers.py), calls one
function of services.py (the same one the page form calls) and serializes the answer. URLs,
tokens and keys are write-only: no response ever carries them."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from envs.guards import get_environment
from portal.runs.api import RunStartResponse, started

from . import services
from .models import Backup, BackupSource
from .serializers import (
    BackupSerializer,
    DrillRequest,
    RestoreRequest,
    SourceSerializer,
    StartBackupSerializer,
)


def _named_source(request, env: str) -> BackupSource:
    """The source a start request names (``{"source": "<name>"}``)."""
    environment = get_environment(env)
    data = StartBackupSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    return services.source_named(environment, data.validated_data["source"])


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
        environment = get_environment(env)
        data = SourceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = services.register_source(environment, data.validated_data, request)
        return Response(SourceSerializer(source).data, status=201)


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
        return started(services.start_backup(_named_source(request, env), request))


class RetentionView(APIView):
    @extend_schema(request=StartBackupSerializer, responses={201: RunStartResponse})
    def post(self, request, env):
        return started(services.start_retention(_named_source(request, env), request))


class BackupDetailView(generics.RetrieveAPIView):
    serializer_class = BackupSerializer
    queryset = Backup.objects.select_related("source__environment")


class RestoreView(APIView):
    @extend_schema(request=RestoreRequest, responses={201: RunStartResponse})
    def post(self, request, pk):
        backup = get_object_or_404(Backup.objects.select_related("source__environment"), pk=pk)
        return started(services.start_restore(backup, request.data, request))


class DrillView(APIView):
    @extend_schema(request=DrillRequest, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        return started(services.start_drill(environment, request.data.get("source"), request))

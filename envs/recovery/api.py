"""REST API of recovery: list self-backups and start one, start a drill, the status. The
recovery kit is never served by the API (only by the page, after a recent sign-in)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.runs.api import RunStartResponse, started

from . import services
from .models import PortalDrill, SelfBackup
from .serializers import DrillSerializer, SelfBackupSerializer, StatusSerializer, status_data


class BackupListView(generics.ListAPIView):
    serializer_class = SelfBackupSerializer

    def get_queryset(self):
        deleted = self.request.query_params.get("deleted") in ("1", "true")
        return services.backups(include_deleted=deleted)

    @extend_schema(request=None, responses={201: RunStartResponse})
    def post(self, request: Request) -> Response:
        return started(services.start_backup(request))


class BackupDetailView(generics.RetrieveAPIView):
    serializer_class = SelfBackupSerializer
    queryset = SelfBackup.objects.all()


class DrillListView(generics.ListAPIView):
    serializer_class = DrillSerializer
    queryset = PortalDrill.objects.all()

    @extend_schema(request=None, responses={201: RunStartResponse})
    def post(self, request: Request) -> Response:
        return started(services.start_drill(request))


class StatusView(APIView):
    @extend_schema(responses={200: StatusSerializer})
    def get(self, request: Request) -> Response:
        return Response(StatusSerializer(status_data(services.status())).data)

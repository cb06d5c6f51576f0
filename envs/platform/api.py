"""REST API of the platform page: one read-only view over services.status()."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .serializers import PlatformSerializer, platform_body


class PlatformView(APIView):
    @extend_schema(
        responses={200: PlatformSerializer},
        summary="Platform services: workloads, readiness, volumes, health",
        parameters=[OpenApiParameter("live", OpenApiTypes.BOOL, description=(
            "false: the stored read only, no call to the cluster (default true: read it "
            "when the stored read is older than PORTAL_PLATFORM_REFRESH_SECONDS)"))])
    def get(self, request: Request) -> Response:
        live = request.query_params.get("live", "true").lower() not in ("0", "false", "no")
        return Response(platform_body(services.status(live=live)))

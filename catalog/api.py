"""Catalog REST API: entities (list with filters, detail with relations), locations
(CRUD, refresh), orphan clean-up and a dry-run validator. Views stay thin: what changes
anything is in ``services.py``; filtering is ``filters.py``, which the pages use too."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.errors import ApiError
from portal.lib.yaml_safe import DEFAULT_MAX_BYTES

from . import services
from .filters import FilterError, filter_entities, list_columns
from .models import Entity, Location
from .serializers import (
    EntityDetailSerializer,
    EntitySummarySerializer,
    ImportStartedSerializer,
    LocationSerializer,
    PreviewSerializer,
    ValidateResponseSerializer,
)

_BOOL = ["true", "false"]  # the enum of a boolean query parameter


def _started(run, location) -> Response:
    return Response({"id": run.pk, "kind": run.kind, "status": run.status,
                     "location": location.pk, "run_url": f"/api/runs/{run.pk}/"},
                    status=status.HTTP_201_CREATED)


def _dry_run(request) -> bool:
    value = request.query_params.get("dry_run")
    if value is None and isinstance(request.data, dict):
        value = request.data.get("dry_run")
    return value in (True, "true", "1", 1)


def _entity_or_404(kind: str, namespace: str, name: str) -> Entity:
    ref = f"{kind}:{namespace}/{name}".lower()
    return get_object_or_404(Entity.objects.select_related("location"), ref=ref)


class EntityListView(generics.ListAPIView):
    serializer_class = EntitySummarySerializer

    @extend_schema(parameters=[
        OpenApiParameter("kind", str, description="e.g. component (comma-separated)"),
        OpenApiParameter("type", str), OpenApiParameter("lifecycle", str),
        OpenApiParameter("owner", str, description="an entity ref; kind defaults to group"),
        OpenApiParameter("system", str, description="an entity ref; kind defaults to system"),
        OpenApiParameter("tag", str), OpenApiParameter("environment", str),
        OpenApiParameter("location", int),
        OpenApiParameter("orphaned", str, enum=_BOOL),
        OpenApiParameter("has_errors", str, enum=_BOOL),
        OpenApiParameter("q", str, description="text search in ref, title, description, tags"),
    ])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        try:
            return list_columns(filter_entities(self.request.query_params))
        except FilterError as exc:
            raise ApiError("invalid", str(exc), fields={exc.field: [exc.message]}) from None


class EntityDetailView(APIView):
    @extend_schema(responses=EntityDetailSerializer)
    def get(self, request, kind: str, namespace: str, name: str):
        entity = _entity_or_404(kind, namespace, name)
        return Response(EntityDetailSerializer(entity, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, kind: str, namespace: str, name: str):
        """Delete an orphaned entity (one that vanished from its location)."""
        services.delete_orphan(_entity_or_404(kind, namespace, name), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LocationListView(generics.ListCreateAPIView):
    serializer_class = LocationSerializer
    queryset = Location.objects.order_by("pk")

    @extend_schema(responses={201: ImportStartedSerializer, 200: PreviewSerializer})
    def post(self, request, *args, **kwargs):
        """Add a location and start its first import (a run: follow it at run_url). With
        ``"dry_run": true``: 200 with what the import would create, update and orphan and
        every error and warning at its file and line; nothing is stored."""
        data = LocationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = {k: data.validated_data.get(k) for k in services.SOURCE_FIELDS}
        if _dry_run(request):
            return Response(services.preview_new_location(
                token=data.validated_data.get("token"),
                github_repo=data.validated_data.get("github_repo", ""), **fields))
        location, run = services.add_location(token=data.validated_data.get("token"),
                                              github_repo=data.validated_data.get(
                                                  "github_repo", ""),
                                              request=request, **fields)
        return _started(run, location)


class LocationDetailView(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = LocationSerializer
    queryset = Location.objects.all()
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def perform_update(self, serializer):
        services.update_location(serializer.instance, dict(serializer.validated_data),
                                 request=self.request)

    def perform_destroy(self, instance):
        services.remove_location(instance, request=self.request)


class LocationRefreshView(APIView):
    @extend_schema(request=None, responses={201: ImportStartedSerializer, 200: PreviewSerializer},
                   parameters=[OpenApiParameter("dry_run", str, enum=_BOOL)])
    def post(self, request, pk: int):
        """Refresh now: re-read the location in a new run. ``?dry_run=true``: 200 with what
        the refresh would create, update and orphan; nothing is stored."""
        location = get_object_or_404(Location, pk=pk)
        if _dry_run(request):
            return Response(services.preview(location))
        return _started(services.start_import(location, request=request, refresh=True),
                        location)


class LocationOrphansView(APIView):
    @extend_schema(request=None, responses=inline_serializer(
        "OrphansDeleted", {"deleted": serializers.IntegerField()}))
    def delete(self, request, pk: int):
        """Delete every orphaned entity of this location."""
        location = get_object_or_404(Location, pk=pk)
        return Response({"deleted": services.delete_orphans(location, request=request)})


class YamlTextParser(BaseParser):
    """Hands the raw YAML text to the view: parsing is the bounded safe loader's job."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read(DEFAULT_MAX_BYTES + 1) if stream is not None else b""
        if len(data) > DEFAULT_MAX_BYTES:
            raise ApiError("too_large", f"the document is larger than {DEFAULT_MAX_BYTES} "
                           "bytes", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return data


class AltYamlParser(YamlTextParser):
    media_type = "application/x-yaml"


class TextYamlParser(YamlTextParser):
    media_type = "text/yaml"


class ValidateView(APIView):
    parser_classes = [YamlTextParser, AltYamlParser, TextYamlParser]

    @extend_schema(request={"application/yaml": OpenApiTypes.STR},
                   responses=ValidateResponseSerializer)
    def post(self, request):
        """Validate catalog YAML (one or more documents) as an import would, storing
        nothing. Location targets are not followed."""
        body = request.data
        if not isinstance(body, bytes):
            raise ApiError("unsupported_media_type", "send the YAML with Content-Type: "
                           "application/yaml", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
        name = request.query_params.get("filename") or "catalog-info.yaml"
        return Response(services.validate(body, filename=name))

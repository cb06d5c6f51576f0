"""REST API for runs: start a selfcheck, list, detail, log with a cursor, cancel."""

from __future__ import annotations

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import scopes
from portal.api.errors import ApiError

from . import kinds
from .choices import Status
from .models import Run, RunLine
from .services import cancel_run, start_selfcheck_run

LOG_PAGE = 1000


class RunSerializer(serializers.ModelSerializer):
    links = serializers.SerializerMethodField()
    elapsed = serializers.FloatField(read_only=True, allow_null=True)
    # A declared field (taken off the class by DRF's metaclass), not Field.parent; the
    # stubs cannot know that.
    parent: serializers.PrimaryKeyRelatedField[Run] = (
        serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True))  # type: ignore[assignment]
    log_finished = serializers.BooleanField(read_only=True)

    class Meta:
        model = Run
        fields = [
            "id", "kind", "target", "status", "actor", "scheduled", "params", "result",
            "created_at", "started_at", "finished_at", "elapsed", "error", "parent",
            "cancel_requested_at", "lock_key", "line_count", "log_finished", "links",
        ]
        read_only_fields = fields

    def get_links(self, run) -> dict:
        request = self.context.get("request")
        base = f"/api/runs/{run.pk}/"
        links = {"self": base, "log": f"{base}log/", "cancel": f"{base}cancel/",
                 "page": f"/runs/{run.pk}/"}
        if run.parent_id:
            links["parent"] = f"/api/runs/{run.parent_id}/"
        if request is not None:
            links = {key: request.build_absolute_uri(value) for key, value in links.items()}
        return links


class StartRunSerializer(serializers.Serializer):
    kind = serializers.CharField()
    environment = serializers.CharField(required=False)

    def validate_kind(self, value):
        if value == "selfcheck":
            return value
        try:
            spec = kinds.get(value)
        except LookupError:
            raise serializers.ValidationError(
                f"unknown kind {value!r}; this endpoint starts only 'selfcheck'"
            ) from None
        raise serializers.ValidationError(
            f"runs of kind {value!r} are started from {spec.endpoint or 'their own endpoint'}; "
            "this endpoint starts only 'selfcheck'"
        )

    def validate_environment(self, value):
        if scopes.get(value) is None:
            raise serializers.ValidationError(f"no environment named {value!r}")
        return value


class RunStartResponse(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()


def started(run: Run) -> Response:
    return Response({"id": run.pk, "kind": run.kind, "status": run.status},
                    status=status.HTTP_201_CREATED)


class RunListView(generics.ListAPIView):
    serializer_class = RunSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str), OpenApiParameter("status", str, enum=Status.values),
            OpenApiParameter("target", str), OpenApiParameter("q", str, description="search"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        runs = Run.objects.all()
        params = self.request.query_params
        for field in ("kind", "target"):
            if params.get(field):
                runs = runs.filter(**{field: params[field]})
        if params.get("status"):
            wanted = params["status"].split(",")
            unknown = set(wanted) - set(Status.values)
            if unknown:
                raise ApiError("invalid", f"status: unknown value(s) {sorted(unknown)}",
                               fields={"status": [f"expected one of {Status.values}"]})
            runs = runs.filter(status__in=wanted)
        if params.get("q"):
            runs = runs.filter(Q(target__icontains=params["q"]) | Q(kind__icontains=params["q"]))
        return runs.order_by("-created_at", "-id")

    @extend_schema(request=StartRunSerializer, responses={201: RunStartResponse})
    def post(self, request):
        data = StartRunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return started(start_selfcheck_run(data.validated_data.get("environment", ""), request))


class RunDetailView(generics.RetrieveAPIView):
    serializer_class = RunSerializer
    queryset = Run.objects.all()


class RunLogView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="last seq already read")],
        responses=inline_serializer(
            "RunLog",
            {
                "lines": inline_serializer(
                    "RunLogLine",
                    {"seq": serializers.IntegerField(), "ts": serializers.DateTimeField(),
                     "text": serializers.CharField()},
                    many=True,
                ),
                "finished": serializers.BooleanField(),
                "status": serializers.CharField(),
            },
        ),
    )
    def get(self, request, pk):
        after = request.query_params.get("after", "0")
        if not after.isdigit():
            raise ApiError("invalid", "after: expected a non-negative integer",
                           fields={"after": ["expected a non-negative integer"]})
        # Read the status BEFORE the lines: if it is final, every line is already there.
        run = get_object_or_404(Run.objects.only("id", "status"), pk=pk)
        lines = list(
            RunLine.objects.filter(run_id=pk, seq__gt=int(after))
            .order_by("seq")
            .values("seq", "ts", "text")[:LOG_PAGE]
        )
        finished = run.log_finished and len(lines) < LOG_PAGE
        return Response({"lines": lines, "finished": finished, "status": run.status})


class RunCancelView(APIView):
    @extend_schema(request=None, responses={202: RunSerializer})
    def post(self, request, pk):
        run = cancel_run(get_object_or_404(Run, pk=pk), request)
        return Response(RunSerializer(run, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)

"""REST API of the GitHub integration: the deliveries GitHub sent (what each did, the runs
it started, any post back to GitHub that finally failed), the pull requests heard of, and
the owner's "plan this pull request" for one the portal did not plan by itself."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from envs.guards import get_environment

from . import services
from .models import PullRequest
from .serializers import (
    DeliverySerializer,
    PlanPullSerializer,
    PlanStartedSerializer,
    PullRequestSerializer,
)


@extend_schema(parameters=[
    OpenApiParameter("event", str, description="push, pull_request, ping, ..."),
    OpenApiParameter("outcome", str, description="accepted, ignored, refused or failed"),
    OpenApiParameter("repository", str, description="owner/name"),
])
class DeliveryListView(generics.ListAPIView):
    serializer_class = DeliverySerializer

    def get_queryset(self):
        params = self.request.query_params
        return services.deliveries(event=params.get("event", ""),
                                   outcome=params.get("outcome", ""),
                                   repository=params.get("repository", "")
                                   ).prefetch_related("posts")


class DeliveryDetailView(APIView):
    @extend_schema(responses=DeliverySerializer)
    def get(self, request, pk: int):
        return Response(DeliverySerializer(services.delivery(pk)).data)


class PullListView(generics.ListAPIView):
    serializer_class = PullRequestSerializer
    queryset = PullRequest.objects.all()


class PlanPullView(APIView):
    @extend_schema(request=PlanPullSerializer, responses={201: PlanStartedSerializer})
    def post(self, request, pk: int):
        """Plan a pull request the portal did not plan by itself (the owner read it)."""
        data = PlanPullSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pull = get_object_or_404(PullRequest, pk=pk)
        env = get_environment(data.validated_data["env"])
        run = services.plan_pull_request(env, pull.repository, pull.number, request)
        return Response({"id": run.pk, "status": run.status,
                         "run_url": f"/api/runs/{run.pk}/"}, status=201)

"""REST API for deploys: cluster connection, targets, deploy/rollback/promote/restart runs,
release history and pending promotions. Thin: the serializers validate, ``services`` acts."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from envs.guards import forced, get_environment
from portal.runs.api import RunStartResponse, started

from . import promotions, services
from .connection import cluster_info
from .models import Release
from .serializers import (
    ClusterFromOutputSerializer,
    ClusterInfoSerializer,
    ClusterSerializer,
    ComponentInput,
    DeployInput,
    PendingPromotion,
    PromoteInput,
    ReleaseOutput,
    RollbackInput,
    TargetInput,
    TargetOutput,
    component_ref,
)


def valid(serializer_class, request: Request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


def confirm(request: Request) -> str | None:
    return request.data.get("confirm")


class ClusterView(APIView):
    @extend_schema(responses=ClusterInfoSerializer, summary="Whether a cluster connection is "
                   "set and which server it points to (never the kubeconfig)")
    def get(self, request, env):
        return Response(cluster_info(get_environment(env)))

    @extend_schema(request=ClusterSerializer, responses=ClusterInfoSerializer)
    def put(self, request, env):
        environment = get_environment(env)
        data = valid(ClusterSerializer, request)
        return Response(services.set_cluster(environment, data["kubeconfig"], request))

    @extend_schema(request=None, responses=ClusterInfoSerializer)
    def delete(self, request, env):
        return Response(services.set_cluster(get_environment(env), None, request))


class ClusterFromOutputView(APIView):
    @extend_schema(request=ClusterFromOutputSerializer, responses=ClusterInfoSerializer,
                   summary="Set the cluster connection from a Terraform output (e.g. the "
                   "platform's sensitive `kubeconfig`) of another environment's last apply; "
                   "the value is copied between encrypted fields and never returned")
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(ClusterFromOutputSerializer, request)
        return Response(services.cluster_from_output(environment, data["source"],
                                                     data["output"], request,
                                                     confirm=confirm(request)))


class TargetsView(APIView):
    @extend_schema(responses=TargetOutput(many=True))
    def get(self, request, env):
        environment = get_environment(env)
        return Response([t.to_dict() for t in environment.deploy_targets.all()])

    @extend_schema(request=TargetInput, responses={201: TargetOutput})
    def post(self, request, env):
        environment = get_environment(env)
        target = services.set_target(environment, valid(TargetInput, request), request)
        return Response(target.to_dict(), status=201)


class DeployView(APIView):
    @extend_schema(request=DeployInput, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(DeployInput, request)
        return started(services.start_deploy(
            environment, data["component"], data["image"], request,
            reason=data.get("reason", ""), force=forced(request.data), confirm=confirm(request)))


class RollbackView(APIView):
    @extend_schema(request=RollbackInput, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(RollbackInput, request)
        return started(services.start_rollback(
            environment, data["component"], data["release"], request,
            reason=data.get("reason", ""), confirm=confirm(request)))


class PromoteView(APIView):
    @extend_schema(request=PromoteInput, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(PromoteInput, request)
        return started(services.start_promote(
            environment, data["component"], data.get("from"), request,
            reason=data.get("reason", ""), confirm=confirm(request)))


class RestartView(APIView):
    @extend_schema(request=ComponentInput, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(ComponentInput, request)
        return started(services.start_restart(
            environment, data["component"], request, reason=data.get("reason", ""),
            confirm=confirm(request)))


class ReleasesView(APIView):
    @extend_schema(parameters=[OpenApiParameter("component", str)],
                   responses=ReleaseOutput(many=True))
    def get(self, request, env):
        environment = get_environment(env)
        releases = Release.objects.filter(environment=environment).select_related(
            "environment")
        if request.query_params.get("component"):
            releases = releases.filter(component=component_ref(
                request.query_params["component"]))
        return Response([r.to_dict() for r in releases[:200]])


class PromotionsView(APIView):
    @extend_schema(responses=PendingPromotion)
    def get(self, request):
        return Response(promotions.pending())

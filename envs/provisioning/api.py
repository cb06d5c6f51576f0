"""REST API of provisioning. Thin: each view parses its input (serializers.py), calls one
function of services.py (the same one the page form calls) and serializes the answer;
refusals are DomainErrors the API's exception handler renders."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from envs.guards import get_environment
from envs.models import Environment
from portal.runs.api import RunSerializer, RunStartResponse, started
from portal.runs.models import Run

from . import services
from .models import PlanArtifact
from .serializers import (
    Confirm,
    EnvironmentDetailSerializer,
    EnvironmentSerializer,
    ForceUnlockRequest,
    PlanArtifactSerializer,
    TerraformSettingsSerializer,
    VariablesResponse,
    VariablesSerializer,
    bulk_lookups,
    terraform_body,
    variables_body,
)

# --------------------------------------------------------------------------- environments


class EnvironmentListView(generics.ListAPIView):
    serializer_class = EnvironmentSerializer
    queryset = Environment.objects.all()

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = {**self.get_serializer_context(), "bulk": bulk_lookups(page)}
        return self.get_paginated_response(
            EnvironmentSerializer(page, many=True, context=context).data)


class EnvironmentDetailView(generics.RetrieveAPIView):
    serializer_class = EnvironmentDetailSerializer
    queryset = Environment.objects.all()
    lookup_field = "name"
    lookup_url_kwarg = "env"


# --------------------------------------------------------------------------- runs


class PlanView(APIView):
    @extend_schema(request=None, responses={201: RunStartResponse},
                   summary="Start a plan run (saved plan for review)")
    def post(self, request, env):
        return started(services.start_plan(get_environment(env), request))


class DestroyView(APIView):
    @extend_schema(request=Confirm, responses={201: RunStartResponse},
                   summary='Start a destroy plan; needs {"confirm": "<env>"} on every tier')
    def post(self, request, env):
        return started(services.start_destroy(get_environment(env), request.data, request))


class DriftView(APIView):
    @extend_schema(request=None, responses={201: RunStartResponse}, summary="Check drift now")
    def post(self, request, env):
        return started(services.start_drift(get_environment(env), request))


class ForceUnlockView(APIView):
    @extend_schema(request=ForceUnlockRequest, responses={201: RunStartResponse},
                   summary="Release a state lock the portal did not take (terraform force-unlock)")
    def post(self, request, env):
        return started(services.start_force_unlock(get_environment(env), request.data, request))


# --------------------------------------------------------------------------- settings


class VariablesView(APIView):
    @extend_schema(responses=VariablesResponse)
    def get(self, request, env):
        return Response(variables_body(get_environment(env)))

    @extend_schema(request=VariablesSerializer, responses=VariablesResponse,
                   summary="Replace the variables (secret values are write-only)")
    def put(self, request, env):
        return self._update(request, env, partial=False)

    @extend_schema(request=VariablesSerializer, responses=VariablesResponse,
                   summary="Merge variables; a null value removes one")
    def patch(self, request, env):
        return self._update(request, env, partial=True)

    def _update(self, request, env, partial):
        environment = get_environment(env)
        VariablesSerializer(data=request.data).is_valid(raise_exception=True)
        services.update_variables(environment, request.data, request, partial=partial)
        return Response(variables_body(environment))


class TerraformSettingsView(APIView):
    @extend_schema(responses=TerraformSettingsSerializer)
    def get(self, request, env):
        return Response(terraform_body(get_environment(env)))

    @extend_schema(request=TerraformSettingsSerializer, responses=TerraformSettingsSerializer,
                   summary="Source, engine and S3 backend (credentials write-only)")
    def patch(self, request, env):
        environment = get_environment(env)
        TerraformSettingsSerializer(data=request.data).is_valid(raise_exception=True)
        services.update_terraform(environment, request.data, request)
        return Response(terraform_body(environment))


# --------------------------------------------------------------------------- review


class PlanDetailView(APIView):
    @extend_schema(responses=PlanArtifactSerializer,
                   summary="The changes of a saved plan (sensitive values masked)")
    def get(self, request, env, pk):
        artifact = get_object_or_404(PlanArtifact.objects.select_related("run", "environment"),
                                     run_id=pk, environment__name=env)
        return Response(PlanArtifactSerializer(artifact, context={"request": request}).data)


class ApproveView(APIView):
    @extend_schema(request=Confirm, responses={201: RunStartResponse},
                   summary="Approve a planned run and start its apply")
    def post(self, request, pk):
        return started(services.approve(services.plan_run(pk), request.data, request))


class DiscardView(APIView):
    @extend_schema(request=None, responses=RunSerializer, summary="Discard a planned run")
    def post(self, request, pk):
        run = services.discard(services.plan_run(pk), request)
        return Response(RunSerializer(run, context={"request": request}).data)


class ForceStopView(APIView):
    @extend_schema(request=None, responses={202: RunSerializer},
                   summary="Kill a Terraform run whose cancel did not end it (after the grace)")
    def post(self, request, pk):
        run = services.force_stop(get_object_or_404(Run, pk=pk), request)
        return Response(RunSerializer(run, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)

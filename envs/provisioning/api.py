"""REST API of provisioning. Thin: each view validates and calls one function of
actions.py, the same one the UI view calls."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from envs.guards import get_environment
from portal.runs.api import RunSerializer, RunStartResponse, started
from portal.runs.models import Run

from . import actions
from .models import PlanArtifact

Confirm = inline_serializer("Confirm", {"confirm": serializers.CharField(required=False)})


class VariablesSerializer(serializers.Serializer):
    variables = serializers.DictField(required=False, help_text="name -> JSON value")
    secret_variables = serializers.DictField(
        required=False, help_text="name -> value, write-only; null removes")


class VariablesResponse(serializers.Serializer):
    variables = serializers.DictField()
    secret_variables = serializers.ListField(child=serializers.CharField(),
                                             help_text="names only; values are write-only")
    declared = serializers.DictField(help_text="variables the stack declares")


def variables_body(env) -> dict:
    return {"variables": env.tf_variables or {}, "secret_variables": env.secret_variable_names,
            "declared": actions.stack_variables(env)}


class TerraformSettingsSerializer(serializers.Serializer):
    directory = serializers.CharField(required=False, allow_blank=True)
    git_url = serializers.CharField(required=False, allow_blank=True)
    git_ref = serializers.CharField(required=False, allow_blank=True)
    git_path = serializers.CharField(required=False, allow_blank=True)
    git_token = serializers.CharField(required=False, allow_blank=True, help_text="write-only")
    engine = serializers.CharField(required=False, allow_blank=True)
    backend = inline_serializer("Backend", {
        "bucket": serializers.CharField(required=False, allow_blank=True),
        "key": serializers.CharField(required=False, allow_blank=True),
        "region": serializers.CharField(required=False),
        "endpoint": serializers.CharField(required=False, allow_blank=True),
        "use_path_style": serializers.BooleanField(required=False),
    }, required=False)
    backend_credentials = inline_serializer("BackendCredentials", {
        "access_key_id": serializers.CharField(required=False),
        "secret_access_key": serializers.CharField(required=False),
    }, required=False, help_text="write-only")


def terraform_body(env) -> dict:
    return {
        "source": env.source_label(), "directory": env.tf_directory, "git_url": env.tf_git_url,
        "git_ref": env.tf_git_ref, "git_path": env.tf_git_path,
        "git_token_set": bool(env.tf_git_token), "engine": env.engine,
        "backend": ({"type": "s3", "bucket": env.backend_bucket, "key": env.state_key,
                     "region": env.backend_region, "endpoint": env.backend_endpoint,
                     "use_path_style": env.backend_use_path_style,
                     "credentials_set": bool(env.backend_secrets())}
                    if env.uses_s3_backend else {"type": "local (encrypted in the portal)"}),
    }


class PlanView(APIView):
    @extend_schema(request=None, responses={201: RunStartResponse},
                   summary="Start a plan run (saved plan for review)")
    def post(self, request, env):
        return started(actions.start_plan(get_environment(env), request))


class DestroyView(APIView):
    @extend_schema(request=Confirm, responses={201: RunStartResponse},
                   summary='Start a destroy plan; needs {"confirm": "<env>"} on every tier')
    def post(self, request, env):
        return started(actions.start_destroy(get_environment(env), request.data, request))


class DriftView(APIView):
    @extend_schema(request=None, responses={201: RunStartResponse}, summary="Check drift now")
    def post(self, request, env):
        return started(actions.start_drift(get_environment(env), request))


class ForceUnlockView(APIView):
    @extend_schema(
        request=inline_serializer("ForceUnlock", {"lock_id": serializers.CharField(),
                                                  "confirm": serializers.CharField()}),
        responses={201: RunStartResponse},
        summary="Release a state lock the portal did not take (terraform force-unlock)")
    def post(self, request, env):
        return started(actions.start_force_unlock(get_environment(env), request.data, request))


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
        actions.update_variables(environment, request.data, request, partial=partial)
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
        actions.update_terraform(environment, request.data, request)
        return Response(terraform_body(environment))


class PlanArtifactSerializer(serializers.ModelSerializer):
    run = RunSerializer(read_only=True)
    environment = serializers.CharField(source="environment.name")
    expires_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = PlanArtifact
        fields = ["run", "environment", "mode", "counts", "resource_changes", "output_changes",
                  "plan_sha256", "git_commit", "state_serial", "state_lineage", "created_at",
                  "expires_at", "discarded_reason"]


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
        return started(actions.approve(actions.plan_run(pk), request.data, request))


class DiscardView(APIView):
    @extend_schema(request=None, responses=RunSerializer, summary="Discard a planned run")
    def post(self, request, pk):
        run = actions.discard(actions.plan_run(pk), request)
        return Response(RunSerializer(run, context={"request": request}).data)


class ForceStopView(APIView):
    @extend_schema(request=None, responses={202: RunSerializer},
                   summary="Kill a Terraform run whose cancel did not end it (after the grace)")
    def post(self, request, pk):
        run = actions.force_stop(get_object_or_404(Run, pk=pk), request)
        return Response(RunSerializer(run, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)

"""REST API for secrets. Thin: the serializers validate, ``services`` acts. Responses carry
metadata only: no response ever holds a value."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from envs.guards import get_environment
from portal.errors import Invalid, NotFound
from portal.runs.api import RunStartResponse, started
from portal.runs.models import Run

from . import services
from .config_keys import config_check
from .models import Secret
from .serializers import RotateInput, SecretCreate, SecretInput, SecretMeta, secret_metadata


def get_secret(env_name: str, name: str) -> Secret:
    env = get_environment(env_name)
    secret = Secret.objects.filter(environment=env, name=name).first()
    if secret is None:
        raise NotFound(detail=f"{env.name} has no secret named {name!r}")
    secret.environment = env
    return secret


def confirm(request: Request) -> str | None:
    return request.data.get("confirm") if hasattr(request.data, "get") else None


def _respond(secret: Secret, run: Run | None, created: bool = False) -> Response:
    body = secret_metadata(secret)
    if run is not None:
        body["run"] = {"id": run.pk, "kind": run.kind, "status": run.status,
                       "url": f"/api/runs/{run.pk}/"}
        return Response(body, status=status.HTTP_202_ACCEPTED if not created
                        else status.HTTP_201_CREATED)
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class SecretListView(APIView):
    @extend_schema(responses={200: inline_serializer("SecretList", {
                       "environment": serializers.CharField(),
                       "secrets": serializers.ListField(child=serializers.DictField())})},
                   operation_id="envs_secrets_list",
                   summary="Secrets of an environment (metadata only; values are write-only)")
    def get(self, request, env):
        environment = get_environment(env)
        rows = list(Secret.objects.filter(environment=environment))
        for secret in rows:  # one environment: one namespace look-up for every row
            secret.environment = environment
        return Response({"environment": environment.name,
                         "secrets": [secret_metadata(s) for s in Secret.with_active_runs(rows)]})

    @extend_schema(request=SecretCreate, responses={201: SecretMeta, 409: None},
                   summary="Create a secret (its value is never returned)")
    def post(self, request, env):
        environment = get_environment(env)
        data = SecretCreate(data=request.data)
        data.is_valid(raise_exception=True)
        secret, run = services.create_secret(environment, data.to_model(), request,
                                             confirm=confirm(request))
        return _respond(secret, run, created=True)


class SecretDetailView(APIView):
    @extend_schema(responses={200: SecretMeta}, summary="A secret's metadata and history")
    def get(self, request, env, name):
        return Response(secret_metadata(get_secret(env, name), history=True))

    @extend_schema(request=SecretInput, responses={200: SecretMeta, 202: SecretMeta},
                   summary="Set a new value (200: stored; 202: a run writes it to the "
                   "cluster and rolls the workloads)")
    def put(self, request, env, name):
        secret = get_secret(env, name)
        data = SecretInput(data=request.data)
        data.is_valid(raise_exception=True)
        secret, run = services.set_value(secret, data.to_model(), request,
                                         confirm=confirm(request))
        return _respond(secret, run)

    @extend_schema(request=SecretInput, responses={200: SecretMeta},
                   summary="Change placement or policy (a value here is refused: PUT it)")
    def patch(self, request, env, name):
        secret = get_secret(env, name)
        data = SecretInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "value" in request.data:
            raise Invalid(detail="value: set a value with PUT",
                          fields={"value": ["set a value with PUT"]})
        fields = data.to_model()
        fields.pop("apply", None)
        return Response(secret_metadata(services.update_settings(
            secret, fields, request, confirm=confirm(request))))

    @extend_schema(responses={204: None}, summary="Remove the secret from the portal (the "
                   "Kubernetes Secret is not touched)")
    def delete(self, request, env, name):
        secret = get_secret(env, name)
        services.delete(secret, request, confirm=confirm(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SecretRotateView(APIView):
    @extend_schema(request=RotateInput, responses={201: RunStartResponse},
                   summary="Rotate: new value (by policy, or the owner's), written to the "
                   "Kubernetes Secret, workloads rolled; reverted if a rollout fails")
    def post(self, request, env, name):
        secret = get_secret(env, name)
        data = RotateInput(data=request.data)
        data.is_valid(raise_exception=True)
        return started(services.rotate(secret, request, data.validated_data.get("value"),
                                       confirm=confirm(request)))


class ConfigCheckView(APIView):
    @extend_schema(summary="Missing and extra configuration keys per component",
                   responses=inline_serializer("ConfigCheck", {
                       "environment": serializers.CharField(),
                       "components": serializers.ListField(child=serializers.DictField()),
                       "unused_secrets": serializers.ListField(child=serializers.CharField()),
                       "cluster": serializers.BooleanField()}))
    def get(self, request, env):
        return Response(config_check(get_environment(env)))

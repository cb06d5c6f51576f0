"""Input validation shared by the deploys API and the environment page's forms, and the
shapes of the API's answers (for the schema)."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from envs.models import dns_label

from .components import normalize_component
from .connection import kubeconfig_problem
from .images import MAX_LENGTH, validate_image


def component_ref(value: str, field: str = "component") -> str:
    """``value`` as a component reference; a ValidationError naming ``field`` otherwise."""
    try:
        return normalize_component(value)
    except ValueError as exc:
        raise serializers.ValidationError({field: [str(exc)]}) from None


# A field named "source" shadows Field.source in the stubs only: DRF's metaclass takes
# declared fields out of the class attributes.
class ClusterInfoSerializer(serializers.Serializer):
    set = serializers.BooleanField()
    server = serializers.CharField(allow_null=True)
    in_cluster = serializers.BooleanField()
    source = inline_serializer("ClusterSource", {  # type: ignore[assignment]  # see above
        "env": serializers.CharField(), "output": serializers.CharField(),
        "run": serializers.IntegerField(allow_null=True),
        "outdated": serializers.BooleanField(help_text="that environment was applied again "
                                             "since: copy the output again"),
    }, allow_null=True, help_text="null when the kubeconfig was set by hand")


class ClusterFromOutputSerializer(serializers.Serializer):
    source = serializers.CharField(  # type: ignore[assignment]  # see ClusterInfoSerializer
        max_length=63, help_text="environment whose last apply left the output (e.g. the "
        "platform)")
    output = serializers.CharField(max_length=200, default="kubeconfig")
    confirm = serializers.CharField(required=False, allow_blank=True,
                                    help_text="the environment's name; required for prod "
                                    "when the output is another environment's")


class ClusterSerializer(serializers.Serializer):
    kubeconfig = serializers.CharField(write_only=True, trim_whitespace=False,
                                       max_length=1_000_000)

    def validate_kubeconfig(self, value: str) -> str:
        problem = kubeconfig_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


def component_field() -> serializers.CharField:
    return serializers.CharField(max_length=255, help_text="entity ref; a bare name means "
                                 "component:default/<name>")


class ComponentInput(serializers.Serializer):
    component = component_field()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    confirm = serializers.CharField(required=False, allow_blank=True,
                                    help_text="the environment's name; required for prod")

    def validate_component(self, value: str) -> str:
        try:
            return normalize_component(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))


class DeployInput(ComponentInput):
    image = serializers.CharField(max_length=MAX_LENGTH, help_text="registry/repository:tag "
                                  "or registry/repository@sha256:<digest>")

    def validate_image(self, value: str) -> str:
        try:
            return validate_image(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))


class RollbackInput(ComponentInput):
    release = serializers.IntegerField(min_value=1)


class PromoteInput(ComponentInput):
    pass


# "from" is a Python keyword, so the field is added outside the class body.
PromoteInput._declared_fields["from"] = serializers.CharField(
    required=False, max_length=63,
    help_text="the environment to promote from; default: the one of the previous tier")


# Kubernetes object names (RFC 1123 subdomain) and container names (RFC 1123 label): they
# go into API URLs, so nothing else may pass (hardening: they were only length-checked).
k8s_object_name = RegexValidator(r"\A[a-z0-9]([-a-z0-9.]*[a-z0-9])?\Z",
                                 "a Kubernetes object name: lowercase letters, digits, "
                                 "'-' and '.', starting and ending with a letter or digit")
k8s_label = RegexValidator(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z",
                           "a container name: lowercase letters, digits and '-'")


class TargetInput(serializers.Serializer):
    component = component_field()
    namespace = serializers.CharField(required=False, allow_blank=True, max_length=63,
                                      validators=[dns_label])
    deployment = serializers.CharField(required=False, allow_blank=True, max_length=253,
                                       validators=[k8s_object_name])
    container = serializers.CharField(required=False, allow_blank=True, max_length=63,
                                      validators=[k8s_label])
    kuberoapp = serializers.CharField(required=False, allow_blank=True, max_length=253,
                                      validators=[k8s_object_name])
    auto_rollback = serializers.BooleanField(required=False, default=True)
    rollout_timeout = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                               max_value=86400)

    validate_component = ComponentInput.validate_component

    def validate(self, data: dict) -> dict:
        dep, cont, app = (data.get(k, "").strip() for k in ("deployment", "container",
                                                            "kuberoapp"))
        if app and (dep or cont):
            raise serializers.ValidationError({"kuberoapp": [
                "name either a KuberoApp or a deployment + container, not both"]})
        if dep and not cont:
            raise serializers.ValidationError({"container": [
                "required with deployment: which container's image changes"]})
        if cont and not dep:
            raise serializers.ValidationError({"deployment": ["required with container"]})
        data.update(deployment=dep, container=cont, kuberoapp=app)
        return data


class TargetOutput(serializers.Serializer):
    id = serializers.IntegerField()
    component = serializers.CharField()
    environment = serializers.CharField()
    namespace = serializers.CharField()
    effective_namespace = serializers.CharField()
    kind = serializers.CharField()
    deployment = serializers.CharField()
    container = serializers.CharField()
    kuberoapp = serializers.CharField()
    explicit = serializers.BooleanField()
    auto_rollback = serializers.BooleanField()
    rollout_timeout = serializers.IntegerField(allow_null=True)
    resolved = serializers.BooleanField()
    unresolved_reason = serializers.CharField()
    candidates = serializers.ListField(child=serializers.CharField())
    resolved_at = serializers.DateTimeField(allow_null=True)


class ReleaseOutput(serializers.Serializer):
    id = serializers.IntegerField()
    environment = serializers.CharField()
    component = serializers.CharField()
    workload = serializers.CharField()
    image = serializers.CharField()
    digest = serializers.CharField()
    previous_image = serializers.CharField()
    action = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    actor = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    env = serializers.DictField()
    secret_versions = serializers.DictField()
    rollback_of = serializers.IntegerField(allow_null=True)
    promoted_from = serializers.CharField()
    created_at = serializers.DateTimeField()


PendingPromotion = inline_serializer("PendingPromotion", {
    "component": serializers.CharField(), "from": serializers.CharField(),
    "to": serializers.CharField(), "to_prod": serializers.BooleanField(),
    "from_image": serializers.CharField(), "from_digest": serializers.CharField(),
    "from_release": serializers.IntegerField(),
    "to_image": serializers.CharField(allow_null=True),
    "to_digest": serializers.CharField(),
    "to_release": serializers.IntegerField(allow_null=True)}, many=True)

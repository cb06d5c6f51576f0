"""REST API for deploys: cluster connection, targets, deploy/rollback/promote/restart runs,
release history and pending promotions. Thin: validation here, the work on the models."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from envs.guards import forced, get_environment, require_confirmation
from envs.models import Environment, dns_label
from portal.api.errors import ApiError
from portal.audit.models import record
from portal.lib.kube import Cluster, KubeError
from portal.lib.redact import Redactor
from portal.runs.api import RunStartResponse, lock_conflict, started
from portal.runs.models import LockHeld

from . import promotions, refs
from .cluster import cluster_info, kubeconfig_secrets
from .models import Release, Target

# --- serializers -------------------------------------------------------------------------


class ClusterInfoSerializer(serializers.Serializer):
    set = serializers.BooleanField()
    server = serializers.CharField(allow_null=True)
    in_cluster = serializers.BooleanField()
    source = inline_serializer("ClusterSource", {
        "env": serializers.CharField(), "output": serializers.CharField(),
        "run": serializers.IntegerField(allow_null=True),
        "outdated": serializers.BooleanField(help_text="that environment was applied again "
                                             "since: copy the output again"),
    }, allow_null=True, help_text="null when the kubeconfig was set by hand")


class ClusterFromOutputSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=63, help_text="environment whose last apply "
                                   "left the output (e.g. the platform)")
    output = serializers.CharField(max_length=200, default="kubeconfig")


class ClusterSerializer(serializers.Serializer):
    kubeconfig = serializers.CharField(write_only=True, trim_whitespace=False,
                                       max_length=1_000_000)

    def validate_kubeconfig(self, value: str) -> str:
        scrub = Redactor()
        for secret in kubeconfig_secrets(value):
            scrub.add(secret)
        try:
            Cluster(value).close()  # parses it and builds a client; no request is made
        except KubeError as exc:
            # YAML errors quote the offending line, which may hold a token: never echo them
            text = "not valid YAML" if "YAML" in exc.message else scrub(exc.message)
            raise serializers.ValidationError(text)
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
            return refs.normalize_component(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))


class DeployInput(ComponentInput):
    image = serializers.CharField(max_length=512, help_text="registry/repository:tag or "
                                  "registry/repository@sha256:<digest>")

    def validate_image(self, value: str) -> str:
        try:
            return refs.validate_image(value)
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


def valid(serializer_class, request, **kwargs) -> dict:
    data = serializer_class(data=request.data, **kwargs)
    data.is_valid(raise_exception=True)
    return data.validated_data


def start(fn, *args, **kwargs) -> Response:
    try:
        return started(fn(*args, **kwargs))
    except LockHeld as held:
        raise lock_conflict(held) from None


# --- shared by the API and the UI --------------------------------------------------------

def set_cluster(env: Environment, kubeconfig: str | None, request) -> dict:
    env.kubeconfig = kubeconfig or None
    env.kubeconfig_source = {}
    env.save(update_fields=["kubeconfig", "kubeconfig_source", "updated_at"])
    info = cluster_info(env)
    record("deploys.cluster.set" if kubeconfig else "deploys.cluster.clear", target=env.target,
           request=request, server=info["server"])
    return info


def cluster_from_output(env: Environment, source_name: str, output: str, request) -> dict:
    """Copy a Terraform output (the platform's ``kubeconfig``, sensitive) recorded by the
    source environment's last apply into this environment's encrypted kubeconfig. The value
    goes from one encrypted field to the other: never into a response, a message or the
    audit (which names the source, the output and the server only)."""
    from envs.provisioning.models import StateSnapshot

    def refuse(field: str, msg: str) -> ApiError:
        return ApiError("invalid", f"{field}: {msg}", fields={field: [msg]})

    source = Environment.objects.filter(name=source_name).first()
    if source is None:
        raise refuse("source", f"no environment named {source_name!r}")
    snapshot = StateSnapshot.objects.filter(environment=source).first()
    if snapshot is None or snapshot.last_apply_run_id is None:
        raise refuse("source", f"{source.name} has not been applied by the portal yet: "
                     "apply it, then copy its output")
    found, value = snapshot.output_value(output)
    if not found:
        names = ", ".join(sorted(snapshot.outputs)) or "none"
        raise refuse("output", f"{source.name} has no output {output!r} (its outputs: {names})")
    if not isinstance(value, str) or not value.strip():
        raise refuse("output", f"output {output!r} of {source.name} is not a kubeconfig "
                     "(it is not a non-empty string)")
    try:
        ClusterSerializer().validate_kubeconfig(value)
    except serializers.ValidationError as exc:
        detail = " ".join(str(m) for m in exc.detail)
        raise refuse("output", f"output {output!r} of {source.name} is not a usable "
                     f"kubeconfig: {detail}") from None
    env.kubeconfig = value
    env.kubeconfig_source = {"env": source.name, "output": output,
                             "run": snapshot.last_apply_run_id}
    env.save(update_fields=["kubeconfig", "kubeconfig_source", "updated_at"])
    info = cluster_info(env)
    record("deploys.cluster.from_output", target=env.target, request=request,
           source=source.name, output=output, source_run=snapshot.last_apply_run_id,
           server=info["server"])
    return info


def set_target(env: Environment, data: dict, request) -> Target:
    from .cluster import connect, resolve

    target, _ = Target.objects.get_or_create(environment=env, component=data["component"])
    explicit = bool(data["deployment"] or data["kuberoapp"])
    target.namespace = data.get("namespace", "") or ""
    target.deployment, target.container = data["deployment"], data["container"]
    target.kuberoapp, target.explicit = data["kuberoapp"], explicit
    target.auto_rollback = data.get("auto_rollback", True)
    target.rollout_timeout = data.get("rollout_timeout")
    target.unresolved_reason, target.candidates = "", []
    target.resolved_at = None
    target.save()
    if not explicit:  # find it now so the page can name the candidates
        try:
            with connect(env, request_timeout=(2, 5)) as cluster:
                resolve(target, cluster)
        except Exception as exc:  # noqa: BLE001 - the deploy run tries again
            target.unresolved_reason = ("not found yet (the deploy run looks again): "
                                        + getattr(exc, "message", str(exc)))
            target.save(update_fields=["unresolved_reason"])
    record("deploys.target.set", target=env.target, request=request,
           component=target.component, workload=target.describe())
    return target


def source_environment(env: Environment, name: str | None) -> Environment:
    if name:
        source = Environment.objects.filter(name=name).first()
        if source is None:
            raise ApiError("invalid", f"from: no environment named {name!r}",
                           fields={"from": [f"no environment named {name!r}"]})
        return source
    tier = refs.previous_tier(env.tier)
    candidates = list(Environment.objects.filter(tier=tier)) if tier else []
    if len(candidates) != 1:
        msg = f"name the environment to promote from ({len(candidates)} of tier {tier})"
        raise ApiError("invalid", f"from: {msg}", fields={"from": [msg]})
    return candidates[0]


def release_of(env: Environment, component: str, release_id) -> Release:
    release = Release.objects.filter(pk=release_id, environment=env,
                                     component=component).first()
    if release is None:
        msg = f"no release #{release_id} of {component} in {env.name}"
        raise ApiError("invalid", f"release: {msg}", fields={"release": [msg]})
    return release


def existing_target(env: Environment, component: str) -> Target:
    target = Target.objects.filter(environment=env, component=component).first()
    if target is None:
        msg = f"{component} has no deploy target in {env.name}"
        raise ApiError("invalid", f"component: {msg}", fields={"component": [msg]})
    return target


# --- views -------------------------------------------------------------------------------


class ClusterView(APIView):
    @extend_schema(responses=ClusterInfoSerializer, summary="Whether a cluster connection is "
                   "set and which server it points to (never the kubeconfig)")
    def get(self, request, env):
        return Response(cluster_info(get_environment(env)))

    @extend_schema(request=ClusterSerializer, responses=ClusterInfoSerializer)
    def put(self, request, env):
        environment = get_environment(env)
        data = valid(ClusterSerializer, request)
        return Response(set_cluster(environment, data["kubeconfig"], request))

    @extend_schema(request=None, responses=ClusterInfoSerializer)
    def delete(self, request, env):
        return Response(set_cluster(get_environment(env), None, request))


class ClusterFromOutputView(APIView):
    @extend_schema(request=ClusterFromOutputSerializer, responses=ClusterInfoSerializer,
                   summary="Set the cluster connection from a Terraform output (e.g. the "
                   "platform's sensitive `kubeconfig`) of another environment's last apply; "
                   "the value is copied between encrypted fields and never returned")
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(ClusterFromOutputSerializer, request)
        return Response(cluster_from_output(environment, data["source"], data["output"],
                                            request))


class TargetsView(APIView):
    @extend_schema(responses=TargetOutput(many=True))
    def get(self, request, env):
        environment = get_environment(env)
        return Response([t.to_dict() for t in environment.deploy_targets.all()])

    @extend_schema(request=TargetInput, responses={201: TargetOutput})
    def post(self, request, env):
        environment = get_environment(env)
        target = set_target(environment, valid(TargetInput, request), request)
        return Response(target.to_dict(), status=201)


class DeployView(APIView):
    @extend_schema(request=DeployInput, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(DeployInput, request)
        require_confirmation(environment, request.data)
        target = Target.for_component(environment, data["component"])
        return start(target.start_deploy, data["image"], data.get("reason", ""), request,
                     forced(request.data))


class RollbackView(APIView):
    @extend_schema(request=RollbackInput, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(RollbackInput, request)
        release = release_of(environment, data["component"], data["release"])
        require_confirmation(environment, request.data)
        return start(release.start_rollback, request, data.get("reason", ""))


class PromoteView(APIView):
    @extend_schema(request=PromoteInput, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(PromoteInput, request)
        source = source_environment(environment, data.get("from"))
        require_confirmation(environment, request.data)
        target = Target.for_component(environment, data["component"])
        return start(target.start_promote, source, request, data.get("reason", ""))


class RestartView(APIView):
    @extend_schema(request=ComponentInput, responses={201: RunStartResponse})
    def post(self, request, env):
        environment = get_environment(env)
        data = valid(ComponentInput, request)
        target = existing_target(environment, data["component"])
        require_confirmation(environment, request.data)
        return start(target.start_restart, request, data.get("reason", ""))


class ReleasesView(APIView):
    @extend_schema(parameters=[OpenApiParameter("component", str)],
                   responses=ReleaseOutput(many=True))
    def get(self, request, env):
        environment = get_environment(env)
        releases = Release.objects.filter(environment=environment).select_related(
            "environment")
        if request.query_params.get("component"):
            try:
                ref = refs.normalize_component(request.query_params["component"])
            except ValueError as exc:
                raise ApiError("invalid", f"component: {exc}", fields={"component": [str(exc)]})
            releases = releases.filter(component=ref)
        return Response([r.to_dict() for r in releases[:200]])


class PromotionsView(APIView):
    @extend_schema(responses=inline_serializer("PendingPromotion", {
        "component": serializers.CharField(), "from": serializers.CharField(),
        "to": serializers.CharField(), "to_prod": serializers.BooleanField(),
        "from_image": serializers.CharField(), "from_digest": serializers.CharField(),
        "from_release": serializers.IntegerField(),
        "to_image": serializers.CharField(allow_null=True),
        "to_digest": serializers.CharField(),
        "to_release": serializers.IntegerField(allow_null=True)}, many=True))
    def get(self, request):
        return Response(promotions.pending())

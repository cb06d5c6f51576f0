"""Pages and form posts for deploys. Each post validates with the API's serializers and
calls the same functions as the API, then shows the run or the error."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from envs.guards import require_confirmation
from envs.models import Environment
from portal.runs.pages import start_from_form

from . import api, promotions
from .models import Target


def _act(request, env: Environment, fn):
    return start_from_form(request, fn, f"/envs/{env.name}/")


def _valid(serializer_class, request) -> dict:
    data = serializer_class(data=request.POST)
    data.is_valid(raise_exception=True)
    return data.validated_data


@require_POST
def set_cluster(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        if request.POST.get("clear"):
            api.set_cluster(env, None, request)
            messages.info(request, f"Cluster connection of {env.name} removed.")
            return None
        data = _valid(api.ClusterSerializer, request)
        info = api.set_cluster(env, data["kubeconfig"], request)
        messages.success(request, f"Cluster connection of {env.name} set: {info['server']}.")
        return None
    return _act(request, env, go)


@require_POST
def cluster_from_output(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = _valid(api.ClusterFromOutputSerializer, request)
        info = api.cluster_from_output(env, data["source"], data["output"], request)
        messages.success(request, f"Cluster connection of {env.name} set from output "
                         f"{data['output']} of {data['source']}: {info['server']}.")
        return None
    return _act(request, env, go)


@require_POST
def set_target(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        post = request.POST.copy()
        post["auto_rollback"] = "true" if request.POST.get("auto_rollback") else "false"
        if not post.get("rollout_timeout"):
            post.pop("rollout_timeout", None)
        data = api.TargetInput(data=post)
        data.is_valid(raise_exception=True)
        target = api.set_target(env, data.validated_data, request)
        if target.unresolved_reason:
            messages.warning(request, f"{target.component}: {target.unresolved_reason}")
        else:
            messages.success(request, f"{target.component}: {target.describe()}.")
        return None
    return _act(request, env, go)


@require_POST
def deploy(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = _valid(api.DeployInput, request)
        require_confirmation(env, request.POST)
        target = Target.for_component(env, data["component"])
        return target.start_deploy(data["image"], data.get("reason", ""), request)
    return _act(request, env, go)


@require_POST
def rollback(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = _valid(api.RollbackInput, request)
        release = api.release_of(env, data["component"], data["release"])
        require_confirmation(env, request.POST)
        return release.start_rollback(request, data.get("reason", ""))
    return _act(request, env, go)


@require_POST
def promote(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = _valid(api.PromoteInput, request)
        source = api.source_environment(env, data.get("from"))
        require_confirmation(env, request.POST)
        target = Target.for_component(env, data["component"])
        return target.start_promote(source, request, data.get("reason", ""))
    return _act(request, env, go)


@require_POST
def restart(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = _valid(api.ComponentInput, request)
        target = api.existing_target(env, data["component"])
        require_confirmation(env, request.POST)
        return target.start_restart(request, data.get("reason", ""))
    return _act(request, env, go)


def promotions_page(request):
    return render(request, "deploys/promotions.html", {"rows": promotions.pending()})

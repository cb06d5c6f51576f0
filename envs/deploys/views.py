"""Pages and form posts for deploys. Each post validates with the API's serializers and
calls the same services as the API, then shows the run or the error."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from envs.models import Environment
from portal.runs.pages import start_from_form

from . import promotions, services
from .connection import cluster_info
from .sections import live_workloads
from .serializers import (
    ClusterFromOutputSerializer,
    ClusterSerializer,
    ComponentInput,
    DeployInput,
    PromoteInput,
    RollbackInput,
    TargetInput,
)


def _act(request, env: Environment, fn):
    return start_from_form(request, fn, f"/envs/{env.name}/deploys/")


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@require_POST
def set_cluster(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        if request.POST.get("clear"):
            services.set_cluster(env, None, request)
            messages.info(request, f"Cluster connection of {env.name} removed.")
            return None
        data = _valid(ClusterSerializer, request.POST)
        info = services.set_cluster(env, data["kubeconfig"], request)
        messages.success(request, f"Cluster connection of {env.name} set: {info['server']}.")
        return None
    return _act(request, env, go)


@require_POST
def cluster_from_output(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = _valid(ClusterFromOutputSerializer, request.POST)
        info = services.cluster_from_output(env, data["source"], data["output"], request,
                                            confirm=request.POST.get("confirm"))
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
        target = services.set_target(env, _valid(TargetInput, post), request)
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
        data = _valid(DeployInput, request.POST)
        return services.start_deploy(env, data["component"], data["image"], request,
                                     reason=data.get("reason", ""),
                                     confirm=request.POST.get("confirm"))
    return _act(request, env, go)


@require_POST
def rollback(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = _valid(RollbackInput, request.POST)
        return services.start_rollback(env, data["component"], data["release"], request,
                                       reason=data.get("reason", ""),
                                       confirm=request.POST.get("confirm"))
    return _act(request, env, go)


@require_POST
def promote(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = _valid(PromoteInput, request.POST)
        return services.start_promote(env, data["component"], data.get("from"), request,
                                      reason=data.get("reason", ""),
                                      confirm=request.POST.get("confirm"))
    return _act(request, env, go)


@require_POST
def restart(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = _valid(ComponentInput, request.POST)
        return services.start_restart(env, data["component"], request,
                                      reason=data.get("reason", ""),
                                      confirm=request.POST.get("confirm"))
    return _act(request, env, go)


def live(request, name: str):
    """The "What runs here" fragment, loaded by the page after it rendered."""
    env = get_object_or_404(Environment, name=name)
    return render(request, "deploys/_live.html", {"env": env, "live": live_workloads(env)})


def promotions_page(request):
    rows = promotions.pending()
    targets = {row["to"] for row in rows}
    without = {env.name for env in Environment.objects.filter(name__in=targets)
               if not cluster_info(env)["set"]}
    for row in rows:
        row["no_cluster"] = row["to"] in without
    return render(request, "deploys/promotions.html", {"rows": rows})

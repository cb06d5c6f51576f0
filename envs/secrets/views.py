"""The secret page and the form posts for secrets. Each post validates with the API's
serializers and calls the same services as the API, then shows the run or says what was
refused (never the value)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from envs.models import Environment
from portal.runs.pages import start_from_form

from . import services
from .models import Secret
from .serializers import SecretCreate, SecretInput

FORM_FIELDS = ("max_age_days", "generator", "length", "alphabet", "confirm")


def _form_data(post) -> dict:
    """Form fields -> the API's input shape (blank fields are left out)."""
    data = {k: post[k] for k in FORM_FIELDS + ("name", "terraform_variable") if post.get(k)}
    if post.get("value"):
        data["value"] = post["value"]
    if post.get("k8s_secret"):
        data["kubernetes"] = {"secret": post["k8s_secret"],
                              "namespace": post.get("k8s_namespace", ""),
                              "key": post.get("k8s_key", "")}
    if "name" in post:  # the add form: an unticked box means "no"
        data["auto_rotate"] = bool(post.get("auto_rotate"))
    if post.get("store_only"):
        data["apply"] = False
    return data


def _act(request, env: Environment, fn):
    return start_from_form(request, fn, f"/envs/{env.name}/secrets/")


def _secret(env: Environment, name: str) -> Secret:
    secret = get_object_or_404(Secret, environment=env, name=name)
    secret.environment = env
    return secret


def detail(request, name: str, secret: str):
    """One secret: where it lives, its policy, every version (never a value), and the
    forms to set a value, rotate or remove it."""
    env = get_object_or_404(Environment, name=name)
    obj = _secret(env, secret)
    Secret.with_active_runs([obj])
    return render(request, "secrets/detail.html", {
        "env": env, "x": obj, "confirm": env.is_prod,
        "versions": obj.versions.select_related("run")[:100],
    })


@require_POST
def add(request, name: str):
    env = get_object_or_404(Environment, name=name)

    def go():
        data = SecretCreate(data=_form_data(request.POST))
        data.is_valid(raise_exception=True)
        secret, run = services.create_secret(env, data.to_model(), request,
                                             confirm=request.POST.get("confirm"))
        return run, f"Secret {secret.name} added (version {secret.version})."
    return _act(request, env, go)


@require_POST
def set_value(request, name: str, secret: str):
    env = get_object_or_404(Environment, name=name)
    obj = _secret(env, secret)

    def go():
        data = SecretInput(data=_form_data(request.POST))
        data.is_valid(raise_exception=True)
        saved, run = services.set_value(obj, data.to_model(), request,
                                        confirm=request.POST.get("confirm"))
        return run, f"{saved.name}: version {saved.version} stored."
    return _act(request, env, go)


@require_POST
def rotate(request, name: str, secret: str):
    env = get_object_or_404(Environment, name=name)
    obj = _secret(env, secret)

    def go():
        return services.rotate(obj, request, confirm=request.POST.get("confirm")), ""
    return _act(request, env, go)


@require_POST
def delete(request, name: str, secret: str):
    env = get_object_or_404(Environment, name=name)
    obj = _secret(env, secret)

    def go():
        services.delete(obj, request, confirm=request.POST.get("confirm"))
        return None, f"{secret} removed from the portal (the Kubernetes Secret is unchanged)."
    return _act(request, env, go)

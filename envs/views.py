from django.http import Http404
from django.shortcuts import get_object_or_404, render

from portal.runs.choices import Status
from portal.runs.models import Lock, Run, latest_runs

from .models import Environment
from .sections import (
    DASHBOARD_SECTIONS,
    ENV_SECTIONS,
    TABS,
    head,
    in_tab,
    memo,
    needs_attention,
    render_sections,
)


def dashboard(request):
    envs = list(Environment.objects.all())
    locks = {lock.key: lock.run for lock in Lock.objects.select_related("run")}
    # The newest run of every environment, however old (one indexed query).
    last = {target: runs[0] for target, runs in latest_runs(e.target for e in envs).items()
            if runs}
    cards = [{"env": env, "lock": locks.get(env.lock_key), "last": last.get(env.target)}
             for env in envs]
    runs = Run.objects.order_by("-created_at")[:15]
    return render(request, "dashboard.html", {
        "cards": cards, "runs": runs, "environments": envs,
        "sections": render_sections(DASHBOARD_SECTIONS, request, envs),
    })


def env_list(request):
    envs = list(Environment.objects.all())
    locks = {lock.key: lock.run for lock in Lock.objects.select_related("run")}
    return render(request, "envs/list.html", {
        "rows": [{"env": env, "lock": locks.get(env.lock_key)} for env in envs],
    })


def awaiting_approval(env: Environment) -> list[dict]:
    """Runs of the environment stopped at a plan: the first thing the owner should see."""
    return [{"text": f"{run.kind_label} run #{run.pk} is planned and waits for your review",
             "url": f"/runs/{run.pk}/", "level": "warning", "action": "Review and approve"}
            for run in Run.objects.filter(target=env.target, status=Status.PLANNED)
            .order_by("-created_at")[:5]]


def env_detail(request, name: str, tab: str = "overview"):
    """The environment page: one tab (``/envs/<name>/<tab>/``; ``/envs/<name>/`` is the
    Overview), or every section at once (``/envs/<name>/all/``). Rendered from the database
    only: what a cluster says is loaded apart by the sections that show it."""
    env = get_object_or_404(Environment, name=name)
    if tab != "all" and tab not in dict(TABS):
        raise Http404(f"no tab {tab!r}")
    sections = ENV_SECTIONS if tab == "all" else in_tab(ENV_SECTIONS, tab)
    show_runs = tab in ("all", "runs", "overview")
    runs, more_runs = head(request, Run.objects.filter(target=env.target)
                           .order_by("-created_at", "-id"), "runs",
                           5 if tab == "overview" else 15, cap=50) if show_runs else ([], False)
    attention = (awaiting_approval(env) + needs_attention(request, env)
                 if tab in ("all", "overview") else [])
    return render(request, "envs/detail.html", {
        "env": env, "runs": runs, "more_runs": more_runs, "tab": tab,
        "tabs": TABS, "attention": attention, "show_runs": show_runs,
        "lock": memo(request, ("lock", env.pk), env.lock_holder),
        "sections": render_sections(sections, request, env),
    })

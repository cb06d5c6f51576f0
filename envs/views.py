from django.shortcuts import get_object_or_404, render

from portal.runs.models import Lock, Run, latest_runs

from .models import Environment
from .sections import DASHBOARD_SECTIONS, ENV_SECTIONS, head, memo, render_sections


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


def env_detail(request, name: str):
    env = get_object_or_404(Environment, name=name)
    runs, more_runs = head(request, Run.objects.filter(target=env.target)
                           .order_by("-created_at", "-id"), "runs", 15, cap=50)
    return render(request, "envs/detail.html", {
        "env": env, "runs": runs, "more_runs": more_runs,
        "lock": memo(request, ("lock", env.pk), env.lock_holder),
        "sections": render_sections(ENV_SECTIONS, request, env),
    })

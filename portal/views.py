from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from envs.models import Environment
from envs.sections import DASHBOARD_SECTIONS, render_sections
from portal.runs.models import Lock, Run


def healthz(request):
    """Liveness and database reachability; no data."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok"})
    except Exception:
        return JsonResponse({"status": "database unavailable"}, status=503)


def dashboard(request):
    envs = list(Environment.objects.all())
    locks = {lock.key: lock.run for lock in Lock.objects.select_related("run")}
    last = {}
    recent = Run.objects.filter(target__in=[e.target for e in envs]).order_by("-created_at")
    for run in recent[:200]:
        last.setdefault(run.target, run)
    cards = [{"env": env, "lock": locks.get(env.lock_key), "last": last.get(env.target)}
             for env in envs]
    runs = Run.objects.order_by("-created_at")[:15]
    return render(request, "dashboard.html", {
        "cards": cards, "runs": runs, "environments": envs,
        "sections": render_sections(DASHBOARD_SECTIONS, request, envs),
    })

"""Run pages: list, detail with a live log (HTMX polling with an ?after= cursor), cancel."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal.errors import Conflict, NotFound

from .choices import Status
from .models import LockHeld, Run, RunLine
from .pages import refuse
from .services import cancel_run, start_selfcheck_run

PAGE_LINES = 1000


def next_step(run: Run) -> dict:
    """What the owner does next, shown in the status bar (re-sent with every poll, so it
    appears within one poll of the status changing). The links are the run kind's own
    (``RunKind.links``): the kernel names no feature."""
    links = run.kind_links()
    step: dict = {"links": links, "primary": None, "retry": None, "summary": "",
                  "retry_selfcheck": None}
    if run.status == Status.PLANNED and links:
        step["primary"] = ("Review and approve", links[0][1])
        step["links"] = links[1:]
    elif run.status == Status.SUCCEEDED:
        parts = [f"{run.kind_label} succeeded"]
        if run.elapsed is not None:
            parts.append(f"in {run.elapsed:.1f} s")
        step["summary"] = " ".join(parts)
        step["result"] = {k: v for k, v in (run.result or {}).items()
                          if isinstance(v, str | int | float | bool | list)}
    elif run.status == Status.FAILED:
        retry = next((link for link in links if link[0].startswith("Retry")), None)
        if retry is not None:
            step["retry"] = retry
            step["links"] = [link for link in links if link is not retry]
        elif run.kind == "selfcheck":
            step["retry_selfcheck"] = run.target.removeprefix("env:") if run.target else ""
    return step


def run_list(request):
    runs = Run.objects.all()
    for field in ("kind", "status", "target"):
        if request.GET.get(field):
            runs = runs.filter(**{field: request.GET[field]})
    page = Paginator(runs.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    return render(request, "runs/list.html", {
        "page": page, "statuses": Status.values, "filters": request.GET,
    })


@require_POST
def start_selfcheck(request):
    try:
        run = start_selfcheck_run(request.POST.get("environment") or "", request)
    except NotFound as missing:  # an environment typed or posted that does not exist
        return refuse(request, missing, "/runs/")
    except LockHeld as held:
        return refuse(request, held, f"/runs/{held.holder.pk}/" if held.holder else "/runs/")
    return redirect("run", pk=run.pk)



def run_detail(request, pk: int):
    run = get_object_or_404(Run.objects.select_related("parent"), pk=pk)
    lines = list(RunLine.objects.filter(run=run).order_by("seq")[:PAGE_LINES])
    return render(request, "runs/detail.html", {
        "run": run, "lines": lines, "after": lines[-1].seq if lines else 0,
        "children": run.children.order_by("created_at"), "next": next_step(run),
    })


def run_lines(request, pk: int):
    """The polling fragment: new lines after the cursor, plus the status bar out of band."""
    after = request.GET.get("after", "0")
    after = int(after) if after.isdigit() else 0
    run = get_object_or_404(Run, pk=pk)
    lines = list(RunLine.objects.filter(run=run, seq__gt=after).order_by("seq")[:PAGE_LINES])
    finished = run.log_finished and len(lines) < PAGE_LINES
    return render(request, "runs/_lines.html", {
        "run": run, "lines": lines, "after": lines[-1].seq if lines else after,
        "finished": finished, "next": next_step(run),
    })


@require_POST
def cancel(request, pk: int):
    run = get_object_or_404(Run, pk=pk)
    try:
        cancel_run(run, request)
        messages.info(request, f"Cancel requested for run #{run.pk}.")
    except Conflict:
        messages.warning(request, f"Run #{run.pk} is {run.status}; nothing to cancel.")
    return redirect("run", pk=run.pk)

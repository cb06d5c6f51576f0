"""Catalog pages: the entity list (filters, search, pages; Components unless another kind
or "all kinds" is asked for), an entity (fields, links, relations as a list and as an SVG
graph, environments, config keys, errors, an API's definition as documentation, and the
panels other features register: ``sections.entity_panel``) and the locations (add ->
import run, refresh now, delete orphans, delete after a confirmation page). Input is
validated by the same serializer as the API, and the work is done by the same
``services.py`` functions."""

from __future__ import annotations

import os

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portal.errors import DomainError
from portal.runs.models import Lock, Run
from portal.runs.pages import refusal, refuse, start_from_form

from . import apidocs, graph, services
from .descriptor import is_within
from .filters import FILTERS, FilterError, filter_entities, list_columns
from .models import Entity, Location, kind_label
from .sections import entity_panels
from .serializers import LocationSerializer

PAGE_SIZE = 50
DEFAULT_KIND = "component"


def entity_list(request):
    """Components first: without any filter in the query the list shows Components (the
    owner's daily view); ``?kind=`` (the "All kinds" link, the form's "any") shows all."""
    params = {k: request.GET.get(k, "") for k in FILTERS}
    if not any(k in request.GET for k in FILTERS):
        params["kind"] = DEFAULT_KIND
    try:
        entities = list_columns(filter_entities(params))
    except FilterError as exc:
        messages.error(request, f"Filter {exc}")
        entities = Entity.objects.none()
    page = Paginator(entities, PAGE_SIZE).get_page(request.GET.get("page"))
    kinds = [(k, kind_label(k), n) for k, n in
             Entity.objects.values_list("kind").annotate(n=Count("id")).order_by("kind")]
    keep = request.GET.copy()
    keep.pop("page", None)
    query = keep.urlencode()
    return render(request, "catalog/list.html", {
        "page": page, "filters": params, "kinds": kinds, "query": query,
        "filtered": any(request.GET.get(k) for k in FILTERS),
        "locations": Location.objects.count(),
    })


def entity_detail(request, kind: str, namespace: str, name: str):
    ref = f"{kind}:{namespace}/{name}".lower()
    entity = get_object_or_404(Entity.objects.select_related("location"), ref=ref)
    relations = entity.relation_rows()
    return render(request, "catalog/entity.html", {
        "entity": entity,
        "relations": relations,
        "graph": graph.layout(entity, relations),
        "annotation_links": entity.annotation_links(),
        "environments": entity.environment_rows(),
        "location_errors": entity.location.errors if entity.location.status == "failed" else [],
        "definition": apidocs.describe(entity.spec.get("definition"), entity.type)
        if entity.kind == "api" else None,
        "panels": entity_panels(request, entity),
    })


def _with_source_lines(preview: dict, location: Location) -> dict:
    """Each issue of a local source gets the text of its line (read-only, under the
    location's own directory); remote sources were read in a checkout that is gone."""
    if location.kind != "local":
        return preview
    root = location.target if os.path.isdir(location.target) else os.path.dirname(
        location.target)
    cache: dict[str, list[str]] = {}
    for issue in preview["errors"] + preview["warnings"][:500]:
        path = os.path.join(root, issue.get("file") or "")
        if not issue.get("line") or not is_within(path, root) or not os.path.isfile(path):
            continue
        if path not in cache:
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    cache[path] = fh.read(1 << 20).splitlines()
            except OSError:
                cache[path] = []
        lines = cache[path]
        if 0 < issue["line"] <= len(lines):
            issue["text"] = lines[issue["line"] - 1][:300]
    return preview


def _preview_context(preview: dict) -> dict:
    return {"preview": preview, "preview_lists": [
        ("Created", preview["created"]), ("Updated", preview["updated"]),
        ("Orphaned", preview["orphaned"])]}


def location_list(request):
    """Add a location in two steps, like Backstage's "Register existing component": the
    form first previews (what would be created, updated, orphaned; every issue at its
    line), and only "Import" on the preview adds the location and starts its import."""
    # A failed first import's "Retry" link brings the source back into the form.
    form = {k: request.GET.get(k, "")[:2000] for k in ("target", "ref", "path")}
    errors = {}
    extra: dict = {}
    if request.method == "POST":
        form = {k: request.POST.get(k, "") for k in ("target", "ref", "path")}
        data = LocationSerializer(data={**form, "token": request.POST.get("token", "")})
        confirmed = request.POST.get("action") == "import"
        if data.is_valid() and not confirmed:
            fields = {k: data.validated_data.get(k) for k in services.SOURCE_FIELDS}
            try:
                preview = services.preview_new_location(
                    token=data.validated_data.get("token"), **fields)
            except services.LocationExists as exc:
                messages.error(request, refusal(exc))
                return redirect(exc.location.get_absolute_url())
            unsaved = Location(**fields)
            extra = _preview_context(_with_source_lines(preview, unsaved))
            extra["had_token"] = bool(data.validated_data.get("token"))
        elif data.is_valid():
            fields = {k: data.validated_data.get(k) for k in services.SOURCE_FIELDS}
            try:
                _location, run = services.add_location(token=data.validated_data.get("token"),
                                                       request=request, **fields)
            except services.LocationExists as exc:
                messages.error(request, refusal(exc))
                return redirect(exc.location.get_absolute_url())
            messages.success(request, f"Location added; import run #{run.pk} started.")
            return redirect("run", pk=run.pk)
        errors = {k: [str(m) for m in v] for k, v in data.errors.items()}
    locations = Location.objects.order_by("pk").annotate(
        orphans=Count("entities", filter=Q(entities__orphaned=True)))
    return render(request, "catalog/locations.html", {
        "locations": locations, "form": form, "errors": errors, **extra,
    }, status=400 if errors else 200)


def location_preview(request, pk: int):
    """What "Refresh now" would do, read now and stored nowhere."""
    location = get_object_or_404(Location, pk=pk)
    preview = _with_source_lines(services.preview(location), location)
    return render(request, "catalog/location_preview.html", {
        "location": location, **_preview_context(preview)})


def location_detail(request, pk: int):
    location = get_object_or_404(Location, pk=pk)
    return render(request, "catalog/location.html", {
        "location": location,
        "lock": Lock.holder(location.lock_key),
        "runs": Run.objects.filter(target=location.run_target).order_by("-created_at")[:10],
        "orphans": location.entities.filter(orphaned=True).order_by("ref")[:200],
        "orphan_count": location.entities.filter(orphaned=True).count(),
        "kinds": location.entities.values_list("kind").annotate(n=Count("id")).order_by("kind"),
    })


@require_POST
def location_refresh(request, pk: int):
    location = get_object_or_404(Location, pk=pk)
    return start_from_form(
        request, lambda: services.start_import(location, request=request, refresh=True),
        location.get_absolute_url())


@require_POST
def location_delete_orphans(request, pk: int):
    location = get_object_or_404(Location, pk=pk)
    count = services.delete_orphans(location, request=request)
    messages.success(request, f"Deleted {count} orphaned entities.")
    return redirect(location.get_absolute_url())


@require_http_methods(["GET", "POST"])
def location_delete(request, pk: int):
    """GET asks first (how many entities go with it); the POST of that page deletes."""
    location = get_object_or_404(Location, pk=pk)
    if request.method == "GET":
        return render(request, "catalog/location_delete.html", {
            "location": location, "count": location.entities.count(),
            "orphans": location.entities.filter(orphaned=True).count(),
            "lock": Lock.holder(location.lock_key)})
    try:
        count = services.remove_location(location, request=request)
    except DomainError as exc:
        return refuse(request, exc, location.get_absolute_url())
    messages.success(request, f"Location #{pk} and its {count} entities deleted.")
    return redirect("catalog-locations")

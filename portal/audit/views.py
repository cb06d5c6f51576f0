from django.core.paginator import Paginator
from django.shortcuts import render

from portal.api.errors import ApiError

from .filters import filter_events
from .models import AuditEvent, Outcome


def audit_list(request):
    error = None
    try:
        events = filter_events(AuditEvent.objects.all(), request.GET)
    except ApiError as exc:
        error, events = str(exc.detail), AuditEvent.objects.none()
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    actions = AuditEvent.objects.order_by().values_list("action", flat=True).distinct()
    return render(request, "audit/list.html", {
        "page": page, "filters": request.GET, "error": error,
        "outcomes": Outcome.values, "actions": sorted(set(actions)),
    })

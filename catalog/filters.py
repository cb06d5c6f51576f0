"""The entity list filters, shared by the catalog page and GET /api/catalog/entities/."""

from __future__ import annotations

from django.db.models import QuerySet

from catalog.descriptor import RefError, parse_ref

from .models import Entity

FILTERS = ("kind", "type", "lifecycle", "owner", "system", "tag", "environment", "location",
           "orphaned", "has_errors", "q")
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class FilterError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _ref(field: str, value: str, default_kind: str) -> str:
    try:
        return str(parse_ref(value.strip(), default_kind=default_kind))
    except RefError as exc:
        raise FilterError(field, str(exc)) from None


def _bool(field: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FilterError(field, "expected true or false")


def filter_entities(params, queryset: QuerySet | None = None) -> QuerySet:
    """Apply the query parameters; raise FilterError on a malformed value. Every filter
    is a plain column comparison (or LIKE on a denormalised column): no joins."""
    qs = Entity.objects.all() if queryset is None else queryset
    get = lambda name: (params.get(name) or "").strip()  # noqa: E731
    if get("kind"):
        qs = qs.filter(kind__in=[k.strip().lower() for k in get("kind").split(",") if k.strip()])
    for name in ("type", "lifecycle"):
        if get(name):
            qs = qs.filter(**{name: get(name)})
    if get("owner"):
        qs = qs.filter(owner=_ref("owner", get("owner"), "group"))
    if get("system"):
        qs = qs.filter(system=_ref("system", get("system"), "system"))
    if get("tag"):
        qs = qs.filter(tag_index__contains=f",{get('tag').lower()},")
    if get("environment"):
        qs = qs.filter(env_index__contains=f",{get('environment').lower()},")
    if get("location"):
        if not get("location").isdigit():
            raise FilterError("location", "expected a location id")
        qs = qs.filter(location_id=int(get("location")))
    for name in ("orphaned", "has_errors"):
        if get(name):
            qs = qs.filter(**{name: _bool(name, get(name))})
    if get("q"):
        qs = qs.filter(search__contains=get("q").lower())
    return qs.order_by("ref")


def list_columns(qs: QuerySet) -> QuerySet:
    """Only what a list row shows: the descriptor JSON stays in the database."""
    return qs.only("id", "ref", "kind", "namespace", "name", "title", "type", "lifecycle",
                   "owner", "system", "tags", "description", "orphaned", "has_errors",
                   "location_id", "updated_at")

"""Backstage-compatible catalog routes (read side), under ``/api/catalog/`` without a
trailing slash, so that ``@backstage/catalog-client`` (and scripts written for Backstage)
work against the portal unchanged. The portal's own API (same prefix, trailing slash)
stays as it is.

Routes, as the client calls them: ``GET /entities`` (``filter``, ``fields``, ``offset``,
``limit``, ``after``, ``order``), ``GET /entities/by-query`` (cursor pagination,
``fullTextFilterTerm``/``fullTextFilterFields``, ``orderField``, ``totalItems``),
``POST /entities/by-refs``, ``GET /entities/by-uid/<uid>``,
``GET /entities/by-name/<kind>/<namespace>/<name>`` (and ``/ancestry``),
``GET /entity-facets?facet=``, ``GET /locations``, ``GET /locations/<id>``.

Errors answer Backstage's shape, ``{"error": {"name", "message"}, "request": {"method",
"url"}, "response": {"statusCode"}}``, rendered here (not by the portal's API handler).
Authentication and scopes are the API's (bearer tokens, a read token is enough).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.auth.api import OwnerScopePermission
from portal.auth.models import ApiToken, deploy_environment

from . import backstage as B
from .descriptor import RefError, parse_ref
from .models import Entity, Location

_NAMES = {400: "InputError", 401: "AuthenticationError", 403: "NotAllowedError",
          404: "NotFoundError", 405: "MethodNotAllowedError", 409: "ConflictError",
          413: "PayloadTooLargeError", 415: "UnsupportedMediaTypeError",
          429: "TooManyRequestsError"}
_DEFAULT_LIMIT = 20  # Backstage's page size for /entities/by-query
_MAX_LIMIT = 10000


_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
_ARRAY: dict[str, Any] = {"type": "array", "items": _OBJECT}
_ERROR: dict[str, Any] = {
    "type": "object", "required": ["error", "request", "response"],
    "description": "Backstage's error shape",
    "properties": {
        "error": {"type": "object", "required": ["name", "message"], "properties": {
            "name": {"type": "string"}, "message": {"type": "string"}}},
        "request": {"type": "object", "properties": {
            "method": {"type": "string"}, "url": {"type": "string"}}},
        "response": {"type": "object", "required": ["statusCode"], "properties": {
            "statusCode": {"type": "integer"}}},
    },
}


def _doc(operation_id: str, body: dict[str, Any] = _OBJECT, **extra: Any):
    """The OpenAPI description: Backstage's shapes, and its error shape for every error."""
    return extend_schema(operation_id=operation_id, tags=["catalog (Backstage-compatible)"],
                         responses={200: body, **{c: _ERROR for c in (400, 401, 403, 404, 415)}},
                         **extra)


class NotFound(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _error(request, status: int, message: str) -> Response:
    return Response({
        "error": {"name": _NAMES.get(status, "Error"), "message": message},
        "request": {"method": request.method, "url": request.get_full_path()},
        "response": {"statusCode": status},
    }, status=status)


class BackstageView(APIView):
    """Backstage's error shape for every failure of these routes."""

    def handle_exception(self, exc):
        request = self.request
        if isinstance(exc, B.BadRequest):
            return _error(request, 400, str(exc))
        if isinstance(exc, NotFound):
            return _error(request, 404, exc.message)
        if isinstance(exc, Http404):
            return _error(request, 404, "Not found")
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response = _error(request, 401, str(exc.detail))
            header = self.get_authenticate_header(request)
            if header:
                response["WWW-Authenticate"] = header
            return response
        if isinstance(exc, exceptions.APIException):
            detail = exc.detail
            message = str(detail if not isinstance(detail, dict | list) else exc.default_detail)
            return _error(request, exc.status_code, message)
        raise exc


def _int(request, name: str, default: int | None, maximum: int = _MAX_LIMIT) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or int(value) > maximum:
        raise B.BadRequest(f"Invalid {name} query parameter {value!r}: expected an integer "
                           f"between 0 and {maximum}")
    return int(value)


def _filters(request) -> list[B.Filter]:
    return B.parse_filters(request.query_params.getlist("filter"))


def _select(filters: list[B.Filter]) -> list[tuple[dict[str, Any], dict[str, set[str]]]]:
    """Every entity matching ``filters``, with its flattened search form."""
    out = []
    for entity in B.load(filters=filters):
        flat = B.flatten(entity)
        if B.filter_matches(filters, flat):
            out.append((entity, flat))
    return out


_Row = tuple[dict[str, Any], dict[str, set[str]]]


def _order(rows: list[_Row], directives: list[tuple[str, str]]) -> list[_Row]:
    rows = list(rows)
    for field, direction in reversed(directives):
        keys = {id(r): B.sort_key(r[1], field) for r in rows}
        rows.sort(key=lambda r: keys[id(r)][1], reverse=direction == "desc")
        rows.sort(key=lambda r: keys[id(r)][0])  # missing values last, either direction
    return rows


def _fields(request) -> list[str]:
    return B.parse_fields(request.query_params.getlist("fields"))


def _by_ref(ref: str) -> dict[str, Any]:
    rows = B.load(Entity.objects.filter(ref=ref))
    if not rows:
        kind, _, rest = ref.partition(":")
        namespace, _, name = rest.partition("/")
        raise NotFound(f"No entity named '{name}' found, with kind '{kind}' in namespace "
                       f"'{namespace}'")
    return rows[0]


class EntitiesView(BackstageView):
    @_doc("backstage_get_entities", _ARRAY)
    def get(self, request):
        """Backstage's GET /entities: a JSON array of full entities."""
        filters = _filters(request)
        directives = []
        for item in request.query_params.getlist("order"):
            direction, _, field = item.partition(":")
            if direction not in ("asc", "desc") or not field:
                raise B.BadRequest(f"Invalid order parameter {item!r}, expected "
                                   "asc:<field> or desc:<field>")
            directives.append((field, direction))
        offset = _int(request, "offset", 0) or 0
        after = request.query_params.get("after")
        if after:
            cursor = B.decode_cursor(after)
            offset = cursor.get("offset") if isinstance(cursor.get("offset"), int) else 0
        limit = _int(request, "limit", None)
        rows = _order(_select(filters), directives)
        page = rows[offset:offset + limit] if limit is not None else rows[offset:]
        fields = _fields(request)
        response = Response([B.project(entity, fields) for entity, _flat in page])
        if limit is not None and offset + limit < len(rows):
            nxt = B.encode_cursor({"offset": offset + limit})
            response["Link"] = f'<{request.path}?after={nxt}>; rel="next"'
        return response


class EntitiesByQueryView(BackstageView):
    @_doc("backstage_query_entities")
    def get(self, request):
        """Backstage's GET /entities/by-query: {items, totalItems, pageInfo}."""
        cursor_text = request.query_params.get("cursor")
        if cursor_text:
            cursor = B.decode_cursor(cursor_text)
            raw_filters = [f for f in cursor.get("filter", []) if isinstance(f, str)]
            order = [o for o in cursor.get("orderFields", []) if isinstance(o, list)
                     and len(o) == 2 and all(isinstance(p, str) for p in o)]
            term = cursor.get("term") if isinstance(cursor.get("term"), str) else ""
            text_fields = [f for f in cursor.get("textFields", []) if isinstance(f, str)]
            offset = cursor.get("offset") if isinstance(cursor.get("offset"), int) else 0
        else:
            raw_filters = request.query_params.getlist("filter")
            order = []
            for item in request.query_params.getlist("orderField"):
                field, _, direction = item.partition(",")
                direction = direction or "asc"
                if not field or direction not in ("asc", "desc"):
                    raise B.BadRequest(f"Invalid orderField {item!r}, expected "
                                       "<field>,asc or <field>,desc")
                order.append([field, direction])
            term = (request.query_params.get("fullTextFilterTerm") or "").strip()
            text_fields = B.parse_fields(request.query_params.getlist("fullTextFilterFields"))
            offset = _int(request, "offset", 0) or 0
        limit = _int(request, "limit", _DEFAULT_LIMIT) or 0
        filters = B.parse_filters(raw_filters)
        rows = _select(filters)
        if term:
            rows = [r for r in rows if B.full_text(term, text_fields, r[1])]
        rows = _order(rows, [(f, d) for f, d in order])
        page = rows[offset:offset + limit]
        state = {"filter": raw_filters, "orderFields": order, "term": term,
                 "textFields": text_fields}
        page_info: dict[str, str] = {}
        if offset + limit < len(rows):
            page_info["nextCursor"] = B.encode_cursor({**state, "offset": offset + limit})
        if offset > 0:
            page_info["prevCursor"] = B.encode_cursor({**state,
                                                       "offset": max(0, offset - limit)})
        fields = _fields(request)
        return Response({"items": [B.project(e, fields) for e, _f in page],
                         "totalItems": len(rows), "pageInfo": page_info})


class ReadQueryPermission(OwnerScopePermission):
    """POST /entities/by-refs only reads (Backstage posts the ref list because it can be
    long): a read token may use it; a deploy token may not."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        token = request.auth
        return not (isinstance(token, ApiToken) and deploy_environment(token.scope) is not None)


class EntitiesByRefsView(BackstageView):
    permission_classes = [ReadQueryPermission]

    @_doc("backstage_entities_by_refs", request=OpenApiTypes.OBJECT)
    def post(self, request):
        """Backstage's POST /entities/by-refs: {items: [entity or null, ...]} in order."""
        body = request.data
        refs = body.get("entityRefs") if isinstance(body, dict) else None
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise B.BadRequest("Malformed request body, entityRefs must be a list of strings")
        if len(refs) > _MAX_LIMIT:
            raise B.BadRequest(f"Too many entityRefs, at most {_MAX_LIMIT}")
        fields = body.get("fields") or []
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise B.BadRequest("Malformed request body, fields must be a list of strings")
        wanted = []
        for ref in refs:
            try:
                wanted.append(str(parse_ref(ref)) if ref.strip() == ref else None)
            except RefError:
                wanted.append(None)
        filters = _filters(request)
        found = {}
        for entity in B.load(Entity.objects.filter(ref__in={w for w in wanted if w})):
            if B.filter_matches(filters, B.flatten(entity)):
                found[f"{entity['kind']}:{entity['metadata']['namespace']}/"
                      f"{entity['metadata']['name']}".lower()] = entity
        items = [B.project(found[w], fields) if w in found else None for w in wanted]
        return Response({"items": items})


class EntityByUidView(BackstageView):
    @_doc("backstage_entity_by_uid")
    def get(self, request, uid: str):
        try:
            key = uuid.UUID(uid)
        except ValueError:
            raise NotFound(f"No entity with uid {uid}") from None
        rows = B.load(Entity.objects.filter(uid=key))
        if not rows:
            raise NotFound(f"No entity with uid {uid}")
        return Response(rows[0])


class EntityByNameView(BackstageView):
    @_doc("backstage_entity_by_name")
    def get(self, request, kind: str, namespace: str, name: str):
        return Response(_by_ref(f"{kind}:{namespace}/{name}".lower()))


class EntityAncestryView(BackstageView):
    @_doc("backstage_entity_ancestry")
    def get(self, request, kind: str, namespace: str, name: str):
        """The portal keeps no chain of emitting Location entities: the root only."""
        ref = f"{kind}:{namespace}/{name}".lower()
        entity = _by_ref(ref)
        return Response({"rootEntityRef": ref,
                         "items": [{"entity": entity, "parentEntityRefs": []}]})


class EntityFacetsView(BackstageView):
    @_doc("backstage_entity_facets")
    def get(self, request):
        facets = [f for f in request.query_params.getlist("facet") if f]
        if not facets:
            raise B.BadRequest("Missing facet query parameter")
        counts: dict[str, dict[str, int]] = {f: {} for f in facets}
        for entity, _flat in _select(_filters(request)):
            original = B.flatten(entity, lower=False)
            for facet in facets:
                for value in original.get(facet.lower(), ()):
                    counts[facet][value] = counts[facet].get(value, 0) + 1
        return Response({"facets": {
            facet: [{"value": v, "count": c} for v, c in sorted(
                values.items(), key=lambda item: (-item[1], item[0]))]
            for facet, values in counts.items()}})


class LocationsView(BackstageView):
    @_doc("backstage_locations", _ARRAY)
    def get(self, request):
        return Response([{"data": B.location_json(loc)}
                         for loc in Location.objects.order_by("pk")])


class LocationView(BackstageView):
    @_doc("backstage_location")
    def get(self, request, pk: str):
        location = (Location.objects.filter(pk=int(pk)).first()
                    if pk.isascii() and pk.isdigit() and len(pk) < 18 else None)
        if location is None:
            raise NotFound(f"Found no location with ID {pk}")
        return Response(B.location_json(location))

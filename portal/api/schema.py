"""OpenAPI post-processing: document the one error form on every operation."""

from __future__ import annotations

ERROR = {
    "type": "object",
    "required": ["error", "detail", "fields"],
    "properties": {
        "error": {"type": "string", "description": "a short code, e.g. invalid, locked"},
        "detail": {"type": "string", "description": "what went wrong, for people"},
        "fields": {"type": "object", "additionalProperties": True,
                   "description": "per-field messages for invalid input"},
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    "400": "Invalid input (see `fields`), or a confirmation is required",
    "401": "No or invalid credentials",
    "403": "Not allowed (e.g. a read token on a write operation)",
    "404": "Not found",
    "409": "Conflict: a lock is held (the holder run is named) or the state does not allow it",
    "415": "Unsupported media type for the request body",
}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    ref = {"$ref": "#/components/schemas/Error"}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            # 404 everywhere: unknown objects, and pages past the end of a list.
            codes = ["400", "401", "403", "404"]
            if method != "get":
                codes += ["409", "415"]
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, {
                    "description": DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": ref}},
                })
    return result

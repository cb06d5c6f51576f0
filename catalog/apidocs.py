"""An API entity's ``spec.definition`` as readable documentation, built on the server
(the page loads no script to do it): OpenAPI 2 and 3 and AsyncAPI 2 and 3, in YAML or
JSON, become plain data the template ``catalog/_api_definition.html`` lays out (title,
version, servers, operations with their parameters, bodies and responses; channels with
their operations and messages). Anything else is shown as text; a definition that does
not read shows its text and one line saying why.

A definition is untrusted input: it is read by the bounded safe loader, every value is
coerced to text here (never a repr, never markup) and the template escapes it."""

from __future__ import annotations

from typing import Any

from portal.lib.yaml_safe import YamlError, load_all

__all__ = ["describe"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_TEXT = 512 * 1024  # the text box shows at most this much of a definition
MAX_OPERATIONS = 1000  # a huge definition is cut (and says so)


def _map(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    """A scalar as the page shows it ("" for structures and nothing)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def _ref_name(ref: Any) -> str:
    """``#/components/schemas/Pet`` -> ``Pet``."""
    return _text(ref).rsplit("/", 1)[-1]


def _resolve(doc: dict, value: Any) -> dict:
    """A local ``$ref`` (``#/a/b``) followed once; anything else as it is."""
    node = _map(value)
    ref = _text(node.get("$ref"))
    if not ref.startswith("#/"):
        return node
    target: Any = doc
    for part in ref[2:].split("/"):
        target = _map(target).get(part.replace("~1", "/").replace("~0", "~"))
    return _map(target) or node


def _schema(value: Any) -> str:
    """A short name for a schema: ``Pet``, ``array of Pet``, ``string (uuid)``."""
    node = _map(value)
    if not node:
        return ""
    if "$ref" in node:
        return _ref_name(node["$ref"])
    kind = _text(node.get("type"))
    if kind == "array":
        inner = _schema(node.get("items"))
        return f"array of {inner}" if inner else "array"
    for combo in ("oneOf", "anyOf", "allOf"):
        parts = [p for p in (_schema(s) for s in _list(node.get(combo))) if p]
        if parts:
            return f"{combo}: {', '.join(parts)}"
    fmt = _text(node.get("format"))
    if kind and fmt:
        return f"{kind} ({fmt})"
    return kind or ("object" if "properties" in node else "")


def _content(content: Any) -> list[dict]:
    return [{"media_type": str(media), "schema": _schema(_map(body).get("schema"))}
            for media, body in _map(content).items()]


def _parameters(doc: dict, *lists: Any) -> list[dict]:
    out: dict[tuple[str, str], dict] = {}
    for items in lists:
        for raw in _list(items):
            p = _resolve(doc, raw)
            name = _text(p.get("name"))
            if not name:
                continue
            schema = _schema(p.get("schema")) or _text(p.get("type"))
            out[(name, _text(p.get("in")))] = {
                "name": name, "in": _text(p.get("in")), "required": p.get("required") is True,
                "description": _text(p.get("description")), "schema": schema,
            }
    return list(out.values())


def _openapi(doc: dict) -> dict:
    info = _map(doc.get("info"))
    version = _text(doc.get("openapi")) or _text(doc.get("swagger"))
    servers = [{"url": _text(s.get("url")), "description": _text(s.get("description"))}
               for s in map(_map, _list(doc.get("servers"))) if _text(s.get("url"))]
    if not servers and _text(doc.get("host")):  # OpenAPI 2
        schemes = [_text(s) for s in _list(doc.get("schemes"))] or ["https"]
        servers = [{"url": f"{scheme}://{_text(doc['host'])}{_text(doc.get('basePath'))}",
                    "description": ""} for scheme in schemes if scheme]
    paths, count, cut = [], 0, False
    for path, item in _map(doc.get("paths")).items():
        item = _resolve(doc, item)
        operations = []
        for method in METHODS:
            op = _map(item.get(method))
            if method not in item:
                continue
            if count >= MAX_OPERATIONS:
                cut = True
                break
            count += 1
            params = _parameters(doc, item.get("parameters"), op.get("parameters"))
            body = [p for p in params if p["in"] == "body"]  # OpenAPI 2's request body
            request = _resolve(doc, op.get("requestBody"))
            responses = []
            for code, response in _map(op.get("responses")).items():
                response = _resolve(doc, response)
                content = _content(response.get("content"))
                if not content and response.get("schema"):  # OpenAPI 2
                    content = [{"media_type": "", "schema": _schema(response["schema"])}]
                responses.append({"code": str(code), "description": _text(
                    response.get("description")), "content": content})
            operations.append({
                "method": method, "summary": _text(op.get("summary")),
                "description": _text(op.get("description")),
                "operation_id": _text(op.get("operationId")),
                "deprecated": op.get("deprecated") is True,
                "tags": [_text(t) for t in _list(op.get("tags")) if _text(t)],
                "parameters": [p for p in params if p["in"] != "body"],
                "request": {"description": _text(request.get("description")),
                            "required": request.get("required") is True,
                            "content": _content(request.get("content"))}
                if request else ({"description": body[0]["description"], "required":
                                  body[0]["required"], "content": [
                                      {"media_type": "", "schema": body[0]["schema"]}]}
                                 if body else None),
                "responses": responses,
            })
        paths.append({"path": str(path), "operations": operations})
        if cut:
            break
    schemas = sorted(str(k) for k in _map(_map(doc.get("components")).get("schemas")))
    schemas = schemas or sorted(str(k) for k in _map(doc.get("definitions")))
    return {"format": "openapi", "label": f"OpenAPI {version}",
            "title": _text(info.get("title")), "version": _text(info.get("version")),
            "description": _text(info.get("description")), "servers": servers,
            "paths": paths, "operations": count, "cut": cut, "schemas": schemas}


def _messages(doc: dict, value: Any) -> list[str]:
    """The names of an AsyncAPI operation's or channel's messages."""
    node = _map(value)
    items: list = []
    if isinstance(value, list):
        items = value
    elif "oneOf" in node:
        items = _list(node["oneOf"])
    elif "$ref" in node or "name" in node or "payload" in node:
        items = [node]
    else:  # AsyncAPI 3: channel messages by id
        return [(_text(_resolve(doc, m).get("name")) or str(key)) for key, m in node.items()]
    names = []
    for raw in items:
        message = _resolve(doc, raw)
        name = (_text(message.get("name")) or _text(message.get("title"))
                or _ref_name(_map(raw).get("$ref")))
        if name:
            names.append(name)
    return names


def _asyncapi(doc: dict) -> dict:
    info = _map(doc.get("info"))
    version = _text(doc.get("asyncapi"))
    servers = []
    for name, server in _map(doc.get("servers")).items():
        server = _map(server)
        url = _text(server.get("url")) or (_text(server.get("host"))
                                          + _text(server.get("pathname")))
        servers.append({"url": url, "description": " · ".join(p for p in (
            str(name), _text(server.get("protocol")), _text(server.get("description"))) if p)})
    channels: list[dict] = []
    by_id: dict[str, dict] = {}
    for key, raw in _map(doc.get("channels")).items():
        channel = _resolve(doc, raw)
        operations = []
        for action in ("publish", "subscribe"):  # AsyncAPI 2
            op = _map(channel.get(action))
            if op:
                operations.append({"action": action, "summary": _text(op.get("summary")),
                                   "operation_id": _text(op.get("operationId")),
                                   "messages": _messages(doc, op.get("message"))})
        by_id[str(key)] = {"name": _text(channel.get("address")) or str(key),
                           "description": _text(channel.get("description")),
                           "operations": operations,
                           "messages": _messages(doc, channel.get("messages"))
                           if "messages" in channel else []}
        channels.append(by_id[str(key)])
    for key, raw in _map(doc.get("operations")).items():  # AsyncAPI 3
        op = _map(raw)
        ref = _text(_map(op.get("channel")).get("$ref"))
        found = by_id.get(_ref_name(ref))
        row = found if found is not None else {  # an operation on an unknown channel
            "name": _ref_name(ref) or "(no channel)", "description": "", "operations": [],
            "messages": []}
        if found is None:
            channels.append(row)
            by_id[row["name"]] = row
        messages = _messages(doc, op.get("messages")) if "messages" in op else row["messages"]
        row["operations"].append({"action": _text(op.get("action")),
                                  "summary": _text(op.get("summary")) or _text(op.get("title")),
                                  "operation_id": str(key), "messages": messages})
    return {"format": "asyncapi", "label": f"AsyncAPI {version}",
            "title": _text(info.get("title")), "version": _text(info.get("version")),
            "description": _text(info.get("description")), "servers": servers,
            "channels": channels}


def describe(definition: Any, api_type: str = "") -> dict:
    """What the entity page shows of ``definition``: ``{"format": "openapi"|"asyncapi"|
    "text", "text": ..., "problem": ...}`` plus the document's parts for the first two."""
    if isinstance(definition, dict) and len(definition) == 1:
        key, value = next(iter(definition.items()))
        if key in ("$text", "$json", "$yaml"):
            return {"format": "text", "text": "", "problem": (
                f"The definition is read from {_text(value)} ({key}), which the portal does "
                "not fetch: only a definition written in the descriptor is shown.")}
    if not isinstance(definition, str) or not definition.strip():
        return {"format": "none"}
    text = definition[:MAX_TEXT]
    kind = (api_type or "").strip().lower()
    plain = {"format": "text", "text": text, "language": kind,
             "problem": "" if len(definition) <= MAX_TEXT else
             f"Only the first {MAX_TEXT // 1024} KiB of the definition are shown."}
    if kind not in ("openapi", "asyncapi", "swagger", ""):
        return plain
    try:
        docs = load_all(definition)
    except YamlError as exc:
        if not kind:
            return plain
        return {**plain, "problem": f"Shown as text: the definition could not be read as "
                f"YAML or JSON ({exc})."}
    doc = docs[0].value if len(docs) == 1 else None
    if not isinstance(doc, dict):
        if not kind:
            return plain
        return {**plain, "problem": "Shown as text: the definition is not one YAML or JSON "
                "document holding a mapping."}
    try:
        if "openapi" in doc or "swagger" in doc:
            return {**_openapi(doc), "text": text}
        if "asyncapi" in doc:
            return {**_asyncapi(doc), "text": text}
    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
        return {**plain, "problem": f"Shown as text: the definition could not be laid out "
                f"({type(exc).__name__})."}
    if not kind:
        return plain
    field = "asyncapi" if kind == "asyncapi" else "openapi or swagger"
    return {**plain, "problem": f"Shown as text: a {kind} definition needs a top-level "
            f"{field} field, which this one does not have."}

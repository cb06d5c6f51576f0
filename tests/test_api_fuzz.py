"""Every documented API operation, fuzzed from the OpenAPI schema (schemathesis).

No worker runs here, so no run that an operation queues is executed. Checks: no 5xx,
responses match the schema, and every operation refuses anonymous callers.
"""

from __future__ import annotations

import re

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis import openapi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.auth.models import ApiToken

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def schema(live_server, transactional_db):
    from portal.auth.models import owner_user

    _token, plaintext = ApiToken.issue(owner_user(), "fuzz", "write")
    auth = {"Authorization": f"Bearer {plaintext}"}
    loaded = openapi.from_url(f"{live_server.url}/api/schema/?format=json", headers=auth)
    loaded.base_url = live_server.url
    return loaded, auth


def operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


def test_the_schema_documents_every_api_route(schema):
    loaded, _auth = schema
    paths = {op.path for op in operations(loaded)}
    assert "/api/runs/" in paths and len(paths) >= 5


def fuzzer(operation, auth):
    @given(case=operation.as_strategy())
    @hsettings(max_examples=25, deadline=None, database=None, derandomize=True,
               suppress_health_check=list(HealthCheck))
    def fuzz(case):
        response = case.call(headers=auth)
        case.validate_response(response, checks=CHECKS)

    return fuzz


def test_every_operation_survives_fuzzing(schema):
    loaded, auth = schema
    failures = []
    for operation in operations(loaded):
        try:
            fuzzer(operation, auth)()
        except BaseException as exc:  # collect every operation's failures, not just the first
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)


def test_every_operation_refuses_anonymous_callers(schema, live_server):
    loaded, _auth = schema
    refused = []
    for operation in operations(loaded):
        path = re.sub(r"\{[^}]+\}", "1", operation.path)
        response = requests.request(operation.method.upper(), live_server.url + path,
                                    json={}, timeout=30)
        refused.append((operation.method.upper(), path, response.status_code))
    assert refused and all(code in (401, 403) for _m, _p, code in refused), refused

"""The federation server describes itself (``/openapi.json``); schemathesis, run
against the live server on 127.0.0.1, finds no server error and no response that
breaks the schema — for unsigned requests and for requests signed by a known peer
(so the handlers behind the authentication see generated data too)."""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from pluma.federation.auth import request_headers

from .conftest import Org, frozen_program

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fed_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("fed-openapi")
    server_org, caller = Org(root, "supplier"), Org(root, "prime")
    rules = {"export": [{"name": "all", "allow": {"classifications": ["PUBLIC", "EAR99", "EAR"]}}],
             "import": [{"name": "all", "allow": {"classifications": ["PUBLIC", "EAR99", "EAR"]}}]}
    server_org.fed.add_peer("prime", url="http://127.0.0.1:9", key=caller.fed.public_key, rules=rules)
    caller.fed.add_peer("supplier", url=server_org.url, key=server_org.fed.public_key, rules=rules)
    frozen_program(server_org, "OFFERED")  # something for GET /v1/exports to list
    yield server_org, caller
    server_org.stop()


def for_every_operation(url: str, check, max_examples: int = 10) -> int:
    """Run ``check(case)`` on generated cases of every operation of the server's schema."""
    from hypothesis import given

    api = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    for operation in operations:
        @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            check(case)

        run()
    return len(operations)


def test_the_server_describes_itself(fed_pair):
    server_org, _ = fed_pair
    doc = requests.get(f"{server_org.url}/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.") and "/v1/bundles" in doc["paths"]
    ident = requests.get(f"{server_org.url}/v1/identity", timeout=10).json()
    assert ident["public_key"] == server_org.fed.public_key


def test_unsigned_requests_are_answered_within_the_schema(fed_pair):
    server_org, _ = fed_pair

    def check(case):
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        if case.path != "/v1/identity":
            assert response.status_code in (400, 401, 404, 405, 413), response.text

    assert for_every_operation(server_org.url, check) == 8


def test_signed_requests_are_answered_within_the_schema(fed_pair):
    server_org, caller = fed_pair

    def check(case):
        if isinstance(case.body, (bytes, bytearray)):
            body, ctype = bytes(case.body), "application/octet-stream"
        elif case.body is None or case.body.__class__.__name__ == "NotSet":
            body, ctype = b"", "application/json"
        else:
            body, ctype = json.dumps(case.body).encode(), "application/json"
        path = requests.utils.requote_uri(case.formatted_path)  # what goes on the wire is what is signed
        headers = request_headers(caller.fed.identity, server_org.fed.identity.fingerprint, case.method, path, body)
        response = requests.request(case.method, server_org.url + path, data=body,
                                    headers={**headers, "Content-Type": ctype}, timeout=30)
        case.validate_response(response, checks=CHECKS)
        if case.path != "/v1/identity":
            assert response.status_code != 401, response.text  # a correctly signed request is heard

    assert for_every_operation(server_org.url, check) == 8

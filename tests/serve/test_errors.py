"""Every error path returns the one JSON shape with the right status (one handler)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from indexer.embed import Embedder
from indexer.errors import PlaybookError
from indexer.settings import Settings
from serve.app import create_app
from serve.errors import EXCEPTION_HANDLERS
from serve.middleware import RequestContext
from tests.serve._helpers import auth

SEARCH = "/api/playbook/search"
JSON = {"Content-Type": "application/json"}


def chunks(total: int) -> Iterator[bytes]:
    """A body sent chunked, with no Content-Length: the server must count the bytes."""
    for _ in range(total // 8192 + 1):
        yield b" " * 8192


@dataclass(frozen=True)
class Case:
    status: int
    code: str
    detail_field: str | None = None  # details.field the error must name
    content: Any = None  # bytes, a JSON-able value, or CHUNKED
    method: str = "POST"
    path: str = SEARCH
    tenant: str | None = "alpha"  # whose key to send; "nobody" = an unknown key
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    ready: bool = True  # False: the app over an empty store


CHUNKED = object()
INVALID = "invalid_parameter"


def bad(field_name: str, value: Any) -> Case:
    """A 422 for one field of an otherwise valid body."""
    payload = {"query": "x", **value} if isinstance(value, dict) else value
    return Case(422, INVALID, field_name, payload)


CASES: dict[str, Case] = {
    "bad-json": Case(400, "bad_request", content=b'{"query": '),
    "bad-json-nan": Case(400, "bad_request", content=b'{"query": NaN}'),
    "not-utf8": Case(400, "bad_request", content=b'{"query": "\xff"}'),
    "no-key": Case(401, "unauthorized", content={"query": "x"}, tenant=None),
    "bad-key": Case(401, "unauthorized", content={"query": "x"}, tenant="nobody"),
    "other-tenant": Case(403, "forbidden", "tenant_id", {"query": "x", "tenant_id": "beta"}),
    "unknown-route": Case(404, "not_found", method="GET", path="/api/nope", tenant=None),
    "wrong-method": Case(405, "method_not_allowed", method="GET"),
    "too-large-declared": Case(413, "payload_too_large", content={"query": "x" * 70_000}),
    "too-large-chunked": Case(413, "payload_too_large", content=CHUNKED),
    "wrong-content-type": Case(
        415,
        "unsupported_media_type",
        content={"query": "x"},
        headers={"Content-Type": "text/plain"},
    ),
    "no-content-type": Case(415, "unsupported_media_type", content={"query": "x"}, headers={}),
    "body-not-object": bad("body", ["x"]),
    "query-missing": Case(422, INVALID, "query", {}),
    "query-empty": Case(422, INVALID, "query", {"query": "  "}),
    "query-not-string": Case(422, INVALID, "query", {"query": 5}),
    "query-too-long": Case(422, INVALID, "query", {"query": "x" * 1001}),
    "limit-zero": bad("limit", {"limit": 0}),
    "limit-too-big": bad("limit", {"limit": 51}),
    "limit-string": bad("limit", {"limit": "5"}),
    "limit-bool": bad("limit", {"limit": True}),
    "limit-float": bad("limit", {"limit": 2.5}),
    "explain-not-bool": bad("explain", {"explain": "yes"}),
    "unknown-field": bad("limt", {"limt": 3}),
    "tenant-id-not-string": bad("tenant_id", {"tenant_id": 7}),
    "filters-not-object": bad("filters", {"filters": "aws"}),
    "filter-unknown": bad("filters.region", {"filters": {"region": "eu"}}),
    "filter-wrong-type": bad("filters.cloud_provider[0]", {"filters": {"cloud_provider": [1]}}),
    "filter-bad-value": bad("filters.cloud_provider", {"filters": {"cloud_provider": "ibm"}}),
    "filter-too-many": bad("filters.resource_types", {"filters": {"resource_types": ["a"] * 51}}),
    "filter-hidden-status": bad("filters.status[0]", {"filters": {"status": ["broken"]}}),
    "filter-bad-author": bad("filters.author[0]", {"filters": {"author": ["me"]}}),
    "filter-bad-tag": bad("filters.tags.env", {"filters": {"tags": {"env": {"a": 1}}}}),
    "not-ready-search": Case(503, "not_ready", content={"query": "x"}, ready=False),
    "not-ready-readyz": Case(
        503, "not_ready", method="GET", path="/readyz", tenant=None, ready=False
    ),
}


def assert_error_shape(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert set(doc) == {"error", "request_id"}
    assert set(doc["error"]) <= {"code", "message", "details"}
    assert {"code", "message"} <= set(doc["error"])
    assert doc["error"]["code"] == code
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]
    if "details" in doc["error"]:
        assert isinstance(doc["error"]["details"], dict) and doc["error"]["details"]
    assert doc["request_id"] == response.headers["x-request-id"]
    return dict(doc["error"])


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_every_error_path_has_the_one_shape(
    client: TestClient, empty_client: TestClient, case: Case
) -> None:
    headers = dict(case.headers)
    if case.tenant == "nobody":
        headers["Authorization"] = "Bearer not-a-configured-key-123"
    elif case.tenant is not None:
        headers.update(auth(case.tenant))
    if case.content is CHUNKED:
        content: Any = chunks(70_000)
    elif case.content is None or isinstance(case.content, bytes):
        content = case.content
    else:
        content = json.dumps(case.content).encode()
    c = client if case.ready else empty_client
    response = c.request(case.method, case.path, headers=headers, content=content)
    error = assert_error_shape(response, case.status, case.code)
    if case.detail_field is not None:
        assert error["details"]["field"] == case.detail_field
        assert error["message"].startswith(f"{case.detail_field}:") or case.status == 403


def test_bad_json_error_gives_the_position(client: TestClient) -> None:
    response = client.post(
        SEARCH, headers={**JSON, **auth("alpha")}, content=b'{"query": "x",\n "limit": }'
    )
    details = response.json()["error"]["details"]
    assert details == {"line": 2, "column": 11, "position": 25}


def test_405_lists_the_allowed_methods(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["details"]["allowed"] == ["GET", "HEAD"]
    assert "GET" in response.headers["allow"]


def test_unknown_fields_error_lists_the_known_ones(client: TestClient) -> None:
    response = client.post(SEARCH, headers=auth("alpha"), json={"query": "x", "q": 1})
    assert response.json()["error"]["details"]["known"] == [
        "query",
        "limit",
        "filters",
        "explain",
        "tenant_id",
        "versions",
        "mode",
        "rerank",
    ]


def test_not_ready_details_carry_the_load_error(empty_client: TestClient) -> None:
    error = empty_client.get("/readyz").json()["error"]
    load_error = error["details"]["load_error"]
    assert load_error["code"] == "not_ready"
    assert "no manifests/CURRENT" in load_error["message"]


class ExplodingEmbedder:
    """Loads like the real one, then fails on the first query."""

    def __init__(self, inner: Embedder) -> None:
        self.identity = inner.identity

    def warm(self) -> None:
        pass

    def embed_one(self, text: str) -> np.ndarray:
        raise RuntimeError("secret internals: /var/lib/model.bin is corrupt")


def test_unexpected_errors_are_500_without_internals(
    settings: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, embedder=ExplodingEmbedder(embedder))
    with TestClient(app) as c, caplog.at_level(logging.ERROR, logger="serve.errors"):
        response = c.post(
            SEARCH, headers={**auth("alpha"), "X-Request-ID": "req-500"}, json={"query": "x"}
        )
    error = assert_error_shape(response, 500, "internal_error")
    assert "secret" not in response.text and "/var/lib" not in response.text
    assert response.json()["request_id"] == "req-500"
    assert error["message"].startswith("internal server error")
    logged = [r for r in caplog.records if r.name == "serve.errors"]
    assert logged and logged[0].exc_info is not None
    assert getattr(logged[0], "request_id", None) == "req-500"


def test_any_domain_error_raised_in_a_route_uses_its_class_status() -> None:
    class Teapot(PlaybookError):
        status = 418
        code = "teapot"

    def brew(request: Request) -> Response:
        raise Teapot("short and stout", spout="left")

    app = Starlette(
        routes=[Route("/brew", brew)],
        middleware=[Middleware(RequestContext)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
    with TestClient(app) as c:
        response = c.get("/brew")
    error = assert_error_shape(response, 418, "teapot")
    assert error == {"code": "teapot", "message": "short and stout", "details": {"spout": "left"}}


def test_chunked_body_is_limited_by_the_bytes_read(client: TestClient) -> None:
    response = client.post(SEARCH, headers={**JSON, **auth("alpha")}, content=chunks(70_000))
    assert "content-length" not in response.request.headers
    error = assert_error_shape(response, 413, "payload_too_large")
    assert "more than 65536" in error["message"]

"""Every error path returns the one JSON shape with the right status (one handler)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
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


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def chunks(total: int) -> Iterator[bytes]:
    """A body sent chunked, with no Content-Length: the server must count the bytes."""
    for _ in range(total // 8192 + 1):
        yield b" " * 8192


# (id, client, method, path, tenant, headers, content, status, code, details field)
CASES: list[tuple[Any, ...]] = [
    ("bad-json", "ready", "POST", SEARCH, "alpha", JSON, b'{"query": ', 400, "bad_request", None),
    (
        "bad-json-nan",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        b'{"query": NaN}',
        400,
        "bad_request",
        None,
    ),
    (
        "not-utf8",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        b'{"query": "\xff"}',
        400,
        "bad_request",
        None,
    ),
    (
        "no-key",
        "ready",
        "POST",
        SEARCH,
        None,
        JSON,
        body({"query": "x"}),
        401,
        "unauthorized",
        None,
    ),
    (
        "bad-key",
        "ready",
        "POST",
        SEARCH,
        "nobody",
        JSON,
        body({"query": "x"}),
        401,
        "unauthorized",
        None,
    ),
    (
        "other-tenant",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "tenant_id": "beta"}),
        403,
        "forbidden",
        "tenant_id",
    ),
    ("unknown-route", "ready", "GET", "/api/nope", None, {}, None, 404, "not_found", None),
    ("wrong-method", "ready", "GET", SEARCH, "alpha", {}, None, 405, "method_not_allowed", None),
    (
        "too-large-declared",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x" * 70_000}),
        413,
        "payload_too_large",
        None,
    ),
    (
        "too-large-chunked",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        "chunks",
        413,
        "payload_too_large",
        None,
    ),
    (
        "wrong-content-type",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        {"Content-Type": "text/plain"},
        body({"query": "x"}),
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "no-content-type",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        {},
        body({"query": "x"}),
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "body-not-object",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body(["x"]),
        422,
        "invalid_parameter",
        "body",
    ),
    (
        "query-missing",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({}),
        422,
        "invalid_parameter",
        "query",
    ),
    (
        "query-empty",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "  "}),
        422,
        "invalid_parameter",
        "query",
    ),
    (
        "query-not-string",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": 5}),
        422,
        "invalid_parameter",
        "query",
    ),
    (
        "query-too-long",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x" * 1001}),
        422,
        "invalid_parameter",
        "query",
    ),
    (
        "limit-zero",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "limit": 0}),
        422,
        "invalid_parameter",
        "limit",
    ),
    (
        "limit-too-big",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "limit": 51}),
        422,
        "invalid_parameter",
        "limit",
    ),
    (
        "limit-string",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "limit": "5"}),
        422,
        "invalid_parameter",
        "limit",
    ),
    (
        "limit-bool",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "limit": True}),
        422,
        "invalid_parameter",
        "limit",
    ),
    (
        "limit-float",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "limit": 2.5}),
        422,
        "invalid_parameter",
        "limit",
    ),
    (
        "explain-not-bool",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "explain": "yes"}),
        422,
        "invalid_parameter",
        "explain",
    ),
    (
        "unknown-field",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "limt": 3}),
        422,
        "invalid_parameter",
        "limt",
    ),
    (
        "tenant-id-not-string",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "tenant_id": 7}),
        422,
        "invalid_parameter",
        "tenant_id",
    ),
    (
        "filters-not-object",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "filters": "aws"}),
        422,
        "invalid_parameter",
        "filters",
    ),
    (
        "filter-unknown",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "filters": {"region": "eu"}}),
        422,
        "invalid_parameter",
        "filters.region",
    ),
    (
        "filter-wrong-type",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "filters": {"cloud_provider": [1]}}),
        422,
        "invalid_parameter",
        "filters.cloud_provider[0]",
    ),
    (
        "filter-bad-value",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "filters": {"cloud_provider": "ibm"}}),
        422,
        "invalid_parameter",
        "filters.cloud_provider",
    ),
    (
        "filter-too-many",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "filters": {"resource_types": ["a"] * 51}}),
        422,
        "invalid_parameter",
        "filters.resource_types",
    ),
    (
        "filter-hidden-status",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "filters": {"status": ["broken"]}}),
        422,
        "invalid_parameter",
        "filters.status[0]",
    ),
    (
        "filter-bad-author",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "filters": {"author": ["me"]}}),
        422,
        "invalid_parameter",
        "filters.author[0]",
    ),
    (
        "filter-bad-tag",
        "ready",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x", "filters": {"tags": {"env": {"a": 1}}}}),
        422,
        "invalid_parameter",
        "filters.tags.env",
    ),
    (
        "not-ready-search",
        "empty",
        "POST",
        SEARCH,
        "alpha",
        JSON,
        body({"query": "x"}),
        503,
        "not_ready",
        None,
    ),
    ("not-ready-readyz", "empty", "GET", "/readyz", None, {}, None, 503, "not_ready", None),
]


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


@pytest.mark.parametrize(
    ("which", "method", "path", "tenant", "headers", "content", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_every_error_path_has_the_one_shape(
    client: TestClient,
    empty_client: TestClient,
    which: str,
    method: str,
    path: str,
    tenant: str | None,
    headers: dict[str, str],
    content: Any,
    status: int,
    code: str,
    field: str | None,
) -> None:
    c = client if which == "ready" else empty_client
    all_headers = dict(headers)
    if tenant == "nobody":
        all_headers["Authorization"] = "Bearer not-a-configured-key-123"
    elif tenant is not None:
        all_headers.update(auth(tenant))
    payload = chunks(70_000) if content == "chunks" else content
    response = c.request(method, path, headers=all_headers, content=payload)
    error = assert_error_shape(response, status, code)
    if field is not None:
        assert error["details"]["field"] == field
        assert error["message"].startswith(f"{field}:") or status == 403


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

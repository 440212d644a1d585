"""Routes, readiness, the OpenAPI document, request ids and the access log."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from serve.filters import FILTER_KEYS
from serve.logs import JsonFormatter
from serve.request import REQUEST_FIELDS
from tests.serve._helpers import auth
from tests.serve._tiny_store import TinyStore


def test_healthz_is_ok_whether_or_not_ready(client: TestClient, empty_client: TestClient) -> None:
    for c in (client, empty_client):
        response = c.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_readyz_names_the_manifest_and_row_counts(
    client: TestClient, tiny_store: TinyStore
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    # A manifest without an ONNX query model is searched with torch (serve.query_models).
    assert body.pop("query_embedder") == {
        "kind": "torch",
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "mode": "auto",
    }
    # Lazy tenants: the library is always in memory, tenants once searched (session client).
    assert "escher_library" in body.pop("collections_loaded")
    memory = body.pop("memory")
    assert memory["budget_mb"] == 2048 and memory["loads"] >= 1 and memory["resident_mb"] > 0
    assert body == {
        "status": "ready",
        "manifest_id": tiny_store.manifest_id,
        "collections": {
            "escher_library": 11,
            "tenant_alpha_playbooks": 2,
            "tenant_beta_playbooks": 2,
        },
    }


def test_not_ready_server_still_validates_and_authenticates(empty_client: TestClient) -> None:
    assert empty_client.post("/api/playbook/search", json={"query": "x"}).status_code == 401
    bad = empty_client.post("/api/playbook/search", json={"limit": 1}, headers=auth("alpha"))
    assert bad.status_code == 422
    ok = empty_client.post("/api/playbook/search", json={"query": "x"}, headers=auth("alpha"))
    assert ok.status_code == 503


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    out = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                out.add((route.path, method.lower()))
    return out


def test_openapi_documents_exactly_the_app_routes(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc = json.loads(response.content)
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == app_routes(client)
    for path, method in documented:
        op = doc["paths"][path][method]
        assert op["responses"], (path, method)
        for status, spec in op["responses"].items():
            if int(status) >= 400:
                assert spec["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


def test_openapi_request_schema_matches_the_validator(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    request = schemas["SearchRequest"]
    assert set(request["properties"]) == set(REQUEST_FIELDS)
    assert request["required"] == ["query"]
    assert set(request["properties"]["filters"]["properties"]) == set(FILTER_KEYS)
    assert request["properties"]["limit"]["maximum"] == 50
    assert set(schemas["Error"]["properties"]) == {"error", "request_id"}


def test_every_search_error_status_is_documented(client: TestClient) -> None:
    responses = client.get("/openapi.json").json()["paths"]["/api/playbook/search"]["post"][
        "responses"
    ]
    assert {"200", "400", "401", "403", "413", "415", "422", "503"} <= set(responses)


def test_request_id_is_generated_or_honoured(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/healthz").headers["x-request-id"] != generated
    honoured = client.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    assert honoured.headers["x-request-id"] == "trace-abc.123"


@pytest.mark.parametrize("unsafe", ["a b", "x" * 65, "<script>", "id\\n"])
def test_unsafe_incoming_request_ids_are_replaced(client: TestClient, unsafe: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": unsafe})
    assert response.headers["x-request-id"] != unsafe
    assert len(response.headers["x-request-id"]) == 32


def test_one_structured_access_line_per_request(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="serve.access"):
        client.post(
            "/api/playbook/search",
            json={"query": "stop rds"},
            headers={**auth("beta"), "X-Request-ID": "req-log-1"},
        )
        client.get("/nope", headers={"X-Request-ID": "req-log-2"})
    lines = [r for r in caplog.records if r.name == "serve.access"]
    assert [getattr(r, "request_id", None) for r in lines] == ["req-log-1", "req-log-2"]
    search_line = json.loads(JsonFormatter().format(lines[0]))
    assert search_line["status"] == 200
    assert search_line["method"] == "POST"
    assert search_line["path"] == "/api/playbook/search"
    assert search_line["tenant"] == "beta"
    assert search_line["manifest_id"].startswith("m-")
    assert search_line["results"] == 5
    assert isinstance(search_line["duration_ms"], float)
    assert "Bearer" not in json.dumps(search_line)
    assert json.loads(JsonFormatter().format(lines[1]))["status"] == 404


def test_search_accepts_json_with_a_charset(client: TestClient) -> None:
    response = client.post(
        "/api/playbook/search",
        content=json.dumps({"query": "stop rds"}).encode(),
        headers={**auth("alpha"), "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_a_client_that_disconnects_mid_body_gets_nothing_and_is_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = [(k.lower().encode(), v.encode()) for k, v in auth("alpha").items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/playbook/search",
        "raw_path": b"/api/playbook/search",
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    with caplog.at_level(logging.INFO, logger="serve.access"):
        asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent == []
    assert [getattr(r, "status", None) for r in caplog.records if r.name == "serve.access"] == [499]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

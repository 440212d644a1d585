"""Security: every endpoint refuses what it must, with the right status, the one error
shape, and nothing written; and no sequence of tenant A's requests returns or changes
tenant B's playbooks (property-based, hypothesis)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from indexer.blobs import Blobs, open_blobs
from indexer.embed import Embedder
from tests._playbooks import write_playbook
from tests.serve._writes import (
    as_tenant,
    bearer,
    index,
    make_settings,
    snapshot_tree,
    token,
    write_app,
    write_sources,
)

V = "1.0.0"
PID = "team-shutdown"  # both tenants have one: the interesting case
# (method, path, json body or None, query params or None, scope it needs)
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = [
    ("POST", "/api/playbook/search", {"query": "weekend shutdown"}, None),
    (
        "POST",
        "/api/playbook/upload/request",
        {"playbook_id": "new-one", "version": V, "files": ["metadata.json"]},
        None,
    ),
    ("POST", "/api/playbook/metadata/publish", {"playbook_id": PID, "version": V}, None),
    ("POST", f"/api/playbook/metadata/acme/{PID}/{V}/status", {"status": "deprecated"}, None),
    ("DELETE", f"/api/playbook/metadata/acme/{PID}/{V}", {"reason": "x"}, None),
    ("POST", f"/api/playbook/stats/acme/{PID}/{V}", {"success": False}, None),
    ("GET", f"/api/playbook/metadata/acme/{PID}/{V}/history", None, None),
    ("GET", "/api/script/download", None, {"playbook_id": PID}),
    ("POST", "/api/admin/reindex", {}, None),
    ("POST", "/api/admin/rollback", {"to": "m-x"}, None),
]
IDS = [f"{m} {p}" for m, p, _b, _q in ENDPOINTS]
TENANT_PATHS = [e for e in ENDPOINTS if "/acme/" in e[1]]
BODY_ENDPOINTS = [e for e in ENDPOINTS if e[2] is not None]


class World:
    def __init__(self, client: TestClient, tenants: Blobs, store: Blobs, root: Path) -> None:
        self.client, self.tenants, self.store, self.root = client, tenants, store, root

    def written(self) -> dict[str, str]:
        return {
            **{f"src:{k}": v for k, v in snapshot_tree(self.tenants).items()},
            **{
                f"store:{k}": v
                for k, v in snapshot_tree(self.store).items()
                if not k.startswith("logs/")
            },
        }

    def call(self, method: str, path: str, body: Any, params: Any, headers: dict[str, str]) -> Any:
        return self.client.request(method, path, json=body, params=params, headers=headers)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[World]:
    root = tmp_path_factory.mktemp("security")
    library, tenants = write_sources(root)
    cfg = make_settings(str(root / "store"), str(library), str(tenants), stats_debounce_seconds="0")
    index(cfg, embedder)
    with TestClient(write_app(cfg, embedder)) as client:
        yield World(client, open_blobs(str(tenants)), open_blobs(str(root / "store")), root)


def _refused(world: World, response: Any, status: int, before: dict[str, str]) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"} and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert world.client.app.state.reindexer.wait_idle(30)  # type: ignore[attr-defined]
    assert world.written() == before, "a refused request wrote something"


def _forge(claims_change: dict[str, Any]) -> str:
    head, body, sig = token("acme").split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims.update(claims_change)
    new = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{new}.{sig}"


BAD_CREDENTIALS = {
    "none": {},
    "not-bearer": {"Authorization": "Basic YWNtZTpwdw=="},
    "empty": {"Authorization": "Bearer "},
    "unknown-key": bearer("no-such-key-0000000000"),
    "expired": bearer(token("acme", ttl=1, now=1_000_000_000)),
    "tampered-tenant": bearer(_forge({"tenant": "globex"})),
    "tampered-scopes": bearer(_forge({"scopes": ["admin"]})),
    "unknown-signing-key": bearer(token("acme").rsplit(".", 1)[0] + ".AAAA"),
}


@pytest.mark.parametrize("credential", list(BAD_CREDENTIALS))
@pytest.mark.parametrize("method, path, body, params", ENDPOINTS, ids=IDS)
def test_no_bad_or_expired_credential_gets_in(
    world: World, method: str, path: str, body: Any, params: Any, credential: str
) -> None:
    before = world.written()
    r = world.call(method, path, body, params, BAD_CREDENTIALS[credential])
    _refused(world, r, 401, before)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "method, path, body, params", TENANT_PATHS, ids=[f"{m} {p}" for m, p, _b, _q in TENANT_PATHS]
)
def test_another_tenants_token_cannot_touch_the_path(
    world: World, method: str, path: str, body: Any, params: Any
) -> None:
    before = world.written()
    _refused(world, world.call(method, path, body, params, as_tenant("globex")), 403, before)


@pytest.mark.parametrize("method, path, body, params", BODY_ENDPOINTS[:3], ids=IDS[:3])
def test_a_body_cannot_claim_another_tenant(
    world: World, method: str, path: str, body: Any, params: Any
) -> None:
    before = world.written()
    claimed = {**(body or {}), "tenant_id": "acme"}
    _refused(world, world.call(method, path, claimed, params, as_tenant("globex")), 403, before)
    r = world.call(
        "GET",
        "/api/script/download",
        None,
        {"playbook_id": PID, "tenant_id": "acme"},
        as_tenant("globex"),
    )
    _refused(world, r, 403, before)


@pytest.mark.parametrize("method, path, body, params", ENDPOINTS, ids=IDS)
def test_each_endpoint_needs_its_scope(
    world: World, method: str, path: str, body: Any, params: Any
) -> None:
    needed = (
        "admin"
        if "/admin/" in path
        else "search"
        if method == "GET" or path.endswith("/search")
        else "publish"
    )
    others = tuple(s for s in ("search", "publish", "review", "admin") if s != needed)
    if needed == "publish":
        others = ("search", "admin")  # review may change status; tested apart
    before = world.written()
    _refused(world, world.call(method, path, body, params, as_tenant("acme", others)), 403, before)


@pytest.mark.parametrize(
    "path, status",
    [
        (f"/api/playbook/metadata/acme/..%2F..%2Fglobex/{V}/status", 404),
        ("/api/playbook/metadata/acme/../status", 404),
        (f"/api/playbook/metadata/acme/%2E%2E/{V}/status", 422),
        (f"/api/playbook/metadata/acme/{PID}/..%2F1.0.0/status", 404),
        (f"/api/playbook/metadata/acme/{PID}/v1.0.0/status", 422),
        (f"/api/playbook/metadata/acme/{PID}/1.0.0%00/status", 422),
        (f"/api/playbook/stats/acme/.hidden/{V}", 422),
        (f"/api/playbook/stats/..%2Fglobex/{PID}/{V}", 404),
        (f"/api/playbook/stats/ACME/{PID}/{V}", 403),
    ],
)
def test_path_traversal_in_ids_is_refused(world: World, path: str, status: int) -> None:
    before = world.written()
    method = "POST"
    r = world.call(
        method, path, {"status": "deprecated", "success": False}, None, as_tenant("acme")
    )
    _refused(world, r, status, before)


@pytest.mark.parametrize(
    "name",
    [
        "../metadata.json",
        "shell/../../x.sh",
        "/etc/passwd",
        "shell//x.sh",
        "./metadata.json",
        "shell\\x.sh",
        "shell/x\x00.sh",
        "",
        "README.md",
        "bad folder/x.sh",
        "x" * 600,
        "shell/../../../../tenants/globex/playbooks/team-shutdown/v1.0.0/metadata.json",
    ],
)
def test_upload_names_that_escape_the_version_prefix_are_refused(world: World, name: str) -> None:
    before = world.written()
    r = world.call(
        "POST",
        "/api/playbook/upload/request",
        {"playbook_id": "new-one", "version": V, "files": ["metadata.json", name]},
        None,
        as_tenant("acme"),
    )
    _refused(world, r, 422, before)
    assert r.json()["error"]["details"]["field"] == "files"


@pytest.mark.parametrize(
    "pid, version", [("..", V), ("a/b", V), ("ok", "../1.0.0"), ("ok", "1.0"), (5, V)]
)
def test_body_ids_are_checked(world: World, pid: Any, version: Any) -> None:
    before = world.written()
    for path in ("/api/playbook/upload/request", "/api/playbook/metadata/publish"):
        r = world.call(
            "POST",
            path,
            {"playbook_id": pid, "version": version, "files": ["metadata.json"]},
            None,
            as_tenant("acme"),
        )
        if path.endswith("publish"):
            r = world.call(
                "POST", path, {"playbook_id": pid, "version": version}, None, as_tenant("acme")
            )
        _refused(world, r, 422, before)


@pytest.mark.parametrize(
    "method, path, body, params",
    BODY_ENDPOINTS,
    ids=[f"{m} {p}" for m, p, _b, _q in BODY_ENDPOINTS],
)
def test_oversized_bodies_are_refused(
    world: World, method: str, path: str, body: Any, params: Any
) -> None:
    before = world.written()
    big = json.dumps({**(body or {}), "reason": "x" * 70_000})
    r = world.client.request(
        method, path, content=big, headers={**as_tenant("acme"), "Content-Type": "application/json"}
    )
    _refused(world, r, 413, before)


def test_unknown_fields_and_long_query_strings_are_refused(world: World) -> None:
    before = world.written()
    r = world.call(
        "POST",
        f"/api/playbook/stats/acme/{PID}/{V}",
        {"success": True, "tenant": "globex"},
        None,
        as_tenant("acme"),
    )
    _refused(world, r, 422, before)
    r = world.call(
        "GET",
        "/api/script/download",
        None,
        {"playbook_id": PID, "format": "x" * 600},
        as_tenant("acme"),
    )
    _refused(world, r, 422, before)


def test_rate_limit_per_credential(tmp_path: Path, embedder: Embedder) -> None:
    library, tenants = write_sources(tmp_path)
    cfg = make_settings(str(tmp_path / "store"), str(library), str(tenants), rate_per_minute="3")
    index(cfg, embedder)
    with TestClient(write_app(cfg, embedder)) as client:
        acme, globex = as_tenant("acme"), as_tenant("globex")
        body = {"query": "weekend"}
        for _ in range(3):
            assert client.post("/api/playbook/search", json=body, headers=acme).status_code == 200
        r = client.post("/api/playbook/search", json=body, headers=acme)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["code"] == "too_many_requests"
        r = client.post(f"/api/playbook/stats/acme/{PID}/{V}", json={"success": True}, headers=acme)
        assert r.status_code == 429
        assert client.post("/api/playbook/search", json=body, headers=globex).status_code == 200


# ----- property: tenant A (acme) never sees or changes tenant B (globex) ------------------
B_MARKERS = ("globex", "Globex")
PIDS = st.sampled_from([PID, "acme-extra", "shared-name"])
VERSIONS = st.sampled_from(["1.0.0", "1.1.0"])
TENANTS = st.sampled_from(["acme", "globex"])
STATUSES = st.sampled_from(
    ["deprecated", "active", "approved", "broken", "archived", "needs_update", "rejected"]
)
OPS = st.one_of(
    st.tuples(st.just("publish"), TENANTS, PIDS, VERSIONS),
    st.tuples(st.just("status"), TENANTS, PIDS, VERSIONS, STATUSES),
    st.tuples(st.just("stats"), TENANTS, PIDS, VERSIONS, st.booleans()),
    st.tuples(st.just("delete"), TENANTS, PIDS, VERSIONS),
    st.tuples(st.just("history"), TENANTS, PIDS, VERSIONS),
    st.tuples(st.just("download"), PIDS, st.sampled_from([None, "acme", "globex"])),
    st.tuples(st.just("upload"), TENANTS, PIDS, VERSIONS),
    st.tuples(
        st.just("search"),
        st.sampled_from(["weekend shutdown", "stop databases", "reporting", "extra"]),
    ),
)


def _run_op(world: World, op: tuple[Any, ...]) -> Any:
    a = as_tenant("acme")
    kind = op[0]
    if kind == "search":
        return world.call(
            "POST",
            "/api/playbook/search",
            {"query": op[1], "limit": 50, "versions": "all"},
            None,
            a,
        )
    if kind == "download":
        params = {"playbook_id": op[1], **({"tenant_id": op[2]} if op[2] else {})}
        return world.call("GET", "/api/script/download", None, params, a)
    tenant, pid, version = op[1], op[2], op[3]
    if kind == "publish":
        if tenant == "acme":  # A's client uploads to A's prefix (local source: write it)
            write_playbook(
                world.root / "tenants",
                pid,
                version,
                tenant="acme",
                status="pending_review",
                storage_strategy="uploaded_for_review",
                name=f"Acme {pid}",
                description=f"Acme playbook {pid}",
            )
        return world.call(
            "POST",
            "/api/playbook/metadata/publish",
            {"tenant_id": tenant, "playbook_id": pid, "version": version},
            None,
            a,
        )
    if kind == "upload":
        return world.call(
            "POST",
            "/api/playbook/upload/request",
            {
                "tenant_id": tenant,
                "playbook_id": pid,
                "version": version,
                "files": ["metadata.json"],
            },
            None,
            a,
        )
    base = f"/api/playbook/metadata/{tenant}/{pid}/{version}"
    if kind == "status":
        return world.call("POST", f"{base}/status", {"status": op[4], "reason": "prop"}, None, a)
    if kind == "stats":
        return world.call(
            "POST", f"/api/playbook/stats/{tenant}/{pid}/{version}", {"success": op[4]}, None, a
        )
    if kind == "delete":
        return world.call("DELETE", base, None, None, a)
    return world.call("GET", f"{base}/history", None, None, a)


def _b_view(world: World) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    tree = {
        k: v for k, v in snapshot_tree(world.tenants).items() if k.startswith("tenants/globex/")
    }
    r = world.call(
        "POST",
        "/api/playbook/search",
        {"query": "weekend shutdown databases", "limit": 50, "versions": "all"},
        None,
        as_tenant("globex"),
    )
    assert r.status_code == 200
    mine = sorted(
        (x["playbook_id"], x["version"], x["status"])
        for x in r.json()["results"]
        if x["collection"] == "tenant_globex_playbooks"
    )
    return tree, mine


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=1, max_size=6))
def test_tenant_a_never_sees_or_changes_tenant_b(world: World, ops: list[Any]) -> None:
    b_before = _b_view(world)
    assert b_before[1], "tenant B's own playbook is searchable to B"
    for op in ops:
        r = _run_op(world, op)
        if (
            op[0] in ("publish", "status", "stats", "delete", "history", "upload")
            and op[1] == "globex"
        ):
            assert r.status_code == 403, (op, r.text)
        if op[0] == "download" and op[2] == "globex":
            assert r.status_code == 403, (op, r.text)
        assert not any(m in r.text for m in B_MARKERS), (op, r.text)
    assert world.client.app.state.reindexer.wait_idle(60)  # type: ignore[attr-defined]
    for query in ("weekend shutdown", "stop the reporting databases", "every weekend"):
        r = _run_op(world, ("search", query))
        assert r.status_code == 200
        assert not any(m in r.text for m in B_MARKERS), r.text
    assert _b_view(world) == b_before

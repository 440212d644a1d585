"""The write API's behaviour on a local-folder source: publish, review, stats, delete,
the in-process reindex flag, admin reindex / rollback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from indexer.blobs import open_blobs
from indexer.embed import Embedder
from indexer.settings import Settings
from serve.app import load_current
from tests._playbooks import write_playbook
from tests.serve._writes import (
    API_KEYS,
    as_tenant,
    bearer,
    index,
    make_settings,
    snapshot_tree,
    write_app,
    write_sources,
)

ACME = as_tenant("acme")


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    library, tenants = write_sources(tmp_path)
    return library, tenants, tmp_path / "store"


def _settings(tree: tuple[Path, Path, Path], **kw: Any) -> Settings:
    library, tenants, store = tree
    return make_settings(str(store), str(library), str(tenants), **kw)


@pytest.fixture
def client(tree: tuple[Path, Path, Path], embedder: Embedder) -> Iterator[TestClient]:
    settings = _settings(tree)
    index(settings, embedder)
    with TestClient(write_app(settings, embedder)) as c:
        yield c


def _idle(client: TestClient) -> None:
    assert client.app.state.reindexer.wait_idle(60)  # type: ignore[attr-defined]


def _found(
    client: TestClient, query: str, headers: dict[str, str] = ACME
) -> dict[tuple[str, str], dict[str, Any]]:
    r = client.post(
        "/api/playbook/search",
        headers=headers,
        json={"query": query, "limit": 20, "versions": "all"},
    )
    assert r.status_code == 200, r.text
    return {(x["playbook_id"], x["version"]): x for x in r.json()["results"]}


def _status(
    client: TestClient,
    pid: str,
    version: str,
    status: str,
    headers: dict[str, str] = ACME,
    **body: Any,
) -> Any:
    return client.post(
        f"/api/playbook/metadata/acme/{pid}/{version}/status",
        headers=headers,
        json={"status": status, **body},
    )


def _publish(
    client: TestClient,
    pid: str,
    version: str = "1.0.0",
    headers: dict[str, str] = ACME,
    wait: bool = True,
) -> Any:
    return client.post(
        "/api/playbook/metadata/publish",
        headers=headers,
        json={"playbook_id": pid, "version": version, "wait": wait},
    )


def _events(tenants: Path) -> dict[str, str]:
    return dict(snapshot_tree(open_blobs(str(tenants)), "tenants/acme/events"))


def test_publish_validates_like_the_indexer_and_records_nothing_when_invalid(
    client: TestClient, tree: tuple[Path, Path, Path]
) -> None:
    tenants = tree[1]
    write_playbook(tenants, "half-done", tenant="acme", cloud_provider=["mars"])
    r = _publish(client, "half-done")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_playbook"
    fields = [x["field"] for x in r.json()["error"]["details"]["rejections"]]
    assert fields == ["metadata.json:cloud_provider[0]"]
    assert _publish(client, "never-uploaded").status_code == 404
    assert _events(tenants) == {}


def test_publish_review_flow_and_the_review_scope(
    client: TestClient, tree: tuple[Path, Path, Path]
) -> None:
    tenants = tree[1]
    write_playbook(
        tenants,
        "tls-rotate",
        tenant="acme",
        status="pending_review",
        storage_strategy="uploaded_for_review",
        name="Rotate TLS certificates",
        description="Rotate load balancer TLS certs",
    )
    publisher = as_tenant("acme", ("search", "publish"))
    r = _publish(client, "tls-rotate", headers=publisher)
    assert r.status_code == 200 and r.json()["searchable"], r.text
    print(f"\ntime-to-searchable (local folder, publish with wait): {r.json()['seconds']} s")
    assert (
        _found(client, "rotate TLS certificates")[("tls-rotate", "1.0.0")]["status"]
        == "pending_review"
    )
    assert _publish(client, "tls-rotate", headers=publisher).status_code == 409

    r = _status(client, "tls-rotate", "1.0.0", "approved", headers=publisher)
    assert r.status_code == 403 and r.json()["error"]["details"]["required_scope"] == "review"
    r = _status(client, "tls-rotate", "1.0.0", "active")
    assert r.status_code == 409
    assert r.json()["error"]["details"] == {
        "current": "pending_review",
        "requested": "active",
        "allowed": ["approved", "rejected"],
    }
    r = _status(client, "tls-rotate", "1.0.0", "rejected")
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "reason"
    r = _status(client, "tls-rotate", "1.0.0", "rejected", reason="hard-codes a secret")
    assert r.status_code == 200
    _idle(client)
    assert ("tls-rotate", "1.0.0") not in _found(client, "rotate TLS certificates")
    r = client.get("/api/playbook/metadata/acme/tls-rotate/1.0.0/history", headers=ACME)
    last = r.json()["history"][-1]
    assert (last["payload"]["status"], last["actor"], last["reason"]) == (
        "rejected",
        "user@acme",
        "hard-codes a secret",
    )
    assert _status(client, "tls-rotate", "1.0.0", "approved").status_code == 409


def test_publishing_active_needs_review_and_deprecates_the_older_active_version(
    client: TestClient, tree: tuple[Path, Path, Path]
) -> None:
    tenants = tree[1]
    write_playbook(
        tenants,
        "team-shutdown",
        "1.1.0",
        tenant="acme",
        status="active",
        name="Acme weekend shutdown",
        description="Stop the acme reporting databases every weekend, faster",
    )
    r = _publish(client, "team-shutdown", "1.1.0", headers=as_tenant("acme", ("publish",)))
    assert r.status_code == 403
    r = _publish(client, "team-shutdown", "1.1.0")
    assert r.status_code == 200, r.text
    assert r.json()["deprecated"] == ["1.0.0"]
    found = _found(client, "acme weekend shutdown of reporting databases")
    assert found[("team-shutdown", "1.1.0")]["status"] == "active"
    assert found[("team-shutdown", "1.0.0")]["status"] == "deprecated"


def test_stats_are_coalesced_into_few_reindexes(
    tree: tuple[Path, Path, Path], embedder: Embedder
) -> None:
    settings = _settings(tree, stats_debounce_seconds="1.0")
    index(settings, embedder)
    with TestClient(write_app(settings, embedder)) as client:
        reindexer = client.app.state.reindexer  # type: ignore[attr-defined]
        for i in range(8):
            r = client.post(
                "/api/playbook/stats/acme/team-shutdown/1.0.0",
                headers=ACME,
                json={"success": i % 2 == 0, "duration_ms": 1200},
            )
            assert r.status_code == 200, r.text
        assert r.json()["execution_count"] == 4 + 8 and r.json()["success_count"] == 3 + 4
        _idle(client)
        assert reindexer.runs == 1 and reindexer.coalesced == 7
        hit = _found(client, "acme weekend shutdown")[("team-shutdown", "1.0.0")]
        assert hit["metadata"]["execution_count"] == 12


def test_delete_hides_the_version_and_later_writes_see_404(client: TestClient) -> None:
    r = client.request("DELETE", "/api/playbook/metadata/acme/team-shutdown/1.0.0", headers=ACME)
    assert r.status_code == 200 and r.json()["deleted"]
    _idle(client)
    assert ("team-shutdown", "1.0.0") not in _found(client, "acme weekend shutdown")
    assert _status(client, "team-shutdown", "1.0.0", "archived").status_code == 404
    r = client.post(
        "/api/playbook/stats/acme/team-shutdown/1.0.0", headers=ACME, json={"success": True}
    )
    assert r.status_code == 404


def test_without_inprocess_reindex_writes_wait_for_the_indexer_job(
    tree: tuple[Path, Path, Path], embedder: Embedder
) -> None:
    settings = _settings(tree, inprocess_reindex="false")
    index(settings, embedder)
    with TestClient(write_app(settings, embedder)) as client:
        r = _status(client, "team-shutdown", "1.0.0", "needs_update")
        assert r.status_code == 200 and r.json()["reindex"] == {"mode": "external"}
        assert (
            _found(client, "acme weekend shutdown")[("team-shutdown", "1.0.0")]["status"]
            == "active"
        )
        # The separate job: an ordinary index run folds the event in; servers follow CURRENT.
        index(settings, embedder)
        load_current(client.app)  # type: ignore[arg-type]
        assert (
            _found(client, "acme weekend shutdown")[("team-shutdown", "1.0.0")]["status"]
            == "needs_update"
        )


def test_admin_reindex_and_rollback_need_admin(client: TestClient) -> None:
    no_admin = as_tenant("acme", ("search", "publish", "review"))
    assert client.post("/api/admin/reindex", headers=no_admin, json={}).status_code == 403
    assert client.post("/api/admin/rollback", headers=no_admin, json={"to": "x"}).status_code == 403
    before = client.get("/readyz").json()["manifest_id"]
    _status(client, "team-shutdown", "1.0.0", "needs_update")
    _idle(client)
    assert client.get("/readyz").json()["manifest_id"] != before
    r = client.post("/api/admin/rollback", headers=ACME, json={"to": before})
    assert r.status_code == 200 and r.json()["committed"], r.text
    assert _found(client, "acme weekend shutdown")[("team-shutdown", "1.0.0")]["status"] == "active"
    r = client.post("/api/admin/reindex", headers=ACME, json={"tenants": ["acme"]})
    assert r.status_code == 200 and r.json()["committed"]
    assert (
        _found(client, "acme weekend shutdown")[("team-shutdown", "1.0.0")]["status"]
        == "needs_update"
    )


def test_search_accepts_tokens_and_scoped_keys_but_needs_the_search_scope(
    client: TestClient,
) -> None:
    body = {"query": "weekend shutdown"}
    for headers in (ACME, bearer("acme-search-key-000001"), bearer("acme-publish-key-00001")):
        assert client.post("/api/playbook/search", headers=headers, json=body).status_code == 200
    r = client.post("/api/playbook/search", headers=as_tenant("acme", ("publish",)), json=body)
    assert r.status_code == 403
    assert "acme-search-key-000001" in API_KEYS


def test_upload_urls_need_an_s3_source(client: TestClient) -> None:
    r = client.post(
        "/api/playbook/upload/request",
        headers=ACME,
        json={"playbook_id": "new-one", "version": "1.0.0", "files": ["metadata.json"]},
    )
    assert r.status_code == 501 and r.json()["error"]["code"] == "s3_source_required"

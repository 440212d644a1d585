"""``GET /api/stats``: the ``playbooks stats`` summary over the library + the caller's tenant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from indexer.analytics import open_analytics, stats
from serve import stats_route
from tests.serve._helpers import auth
from tests.serve._tiny_store import LIBRARY, TENANTS, TinyStore


def get_stats(client: TestClient, tenant: str) -> dict[str, Any]:
    response = client.get("/api/stats", headers=auth(tenant))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_tenant_a_never_counts_tenant_b(client: TestClient) -> None:
    alpha = get_stats(client, "alpha")
    assert alpha["tenant"] == "alpha"
    assert alpha["collections"] == ["escher_library", "tenant_alpha_playbooks"]
    assert set(alpha["counts"]["by_collection"]) == set(alpha["collections"])
    assert alpha["totals"]["versions"] == len(LIBRARY) + len(TENANTS["alpha"])
    assert alpha["counts"]["by_author"]["user_custom"] == len(TENANTS["alpha"])
    text = json.dumps(alpha)
    assert "beta" not in text  # no collection name, tenant id or count of B's
    assert "Walrus" not in text and "penguin" not in text
    beta = get_stats(client, "beta")
    assert "alpha" not in json.dumps(beta)
    assert beta["counts"]["by_collection"]["tenant_beta_playbooks"]["versions"] == 2


def test_a_tenant_without_playbooks_sees_the_library_only(client: TestClient) -> None:
    gamma = get_stats(client, "gamma")
    assert gamma["collections"] == ["escher_library"]
    assert gamma["totals"]["versions"] == len(LIBRARY)


def test_the_summary_matches_the_cli_for_the_shared_collections(
    client: TestClient, tiny_store: TinyStore
) -> None:
    cli = stats(open_analytics(str(tiny_store.root), None))
    alpha = get_stats(client, "alpha")
    for name in ("escher_library", "tenant_alpha_playbooks"):
        assert alpha["counts"]["by_collection"][name] == cli["counts"]["by_collection"][name]
        assert (
            alpha["success_rates"]["by_collection"][name]
            == (cli["success_rates"]["by_collection"][name])
        )
        mine, theirs = alpha["freshness"][name], cli["freshness"][name]
        assert mine["snapshot_id"] == theirs["snapshot_id"]
        assert mine["snapshot_created_at"] == theirs["snapshot_created_at"]
        assert mine["age_seconds"] >= 0
    assert alpha["manifest"]["manifest_id"] == tiny_store.manifest_id
    assert set(alpha) >= {"counts", "success_rates", "freshness", "rejections", "totals"}
    assert "store" not in alpha  # no internal location is disclosed


def test_stats_need_a_key_and_answer_in_the_error_shape(
    client: TestClient, empty_client: TestClient
) -> None:
    denied = client.get("/api/stats")
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "unauthorized"
    not_ready = empty_client.get("/api/stats", headers=auth("alpha"))
    assert not_ready.status_code == 503
    assert not_ready.json()["error"]["code"] == "not_ready"


def test_stats_are_computed_once_per_manifest_and_tenant(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = stats_route.tenant_stats

    def counted(generation: Any, store: Any, tenant: str) -> dict[str, Any]:
        calls.append(tenant)
        return real(generation, store, tenant)

    monkeypatch.setattr(stats_route, "tenant_stats", counted)
    monkeypatch.setattr(client.app.state, "stats_cache", stats_route.StatsCache())  # type: ignore[attr-defined]
    first = get_stats(client, "alpha")
    assert get_stats(client, "alpha")["counts"] == first["counts"]
    get_stats(client, "beta")
    assert calls == ["alpha", "beta"]

"""Lazy tenants: loaded on first use, evicted under the memory budget, shared across swaps."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from indexer.embed import Embedder
from indexer.model import LIBRARY_COLLECTION, tenant_collection
from indexer.store import SnapshotRef, Store
from serve.app import create_app
from serve.collection import LoadedCollection, load_collection
from serve.collection_cache import CollectionCache, CollectionUnavailable
from serve.filters import parse_filters, select_rows
from serve.generation import Generation, load_generation
from serve.poller import ManifestPoller
from tests.serve._helpers import auth, make_settings, search
from tests.serve._manifests import commit_manifest
from tests.serve._tiny_store import LIBRARY, TENANTS, TinyStore, open_store, write_collection

ALPHA, BETA = tenant_collection("alpha"), tenant_collection("beta")
QUERY = {"query": "stop an RDS database instance", "limit": 3}


@pytest.fixture
def store_dir(tiny_store: TinyStore, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(tiny_store.root, target, ignore=shutil.ignore_patterns("logs"))
    return target


def generation_over(
    tiny_store: TinyStore, embedder: Embedder, cache: CollectionCache
) -> Generation:
    return load_generation(
        open_store(tiny_store.root), tiny_store.manifest_id, embedder.identity, cache
    )


def test_tenants_load_on_first_use_and_the_library_with_the_manifest(
    tiny_store: TinyStore, embedder: Embedder
) -> None:
    cache = CollectionCache()
    generation = generation_over(tiny_store, embedder, cache)
    assert generation.loaded() == [LIBRARY_COLLECTION] and cache.loads == 1
    assert generation.row_counts()[BETA] == 2  # from the manifest: nothing loaded for it
    alpha = generation.collection(ALPHA)
    assert alpha is not None and generation.loaded() == [LIBRARY_COLLECTION, ALPHA]
    assert generation.collection(ALPHA) is alpha and cache.loads == 2 and cache.hits >= 1
    assert generation.collection(tenant_collection("gamma")) is None  # no collection: none
    generation.close()


def test_least_recently_used_tenants_are_evicted_and_reloaded_on_demand(
    tiny_store: TinyStore, embedder: Embedder
) -> None:
    cache = CollectionCache(budget_bytes=1)  # room for nothing but the pinned library
    generation = generation_over(tiny_store, embedder, cache)
    library = generation.collection(LIBRARY_COLLECTION)
    alpha = generation.collection(ALPHA)
    assert alpha is not None
    generation.collection(BETA)
    assert generation.loaded() == [LIBRARY_COLLECTION, BETA]  # alpha went, the library stays
    assert generation.collection(LIBRARY_COLLECTION) is library
    assert cache.evictions == 1 and cache.stats()["loaded"] == 2
    # A request still holding the evicted collection keeps working, DuckDB filters too.
    f = parse_filters({"tags": {"team": "alpha-ops"}, "author": "user_custom"}, 10)
    assert alpha.records([0])[0]["playbook_id"] == alpha.playbook_ids[0]
    assert select_rows(generation, alpha, f).ids.dtype == np.int64
    assert alpha.closed and alpha.filter_view is None
    again = generation.collection(ALPHA)  # reloaded transparently
    assert again is not None and again is not alpha and again.rows == alpha.rows
    assert cache.loads == 4 and cache.evictions == 2
    generation.close()


def test_concurrent_requests_for_a_cold_tenant_load_it_once(
    tiny_store: TinyStore, embedder: Embedder
) -> None:
    release = threading.Event()
    calls: list[str] = []

    def slow_alpha(store: Store, ref: SnapshotRef, dimension: int) -> LoadedCollection:
        calls.append(ref.collection)
        if ref.collection == ALPHA:
            assert release.wait(30), "the test never released the alpha load"
        return load_collection(store, ref, dimension)

    cache = CollectionCache(loader=slow_alpha)
    generation = generation_over(tiny_store, embedder, cache)
    with ThreadPoolExecutor(10) as pool:  # 8 waiting on alpha, one free for beta
        waiting = [pool.submit(generation.collection, ALPHA) for _ in range(8)]
        # Another tenant is not blocked behind alpha's load.
        assert pool.submit(generation.collection, BETA).result(timeout=30) is not None
        release.set()
        got = {id(f.result(timeout=30)) for f in waiting}
    assert len(got) == 1
    assert calls.count(ALPHA) == 1 and calls.count(BETA) == 1
    generation.close()


def test_a_failed_load_is_not_cached(tiny_store: TinyStore, embedder: Embedder) -> None:
    failures = [1]

    def flaky(store: Store, ref: SnapshotRef, dimension: int) -> LoadedCollection:
        if ref.collection == ALPHA and failures:
            failures.pop()
            raise OSError("connection reset while reading metadata.parquet")
        return load_collection(store, ref, dimension)

    cache = CollectionCache(loader=flaky)
    generation = generation_over(tiny_store, embedder, cache)
    with pytest.raises(CollectionUnavailable) as info:
        generation.collection(ALPHA)
    assert info.value.status == 503 and info.value.code == "store_error"
    assert "metadata.parquet" in info.value.message
    assert generation.collection(ALPHA) is not None  # the next request loads it
    assert cache.load_failures == 1
    generation.close()


@pytest.fixture
def served(store_dir: Path, embedder: Embedder) -> Iterator[TestClient]:
    settings = make_settings(store_dir, poll_seconds=3600, querylog="false")
    with TestClient(create_app(settings, embedder=embedder)) as c:
        yield c


def metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_readyz_and_metrics_report_what_is_loaded(served: TestClient) -> None:
    ready = served.get("/readyz").json()
    assert ready["collections_loaded"] == [LIBRARY_COLLECTION]
    assert ready["collections"] == {LIBRARY_COLLECTION: len(LIBRARY), ALPHA: 2, BETA: 2}
    memory = ready["memory"]
    assert memory["budget_mb"] == 2048 and memory["loads"] == 1 and memory["evictions"] == 0
    assert memory["resident_mb"] > 0
    search(served, "alpha", QUERY)
    ready = served.get("/readyz").json()
    assert ready["collections_loaded"] == [LIBRARY_COLLECTION, ALPHA]
    assert ready["memory"]["loads"] == 2
    assert metric(served, "playbooks_collections_loaded") == 2
    assert metric(served, "playbooks_collection_loads_total") == 2
    assert metric(served, "playbooks_collections_budget_bytes") == 2048 * 1024 * 1024
    assert metric(served, "playbooks_collections_resident_bytes") > 0


def test_a_corrupt_tenant_fails_only_its_own_requests(
    store_dir: Path, embedder: Embedder, tiny_store: TinyStore
) -> None:
    ref = open_store(store_dir).read_manifest(tiny_store.manifest_id).collections[BETA]
    index_file = store_dir / ref.path / "index.faiss"
    data = bytearray(index_file.read_bytes())
    data[-1] ^= 0xFF
    index_file.write_bytes(bytes(data))
    settings = make_settings(store_dir, poll_seconds=3600, querylog="false")
    with TestClient(create_app(settings, embedder=embedder)) as c:
        assert c.get("/readyz").status_code == 200  # the library is fine: ready
        for attempt in (1, 2):  # not cached: each request tries again
            response = c.post("/api/playbook/search", json=QUERY, headers=auth("beta"))
            assert response.status_code == 503
            error = response.json()["error"]
            assert error["code"] == "checksum_mismatch"
            assert "index.faiss" in error["message"] and BETA in error["message"]
            failures = 'playbooks_collection_load_failures_total{reason="checksum_mismatch"}'
            assert metric(c, failures) == attempt
        assert search(c, "alpha", QUERY)["results"]
        assert search(c, "gamma", QUERY)["results"]  # library only
        assert c.get("/readyz").json()["collections_loaded"] == [LIBRARY_COLLECTION, ALPHA]


def tick(client: TestClient) -> None:
    poller: ManifestPoller = client.app.state.poller  # type: ignore[attr-defined]
    client.portal.call(poller.tick)  # type: ignore[union-attr]


def test_a_swap_reuses_unchanged_collections_and_preloads_the_warm_set(
    served: TestClient, store_dir: Path, embedder: Embedder, tiny_store: TinyStore
) -> None:
    app = served.app
    old: Generation = app.state.generation  # type: ignore[attr-defined]
    search(served, "alpha", QUERY)
    library, alpha = old.collection(LIBRARY_COLLECTION), old.collection(ALPHA)
    store = open_store(store_dir)
    live = store.read_manifest(tiny_store.manifest_id)
    new_alpha = write_collection(store, ALPHA, TENANTS["alpha"][:1], embedder)
    new_id = commit_manifest(store, {**live.collections, ALPHA: new_alpha}, live.model, tool="t")
    loads = app.state.collection_cache.loads  # type: ignore[attr-defined]
    tick(served)
    new: Generation = app.state.generation  # type: ignore[attr-defined]
    assert new.manifest_id == new_id
    # The new alpha was loaded before the swap (alpha was warm); nothing else was read.
    assert app.state.collection_cache.loads == loads + 1  # type: ignore[attr-defined]
    assert new.loaded() == [LIBRARY_COLLECTION, ALPHA]
    assert new.collection(LIBRARY_COLLECTION) is library  # unchanged: the same object
    fresh = new.collection(ALPHA)
    assert fresh is not alpha and fresh is not None and fresh.rows == 1
    assert app.state.collection_cache.peek(alpha.ref, alpha.index.d) is None  # type: ignore
    assert search(served, "alpha", QUERY)["manifest_id"] == new_id
    assert app.state.collection_cache.loads == loads + 1  # type: ignore[attr-defined]
    assert BETA not in new.loaded()  # beta was never used: still lazy

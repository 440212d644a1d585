"""The vector channel on an HNSW collection, through the whole search path.

The samples' library is indexed with ``hnsw_min_rows`` low enough that it gets an HNSW
index, and its collection told to score exactly only tiny subsets, so a search takes the
ANN path (filter pushed into the graph walk) and must find what the exact path finds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from indexer.blobs import open_blobs
from indexer.build import run_index
from indexer.embed import Embedder
from indexer.settings import load_settings
from indexer.store import Store
from indexer.vectors import is_hnsw
from serve.local import LocalSearcher

SAMPLES = Path(__file__).resolve().parents[2] / "indexer" / "samples"
QUERIES = (
    {"query": "stop production RDS for the weekend"},
    {"query": "rotate access keys", "filters": {"cloud_provider": "aws"}},
    {"query": "scale down kubernetes nodes at night", "mode": "vector"},
    {"query": "delete old snapshots", "filters": {"status": ["active", "deprecated"]}},
)


@pytest.fixture(scope="module")
def hnsw_store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    store = tmp_path_factory.mktemp("hnsw-store")
    run_index(
        store=Store(open_blobs(str(store))),
        library=[open_blobs(str(SAMPLES / "escher-library"))],
        tenants=[open_blobs(str(SAMPLES / "escher-tenant-data"))],
        embedder=embedder,
        hnsw_min_rows=20,
    )
    return store


def _searcher(store: Path, embedder: Embedder, exact_rows: int | None) -> LocalSearcher:
    searcher = LocalSearcher(load_settings({"store": str(store)}, environ={}), embedder)
    library = searcher.generation.collection("escher_library")
    assert library is not None and is_hnsw(library.index)
    if exact_rows is not None:
        library.exact_rows = exact_rows
    return searcher


@pytest.fixture(scope="module")
def ann(hnsw_store: Path, embedder: Embedder) -> Iterator[LocalSearcher]:
    searcher = _searcher(hnsw_store, embedder, exact_rows=2)
    yield searcher
    searcher.close()


@pytest.fixture(scope="module")
def exact(hnsw_store: Path, embedder: Embedder) -> Iterator[LocalSearcher]:
    searcher = _searcher(hnsw_store, embedder, exact_rows=None)
    yield searcher
    searcher.close()


def _ids(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["playbook_id"], r["version"]) for r in body["results"]]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q["query"][:20])
def test_the_hnsw_path_finds_what_the_exact_path_finds(
    ann: LocalSearcher, exact: LocalSearcher, query: dict[str, Any]
) -> None:
    fast = ann.search(query, tenant="acme")
    slow = exact.search(query, tenant="acme")
    assert fast["retrieval"]["strategy"] == "hnsw_filtered"
    assert slow["retrieval"]["strategy"] == "exact_subset"
    assert _ids(fast) == _ids(slow)
    assert fast["results"]

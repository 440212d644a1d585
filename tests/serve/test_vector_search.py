"""Filtered nearest neighbours: exact for small subsets, HNSW with the filter pushed in
for large ones, the exact answer when the graph walk comes back short."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
import pytest

from indexer.vectors import build_index, vector_matrix
from serve.vector_search import (
    EF_SEARCH_MAX,
    EF_SEARCH_MIN,
    EXACT_FRACTION,
    choose_strategy,
    ef_search,
    exact_limit,
    exact_top_k,
    nearest,
    selector,
)

N, D, K = 20_000, 64, 10


def clustered(n: int, d: int, seed: int, centres: np.ndarray) -> np.ndarray:
    """Unit vectors around ``centres`` (uniform random unit vectors have no neighbours)."""
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, len(centres), n)]
    x = x + rng.standard_normal((n, d)).astype(np.float32) * np.float32(0.9 / np.sqrt(d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[Any, np.ndarray, np.ndarray]:
    """An HNSW index over 20,000 clustered vectors, its vector matrix, 60 queries."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((200, D)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = clustered(N, D, 4, centres)
    index = build_index(x, D, hnsw_min_rows=0)
    assert np.array_equal(vector_matrix(index), x)
    return index, vector_matrix(index), clustered(60, D, 5, centres)


def brute_force(vectors: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    scores = vectors[ids] @ q
    order = np.lexsort((ids, -scores))[:k]
    return ids[order]


def subset(n: int, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, int(n * fraction), replace=False)).astype(np.int64)


def test_strategy_follows_the_admitted_fraction(data: tuple[Any, np.ndarray, np.ndarray]) -> None:
    index, vectors, _ = data
    flat = build_index(vectors, D, hnsw_min_rows=N + 1)
    at_five_percent = int(EXACT_FRACTION * N)
    assert exact_limit(N, exact_max_rows=0) == at_five_percent
    assert choose_strategy(index, at_five_percent, N, exact_max_rows=0) == "exact"
    assert choose_strategy(index, at_five_percent + 1, N, exact_max_rows=0) == "hnsw_filtered"
    assert choose_strategy(flat, at_five_percent + 1, N, exact_max_rows=0) == "flat_filtered"
    # A small collection is always searched exactly, whatever the fraction.
    assert choose_strategy(index, N, N, exact_max_rows=N) == "exact"
    # In a large collection the share, not the absolute floor, decides.
    assert exact_limit(10_000_000, exact_max_rows=20_000) == int(EXACT_FRACTION * 10_000_000)


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.2])
def test_hnsw_with_the_filter_pushed_in_finds_the_true_neighbours(
    data: tuple[Any, np.ndarray, np.ndarray], fraction: float
) -> None:
    index, vectors, queries = data
    ids = np.arange(N, dtype=np.int64) if fraction == 1.0 else subset(N, fraction, 7)
    admitted: Any = "all" if fraction == 1.0 else ids
    recalls = []
    for q in queries:
        got = nearest(index, vectors, admitted, q, K, exact_max_rows=0)
        assert got.strategy == "hnsw_filtered"
        assert len(got) == K and set(got.rows.tolist()) <= set(ids.tolist())
        assert np.all(np.diff(got.cosines) <= 1e-6)  # best first
        np.testing.assert_allclose(got.cosines, vectors[got.rows] @ q, atol=1e-5)
        want = brute_force(vectors, ids, q, K)
        recalls.append(len(set(got.rows.tolist()) & set(want.tolist())) / K)
    # HNSW (M=32) reaches ~0.99 here; the margin absorbs graph randomness.
    assert np.mean(recalls) >= 0.95


def test_plain_hnsw_at_ef_search_64_already_finds_the_true_neighbours(
    data: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    index, vectors, queries = data
    index.hnsw.efSearch = 64
    _, found = index.search(queries, K)
    truth = [brute_force(vectors, np.arange(N), q, K) for q in queries]
    recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95


def test_ef_search_grows_as_the_filter_narrows() -> None:
    assert ef_search(10, 1_000, 1_000) == EF_SEARCH_MIN
    assert ef_search(500, 1_000, 1_000) == 500  # never below k
    assert ef_search(10, 100, 1_000) == 250  # 10%: 25 / 0.1
    assert ef_search(10, 10, 10_000_000) == EF_SEARCH_MAX


@pytest.mark.parametrize("fraction", [EXACT_FRACTION, 0.01, 0.001])
def test_a_narrow_filter_is_answered_exactly(
    data: tuple[Any, np.ndarray, np.ndarray], fraction: float
) -> None:
    index, vectors, queries = data
    ids = subset(N, fraction, 8)
    for q in queries[:20]:
        got = nearest(index, vectors, ids, q, K, exact_max_rows=0)
        assert got.strategy == "exact"
        assert got.rows.tolist() == brute_force(vectors, ids, q, K).tolist()
        np.testing.assert_allclose(got.cosines, vectors[got.rows] @ q, atol=1e-5)


def test_a_short_hnsw_list_is_replaced_by_the_exact_answer(
    data: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    index, vectors, queries = data
    q = queries[0]
    # The filter keeps only the rows farthest from the query (10%, above the exact share),
    # and the caller wants many of them: the graph walk stays near the query and comes
    # back with fewer than k.
    far = np.sort(np.argsort(vectors @ q)[: N // 10]).astype(np.int64)
    k = len(far) // 2
    params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
    params.sel, params.efSearch = selector(far, N), ef_search(k, len(far), N)
    _, walked = index.search(q.reshape(1, -1), k, params=params)
    assert (walked[0] >= 0).sum() < k  # the premise: HNSW alone comes back short
    got = nearest(index, vectors, far, q, k, exact_max_rows=0)
    assert got.strategy == "hnsw_short_exact" and len(got) == k
    # The exact answer (float rounding may swap rows whose scores differ by ~1e-7).
    want = brute_force(vectors, far, q, k)
    np.testing.assert_allclose(got.cosines, vectors[want] @ q, atol=1e-5)
    assert set(got.rows.tolist()) <= set(far.tolist())
    assert got.rows[:10].tolist() == want[:10].tolist()


def test_flat_index_with_a_large_subset_scans_with_the_selector(
    data: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    _, vectors, queries = data
    flat = build_index(vectors, D, hnsw_min_rows=N + 1)
    ids = subset(N, 0.3, 9)
    for q in queries[:10]:
        got = nearest(flat, vector_matrix(flat), ids, q, K, exact_max_rows=0)
        assert got.strategy == "flat_filtered"
        assert got.rows.tolist() == brute_force(vectors, ids, q, K).tolist()


def test_k_beyond_the_admitted_rows_and_empty_selections(
    data: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    index, vectors, queries = data
    q = queries[1]
    three = np.array([5, 17, 19_999], dtype=np.int64)
    got = nearest(index, vectors, three, q, 50)
    assert sorted(got.rows.tolist()) == [5, 17, 19_999] and got.strategy == "exact"
    assert got.rows.tolist() == brute_force(vectors, three, q, 50).tolist()
    empty = nearest(index, vectors, np.zeros(0, np.int64), q, K)
    assert (len(empty), empty.strategy) == (0, "empty")
    assert len(nearest(index, vectors, "all", q, 0)) == 0
    tiny = build_index(vectors[:4], D)
    everything = nearest(tiny, vector_matrix(tiny), "all", q, K)
    assert everything.rows.tolist() == brute_force(vectors[:4], np.arange(4), q, K).tolist()


def test_a_query_of_another_dimension_is_refused(
    data: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    index, vectors, _ = data
    with pytest.raises(ValueError, match="query is 3-d, the collection's vectors are 64-d"):
        nearest(index, vectors, "all", np.ones(3, np.float32), K)


@pytest.mark.parametrize("count", [3, 200, 5_000])
def test_selectors_admit_exactly_the_selected_rows(count: int) -> None:
    ids = subset(20_000, count / 20_000, count)
    sel = selector(ids, 20_000)
    members = {i for i in range(20_000) if sel.is_member(i)}
    assert members == set(ids.tolist())


def test_equal_scores_order_by_row() -> None:
    v = np.zeros((6, 2), np.float32)
    v[:, 0] = [0.5, 1.0, 0.5, 1.0, 0.2, 1.0]
    rows, scores = exact_top_k(v, "all", np.array([1.0, 0.0], np.float32), 4)
    assert rows.tolist() == [1, 3, 5, 0]
    assert scores.tolist() == [1.0, 1.0, 1.0, 0.5]
    rows, _ = exact_top_k(v, np.array([0, 2, 3, 4], np.int64), np.array([1.0, 0.0]), 2)
    assert rows.tolist() == [3, 0]

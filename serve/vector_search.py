"""Filtered nearest-neighbour search over one collection's vectors, sized to the work.

:func:`nearest` answers "the ``k`` admitted rows nearest the query" with one of:

``exact``
    the admitted rows scored in place and a partial sort (``np.argpartition``), when they
    are few: at most ``max(exact_max_rows, EXACT_FRACTION * rows)``. A narrow filter
    starves HNSW's graph walk (short, low-recall result lists), and the scan only touches
    the admitted rows.
``hnsw_filtered``
    HNSW with the filter pushed into the graph walk (``SearchParametersHNSW`` with an
    ``IDSelector``). The walk must visit ~1/fraction nodes per admitted one, so efSearch
    grows as the filter narrows (:func:`ef_search`). A result list shorter than ``k`` is
    replaced by the exact answer (``hnsw_short_exact``).
``flat_filtered``
    a flat index's own scan with the selector (a large subset of a collection below the
    HNSW threshold).

Everything is a pure function of its arguments: no state, no thread settings (one query
runs on one thread in FAISS; the caller decides OpenMP/BLAS thread counts).
Results are ``(rows int64, cosines float32)`` best first (an exact answer orders equal
scores by row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import faiss
import numpy as np

from indexer.vectors import is_hnsw

# faiss's type stubs lack SearchParametersHNSW and the numpy-array IDSelector constructors.
_faiss: Any = faiss

# Admitted share of the collection at or below which search is exact, and the absolute
# row count (a small collection is always searched exactly). At 1M x 384-d (single thread,
# bench/ann_bench.py) exact costs 2.2 ms at 2% but 8 ms at 3% and 15 ms at 5%, where HNSW
# with efSearch 25/fraction answers in 1.5-2 ms at recall@10 0.96-0.97.
EXACT_FRACTION = 0.02
EXACT_MAX_ROWS = 20_000
EF_SEARCH_MIN = 128  # recall@10 ~0.95 unfiltered at 1M (64: ~0.90)
EF_PER_FRACTION = 25  # efSearch >= this / admitted fraction
EF_SEARCH_MAX = 4096
BITMAP_FRACTION = 1 / 64  # selector: bitmap (n/8 bytes) once ids would take as much memory

All = Literal["all"]


@dataclass(frozen=True)
class Nearest:
    rows: np.ndarray  # int64, best first
    cosines: np.ndarray  # float32, same order
    strategy: str  # exact | hnsw_filtered | hnsw_short_exact | flat_filtered | ...

    def __len__(self) -> int:
        return len(self.rows)


def exact_limit(total: int, exact_max_rows: int = EXACT_MAX_ROWS) -> int:
    """Most admitted rows searched exactly in a collection of ``total`` rows."""
    return max(exact_max_rows, int(EXACT_FRACTION * total))


def choose_strategy(
    index: Any, admitted: int, total: int, exact_max_rows: int = EXACT_MAX_ROWS
) -> str:
    """``exact``, ``hnsw_filtered`` or ``flat_filtered`` for ``admitted`` of ``total`` rows."""
    if admitted <= exact_limit(total, exact_max_rows):
        return "exact"
    return "hnsw_filtered" if is_hnsw(index) else "flat_filtered"


def ef_search(k: int, admitted: int, total: int) -> int:
    """HNSW's efSearch for ``k`` results among ``admitted`` of ``total`` rows."""
    fraction = admitted / total if total else 1.0
    wanted = max(EF_SEARCH_MIN, k, math.ceil(EF_PER_FRACTION / max(fraction, 1e-9)))
    return max(k, min(EF_SEARCH_MAX, wanted))


def selector(admitted: np.ndarray, total: int) -> Any:
    """A FAISS ``IDSelector`` admitting exactly ``admitted`` (sorted int64 row ids) of
    ``total`` rows: a bitmap when the subset is wide (O(1) membership, ``total / 8``
    bytes), else a batch (hash set of the ids). Cache it with the selection if you can."""
    if len(admitted) >= BITMAP_FRACTION * total:
        bits = np.zeros(total, dtype=bool)
        bits[admitted] = True
        return _faiss.IDSelectorBitmap(np.packbits(bits, bitorder="little"))
    return faiss.IDSelectorBatch(np.ascontiguousarray(admitted, dtype=np.int64))


def nearest(
    index: Any,
    vectors: np.ndarray,
    admitted: np.ndarray | All,
    query: np.ndarray,
    k: int,
    *,
    exact_max_rows: int = EXACT_MAX_ROWS,
    sel: Any = None,
) -> Nearest:
    """The ``k`` admitted rows nearest ``query`` (a unit vector), best first.

    ``index`` is the collection's FAISS index (flat or HNSW) and ``vectors`` its
    ``(rows, d)`` float32 unit vectors (row i of both is the same playbook; e.g.
    :func:`indexer.vectors.vector_matrix`). ``admitted`` is the sorted int64 row ids a
    filter keeps, or ``"all"``. ``sel`` is an optional precomputed :func:`selector` for
    ``admitted``. Returns ``min(k, admitted)`` rows; none for an empty selection or k <= 0.
    Raises ValueError when the query's dimension is not the vectors'.
    """
    total = len(vectors)
    q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    if len(q) != vectors.shape[1]:
        raise ValueError(f"query is {len(q)}-d, the collection's vectors are {vectors.shape[1]}-d")
    n = total if isinstance(admitted, str) else len(admitted)
    k = min(k, n)
    if k <= 0:
        return Nearest(np.zeros(0, np.int64), np.zeros(0, np.float32), "empty")
    strategy = choose_strategy(index, n, total, exact_max_rows)
    flat = flat_storage(index)
    if flat is not None and (flat.ntotal != total or flat.d != vectors.shape[1]):
        raise ValueError(f"the index holds {flat.ntotal} vectors, the matrix {total}")
    if strategy == "exact":
        rows, cos = exact_top_k(vectors, admitted, q, k, flat)
        return Nearest(rows, cos, "exact")
    if isinstance(admitted, str):
        params = _faiss.SearchParametersHNSW() if is_hnsw(index) else None
    else:
        if sel is None:
            sel = selector(admitted, total)
        params = _faiss.SearchParametersHNSW() if is_hnsw(index) else faiss.SearchParameters()
        params.sel = sel
    if params is not None and is_hnsw(index):
        params.efSearch = ef_search(k, n, total)
    scores, ids = index.search(q.reshape(1, -1), k, params=params)
    keep = ids[0] >= 0
    rows, cos = ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)
    if len(rows) < k:  # the graph walk ran out of admitted nodes: the exact answer instead
        rows, cos = exact_top_k(vectors, admitted, q, k, flat)
        return Nearest(rows, cos, "hnsw_short_exact")
    return Nearest(rows, cos, strategy)


def flat_storage(index: Any) -> Any:
    """The ``faiss.IndexFlat`` holding an index's vectors (itself for a flat index), or
    None for a kind that does not store them flat."""
    flat = faiss.downcast_index(index.storage) if is_hnsw(index) else index
    return flat if isinstance(flat, faiss.IndexFlat) else None


def exact_top_k(
    vectors: np.ndarray,
    admitted: np.ndarray | All,
    query: np.ndarray,
    k: int,
    flat: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` of the admitted rows by inner product: ``(rows, scores)`` best first,
    ties by row. ``flat`` (optional) is a ``faiss.IndexFlat`` holding ``vectors``: with it
    the admitted rows are scored in place, without gathering them into a copy."""
    q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    if isinstance(admitted, str):
        ids = None
        scores = vectors @ q
    else:
        ids = np.ascontiguousarray(admitted, dtype=np.int64)
        if flat is not None and len(ids):
            scores = np.empty(len(ids), dtype=np.float32)
            flat.compute_distance_subset(
                1, faiss.swig_ptr(q), len(ids), faiss.swig_ptr(scores), faiss.swig_ptr(ids)
            )
        elif 2 * len(ids) >= len(vectors):  # one pass over the matrix beats a gather
            scores = (vectors @ q)[ids]
        else:
            scores = vectors[ids] @ q
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if k < len(scores):
        top = np.argpartition(scores, len(scores) - k)[len(scores) - k :]
        # Everything scoring at least the k-th best, so ties at the boundary order by row.
        part = np.flatnonzero(scores >= scores[top].min())
    else:
        part = np.arange(len(scores))
    order = np.lexsort((part, -scores[part]))[:k]
    best = part[order]
    rows = best.astype(np.int64) if ids is None else ids[best]
    return rows, scores[best].astype(np.float32)

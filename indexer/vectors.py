"""The vector index written beside each snapshot's Parquet file (row i == Parquet row i).

Vectors are L2-normalised, so inner product is cosine similarity. A collection smaller
than ``hnsw_min_rows`` gets an exact FAISS ``IndexFlatIP``; a larger one an
``IndexHNSWFlat`` (inner product, ``HNSW_M`` links per node, ``HNSW_EF_CONSTRUCTION``),
whose flat storage still holds every vector exactly, so an exact scan over any subset of
rows stays possible (:func:`vector_matrix`). The snapshot description records which kind
was written (:func:`index_kind`); a description without parameters is a flat index
(snapshots written before HNSW existed).
"""

from __future__ import annotations

import os
from typing import Any

import faiss
import numpy as np

FLAT = "IndexFlatIP"
HNSW = "IndexHNSWFlat"
HNSW_MIN_ROWS = 50_000  # the default of the ``hnsw_min_rows`` setting
HNSW_M = 32
# Build time grows ~linearly with efConstruction; recall at efSearch 64 stops improving
# past ~80 on clustered 384-d data (bench/ann_bench.py, --ef-construction).
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # stored in the index; serve.vector_search sets it per query

INDEX_KIND = {"type": FLAT, "metric": "inner_product", "normalized": True}


def index_kind(rows: int, hnsw_min_rows: int = HNSW_MIN_ROWS) -> dict[str, Any]:
    """What :func:`build_index` writes for a collection of ``rows`` vectors."""
    if rows < hnsw_min_rows:
        return dict(INDEX_KIND)
    return {
        "type": HNSW,
        "metric": "inner_product",
        "normalized": True,
        "M": HNSW_M,
        "ef_construction": HNSW_EF_CONSTRUCTION,
        "ef_search": HNSW_EF_SEARCH,
    }


def build_index(
    vectors: np.ndarray,
    dimension: int,
    hnsw_min_rows: int = HNSW_MIN_ROWS,
    *,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
) -> Any:
    """A FAISS index over ``vectors`` (rows in order): HNSW from ``hnsw_min_rows`` rows up,
    else flat. HNSW is built on every core of the machine."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    index: Any
    if len(x) < hnsw_min_rows:
        index = faiss.IndexFlatIP(dimension)
        if len(x):
            index.add(x)
        return index
    index = faiss.IndexHNSWFlat(dimension, m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = HNSW_EF_SEARCH
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
    try:
        index.add(x)
    finally:
        faiss.omp_set_num_threads(before)
    return index


def index_bytes(vectors: np.ndarray, dimension: int, hnsw_min_rows: int = HNSW_MIN_ROWS) -> bytes:
    """Serialised FAISS index over ``vectors`` (rows in order); see :func:`build_index`."""
    index = build_index(vectors, dimension, hnsw_min_rows)
    return bytes(faiss.serialize_index(index).tobytes())


def load_index(data: bytes) -> Any:
    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))


def is_hnsw(index: Any) -> bool:
    return isinstance(index, faiss.IndexHNSW)


def vector_matrix(index: Any) -> np.ndarray:
    """The ``(ntotal, d)`` float32 vectors an index holds, as a read-only view of its
    storage (no copy; valid while ``index`` lives). Raises TypeError for an index kind
    whose storage is not flat float32."""
    flat = faiss.downcast_index(index.storage) if is_hnsw(index) else index
    if not isinstance(flat, faiss.IndexFlat):
        raise TypeError(f"{type(index).__name__}: vectors are not stored as flat float32")
    n, d = flat.ntotal, flat.d
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    view = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)
    view.flags.writeable = False
    return view

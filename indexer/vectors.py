"""The vector index written beside each snapshot's Parquet file (row i == Parquet row i).

FAISS ``IndexFlatIP`` over L2-normalised vectors: inner product is cosine similarity, and
the search is exact, so a filtered search over any subset of rows is exact too.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

INDEX_KIND = {"type": "IndexFlatIP", "metric": "inner_product", "normalized": True}


def build_index(vectors: np.ndarray, dimension: int) -> Any:
    index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def index_bytes(vectors: np.ndarray, dimension: int) -> bytes:
    """Serialised FAISS index over ``vectors`` (rows in order)."""
    return bytes(faiss.serialize_index(build_index(vectors, dimension)).tobytes())


def load_index(data: bytes) -> Any:
    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))

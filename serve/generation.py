"""One loaded manifest: every collection's table, FAISS index and DuckDB filter table.

:func:`load_generation` reads and verifies everything a manifest names (checksums via
:meth:`indexer.store.Store.load_snapshot`, FAISS row count == Parquet row count, the
manifest's model identity == the embedder's) and returns a :class:`Generation`, or raises
:class:`~indexer.errors.StoreError` — never a half-loaded generation. A generation is
read-only once built, so concurrent requests share it; the app swaps the live one as one
reference and in-flight requests finish on the one they started with.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import faiss
import numpy as np
import pyarrow as pa

from indexer.errors import StoreError
from indexer.model import SEARCHABLE_STATUSES, version_sort_key
from indexer.store import Manifest, ModelIdentity, SnapshotRef, Store
from serve.features import CollectionFeatures, collection_features

FILTER_TABLE = "playbooks"
# Columns registered in DuckDB for filtering; the big ones (vector, JSON, text) stay out.
FILTER_COLUMNS = (
    "playbook_id",
    "version",
    "status",
    "author",
    "cloud_provider",
    "resource_types",
    "tags",
)
SELECTION_CACHE_SIZE = 256


@dataclass(frozen=True)
class Selection:
    """The rows of one collection a filter admits, and a FAISS selector over them."""

    ids: np.ndarray  # int64, ascending
    selector: Any  # faiss.IDSelector, or None when every row is admitted

    def __len__(self) -> int:
        return len(self.ids)


class LoadedCollection:
    """One collection of a generation: table, index, filter connection, hot columns."""

    def __init__(self, ref: SnapshotRef, table: pa.Table, index: Any) -> None:
        self.ref = ref
        self.name = ref.collection
        self.table = table
        self.index = index
        self.rows = table.num_rows
        # Read per candidate at query time: plain lists / arrays beat Arrow scalar access.
        self.playbook_ids: list[str] = table.column("playbook_id").to_pylist()
        self.versions: list[str] = table.column("version").to_pylist()
        self.statuses: list[str] = table.column("status").to_pylist()
        self.authors: list[str] = table.column("author").to_pylist()
        self.execution_counts = _int_array(table, "execution_count")
        self.success_counts = _int_array(table, "success_count")
        self.updated_at = _epoch_array(table, "updated_at")
        self.newest_visible = _newest_visible(self.playbook_ids, self.versions, self.statuses)
        # Ranking features (BM25 index, vector matrix, name verbs...): immutable, built once.
        self.features: CollectionFeatures = collection_features(table)
        slim = table.select(list(FILTER_COLUMNS)).append_column(
            "row_id", pa.array(np.arange(self.rows, dtype=np.int64))
        )
        self.con = duckdb.connect(":memory:")
        self.con.register(FILTER_TABLE, slim)
        self._con_lock = threading.Lock()

    def query_row_ids(self, where: str, params: Sequence[Any]) -> np.ndarray:
        """Row ids (ascending int64) of ``SELECT ... WHERE <where>`` with bound ``params``."""
        sql = f"SELECT row_id FROM {FILTER_TABLE} WHERE {where} ORDER BY row_id"
        with self._con_lock:  # one DuckDB connection is not safe for concurrent queries
            result = self.con.execute(sql, list(params)).fetchnumpy()
        return np.ascontiguousarray(result["row_id"], dtype=np.int64)

    def selection(self, ids: np.ndarray) -> Selection:
        selector = None if len(ids) == self.rows else faiss.IDSelectorBatch(ids)
        return Selection(ids, selector)

    def search(self, query: np.ndarray, k: int, selection: Selection) -> list[tuple[int, float]]:
        """The ``k`` admitted rows nearest ``query``: ``(row, cosine)``, best first."""
        k = min(k, len(selection))
        if k <= 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if selection.selector is None:
            scores, rows = self.index.search(q, k)
        else:
            params = faiss.SearchParameters()
            params.sel = selection.selector
            scores, rows = self.index.search(q, k, params=params)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def records(self, rows: Sequence[int]) -> list[dict[str, Any]]:
        """Full rows as dicts (every Parquet column but the vector), in the order given."""
        if not rows:
            return []
        taken = self.table.take(pa.array(list(rows), type=pa.int64()))
        return list(taken.drop_columns(["vector"]).to_pylist())

    def close(self) -> None:
        self.con.close()


def _int_array(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).fill_null(0).to_numpy(), dtype=np.int64)


def _epoch_array(table: pa.Table, name: str) -> np.ndarray:
    """Seconds since the epoch as float64; NaN where the timestamp is null."""
    values = table.column(name).to_pylist()
    return np.array(
        [v.timestamp() if v is not None else math.nan for v in values], dtype=np.float64
    )


def _newest_visible(ids: list[str], versions: list[str], statuses: list[str]) -> dict[str, str]:
    """playbook_id -> its highest searchable version (hidden versions are never offered)."""
    newest: dict[str, str] = {}
    for pid, version, status in zip(ids, versions, statuses, strict=True):
        if status not in SEARCHABLE_STATUSES:
            continue
        best = newest.get(pid)
        if best is None or version_sort_key(version) > version_sort_key(best):
            newest[pid] = version
    return newest


class SelectionCache:
    """A bounded LRU of (collection, canonical filter) -> :class:`Selection`."""

    def __init__(self, size: int = SELECTION_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Selection] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: tuple[str, str], compute: Callable[[], Selection]) -> Selection:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        value = compute()  # outside the lock: a slow query must not block cache hits
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Generation:
    """A verified, loaded manifest. Read-only after :func:`load_generation` returns."""

    manifest: Manifest
    collections: Mapping[str, LoadedCollection]
    loaded_at: float = field(default_factory=time.time)
    selections: SelectionCache = field(default_factory=SelectionCache)

    @property
    def manifest_id(self) -> str:
        return self.manifest.manifest_id

    def collection(self, name: str) -> LoadedCollection | None:
        return self.collections.get(name)

    def row_counts(self) -> dict[str, int]:
        return {name: c.rows for name, c in sorted(self.collections.items())}

    def close(self) -> None:
        for c in self.collections.values():
            c.close()


def load_generation(store: Store, manifest_id: str, expected_model: ModelIdentity) -> Generation:
    """Load and verify every collection ``manifest_id`` names; raises, never half-loads."""
    manifest = store.read_manifest(manifest_id)
    if manifest.model != expected_model:
        raise StoreError(
            f"manifest {manifest_id} was built with model {_describe(manifest.model)} but the "
            f"server embeds queries with {_describe(expected_model)}; serve it with that "
            "model or re-index",
            manifest=manifest_id,
            manifest_model=manifest.model.to_dict(),
            server_model=expected_model.to_dict(),
        )
    loaded: dict[str, LoadedCollection] = {}
    try:
        for name, ref in sorted(manifest.collections.items()):
            loaded[name] = _load_collection(store, ref, manifest.model.dimension)
    except BaseException:
        for c in loaded.values():
            c.close()
        raise
    return Generation(manifest, loaded)


def _load_collection(store: Store, ref: SnapshotRef, dimension: int) -> LoadedCollection:
    data = store.load_snapshot(ref)
    missing = [
        c
        for c in (*FILTER_COLUMNS, "execution_count", "success_count", "updated_at", "vector")
        if c not in data.table.column_names
    ]
    if missing:
        raise StoreError(
            f"{ref.path}: metadata.parquet lacks column(s) {', '.join(missing)}",
            file=ref.path,
            missing=missing,
        )
    try:
        index = faiss.deserialize_index(np.frombuffer(data.index_bytes, dtype=np.uint8))
    except RuntimeError as exc:
        raise StoreError(
            f"{ref.path}: index.faiss is not a FAISS index ({exc})", file=ref.path
        ) from None
    if index.ntotal != data.table.num_rows:
        raise StoreError(
            f"{ref.path}: index.faiss holds {index.ntotal} vectors but metadata.parquet "
            f"has {data.table.num_rows} rows",
            file=ref.path,
        )
    if index.d != dimension:
        raise StoreError(
            f"{ref.path}: index.faiss is {index.d}-d, the manifest says {dimension}-d",
            file=ref.path,
        )
    return LoadedCollection(ref, data.table, index)


def _describe(model: ModelIdentity) -> str:
    return f"{model.name} ({model.dimension}-d, weights sha256 {model.weights_sha256[:12]}…)"

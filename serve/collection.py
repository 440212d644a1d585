"""One collection snapshot loaded for serving: rows, vectors, index and filter columns.

:func:`load_collection` reads and verifies one snapshot a manifest names (checksums of
every file via :meth:`indexer.store.Store.load_snapshot`, FAISS row count == Parquet row
count, FAISS dimension == the manifest's) and returns a :class:`LoadedCollection`, or
raises :class:`~indexer.errors.StoreError` naming the file.

Memory: the vectors are held once, as the FAISS index's own flat storage; the Arrow table
kept for responses has no vector column, and ranking features get the index's storage
as their matrix (:func:`indexer.vectors.vector_matrix`). :attr:`LoadedCollection.resident_bytes`
estimates what the collection holds, for the memory budget of
:class:`serve.collection_cache.CollectionCache`. A collection is immutable once loaded;
:meth:`LoadedCollection.close` only releases its filter table in the shared DuckDB
connection (:mod:`serve.filter_db`), so a request still holding it keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from indexer.errors import StoreError
from indexer.model import SEARCHABLE_STATUSES, version_sort_key
from indexer.store import SnapshotRef, Store
from indexer.vectors import vector_matrix
from serve.features import CollectionFeatures, collection_features
from serve.filter_db import FILTER_DB
from serve.ranking import RankColumns, build_rank_columns
from serve.vector_search import exact_limit, selector

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
# Filters answered from per-value row lists, without DuckDB (serve.filters).
SCALAR_VALUE_COLUMNS = ("status", "author")  # the list columns' rows come with the features
UNSERVED_COLUMNS = (
    "vector",
    "embed_text",
    "content_hash",
    "source_uri",
    "source_fingerprint",
    "version_major",
    "version_minor",
    "version_patch",
    "version_prerelease",
)
REQUIRED_COLUMNS = (*FILTER_COLUMNS, "execution_count", "success_count", "updated_at")
# Python objects per row (lists of ids/versions/statuses, keyword postings, feature
# tuples) beyond the Arrow and numpy buffers; measured on the bench stores (README,
# "memory budget"), deliberately on the high side so the budget is not overrun.
PYTHON_BYTES_PER_ROW = 6_000
FIXED_BYTES = 64 * 1024

SnapshotKey = tuple[str, str, tuple[tuple[str, str, int], ...], int]


@dataclass(frozen=True)
class Selection:
    """The rows of one collection a filter admits, and a FAISS selector over them."""

    ids: np.ndarray  # int64, ascending
    # faiss.IDSelector (serve.vector_search.selector); None when every row is admitted or
    # the admitted rows are few enough to be scored exactly
    selector: Any

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        """Estimated memory: the ids, plus the selector's hash set (~5 words per id)."""
        return int(self.ids.nbytes) * (1 if self.selector is None else 6) + 256


def snapshot_key(ref: SnapshotRef, dimension: int) -> SnapshotKey:
    """A snapshot's identity: equal keys, byte-identical files (same checksums)."""
    files = tuple(sorted((name, f.sha256, f.bytes) for name, f in ref.files.items()))
    return (ref.collection, ref.snapshot_id, files, dimension)


def planned_bytes(ref: SnapshotRef) -> int:
    """A guess, before loading, of what :attr:`LoadedCollection.resident_bytes` will be."""
    return sum(f.bytes for f in ref.files.values()) + PYTHON_BYTES_PER_ROW * ref.rows


class _Owner:
    """Keeps a FAISS index alive for as long as a numpy view of its storage lives."""

    def __init__(self, index: Any, view: np.ndarray) -> None:
        self.index = index
        self.__array_interface__ = view.__array_interface__


def index_vectors(index: Any) -> np.ndarray:
    """The index's ``(ntotal, d)`` float32 storage as a read-only array (no copy) that
    keeps ``index`` alive; a copy for index kinds that do not store flat float32."""
    try:
        view = vector_matrix(index)
    except TypeError:
        return np.ascontiguousarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)
    if not view.size:
        return view
    vectors = np.asarray(_Owner(index, view))
    vectors.flags.writeable = False
    return vectors


class LoadedCollection:
    """One collection snapshot: table (no vectors), index, hot columns, filter row lists."""

    def __init__(
        self,
        ref: SnapshotRef,
        table: pa.Table,
        index: Any,
        vectors: np.ndarray,
        features: CollectionFeatures,
    ) -> None:
        self.ref = ref
        self.name = ref.collection
        self.key = snapshot_key(ref, index.d)
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
        # Ranking features (BM25 index, name verbs...): immutable, built once; their
        # vector matrix is the index's storage.
        self.features = features
        # Filter fast path (serve.filters): per value of status, author, cloud_provider and
        # resource_types the ascending rows holding it. The two list columns' are the
        # features' label rows (the same lists, built with the features or read from file).
        self.value_rows: dict[str, Mapping[str, np.ndarray]] = {
            **{c: _value_rows(table.column(c)) for c in SCALAR_VALUE_COLUMNS},
            "cloud_provider": features.provider_rows,
            "resource_types": features.resource_type_rows,
        }
        self.searchable_ids = union_rows(
            [self.value_rows["status"].get(s) for s in sorted(SEARCHABLE_STATUSES)]
        )
        self.filter_view: str | None = None  # its name in the shared DuckDB, once registered
        self._projections: dict[tuple[str, ...], pa.Table] = {}
        self.closed = False
        # Filtered subsets up to this many rows are scored exactly (serve.vector_search).
        self.exact_rows = exact_limit(self.rows)
        # What the score stage reads per row as arrays (serve.ranking).
        self.rank_columns: RankColumns = build_rank_columns(self)
        self.resident_bytes = self._estimate_bytes(vectors)

    def _estimate_bytes(self, vectors: np.ndarray) -> int:
        arrays = int(vectors.nbytes) + int(self.table.nbytes)
        arrays += sum(
            int(a.nbytes) for c in SCALAR_VALUE_COLUMNS for a in self.value_rows[c].values()
        )
        arrays += 3 * 8 * self.rows  # counts, timestamps
        return arrays + PYTHON_BYTES_PER_ROW * self.rows + FIXED_BYTES

    def filter_table(self) -> pa.Table:
        """The slim table DuckDB filters (``FILTER_COLUMNS`` + ``row_id``); built on use."""
        return self.table.select(list(FILTER_COLUMNS)).append_column(
            "row_id", pa.array(np.arange(self.rows, dtype=np.int64))
        )

    def query_row_ids(self, where: str, params: Sequence[Any]) -> np.ndarray:
        """Row ids (ascending int64) of ``SELECT ... WHERE <where>`` with bound ``params``
        over :meth:`filter_table`, evaluated by the process's shared DuckDB connection."""
        return FILTER_DB.row_ids(self, where, params)

    def selection(self, ids: np.ndarray) -> Selection:
        """``ids`` (ascending int64) as a :class:`Selection`; a FAISS selector only where
        the vector search may use one (more admitted rows than it scores exactly)."""
        wide = len(ids) == self.rows or len(ids) <= self.exact_rows
        return Selection(ids, None if wide else selector(ids, self.rows))

    def records(
        self, rows: Sequence[int], columns: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Rows as dicts, in the order given: ``columns`` of them (those the table has),
        or every Parquet column but the vector."""
        if not rows:
            return []
        table = self.table if columns is None else self._projection(tuple(columns))
        return list(table.take(pa.array(list(rows), type=pa.int64())).to_pylist())

    def _projection(self, columns: tuple[str, ...]) -> pa.Table:
        """The table with ``columns`` only (those it has), built once per column list."""
        found = self._projections.get(columns)
        if found is None:
            have = set(self.table.column_names)
            found = self.table.select([c for c in columns if c in have])
            self._projections[columns] = found  # zero-copy; a racing duplicate is harmless
        return found

    def close(self) -> None:
        """Release the DuckDB filter table; the collection stays readable (a request that
        still holds it filters through a temporary registration)."""
        self.closed = True
        FILTER_DB.unregister(self)


def load_collection(store: Store, ref: SnapshotRef, dimension: int) -> LoadedCollection:
    """Read and verify ``ref``; raises :class:`StoreError` (naming the file) on any fault."""
    # Every file is verified; columns the server never reads are not decoded (the vectors
    # are served from the index; the embedded text and provenance are for the indexer and
    # analysts, who read the Parquet itself): most of the decoding work.
    data = store.load_snapshot(ref, skip_columns=UNSERVED_COLUMNS)
    table = data.table
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
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
    if index.ntotal != table.num_rows:
        raise StoreError(
            f"{ref.path}: index.faiss holds {index.ntotal} vectors but metadata.parquet "
            f"has {table.num_rows} rows",
            file=ref.path,
        )
    if index.d != dimension:
        raise StoreError(
            f"{ref.path}: index.faiss is {index.d}-d, the manifest says {dimension}-d",
            file=ref.path,
        )
    vectors = index_vectors(index)
    precomputed = getattr(data, "features_bytes", None)  # the snapshot's features file
    features = collection_features(table, vectors, precomputed, where=ref.path)
    del data
    return LoadedCollection(ref, table, index, vectors, features)


def _value_rows(column: pa.ChunkedArray) -> dict[str, np.ndarray]:
    """value -> ascending row ids holding it, for a column of one string per row."""
    values = column.combine_chunks()
    rows = np.flatnonzero(np.asarray(values.is_valid().to_numpy(zero_copy_only=False)))
    if not len(rows):
        return {}
    names, codes = np.unique(
        np.asarray(values.drop_null().to_pylist(), dtype=object).astype(str), return_inverse=True
    )
    order = np.argsort(codes.reshape(-1), kind="stable")  # by value, rows ascending within
    bounds = np.searchsorted(codes.reshape(-1)[order], np.arange(len(names) + 1))
    ordered = rows[order]
    return {str(n): ordered[bounds[i] : bounds[i + 1]] for i, n in enumerate(names.tolist())}


def union_rows(parts: Sequence[np.ndarray | None]) -> np.ndarray:
    """Ascending distinct row ids in any of ``parts`` (each ascending; None = empty)."""
    present = [p for p in parts if p is not None and len(p)]
    if not present:
        return np.zeros(0, dtype=np.int64)
    if len(present) == 1:
        return present[0]
    return np.unique(np.concatenate(present))


def _int_array(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).fill_null(0).to_numpy(), dtype=np.int64)


def _epoch_array(table: pa.Table, name: str) -> np.ndarray:
    """Seconds since the epoch as float64 (as ``datetime.timestamp()`` gives them for the
    UTC timestamps the indexer writes); NaN where the timestamp is null."""
    micros = pc.cast(table.column(name).cast(pa.timestamp("us", tz="UTC")), pa.int64())
    values = micros.to_numpy()  # float64 with NaN where null, else int64
    return np.asarray(values, dtype=np.float64) / 1e6


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

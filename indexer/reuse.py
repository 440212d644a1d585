"""What a rebuilt collection takes from its parent snapshot, so cost follows change.

- a version folder whose listing fingerprint (every file's key, size, ETag/mtime) is the
  one the parent row recorded, built under the same validation rules and text version,
  is not read again: its whole row (metadata, script checksums, vector) is reused;
- a playbook whose embedded text is unchanged reuses its vector (keyed by content hash;
  the caller only reuses within one model identity).

An unreadable parent is not an error: it only costs re-reading and re-embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from indexer.crawl import VersionFolder
from indexer.errors import StoreError
from indexer.store import SnapshotRef, Store


@dataclass
class Previous:
    table: pa.Table | None = None
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    rows_by_uri: dict[str, int] = field(default_factory=dict)
    fingerprints: list[str] = field(default_factory=list)
    by_hash: dict[str, int] = field(default_factory=dict)

    def reusable_row(self, folder: VersionFolder) -> int | None:
        """The parent row for ``folder`` when nothing in the folder changed."""
        i = self.rows_by_uri.get(folder.uri)
        if i is None or self.fingerprints[i] != folder.fingerprint:
            return None
        return i

    def rows(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Parent rows as dicts (every column but ``vector``)."""
        if self.table is None or not indices:
            return []
        taken = self.table.take(pa.array(indices, type=pa.int64())).drop_columns(["vector"])
        return taken.to_pylist()

    def vector_for(self, content_hash: str) -> np.ndarray | None:
        i = self.by_hash.get(content_hash)
        return None if i is None else self.vectors[i]


def load_previous(
    store: Store,
    ref: SnapshotRef | None,
    *,
    dimension: int,
    rules_version: str,
    text_version: str,
) -> Previous:
    if ref is None or ref.rows == 0:
        return Previous()
    try:
        data = store.load_snapshot(ref)
    except StoreError:
        return Previous()
    table = data.table
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    if flat.size != table.num_rows * dimension:
        return Previous()  # another dimension: nothing is reusable
    vectors = flat.reshape(table.num_rows, dimension).astype(np.float32, copy=False)
    hashes = table.column("content_hash").to_pylist()
    prev = Previous(table=table, vectors=vectors, by_hash={h: i for i, h in enumerate(hashes)})
    same_rules = (
        data.description.get("rules_version") == rules_version
        and data.description.get("text_version") == text_version
    )
    if same_rules:
        prev.rows_by_uri = {u: i for i, u in enumerate(table.column("source_uri").to_pylist())}
        prev.fingerprints = table.column("source_fingerprint").to_pylist()
    return prev

"""A result built from the columns RESULT_COLUMNS names equals one built from the full row
(the record cache reads only those)."""

from __future__ import annotations

from pathlib import Path

from indexer.blobs import open_blobs
from indexer.store import Store
from serve.collection import load_collection
from serve.filters import NO_FILTERS
from serve.intent import parse_intent
from serve.responses import RESULT_COLUMNS, reason_for, static_parts


def test_result_columns_cover_everything_a_result_reads(indexed_store: Path) -> None:
    store = Store(open_blobs(str(indexed_store)))
    manifest = store.read_manifest(store.current().manifest_id or "")
    checked = 0
    for ref in manifest.collections.values():
        coll = load_collection(store, ref, manifest.model.dimension)
        rows = list(range(coll.rows))
        full, narrow = coll.records(rows), coll.records(rows, RESULT_COLUMNS)
        assert set(narrow[0]) == set(RESULT_COLUMNS)
        intent = parse_intent("stop rds instances", coll.features.vocabulary)
        for a, b in zip(full, narrow, strict=True):
            assert static_parts(a) == static_parts(b)
            for query in ("stop rds instances", "weekend shutdown"):
                assert reason_for(a, coll.name, NO_FILTERS, query, intent) == reason_for(
                    b, coll.name, NO_FILTERS, query, intent
                )
            checked += 1
    assert checked >= 5

"""The shared DuckDB: a collection's filter table is copied in on first use, dropped when
the collection is closed, and a closed collection still answers (temporarily registered)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexer.blobs import open_blobs
from indexer.store import Store
from serve.collection import load_collection
from serve.filter_db import FilterDB
from serve.filters import numpy_row_ids, parse_filters

WHERE = "list_has_any(cloud_provider, ?::VARCHAR[])"


def test_tables_live_while_their_collection_does(indexed_store: Path) -> None:
    store = Store(open_blobs(str(indexed_store)))
    manifest = store.read_manifest(store.current().manifest_id or "")
    coll = load_collection(store, manifest.collections["escher_library"], 384)
    db = FilterDB()
    expected = numpy_row_ids(coll, parse_filters({"cloud_provider": "aws"}, 10))
    # searchable rows only, as the filters module asks: compare on the provider alone
    first = db.row_ids(coll, WHERE, [["aws"]])
    assert db.registered() == 1 and coll.filter_view is not None
    assert np.array_equal(db.row_ids(coll, WHERE, [["aws"]]), first)
    assert set(expected.tolist()) <= set(first.tolist())
    name = coll.filter_view
    db.unregister(coll)
    assert db.registered() == 0 and coll.filter_view is None
    assert db._connection().execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]
    ).fetchone() == (0,)
    coll.closed = True  # evicted, but a request still holds it
    assert np.array_equal(db.row_ids(coll, WHERE, [["aws"]]), first)
    assert db.registered() == 0

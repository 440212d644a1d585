"""The one in-memory DuckDB connection that evaluates expressive search filters.

A collection's slim filter table (:meth:`serve.collection.LoadedCollection.filter_table`)
is copied into a DuckDB table on its first filter that needs DuckDB, and dropped when the
collection is evicted or closed; collections that are only ever
searched unfiltered or through the numpy fast path (:mod:`serve.filters`) never touch
DuckDB. One connection per process, not one per collection: registered views are
connection-local in DuckDB, so queries are serialised by a lock (they take ~a millisecond
and their results are cached by :class:`serve.filters.SelectionCache`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

if TYPE_CHECKING:
    from serve.collection import LoadedCollection

FILTER_TABLE = "playbooks"  # prefix of every registered view's name


class FilterDB:
    """Registers collections' filter tables lazily and answers ``WHERE`` queries on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._ids = itertools.count(1)
        self._views: dict[str, LoadedCollection] = {}

    def row_ids(self, coll: LoadedCollection, where: str, params: Sequence[Any]) -> np.ndarray:
        """Ascending int64 row ids of ``coll``'s rows matching ``where`` (``?`` bound to
        ``params``). A closed (evicted) collection that a request still holds is
        registered for this one query only."""
        with self._lock:
            con = self._connection()
            name = coll.filter_view
            temporary = name is None and coll.closed
            if name is None:
                name = f"{FILTER_TABLE}_{next(self._ids)}"
                if temporary:
                    con.register(name, coll.filter_table())
                else:
                    # Copied into DuckDB's own storage once: a registered Arrow view is
                    # converted again by every query (~15 ms for a 10k-row library's tag
                    # map), a native table is scanned in well under a millisecond.
                    con.register(f"{name}_arrow", coll.filter_table())
                    try:
                        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
                    finally:
                        con.unregister(f"{name}_arrow")
                    coll.filter_view = name
                    self._views[name] = coll
            try:
                sql = f"SELECT row_id FROM {name} WHERE {where} ORDER BY row_id"
                result = con.execute(sql, list(params)).fetchnumpy()
            finally:
                if temporary:
                    con.unregister(name)
        return np.ascontiguousarray(result["row_id"], dtype=np.int64)

    def unregister(self, coll: LoadedCollection) -> None:
        with self._lock:
            name = coll.filter_view
            if name is None:
                return
            coll.filter_view = None
            self._views.pop(name, None)
            if self._con is not None:
                self._con.execute(f"DROP TABLE IF EXISTS {name}")

    def registered(self) -> int:
        """How many collections have a filter table registered now."""
        with self._lock:
            return len(self._views)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect(":memory:")
        return self._con


# Process-wide: a DuckDB connection is infrastructure shared by every app and generation
# of the process (collections themselves live in serve.collection_cache.CollectionCache).
FILTER_DB = FilterDB()

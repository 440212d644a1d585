"""Full rows for the response, with a bounded cache in front of the Parquet table.

A result shows every column of its row (name, description, parameters, explain plan...).
Reading them is an Arrow ``take`` plus a conversion of ~40 columns to Python objects and
the parsing of the JSON columns, about as costly as the rest of the score stage; the rows
a search returns repeat a lot (popular playbooks answer many different queries), so the
prepared rows (the record and :func:`serve.responses.static_parts`) are kept in one
process-wide LRU keyed by (snapshot, row). Snapshots are immutable, so an entry never goes
stale; a row of a snapshot that is no longer served simply ages out.

Cached rows are shared between requests and responses: read-only once prepared.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

RECORD_CACHE_ROWS = 4096  # ~5-10 KB each: a few tens of MB at most

Record = Any  # whatever the fetch function prepares for one row


class RecordCache:
    def __init__(self, capacity: int = RECORD_CACHE_ROWS) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[Hashable, int], Record] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def rows(
        self,
        snapshot: Hashable,
        rows: Sequence[int],
        fetch: Callable[[list[int]], list[Record]],
    ) -> list[Record]:
        """The records of ``rows`` of ``snapshot`` (its identity: a collection's
        :attr:`~serve.collection.LoadedCollection.key`) in order; ``fetch`` reads the
        missing ones (one call, rows in the order given)."""
        found: dict[int, Record] = {}
        with self._lock:
            for r in rows:
                rec = self._items.get((snapshot, r))
                if rec is not None:
                    self._items.move_to_end((snapshot, r))
                    found[r] = rec
            self.hits += len(found)
        missing = [r for r in dict.fromkeys(rows) if r not in found]
        if missing:
            fetched = fetch(missing)
            with self._lock:
                self.misses += len(missing)
                for r, rec in zip(missing, fetched, strict=True):
                    found[r] = rec
                    if self.capacity > 0:
                        self._items[(snapshot, r)] = rec
                while len(self._items) > self.capacity:
                    self._items.popitem(last=False)
        return [found[r] for r in rows]

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


RECORDS = RecordCache()

"""Loaded collections shared by every generation of a server, within a memory budget.

:class:`CollectionCache` maps a snapshot's identity (:func:`snapshot_key`: collection,
snapshot id, every file's checksum, dimension) to its
:class:`~serve.collection.LoadedCollection`. Contract:

- :meth:`CollectionCache.get` returns the cached collection or loads it (verifying it, as
  :func:`serve.collection.load_collection` does). Single flight: concurrent requests for
  the same cold snapshot wait for one load; loads of other snapshots and cache hits are
  not blocked. A load that fails raises :class:`CollectionUnavailable` (HTTP 503, the
  store error's code, the file in the message) to every waiter; nothing is cached, so
  the next request tries again.
- Pinned snapshots (a generation's library collections, :meth:`pin`) are never evicted.
  After each load, least-recently-used unpinned collections are evicted while the
  estimated resident bytes exceed the budget (the newest load itself stays, even when it
  alone exceeds it). Eviction only drops the cache's reference: a request holding the
  collection keeps using it.
- Selections (:class:`SelectionCache`, keyed by snapshot identity + canonical filter)
  are dropped with their collection.

One cache lives on ``app.state.collection_cache`` (created by :mod:`serve.poller`); a
generation loaded without one (local search, tests) gets a private one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import Any

from indexer.errors import PlaybookError, StoreError
from indexer.store import SnapshotRef, Store
from serve.collection import (
    LoadedCollection,
    Selection,
    SnapshotKey,
    load_collection,
    planned_bytes,
    snapshot_key,
)
from serve.metrics import Metrics

log = logging.getLogger("serve.collections")

MIB = 1024 * 1024
DEFAULT_BUDGET_MB = 2048
SELECTION_CACHE_BYTES = 64 * MIB
SELECTION_CACHE_SIZE = 4096

Loader = Callable[[Store, SnapshotRef, int], LoadedCollection]


class CollectionUnavailable(PlaybookError):
    """A collection a request needs could not be loaded from the store (HTTP 503).

    ``code`` is the store error's (``checksum_mismatch``, ``store_error``...); the message
    names the file. The rest of the server keeps serving."""

    status = 503

    def __init__(self, collection: str, cause: PlaybookError) -> None:
        super().__init__(
            f"collection {collection} cannot be served right now: {cause.message}",
            collection=collection,
            **cause.details,
        )
        self.code = cause.code


class SelectionCache:
    """A bounded LRU of (snapshot key, canonical filter) -> :class:`Selection`: at most
    ``max_bytes`` of estimated selection memory and ``size`` entries."""

    def __init__(self, max_bytes: int = SELECTION_CACHE_BYTES, size: int = SELECTION_CACHE_SIZE):
        self.max_bytes = max_bytes
        self.size = size
        self._items: OrderedDict[tuple[Any, str], Selection] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: tuple[Any, str], compute: Callable[[], Selection]) -> Selection:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        value = compute()  # outside the lock: a slow query must not block cache hits
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old.nbytes
            self._items[key] = value
            self.bytes += value.nbytes
            while len(self._items) > 1 and (
                len(self._items) > self.size or self.bytes > self.max_bytes
            ):
                _, dropped = self._items.popitem(last=False)
                self.bytes -= dropped.nbytes
        return value

    def discard(self, snapshot: Any) -> None:
        """Forget every selection of one snapshot (its collection was evicted)."""
        with self._lock:
            for key in [k for k in self._items if k[0] == snapshot]:
                self.bytes -= self._items.pop(key).nbytes

    def __len__(self) -> int:
        return len(self._items)


class CollectionCache:
    """See the module docstring. Thread-safe."""

    def __init__(
        self,
        budget_bytes: int = DEFAULT_BUDGET_MB * MIB,
        metrics: Metrics | None = None,
        loader: Loader = load_collection,
    ) -> None:
        self.budget_bytes = budget_bytes
        self.metrics = metrics
        self.loader = loader
        self.selections = SelectionCache()
        self._lock = threading.Lock()
        self._items: OrderedDict[SnapshotKey, LoadedCollection] = OrderedDict()
        self._loading: dict[SnapshotKey, Future[LoadedCollection]] = {}
        self._pins: dict[SnapshotKey, int] = {}
        self._live: set[SnapshotKey] | None = None  # the live manifest's (see retain)
        self.resident_bytes = 0
        self.loads = 0
        self.load_failures = 0
        self.evictions = 0
        self.hits = 0
        self._publish()

    def get(
        self, store: Store, ref: SnapshotRef, dimension: int, *, evict: bool = True
    ) -> LoadedCollection:
        """The loaded collection for ``ref``; loads it on a miss (see the module docstring).
        ``evict=False``: a load does not evict (pre-loading before a swap). Raises
        :class:`CollectionUnavailable` when it cannot be loaded."""
        key = snapshot_key(ref, dimension)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
            pending = self._loading.get(key)
            owner = pending is None
            if pending is None:
                pending = self._loading[key] = Future()
        if not owner:
            return pending.result()  # another thread is loading it: share its outcome
        try:
            coll = self._load(store, ref, dimension)
        except BaseException as exc:
            with self._lock:
                del self._loading[key]
            pending.set_exception(exc)
            raise
        with self._lock:
            del self._loading[key]
            self._items[key] = coll
            self.resident_bytes += coll.resident_bytes
            evicted = self._evict_over_budget(keep=key) if evict else []
        pending.set_result(coll)
        self._retire(evicted)
        return coll

    def _load(self, store: Store, ref: SnapshotRef, dimension: int) -> LoadedCollection:
        started = time.perf_counter()
        try:
            coll = self.loader(store, ref, dimension)
        except Exception as exc:
            error = (
                exc
                if isinstance(exc, PlaybookError)
                else StoreError(f"{ref.path}: loading failed: {exc}", file=ref.path)
            )
            with self._lock:
                self.load_failures += 1
            if self.metrics is not None:
                self.metrics.collection_load_failures.inc(reason=error.code)
            log.error(
                "collection %s failed to load: %s",
                ref.collection,
                error.message,
                exc_info=not isinstance(exc, PlaybookError),
                extra={
                    "event": "collection_load_failed",
                    "collection": ref.collection,
                    "snapshot_id": ref.snapshot_id,
                    "error": error.to_dict(),
                },
            )
            raise CollectionUnavailable(ref.collection, error) from exc
        seconds = time.perf_counter() - started
        with self._lock:
            self.loads += 1
        if self.metrics is not None:
            self.metrics.collection_loads.inc()
            self.metrics.collection_load_seconds.observe(seconds)
        log.debug(
            "loaded collection %s",
            ref.collection,
            extra={
                "event": "collection_loaded",
                "collection": ref.collection,
                "snapshot_id": ref.snapshot_id,
                "rows": coll.rows,
                "resident_mb": round(coll.resident_bytes / MIB, 1),
                "load_ms": round(seconds * 1000, 1),
            },
        )
        return coll

    def _evict_over_budget(self, keep: SnapshotKey | None = None) -> list[LoadedCollection]:
        """Drop LRU unpinned entries (never ``keep``) while over budget; lock held."""
        evicted = []
        for key in list(self._items):
            if self.resident_bytes <= self.budget_bytes:
                break
            if key == keep or self._pins.get(key):
                continue
            evicted.append(self._drop(key))
        return evicted

    def _drop(self, key: SnapshotKey) -> LoadedCollection:
        coll = self._items.pop(key)
        self.resident_bytes -= coll.resident_bytes
        self.evictions += 1
        return coll

    def _retire(self, evicted: Iterable[LoadedCollection]) -> None:
        """Outside the lock: release what evicted collections hold beyond plain memory."""
        n = 0
        for coll in evicted:
            n += 1
            self.selections.discard(coll.key)
            coll.close()
        if n and self.metrics is not None:
            self.metrics.collection_evictions.inc(n)
        self._publish()

    def pin(self, ref: SnapshotRef, dimension: int) -> None:
        key = snapshot_key(ref, dimension)
        with self._lock:
            self._pins[key] = self._pins.get(key, 0) + 1

    def unpin(self, ref: SnapshotRef, dimension: int) -> None:
        key = snapshot_key(ref, dimension)
        with self._lock:
            left = self._pins.get(key, 0) - 1
            if left > 0:
                self._pins[key] = left
            else:
                self._pins.pop(key, None)
            evicted = self._evict_over_budget()
            if (
                left <= 0
                and self._live is not None
                and key not in self._live
                and key in self._items
            ):  # a retired generation's library: no live manifest names it
                evicted.append(self._drop(key))
        self._retire(evicted)

    def peek(self, ref: SnapshotRef, dimension: int) -> LoadedCollection | None:
        """The cached collection for ``ref`` without loading it or touching its recency."""
        with self._lock:
            return self._items.get(snapshot_key(ref, dimension))

    def loaded_names(self) -> list[str]:
        """Names of the cached collections, most recently used first."""
        with self._lock:
            return [k[0] for k in reversed(self._items)]

    def warm(self, store: Store, refs: Mapping[str, SnapshotRef], dimension: int) -> int:
        """Before a swap to the manifest naming ``refs``: pre-load, most recently used
        first, its snapshots of collections that are loaded now in another version, while
        the budget has room once the snapshots it no longer names are gone. Evicts
        nothing (the live generation still uses what is loaded; :meth:`retain` after the
        swap restores the budget). A snapshot that fails is skipped (its requests will
        say why). Returns how many were loaded."""
        keep = {snapshot_key(r, dimension) for r in refs.values()}
        loaded = 0
        for name in dict.fromkeys(self.loaded_names()):
            ref = refs.get(name)
            if ref is None or self.peek(ref, dimension) is not None:
                continue
            with self._lock:
                staying = sum(
                    c.resident_bytes
                    for k, c in self._items.items()
                    if k in keep or self._pins.get(k)
                )
            if staying + planned_bytes(ref) > self.budget_bytes:
                continue
            try:
                self.get(store, ref, dimension, evict=False)
            except CollectionUnavailable:
                continue
            loaded += 1
        return loaded

    def retain(self, refs: Iterable[SnapshotRef], dimension: int) -> int:
        """After a swap to the manifest naming ``refs``: evict every unpinned entry it
        does not name (a pinned one goes when its generation unpins it), then evict over
        the budget. Returns how many were evicted."""
        keep = {snapshot_key(r, dimension) for r in refs}
        with self._lock:
            self._live = keep
            evicted = [
                self._drop(k) for k in list(self._items) if k not in keep and not self._pins.get(k)
            ]
            evicted += self._evict_over_budget()
        self._retire(evicted)
        return len(evicted)

    def stats(self) -> dict[str, Any]:
        """What ``/readyz`` reports about the cache."""
        with self._lock:
            return {
                "loaded": len(self._items),
                "pinned": sum(1 for k in self._items if self._pins.get(k)),
                "resident_mb": round(self.resident_bytes / MIB, 1),
                "budget_mb": round(self.budget_bytes / MIB, 1),
                "loads": self.loads,
                "load_failures": self.load_failures,
                "evictions": self.evictions,
                "hits": self.hits,
            }

    def close(self) -> None:
        """Evict everything (pins included)."""
        with self._lock:
            evicted = [self._drop(k) for k in list(self._items)]
            self._pins.clear()
        self._retire(evicted)

    def _publish(self) -> None:
        if self.metrics is None:
            return
        with self._lock:
            n, resident = len(self._items), self.resident_bytes
        self.metrics.collections_loaded.set(n)
        self.metrics.collections_resident_bytes.set(resident)
        self.metrics.collections_budget_bytes.set(self.budget_bytes)

"""Hot swap: load a manifest beside the live one, swap it in as one reference, retire the old.

The live :class:`~serve.generation.Generation` is ``app.state.generation``. Contract:

- :func:`load_manifest` loads a manifest (:func:`serve.generation.load_generation`: model
  identity, then the library collection(s) verified: checksums, row counts) while the old
  generation keeps serving, pre-loads the new versions of the tenant collections loaded
  now (the warm set, within the memory budget), then swaps it in with one assignment
  (:func:`swap_generation`) and lets the collection cache drop the snapshots no live
  manifest names. Unchanged snapshots are reused from the cache (no re-read, no
  re-verify): :func:`collection_cache` is the one per app. A manifest that fails to load
  is logged (event ``generation_load_failed``), counted
  (``playbooks_generation_load_failures_total{reason}``), recorded on ``app.state``
  (``last_load_error``, ``failed_manifest_id``: ``/readyz`` shows them) and the old
  generation keeps serving.
- Requests take the live generation through :meth:`InFlight.use`; a retired generation is
  closed only when the last request that took it has finished.
- :class:`ManifestPoller` checks the store's CURRENT every ``poll_seconds`` with a cheap
  tag read (stat / HEAD); only when the tag changed does it read CURRENT and, when CURRENT
  names another manifest than the live one, load it. A manifest that failed is not retried
  until CURRENT changes again or ``retry_seconds`` have passed. Store errors while polling
  are logged and the next tick tries again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from indexer.errors import PlaybookError, StoreError
from indexer.store import Store
from serve.collection_cache import MIB, CollectionCache
from serve.generation import Generation, load_generation
from serve.metrics import Metrics
from serve.query_models import query_embedder_for

log = logging.getLogger("serve.generation")


class InFlight:
    """Counts the requests using each generation; closes a retired one after the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}
        self._retired: dict[int, Generation] = {}

    @contextmanager
    def use(self, app: Starlette) -> Iterator[Generation | None]:
        """The live generation (read once), held until the ``with`` block ends."""
        with self._lock:
            generation: Generation | None = app.state.generation
            if generation is not None:
                self._counts[id(generation)] = self._counts.get(id(generation), 0) + 1
        try:
            yield generation
        finally:
            if generation is not None:
                self._release(generation)

    def _release(self, generation: Generation) -> None:
        key = id(generation)
        with self._lock:
            left = self._counts[key] - 1
            if left:
                self._counts[key] = left
                return
            del self._counts[key]
            retired = self._retired.pop(key, None)
        if retired is not None:
            _close(retired)

    def retire(self, generation: Generation) -> None:
        """Close ``generation`` now if no request holds it, else when the last one ends.

        Call after it stopped being live (a request can no longer take it)."""
        with self._lock:
            if self._counts.get(id(generation)):
                self._retired[id(generation)] = generation
                return
        _close(generation)

    def held(self) -> int:
        with self._lock:
            return sum(self._counts.values())


def _close(generation: Generation) -> None:
    try:
        generation.close()
    except Exception:
        log.exception("closing generation %s failed", generation.manifest_id)


def swap_generation(app: Starlette, generation: Generation | None) -> Generation | None:
    """Make ``generation`` the live one; returns the previous (still used by in-flight
    requests, so the caller must not close it before they finish: see :class:`InFlight`)."""
    previous: Generation | None = app.state.generation
    app.state.generation = generation
    if generation is not None:
        app.state.load_error = None
    return previous


_CACHE_LOCK = threading.Lock()


def collection_cache(app: Starlette) -> CollectionCache:
    """The app's collection cache (created on first use, budget ``memory_budget_mb``)."""
    state = app.state
    with _CACHE_LOCK:
        cache: CollectionCache | None = getattr(state, "collection_cache", None)
        if cache is None:
            budget = int(state.settings.memory_budget_mb) * MIB
            cache = state.collection_cache = CollectionCache(budget, metrics=state.metrics)
    return cache


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def load_manifest(app: Starlette, manifest_id: str, *, initial: bool = False) -> bool:
    """Load ``manifest_id`` beside the live generation and swap it in; True on success.

    Blocking (reads and verifies every file): call it from a worker thread. Never raises
    for a bad manifest or store: the failure is recorded and the live generation stays.
    """
    state = app.state
    store: Store = state.store
    metrics: Metrics = state.metrics
    started = time.perf_counter()
    cache = collection_cache(app)
    try:
        embedder = query_embedder_for(state, manifest_id)  # the manifest's model, or torch
        generation = load_generation(store, manifest_id, embedder.identity, cache)
        generation.query_embedder = embedder
    except Exception as exc:
        error = (
            exc
            if isinstance(exc, PlaybookError)
            else StoreError(f"loading manifest {manifest_id} failed: {exc}")
        )
        record_load_failure(app, manifest_id, error, exc_info=not isinstance(exc, PlaybookError))
        return False
    warmed = cache.warm(store, generation.manifest.collections, generation.dimension)
    load_ms = round((time.perf_counter() - started) * 1000, 1)
    previous = swap_generation(app, generation)
    cache.retain(generation.manifest.collections.values(), generation.dimension)
    state.failed_manifest_id = None
    state.last_load_error = None
    if not initial:
        metrics.swaps.inc()
    if previous is not None:
        state.in_flight.retire(previous)
    log.info(
        "serving manifest %s",
        manifest_id,
        extra={
            "event": "generation_loaded" if previous is None else "generation_swap",
            "manifest_id": manifest_id,
            "previous_manifest_id": previous.manifest_id if previous else None,
            "load_ms": load_ms,
            "collections": generation.row_counts(),
            "loaded": generation.loaded(),
            "warmed": warmed,
        },
    )
    return True


def record_load_failure(
    app: Starlette, manifest_id: str | None, error: PlaybookError, *, exc_info: bool = False
) -> None:
    """Log, count and remember a manifest that could not be loaded."""
    state = app.state
    live: Generation | None = state.generation
    state.metrics.load_failures.inc(reason=error.code)
    state.failed_manifest_id = manifest_id
    state.last_load_error = {
        "manifest_id": manifest_id,
        "at": _utc_now(),
        "error": error.to_dict(),
    }
    if live is None:
        state.load_error = error
    log.error(
        "manifest %s failed to load; %s",
        manifest_id,
        f"still serving {live.manifest_id}" if live else "nothing is served",
        exc_info=exc_info,
        extra={
            "event": "generation_load_failed",
            "manifest_id": manifest_id,
            "serving_manifest_id": live.manifest_id if live else None,
            "error": error.to_dict(),
        },
    )


class ManifestPoller:
    """Follows the store's CURRENT; see the module docstring."""

    def __init__(self, app: Starlette, interval: float, retry_seconds: float) -> None:
        self.app = app
        self.interval = interval
        self.retry_seconds = retry_seconds
        self._seen_tag: str | None = None
        # A manifest that failed at start-up waits for the same backoff as any other.
        self._failed_at: float | None = time.monotonic() if app.state.failed_manifest_id else None
        self._last_error: str | None = None
        self.ticks = 0

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.tick()

    async def tick(self) -> None:
        """One check of CURRENT; loads and swaps when it names a new manifest."""
        self.ticks += 1
        store: Store = self.app.state.store
        try:
            tag = await run_in_threadpool(store.current_tag)
            if tag == self._seen_tag and not self._retry_due():
                return
            pointer = await run_in_threadpool(store.current)
        except Exception as exc:  # a flaky store: say so once, try again next tick
            message = str(getattr(exc, "message", exc))
            if message != self._last_error:
                log.warning(
                    "cannot read CURRENT: %s",
                    message,
                    extra={"event": "poll_failed", "store": store.uri},
                )
            self._last_error = message
            return
        self._last_error = None
        self._seen_tag = pointer.tag
        manifest_id = pointer.manifest_id
        live: Generation | None = self.app.state.generation
        if manifest_id is None or (live is not None and live.manifest_id == manifest_id):
            return
        if manifest_id == self.app.state.failed_manifest_id and not self._retry_due():
            return
        ok = await run_in_threadpool(load_manifest, self.app, manifest_id)
        self._failed_at = None if ok else time.monotonic()

    def _retry_due(self) -> bool:
        return (
            self._failed_at is not None
            and self.retry_seconds > 0
            and time.monotonic() - self._failed_at >= self.retry_seconds
        )


def readiness_details(app: Starlette) -> dict[str, Any]:
    """What ``/readyz`` adds: the collection cache (``collections_loaded``: names in
    memory, ``memory``: resident MB, budget, loads, evictions...) once one exists, and
    the last failed load (when there is one)."""
    state = app.state
    details: dict[str, Any] = {}
    cache: CollectionCache | None = getattr(state, "collection_cache", None)
    if cache is not None:
        generation: Generation | None = state.generation
        if generation is not None:
            details["collections_loaded"] = generation.loaded()
        details["memory"] = cache.stats()
    if state.last_load_error is not None:
        details["failed_manifest_id"] = state.failed_manifest_id
        details["last_load_error"] = state.last_load_error
    return details

"""One loaded manifest: the library collections at once, tenant collections on first use.

:func:`load_generation` reads a manifest, checks its model identity against the
embedder's, and loads (verifying checksums, row counts and dimension:
:func:`serve.collection.load_collection`) and pins its library collection(s), reusing
any snapshot the :class:`~serve.collection_cache.CollectionCache` already holds; it
returns a ready :class:`Generation` or raises :class:`~indexer.errors.StoreError`,
never a generation without its library. Tenant collections load on first use
(:meth:`Generation.collection`) and are evicted least-recently-used under the cache's
memory budget; a tenant that fails to load fails only the requests that need it
(:class:`~serve.collection_cache.CollectionUnavailable`, 503).

A generation is read-only once built, so concurrent requests share it; the app swaps the
live one as one reference and in-flight requests finish on the one they started with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from indexer.errors import StoreError
from indexer.model import LIBRARY_COLLECTION
from indexer.store import Manifest, ModelIdentity, Store
from serve.collection import FILTER_COLUMNS, LoadedCollection, Selection
from serve.collection_cache import CollectionCache, SelectionCache
from serve.filter_db import FILTER_TABLE

__all__ = [
    "FILTER_COLUMNS",
    "FILTER_TABLE",
    "Generation",
    "LoadedCollection",
    "Selection",
    "is_library",
    "load_generation",
]


def is_library(name: str) -> bool:
    """Library collections are loaded with the manifest and never evicted."""
    return name == LIBRARY_COLLECTION


@dataclass
class Generation:
    """A verified manifest with its library loaded. Read-only after :func:`load_generation`."""

    manifest: Manifest
    store: Store
    cache: CollectionCache
    loaded_at: float = field(default_factory=time.time)
    owns_cache: bool = False  # a private cache (no server): closed with the generation
    closed: bool = False
    # The embedder this manifest's queries must use (serve.query_models); None: the app's.
    query_embedder: Any = None

    @property
    def manifest_id(self) -> str:
        return self.manifest.manifest_id

    @property
    def dimension(self) -> int:
        return self.manifest.model.dimension

    @property
    def selections(self) -> SelectionCache:
        return self.cache.selections

    def collection(self, name: str) -> LoadedCollection | None:
        """``name``'s collection (loaded now if it is not in memory), or None when the
        manifest has no such collection. Raises
        :class:`~serve.collection_cache.CollectionUnavailable` when it cannot be loaded."""
        ref = self.manifest.collections.get(name)
        if ref is None:
            return None
        return self.cache.get(self.store, ref, self.dimension)

    def row_counts(self) -> dict[str, int]:
        """Rows per collection, from the manifest (nothing is loaded)."""
        return {name: ref.rows for name, ref in sorted(self.manifest.collections.items())}

    def loaded(self) -> list[str]:
        """The manifest's collections in memory now (sorted)."""
        return sorted(
            name
            for name, ref in self.manifest.collections.items()
            if self.cache.peek(ref, self.dimension) is not None
        )

    def close(self) -> None:
        """Unpin the library (the cache may evict it once no generation pins it)."""
        if self.closed:
            return
        self.closed = True
        for name, ref in self.manifest.collections.items():
            if is_library(name):
                self.cache.unpin(ref, self.dimension)
        if self.owns_cache:
            self.cache.close()


def load_generation(
    store: Store,
    manifest_id: str,
    expected_model: ModelIdentity,
    cache: CollectionCache | None = None,
) -> Generation:
    """Read ``manifest_id``, check its model, load and pin its library collection(s).

    ``cache`` holds collections across generations (a server's); without one the
    generation gets a private cache with the default budget. Raises, never half-loads."""
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
    owns = cache is None
    cache = cache if cache is not None else CollectionCache()
    dimension = manifest.model.dimension
    pinned = []
    try:
        for name, ref in sorted(manifest.collections.items()):
            if is_library(name):
                cache.pin(ref, dimension)  # before loading: the load must not evict it
                pinned.append(ref)
                cache.get(store, ref, dimension)
    except BaseException as exc:
        for ref in pinned:
            cache.unpin(ref, dimension)
        if owns:
            cache.close()
        cause = getattr(exc, "__cause__", None)
        if isinstance(cause, StoreError):  # the store's own error (checksum, missing file)
            raise cause from None
        raise
    return Generation(manifest, store, cache, owns_cache=owns)


def _describe(model: ModelIdentity) -> str:
    return f"{model.name} ({model.dimension}-d, weights sha256 {model.weights_sha256[:12]}…)"

"""Search a store without a server (``playbooks search``, ``playbooks eval``).

Uses exactly the server's search path: the same request validation
(:func:`serve.request.parse_search_request`), the same generation loading and checks
(:func:`serve.generation.load_generation`) and :func:`serve.search.run_search`.
"""

from __future__ import annotations

from typing import Any

from indexer.blobs import open_blobs
from indexer.embed import Embedder
from indexer.errors import NotReady
from indexer.model import is_valid_tenant
from indexer.settings import Settings
from indexer.store import Store
from serve.generation import Generation, load_generation
from serve.request import parse_search_request
from serve.search import run_search

# Searching "as no tenant" reads the library only: this tenant id can never have a
# collection because tenant ids must start with a letter or digit.
LIBRARY_ONLY = "-library-only"


class LocalSearcher:
    """A loaded generation plus an embedder, answering request bodies as the server does."""

    def __init__(self, settings: Settings, embedder: Any = None) -> None:
        self.settings = settings
        self.store = Store(open_blobs(settings.store, settings.endpoint_url))
        self.embedder = embedder if embedder is not None else Embedder(settings.model_path)
        manifest_id = settings.manifest or self.store.current().manifest_id
        if manifest_id is None:
            raise NotReady(f"the store {self.store.uri} has no manifests/CURRENT yet; run "
                           "`playbooks index` first", store=self.store.uri)
        self.generation: Generation = load_generation(
            self.store, manifest_id, self.embedder.identity)

    def search(self, body: dict[str, Any], tenant: str | None = None) -> dict[str, Any]:
        if tenant is not None and not is_valid_tenant(tenant):
            from indexer.errors import InvalidParameter

            raise InvalidParameter(f"tenant {tenant!r} is not a valid tenant id",
                                   field="tenant")
        request = parse_search_request(body, self.settings)
        return run_search(self.generation, self.embedder, request, tenant or LIBRARY_ONLY)

    def close(self) -> None:
        self.generation.close()


def search_store(settings: Settings, body: dict[str, Any], tenant: str | None = None
                 ) -> dict[str, Any]:
    """One search against the store's live (or pinned) manifest."""
    searcher = LocalSearcher(settings)
    try:
        return searcher.search(body, tenant)
    finally:
        searcher.close()

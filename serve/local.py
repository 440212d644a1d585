"""Search a store without a server (``playbooks search``, ``playbooks eval``).

Uses exactly the server's search path: the same request validation
(:func:`serve.request.parse_search_request`), the same generation loading and checks
(:func:`serve.generation.load_generation`) and :func:`serve.search.run_search`, then the
optional LLM pass (:mod:`serve.rerank_step`) when a body says ``"rerank": true`` and
``PLAYBOOKS_LLM_*`` configure a provider. The searcher is synchronous: the pass runs on
an event loop the searcher keeps (its HTTP client is bound to one loop) until ``close``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from indexer.blobs import open_blobs
from indexer.errors import NotReady
from indexer.model import is_valid_tenant
from indexer.settings import Settings
from indexer.store import Store
from serve.generation import Generation, load_generation
from serve.llm import LLMPass, PassOutcome
from serve.query_models import LazyTorchEmbedder, QueryModels
from serve.request import SearchRequest, parse_search_request
from serve.rerank_step import (
    apply_llm_pass,
    extract_llm_intent,
    mark_intent,
    mark_skipped,
    remaining_budget,
    skip_reason,
)
from serve.runtime import single_threaded_math
from serve.search import run_search

# Searching "as no tenant" reads the library only: this tenant id can never have a
# collection because tenant ids must start with a letter or digit.
LIBRARY_ONLY = "-library-only"


class LocalSearcher:
    """A loaded generation plus an embedder, answering request bodies as the server does.

    ``embedder`` is the torch side (default: the configured model, loaded only if needed);
    ``self.embedder`` is the one the manifest is searched with, chosen as the server
    chooses (:mod:`serve.query_models`: its ONNX query model under ``auto``)."""

    def __init__(self, settings: Settings, embedder: Any = None) -> None:
        single_threaded_math()  # as the server does
        self.settings = settings
        self.store = Store(open_blobs(settings.store, settings.endpoint_url))
        torch = (
            embedder
            if embedder is not None
            else LazyTorchEmbedder(settings.model_path, settings.embed_batch_size)
        )
        self.query_models = QueryModels.from_settings(settings, self.store, torch)
        manifest_id = settings.manifest or self.store.current().manifest_id
        if manifest_id is None:
            raise NotReady(
                f"the store {self.store.uri} has no manifests/CURRENT yet; run "
                "`playbooks index` first",
                store=self.store.uri,
            )
        self.embedder = self.query_models.for_manifest(self.store.read_manifest(manifest_id))
        self.generation: Generation = load_generation(
            self.store, manifest_id, self.embedder.identity
        )
        self.generation.query_embedder = self.embedder
        self.llm: LLMPass | None = LLMPass.from_settings(settings)
        self._loop: asyncio.Runner | None = None

    def search(self, body: dict[str, Any], tenant: str | None = None) -> dict[str, Any]:
        if tenant is not None and not is_valid_tenant(tenant):
            from indexer.errors import InvalidParameter

            raise InvalidParameter(f"tenant {tenant!r} is not a valid tenant id", field="tenant")
        request = parse_search_request(body, self.settings)
        who = tenant or LIBRARY_ONLY
        started = time.perf_counter()
        llm_intent, intent_outcome = self.intent(request)
        response = run_search(self.generation, self.embedder, request, who, llm_intent=llm_intent)
        mark_intent(response, intent_outcome)
        budget_s = remaining_budget(self.settings.llm_budget_seconds, started)
        return self.rerank(response, request, who, budget_s=budget_s)

    def intent(self, request: SearchRequest) -> tuple[dict[str, Any] | None, PassOutcome]:
        """The optional LLM intent pass for ``request`` (:func:`extract_llm_intent`)."""
        skipped = skip_reason(request, self.llm)
        if skipped is not None:
            return None, skipped
        if self._loop is None:
            self._loop = asyncio.Runner()
        return self._loop.run(
            extract_llm_intent(request, self.llm, budget_s=self.settings.llm_budget_seconds)
        )

    def rerank(
        self,
        response: dict[str, Any],
        request: SearchRequest,
        tenant: str,
        *,
        budget_s: float | None = None,
    ) -> dict[str, Any]:
        """``response`` (``run_search``'s for ``request``) after the optional LLM re-rank,
        within ``budget_s`` (default: the whole LLM budget)."""
        skipped = skip_reason(request, self.llm)
        if skipped is not None:
            return mark_skipped(response, skipped)
        if self._loop is None:
            self._loop = asyncio.Runner()
        return self._loop.run(
            apply_llm_pass(
                response,
                request,
                self.llm,
                manifest_id=self.generation.manifest_id,
                tenant=tenant,
                budget_s=self.settings.llm_budget_seconds if budget_s is None else budget_s,
            )
        )

    def close(self) -> None:
        try:
            if self.llm is not None:
                if self._loop is None:
                    self._loop = asyncio.Runner()
                self._loop.run(self.llm.aclose())
            if self._loop is not None:
                self._loop.close()
        finally:
            self.generation.close()


def search_store(
    settings: Settings, body: dict[str, Any], tenant: str | None = None
) -> dict[str, Any]:
    """One search against the store's live (or pinned) manifest."""
    searcher = LocalSearcher(settings)
    try:
        return searcher.search(body, tenant)
    finally:
        searcher.close()

"""The search path: one query against the library and the caller's tenant collection.

``run_search`` embeds the query once, then for ``escher_library`` and
``tenant_<tenant>_playbooks`` only (never another tenant's collection): filtered row ids
(:mod:`serve.filters`) -> exact FAISS search restricted to them ->
candidates; then every candidate is scored and ordered (:mod:`serve.scoring`) and the top
``limit`` are shaped (:mod:`serve.responses`). A collection the manifest does not name (a
tenant with no playbooks yet) contributes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from indexer.model import LIBRARY_COLLECTION, tenant_collection
from serve.filters import select_rows
from serve.generation import Generation, LoadedCollection
from serve.request import SearchRequest
from serve.responses import shape_result
from serve.scoring import Candidate, rank

MIN_CANDIDATES = 20
CANDIDATES_PER_RESULT = 4


class QueryEmbedder(Protocol):
    def embed_one(self, text: str) -> np.ndarray: ...


def searched_collections(tenant: str) -> tuple[str, str]:
    """The only collections a tenant's search reads."""
    return (LIBRARY_COLLECTION, tenant_collection(tenant))


def _candidates(coll: LoadedCollection, hits: list[tuple[int, float]]) -> list[Candidate]:
    return [
        Candidate(
            collection=coll.name,
            row=row,
            similarity=sim,
            playbook_id=coll.playbook_ids[row],
            version=coll.versions[row],
            status=coll.statuses[row],
            author=coll.authors[row],
            execution_count=int(coll.execution_counts[row]),
            success_count=int(coll.success_counts[row]),
            updated_at=float(coll.updated_at[row]),
        )
        for row, sim in hits
    ]


def run_search(
    generation: Generation,
    embedder: QueryEmbedder,
    request: SearchRequest,
    tenant: str,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The response body of one search (see :mod:`serve.responses` for a result's shape)."""
    started = time.perf_counter()
    query_vector = embedder.embed_one(request.query)
    k = max(request.limit * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
    candidates: list[Candidate] = []
    total = 0
    loaded: dict[str, LoadedCollection] = {}
    for name in searched_collections(tenant):
        coll = generation.collection(name)
        if coll is None:
            continue
        loaded[name] = coll
        selection = select_rows(generation, coll, request.filters)
        total += len(selection)
        candidates.extend(_candidates(coll, coll.search(query_vector, k, selection)))
    top = rank(candidates, clock())[: request.limit]
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for name, coll in loaded.items():
        rows = [s.candidate.row for s in top if s.candidate.collection == name]
        records.update(((name, r), rec) for r, rec in zip(rows, coll.records(rows), strict=True))
    results = [
        shape_result(
            i,
            s,
            records[(s.candidate.collection, s.candidate.row)],
            loaded[s.candidate.collection].newest_visible.get(s.candidate.playbook_id),
            request.filters,
            request.query,
            request.explain,
        )
        for i, s in enumerate(top, start=1)
    ]
    return {
        "query": request.query,
        "tenant": tenant,
        "manifest_id": generation.manifest_id,
        "results": results,
        "total_candidates": total,
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
    }

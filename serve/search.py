"""The search path: one query against the library and the caller's tenant collection.

``run_search`` parses the query's intent (:mod:`serve.intent`), embeds the query once,
then for ``escher_library`` and ``tenant_<tenant>_playbooks`` only (never another
tenant's collection):

1. filter: the rows the request's filters admit (:mod:`serve.filters`, hard);
2. vector channel: when the admitted rows are few (every collection of up to 20,000 rows,
   else up to 2% of it) every one is scored exactly (``strategy: "exact_subset"``);
   otherwise :func:`serve.vector_search.nearest` (HNSW with the filter pushed in for
   large collections, a flat index with a selector else) fetches the best and tops up
   until ``limit`` distinct playbooks are found (``"hnsw_filtered"``, ``"flat_filtered"``,
   ``"hnsw_short_exact"``);
3. keyword channel: BM25 over the same rows (:mod:`serve.keyword`), with typo
   correction against the snapshot's vocabulary;
4. fusion (:mod:`serve.fusion`) plus intent evidence (same verb +, a close verb of the
   same family + (:data:`serve.intent.ACTION_FAMILY`), opposite verb -, another provider
   -, named resource type +), then the spec's precedence as a bounded
   bonus (:mod:`serve.scoring`);
5. one result per playbook (its best version, older versions listed under it) and
   near-duplicates collapsed under the best one (``versions: "all"`` ranks every
   version instead), shaped by :mod:`serve.responses`.

``mode`` picks the channels: ``"vector"`` is the spec's approach (cosine over the
embedded text of the raw query + precedence), ``"keyword"`` BM25 alone, ``"hybrid"``
(default) everything above. The response also says how sure it is (``match``), what it
understood (``intent``), how it retrieved (``retrieval``) and where time went
(``timings_ms``). A collection the manifest does not name contributes nothing.

``llm_intent`` (the optional LLM pass's STEP 1 answer, :meth:`serve.llm.LLMPass.extract_intent`)
is merged into the rule-based intent with :func:`serve.llm.merge_intent` (explicit filters,
then the rules, win; see :func:`with_llm_intent`). What the model adds stays soft evidence:
a provider or resource type it names only moves scores, never filters rows; its extra
keywords become expansion words. ``intent.llm_fields`` says which fields came from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from indexer.model import LIBRARY_COLLECTION, tenant_collection
from serve.evidence import PARTS, adjustment_parts, service_terms
from serve.evidence import total as adjustment_total
from serve.filters import Filters, select_rows
from serve.fusion import DEFAULT_FUSION, fuse, normalise_keyword
from serve.generation import Generation, LoadedCollection
from serve.intent import Intent, lexicon_words, parse_intent
from serve.keyword import shared_idf, stem, tokens
from serve.llm.merge import merge_intent
from serve.ranking import (
    Pool,
    collapse,
    listed,
    order,
    playbook_groups,
    scored,
    scores,
    top_k,
)
from serve.records import RECORDS
from serve.request import SearchRequest
from serve.responses import RESULT_COLUMNS, match_quality, shape_result, static_parts
from serve.vector_search import All, nearest

MIN_CANDIDATES = 20
CANDIDATES_PER_RESULT = 4
KEYWORD_CANDIDATES = 50
NEAR_DUPLICATE_COSINE = 0.98
# Hybrid query vector: this share of the expanded query's vector, the rest the raw query's
# (measured: 1.0 -> 0.8794, 0.5 -> 0.8794, 0.0 -> 0.8756 NDCG@10 on real_runbooks).
EXPANSION_SHARE = 1.0
# Keyword weight of a concept word (serve.intent.CONCEPTS) against a word of the query's own.
CONCEPT_WEIGHT = 0.5
MAX_LLM_EXPANSIONS = 8  # extra keywords taken from the LLM intent


_LEXICON = frozenset(stem(w) for w in lexicon_words())


class QueryEmbedder(Protocol):
    def embed_one(self, text: str) -> np.ndarray: ...


def searched_collections(tenant: str) -> tuple[str, str]:
    """The only collections a tenant's search reads."""
    return (LIBRARY_COLLECTION, tenant_collection(tenant))


@dataclass
class _Timer:
    spent: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("embed", "filter", "vector", "keyword", "score"), 0.0
        )
    )

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.spent[stage] += now - since
        return now

    def to_dict(self) -> dict[str, float]:
        return {k: round(v * 1000, 3) for k, v in self.spent.items()}


def with_llm_intent(
    intent: Intent, llm_intent: Mapping[str, Any] | None, filters: Filters, query: str = ""
) -> tuple[Intent, list[str]]:
    """``intent`` with the gaps the model's STEP 1 ``llm_intent`` fills, and which fields
    it filled (``action``, ``cloud_provider``, ``resource_types``, ``keywords``).

    Merged by :func:`serve.llm.merge_intent`: an explicit filter on a field keeps the model
    out of it, and the rules win wherever they found something. Everything taken is soft:
    an action is not confident (no boost or penalty), a provider is not confident (the soft
    penalty), resource types only boost, keywords not already in ``query`` become
    expansion words (at most :data:`MAX_LLM_EXPANSIONS`).
    """
    if not llm_intent:
        return intent, []
    rules: dict[str, Any] = {
        "action": intent.action,
        "cloud_provider": list(intent.providers) or None,
        "resource_types": list(intent.resource_types),
        "filters": {},
        "use_case": None,
        "time_based": True if intent.schedule else None,
        "keywords": list(intent.expansions),
    }
    explicit = {
        name: list(values)
        for name, values in (
            ("cloud_provider", filters.cloud_provider),
            ("resource_types", filters.resource_types),
        )
        if values
    }
    merged = merge_intent(rules, llm_intent, explicit)
    changes: dict[str, Any] = {}
    fields: list[str] = []
    action = merged.get("action")
    if intent.action is None and isinstance(action, str) and action:
        changes.update(action=action, action_confident=False)
        fields.append("action")
    provider = merged.get("cloud_provider")
    if "cloud_provider" not in explicit and not intent.providers and isinstance(provider, str):
        changes.update(providers=(provider,), provider_confident=False)
        fields.append("cloud_provider")
    types = merged.get("resource_types")
    if "resource_types" not in explicit and not intent.resource_types and types:
        changes["resource_types"] = tuple(dict.fromkeys(str(t) for t in types))
        fields.append("resource_types")
    said = set(query.lower().split()) | set(intent.expansions)
    extra = [
        k
        for k in (merged.get("keywords") or [])[len(rules["keywords"]) :]
        if isinstance(k, str) and k and k not in said
    ][:MAX_LLM_EXPANSIONS]
    if extra:
        changes["expansions"] = (*intent.expansions, *extra)
        fields.append("keywords")
    return (replace(intent, **changes) if changes else intent), fields


@dataclass
class _Channel:
    """What one collection contributed: candidates and retrieval bookkeeping."""

    rows: np.ndarray
    cosines: np.ndarray
    bm25: np.ndarray
    filter_rows: int
    considered: int
    strategy: str


def _vector_rows(
    coll: LoadedCollection, query_vector: np.ndarray, selection: Any, fetch: int, limit: int
) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Rows (and cosines) from the vector channel.

    Admitted rows few enough to score exactly (:func:`serve.vector_search.exact_limit`:
    every collection of up to 20,000 rows, else 2% of it): all of them, scored
    (``exact_subset``). Otherwise :func:`serve.vector_search.nearest` (HNSW with the
    filter pushed in, or a flat index with a selector) for the best ``fetch``, doubled
    until they hold ``limit`` distinct playbooks."""
    n = len(selection)
    vectors = coll.features.vectors
    if n <= coll.exact_rows:
        ids = selection.ids
        q = query_vector.astype(np.float32, copy=False)
        # A wide selection: one pass over the contiguous matrix beats copying its rows.
        cos = (vectors @ q)[ids] if 2 * len(ids) >= len(vectors) else vectors[ids] @ q
        return ids, cos, n, "exact_subset"
    admitted: np.ndarray | All = "all" if n == coll.rows else selection.ids
    while True:
        found = nearest(
            coll.index,
            vectors,
            admitted,
            query_vector,
            fetch,
            exact_max_rows=coll.exact_rows,
            sel=selection.selector,
        )
        distinct = {coll.playbook_ids[r] for r in found.rows.tolist()}
        if len(distinct) >= limit or fetch >= n:
            return found.rows, found.cosines, len(found), found.strategy
        fetch *= 2


def _collection_channel(
    coll: LoadedCollection,
    generation: Generation,
    request: SearchRequest,
    query_vector: np.ndarray | None,
    terms: Sequence[str],
    idf: Mapping[str, float],
    timer: _Timer,
) -> _Channel:
    t = time.perf_counter()
    selection = select_rows(generation, coll, request.filters)
    t = timer.add("filter", t)
    k = max(request.limit * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
    n = len(selection)
    rows = np.zeros(0, dtype=np.int64)
    cosines = np.zeros(0, dtype=np.float32)
    considered, strategy = 0, "exact_subset"
    if query_vector is not None and n:
        fetch = k if request.mode == "vector" else max(k, KEYWORD_CANDIDATES)
        rows, cosines, considered, strategy = _vector_rows(
            coll, query_vector, selection, fetch, request.limit
        )
        if request.mode == "vector" and len(rows) > k:  # the spec's top-k candidates
            top = top_k(cosines, k)
            rows, cosines = rows[top], cosines[top]
        t = timer.add("vector", t)
    bm25_all: np.ndarray | None = None
    if request.mode != "vector" and n:
        bm25_all = coll.features.keyword.search(terms, idf).astype(np.float32, copy=False)
        if n < coll.rows:  # only the admitted rows keep their score
            admitted = np.zeros(coll.rows, dtype=np.float32)
            admitted[selection.ids] = bm25_all[selection.ids]
            bm25_all = admitted
        t = timer.add("keyword", t)
    if request.mode == "vector" or bm25_all is None:
        return _Channel(rows, cosines, np.zeros(len(rows), np.float32), n, considered, strategy)
    # Candidates: the best of each channel, then both scores for every one of them.
    pool = max(k, KEYWORD_CANDIDATES)
    keyword_rows = top_k(bm25_all, pool)
    keyword_rows = keyword_rows[bm25_all[keyword_rows] > 0]
    if request.mode == "keyword":
        rows = keyword_rows
    else:
        best_vector = rows[top_k(cosines, pool)] if len(rows) else rows
        rows = np.unique(np.concatenate([best_vector, keyword_rows]))
    vectors = coll.features.vectors
    if query_vector is not None and vectors.shape[1] == len(query_vector) and len(rows):
        cosines = vectors[rows] @ query_vector.astype(np.float32)
    else:
        cosines = np.zeros(len(rows), dtype=np.float32)
    considered = max(considered, len(rows))
    t = timer.add("vector", t)
    return _Channel(rows, cosines, bm25_all[rows], n, considered, strategy)


def _pool(
    owners: Sequence[tuple[LoadedCollection, _Channel]],
    cosines: np.ndarray,
    relevance: np.ndarray | None,
    keyword_norm: np.ndarray,
    terms: Sequence[str],
    intent: Intent,
    request: SearchRequest,
) -> Pool:
    """The candidates of every collection as one :class:`~serve.ranking.Pool`."""
    collections = [coll for coll, _ in owners]
    coll_index = (
        np.concatenate(
            [np.full(len(ch.rows), i, dtype=np.int64) for i, (_, ch) in enumerate(owners)]
        )
        if owners
        else np.zeros(0, dtype=np.int64)
    )
    rows = (
        np.concatenate([np.asarray(ch.rows, dtype=np.int64) for _, ch in owners])
        if owners
        else np.zeros(0, dtype=np.int64)
    )
    coverage = np.zeros(len(rows), dtype=np.float64)
    parts: dict[str, np.ndarray] = {}
    if relevance is not None:
        services = service_terms(intent)
        start = 0
        for coll, ch in owners:
            span = slice(start, start + len(ch.rows))
            mine = rows[span]
            coverage[span] = coll.features.keyword.coverage_many(mine, terms)
            if request.mode == "hybrid":
                for name, values in adjustment_parts(coll, mine, intent, services).items():
                    parts.setdefault(name, np.zeros(len(rows), dtype=np.float64))[span] = values
            start += len(ch.rows)
    return Pool(
        collections=collections,
        coll=coll_index,
        rows=rows,
        similarity=cosines.astype(np.float64),
        relevance=None if relevance is None else np.asarray(relevance, dtype=np.float64),
        keyword=np.asarray(keyword_norm, dtype=np.float64),
        coverage=coverage,
        adjust=adjustment_total(parts, len(rows)),
        parts={name: parts[name] for name in PARTS if name in parts},
    )


def run_search(
    generation: Generation,
    embedder: QueryEmbedder,
    request: SearchRequest,
    tenant: str,
    clock: Callable[[], float] = time.time,
    fusion: str = DEFAULT_FUSION,
    *,
    llm_intent: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The response body of one search (see :mod:`serve.responses` for a result's shape);
    ``llm_intent``: the LLM pass's STEP 1 intent to merge in (:func:`with_llm_intent`)."""
    started = time.perf_counter()
    timer = _Timer()
    loaded: dict[str, LoadedCollection] = {}
    for name in searched_collections(tenant):
        coll = generation.collection(name)
        if coll is not None:
            loaded[name] = coll
    vocabulary = frozenset().union(*(c.features.vocabulary for c in loaded.values()))
    intent, llm_fields = with_llm_intent(
        parse_intent(request.query, vocabulary), llm_intent, request.filters, request.query
    )
    # Typo correction against the snapshot's words (the largest collection's vocabulary).
    corrections: dict[str, str] = {}
    terms: list[str] = []
    if request.mode != "vector" and loaded:
        biggest = max(loaded.values(), key=lambda c: c.rows).features.keyword
        terms, corrections = biggest.query_terms(intent.expanded_query(request.query), _LEXICON)
    # Concept words search the keyword channel at reduced weight; coverage keeps to `terms`.
    concept_terms: list[str] = []
    if request.mode != "vector":
        concepts = dict.fromkeys(tokens(" ".join(intent.concepts)))
        concept_terms = [t for t in concepts if t not in terms]
    search_terms = [*terms, *concept_terms]
    idf = shared_idf([c.features.keyword for c in loaded.values()], search_terms)
    for term in concept_terms:
        idf[term] *= CONCEPT_WEIGHT
    query_vector: np.ndarray | None = None
    t = time.perf_counter()
    if request.mode != "keyword":
        query_vector = _query_vector(embedder, request, intent, corrections, loaded)
    timer.add("embed", t)

    channels = {
        name: _collection_channel(coll, generation, request, query_vector, search_terms, idf, timer)
        for name, coll in loaded.items()
    }
    t = time.perf_counter()
    # Fuse over every candidate of both collections at once (one normalisation).
    # By collection name: the ranking breaks score ties by collection, then playbook id.
    owners = [(loaded[name], ch) for name, ch in sorted(channels.items()) if len(ch.rows)]
    cosines = np.concatenate([ch.cosines for _, ch in owners]) if owners else np.zeros(0)
    bm25 = np.concatenate([ch.bm25 for _, ch in owners]) if owners else np.zeros(0)
    if request.mode == "vector":
        relevance: np.ndarray | None = None
    elif request.mode == "keyword":
        relevance = normalise_keyword(bm25)
    else:
        relevance = fuse(cosines, bm25, fusion)
    pool = _pool(owners, cosines, relevance, normalise_keyword(bm25), terms, intent, request)
    now = clock()
    group = playbook_groups(pool)
    score = scores(pool, now)
    ranked, moved = order(pool, score, group)
    positions: list[tuple[int, list[int], list[int]]]
    if request.versions == "all":
        positions = [(int(m), [], []) for m in ranked[: request.limit]]
    else:
        positions = collapse(pool, ranked, group, request.limit, NEAR_DUPLICATE_COSINE)

    # Results as Scored objects (explain, reasons); the versions listed under them straight
    # from the arrays.
    entries = [
        (scored(pool, head, now, moved), older, similar) for head, older, similar in positions
    ]
    prepared: dict[tuple[str, int], tuple[dict[str, Any], dict[str, Any]]] = {}
    for name, coll in loaded.items():
        rows = [e[0].candidate.row for e in entries if e[0].candidate.collection == name]
        shown_rows = RECORDS.rows(coll.key, rows, _preparer(coll))
        prepared.update(((name, r), p) for r, p in zip(rows, shown_rows, strict=True))
    results = []
    for i, (s, older, similar) in enumerate(entries, start=1):
        c = s.candidate
        coll = loaded[c.collection]
        record, static = prepared[(c.collection, c.row)]
        result = shape_result(
            i,
            s,
            record,
            coll.newest_visible.get(c.playbook_id),
            request.filters,
            request.query,
            request.explain,
            intent,
            static,
        )
        if request.versions == "best":
            newest = coll.newest_visible.get(c.playbook_id)
            result["older_versions"] = [listed(pool, m, score, newest) for m in older]
            result["similar"] = [listed(pool, m, score, None, with_id=True) for m in similar]
        results.append(result)
    timer.add("score", t)
    total = sum(ch.filter_rows for ch in channels.values())
    strategies = {ch.strategy for ch in channels.values() if ch.filter_rows}
    return {
        "query": request.query,
        "tenant": tenant,
        "manifest_id": generation.manifest_id,
        "results": results,
        "total_candidates": total,
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
        "match": match_quality(entries[0][0] if entries else None, request.mode),
        "intent": {**intent.to_dict(), "corrections": corrections, "llm_fields": llm_fields},
        "retrieval": {
            "mode": request.mode,
            "fusion": fusion if request.mode == "hybrid" else None,
            "versions": request.versions,
            "filter_rows": total,
            "candidates_considered": sum(ch.considered for ch in channels.values()),
            "strategy": _strategy(strategies),
        },
        "timings_ms": timer.to_dict(),
    }


def _preparer(
    coll: LoadedCollection,
) -> Callable[[list[int]], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Rows of ``coll`` as (record, :func:`serve.responses.static_parts`), for the cache."""

    def prepare(rows: list[int]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(rec, static_parts(rec)) for rec in coll.records(rows, RESULT_COLUMNS)]

    return prepare


# How the vector channel searched, most approximate first (serve.vector_search).
STRATEGIES = ("hnsw_filtered", "flat_filtered", "hnsw_short_exact", "exact", "exact_subset")


def _strategy(used: set[str]) -> str:
    """The retrieval strategy to report: the most approximate one any collection used."""
    return next((s for s in STRATEGIES if s in used), "exact_subset")


def _embed(embedder: QueryEmbedder, text: str) -> np.ndarray:
    return np.asarray(embedder.embed_one(text), dtype=np.float32).reshape(-1)


def _query_vector(
    embedder: QueryEmbedder,
    request: SearchRequest,
    intent: Intent,
    corrections: Mapping[str, str],
    loaded: Mapping[str, LoadedCollection],
) -> np.ndarray:
    """The query's vector: the raw query in vector mode (the spec's approach); in hybrid
    mode the corrected query plus the intent's expansion words, mixed with the raw query
    (``EXPANSION_SHARE`` of the expanded vector) when they differ."""
    if request.mode != "hybrid":
        return _embed(embedder, request.query)
    text = intent.expanded_query(_apply_corrections(request.query, corrections, loaded))
    if text == request.query or EXPANSION_SHARE <= 0:
        return _embed(embedder, request.query)
    expanded = _embed(embedder, text)
    if EXPANSION_SHARE >= 1:  # one embedding only
        return expanded
    raw = _embed(embedder, request.query)
    mixed = (1 - EXPANSION_SHARE) * raw + EXPANSION_SHARE * expanded
    norm = float(np.linalg.norm(mixed))
    return mixed / norm if norm > 0 else raw


def _apply_corrections(
    query: str, corrections: Mapping[str, str], loaded: Mapping[str, LoadedCollection]
) -> str:
    """The query with misspelt words replaced by the snapshot word they most likely mean."""
    if not corrections:
        return query
    surface = max(loaded.values(), key=lambda c: c.rows).features.keyword.surface
    words = []
    for w in query.split():
        fixed = corrections.get(stem(w.lower()))
        words.append(surface.get(fixed, fixed) if fixed else w)
    return " ".join(words)

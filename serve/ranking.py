"""The score stage as arrays: every candidate scored at once, objects only for results.

:func:`serve.scoring.rank` states the ranking one candidate at a time (and stays the
reference the tests compare against). A search considers ~100-200 candidates but returns
``limit`` playbooks, so here every per-candidate quantity is a numpy array:

- the prior's row-constant part (status, author, success, usage) is computed once per
  collection when it loads (:func:`build_rank_columns`), recency per query;
- intent adjustments come from :func:`serve.evidence.adjustment_parts`;
- the order is one ``np.lexsort`` on (-score, collection, playbook_id, version), with the
  spec's within-playbook version precedence applied to the few playbooks holding several
  candidates;
- one result per playbook, near-duplicates folded (:func:`collapse`; the rule one
  candidate at a time is ``tests/serve/test_ranking.py``'s reference), with the cosines
  to the result heads computed as one matrix product.

Only the candidates a response shows (results, their older versions and folded
near-duplicates) become :class:`~serve.scoring.Candidate` / :class:`~serve.scoring.Scored`
objects, scored by :func:`serve.scoring.score` so ``explain`` shows the same breakdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from serve.evidence import row_adjustments
from serve.responses import version_entry
from serve.scoring import (
    AUTHOR_VALUES,
    AUTHOR_WEIGHT,
    PRIOR_WEIGHT,
    RECENCY_HALF_LIFE_DAYS,
    RECENCY_WEIGHT,
    STATUS_VALUES,
    STATUS_WEIGHT,
    SUCCESS_WEIGHT,
    TRUSTED_STATUSES,
    USAGE_WEIGHT,
    Candidate,
    Scored,
    confidence,
    score,
    usage_value,
)

if TYPE_CHECKING:
    from serve.collection import LoadedCollection

_DAY = 86400.0


@dataclass(frozen=True)
class RankColumns:
    """What ranking reads per row of one collection, as arrays (row i == Parquet row i)."""

    static_prior: np.ndarray  # float64: the prior without recency
    pid_codes: np.ndarray  # int64, order-preserving codes of playbook_id
    version_codes: np.ndarray  # int64, order-preserving codes of the version string
    trusted: np.ndarray  # bool: status active/approved


def _codes(values: Sequence[str]) -> np.ndarray:
    if not values:
        return np.zeros(0, dtype=np.int64)
    _, inverse = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return inverse.astype(np.int64).reshape(-1)


def _per_value(values: np.ndarray, fn: Any) -> np.ndarray:
    """``fn`` of each row's value, called once per distinct value (rows of a collection
    share few distinct counts): exactly the scalar function's result for every row."""
    if not len(values):
        return np.zeros(0, dtype=np.float64)
    distinct, inverse = np.unique(values, return_inverse=True)
    table = np.array([fn(v) for v in distinct.tolist()], dtype=np.float64)
    return np.asarray(table[inverse.reshape(-1)], dtype=np.float64)


def build_rank_columns(coll: LoadedCollection) -> RankColumns:
    """The row constants of ``coll``, each exactly what :func:`serve.scoring.score`
    computes (status and author looked up per row, the success rate as an exact division,
    the usage function once per distinct count), added in its order."""
    status = np.array([STATUS_VALUES.get(s, 0.0) for s in coll.statuses], dtype=np.float64)
    author = np.array([AUTHOR_VALUES.get(a, 0.0) for a in coll.authors], dtype=np.float64)
    runs = np.maximum(np.asarray(coll.execution_counts, dtype=np.int64), 0)
    ok = np.minimum(np.maximum(np.asarray(coll.success_counts, dtype=np.int64), 0), runs)
    # success_value, vectorised: a true division of exact integers rounds the same way
    success = (ok + 1).astype(np.float64) / (runs + 2).astype(np.float64)
    usage = _per_value(runs, usage_value)
    static = (
        STATUS_WEIGHT * status
        + AUTHOR_WEIGHT * author
        + SUCCESS_WEIGHT * success
        + USAGE_WEIGHT * usage
    )
    return RankColumns(
        static_prior=np.asarray(static, dtype=np.float64),
        pid_codes=_codes(coll.playbook_ids),
        version_codes=_codes(coll.versions),
        trusted=np.array([s in TRUSTED_STATUSES for s in coll.statuses], dtype=bool),
    )


@dataclass
class Pool:
    """Every candidate of one search, as parallel arrays (collections concatenated)."""

    collections: list[LoadedCollection]  # sorted by name; ``coll`` indexes into it
    coll: np.ndarray  # int64 index into ``collections``
    rows: np.ndarray  # int64 row within its collection
    similarity: np.ndarray  # float64 cosine
    relevance: np.ndarray | None  # float64 fused relevance; None in vector mode
    keyword: np.ndarray  # float64 normalised BM25
    coverage: np.ndarray  # float64 share of query terms held
    adjust: np.ndarray  # float64 sum of intent adjustments
    parts: Mapping[str, np.ndarray] = field(default_factory=dict)  # serve.evidence parts

    def __len__(self) -> int:
        return len(self.rows)


def scores(pool: Pool, now: float) -> np.ndarray:
    """Each candidate's score: base + adjustments + PRIOR_WEIGHT * prior."""
    prior = np.zeros(len(pool), dtype=np.float64)
    updated = np.full(len(pool), np.nan)
    for i, coll in enumerate(pool.collections):
        mine = pool.coll == i
        if not mine.any():
            continue
        rows = pool.rows[mine]
        prior[mine] = coll.rank_columns.static_prior[rows]
        updated[mine] = coll.updated_at[rows]
    known = ~np.isnan(updated)
    age_days = np.maximum(now - np.where(known, updated, now), 0.0) / _DAY
    recency = np.where(known, np.power(0.5, age_days / RECENCY_HALF_LIFE_DAYS), 0.0)
    prior = prior + RECENCY_WEIGHT * recency
    base = pool.similarity if pool.relevance is None else pool.relevance
    return np.asarray(base + pool.adjust + PRIOR_WEIGHT * prior, dtype=np.float64)


def playbook_groups(pool: Pool) -> np.ndarray:
    """One int64 per candidate, equal exactly when (collection, playbook_id) are."""
    pid = np.zeros(len(pool), dtype=np.int64)
    for i, coll in enumerate(pool.collections):
        mine = pool.coll == i
        if mine.any():
            pid[mine] = coll.rank_columns.pid_codes[pool.rows[mine]]
    return np.asarray(pool.coll * (int(pid.max(initial=0)) + 1) + pid, dtype=np.int64)


def order(pool: Pool, total: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the candidates best first, and which were moved by version precedence.

    Sorted by (-score, collection, playbook_id, version); then within each playbook
    (``group``: :func:`playbook_groups`) the slots its versions hold go to them
    trusted-first, newest-first (:func:`serve.scoring.rank`)."""
    n = len(pool)
    if not n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    pid = np.zeros(n, dtype=np.int64)
    version = np.zeros(n, dtype=np.int64)
    trusted = np.zeros(n, dtype=bool)
    for i, coll in enumerate(pool.collections):
        mine = pool.coll == i
        if mine.any():
            cols = coll.rank_columns
            rows = pool.rows[mine]
            pid[mine] = cols.pid_codes[rows]
            version[mine] = cols.version_codes[rows]
            trusted[mine] = cols.trusted[rows]
    ranked = np.lexsort((version, pid, pool.coll, -total))
    moved = np.zeros(n, dtype=bool)
    placed = group[ranked]
    values, counts = np.unique(placed, return_counts=True)
    for g in values[counts > 1]:
        slots = np.flatnonzero(placed == g)
        members = [int(ranked[s]) for s in slots]
        by_precedence = sorted(members, key=lambda m: _precedence(pool, m, trusted), reverse=True)
        for slot, m in zip(slots, by_precedence, strict=True):
            if ranked[slot] != m:
                moved[m] = True
            ranked[slot] = m
    return ranked, moved


def _precedence(pool: Pool, m: int, trusted: np.ndarray) -> tuple[bool, Any]:
    from indexer.model import version_sort_key

    coll = pool.collections[int(pool.coll[m])]
    return (bool(trusted[m]), version_sort_key(coll.versions[int(pool.rows[m])]))


def collapse(
    pool: Pool, ranked: np.ndarray, group: np.ndarray, limit: int, near_duplicate: float
) -> list[tuple[int, list[int], list[int]]]:
    """One entry per playbook, as candidate positions: (head, older versions,
    near-duplicates). Walks ``ranked`` in order: a playbook already placed collects its
    other versions; one with the same normalised name or a vector at cosine >=
    ``near_duplicate`` to a placed head (same collection) is folded under it; otherwise it
    becomes a new head while fewer than ``limit`` are placed."""
    out: list[tuple[int, list[int], list[int]]] = []
    by_group: dict[int, int] = {}
    groups = group.tolist()
    heads: list[int] = []
    walked = 0
    # Until ``limit`` heads are placed, one candidate at a time (usually a handful).
    for m in ranked.tolist():
        walked += 1
        key = groups[m]
        if key in by_group:
            out[by_group[key]][1].append(m)
        else:
            dup_of = _duplicate_of(pool, m, heads, near_duplicate)
            if dup_of is not None:
                out[dup_of][2].append(m)
                by_group[key] = dup_of
            else:
                by_group[key] = len(out)
                out.append((m, [], []))
                heads.append(m)
        if len(out) >= limit:
            break
    else:
        return out
    rest = ranked[walked:]
    if not len(rest):
        return out
    # Heads are final: the duplicate test for the rest is one product per collection.
    dup_head = _duplicate_heads(pool, rest, heads, near_duplicate)
    for m, dup in zip(rest.tolist(), dup_head.tolist(), strict=True):
        key = groups[m]
        if key in by_group:
            out[by_group[key]][1].append(m)
        elif dup >= 0:
            out[dup][2].append(m)
            by_group[key] = dup
    return out


def _duplicate_of(pool: Pool, m: int, heads: Sequence[int], near: float) -> int | None:
    c = int(pool.coll[m])
    coll = pool.collections[c]
    f = coll.features
    codes = coll.features.name_codes
    row = int(pool.rows[m])
    for i, h in enumerate(heads):
        if int(pool.coll[h]) != c:
            continue
        other = int(pool.rows[h])
        if codes[other] == codes[row]:
            return i
        if f.vectors.shape[1] > 0 and float(f.vectors[other] @ f.vectors[row]) >= near:
            return i
    return None


def _duplicate_heads(pool: Pool, rest: np.ndarray, heads: Sequence[int], near: float) -> np.ndarray:
    """For each of ``rest``, the first head (index into ``heads``) it duplicates, or -1."""
    found = np.full(len(rest), -1, dtype=np.int64)
    head_arr = np.asarray(heads, dtype=np.int64)
    for c, coll in enumerate(pool.collections):
        mine = np.flatnonzero(pool.coll[rest] == c)
        same = np.flatnonzero(pool.coll[head_arr] == c)
        if not len(mine) or not len(same):
            continue
        f = coll.features
        codes = coll.features.name_codes
        rows = pool.rows[rest[mine]]
        head_rows = pool.rows[head_arr[same]]
        dup = codes[rows][:, None] == codes[head_rows][None, :]
        if f.vectors.shape[1] > 0:
            dup |= (f.vectors[rows] @ f.vectors[head_rows].T) >= near
        first = np.where(dup.any(axis=1), same[np.argmax(dup, axis=1)], -1)
        found[mine] = first
    return found


def scored(
    pool: Pool,
    m: int,
    now: float,
    moved: np.ndarray,
) -> Scored:
    """The :class:`~serve.scoring.Scored` of candidate ``m`` (for the response)."""
    coll = pool.collections[int(pool.coll[m])]
    row = int(pool.rows[m])
    candidate = Candidate(
        collection=coll.name,
        row=row,
        similarity=float(pool.similarity[m]),
        playbook_id=coll.playbook_ids[row],
        version=coll.versions[row],
        status=coll.statuses[row],
        author=coll.authors[row],
        execution_count=int(coll.execution_counts[row]),
        success_count=int(coll.success_counts[row]),
        updated_at=float(coll.updated_at[row]),
        relevance=None if pool.relevance is None else float(pool.relevance[m]),
        keyword=float(pool.keyword[m]),
        coverage=float(pool.coverage[m]),
        adjustments=row_adjustments(pool.parts, m),
    )
    s = score(candidate, now)
    return replace(s, version_reordered=True) if moved[m] else s


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest ``values``, best first: exactly
    ``np.argsort(-values, kind="stable")[:k]`` (ties in position order), without sorting
    every value."""
    n = len(values)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= n:
        return np.argsort(-values, kind="stable")
    kth = np.partition(values, n - k)[n - k]  # the k-th largest value
    above = np.flatnonzero(values > kth)
    ties = np.flatnonzero(values == kth)[: k - len(above)]
    picked = np.concatenate([above, ties])
    return picked[np.argsort(-values[picked], kind="stable")]


def listed(
    pool: Pool, m: int, score: np.ndarray, newest_visible: str | None, with_id: bool = False
) -> dict[str, Any]:
    """Candidate ``m`` as a version listed under a result
    (:func:`serve.responses.version_entry`), read from the arrays without building its
    :func:`scored` objects."""
    coll = pool.collections[int(pool.coll[m])]
    row = int(pool.rows[m])
    coverage = None if pool.relevance is None else float(pool.coverage[m])
    return version_entry(
        coll.playbook_ids[row],
        coll.versions[row],
        coll.statuses[row],
        confidence(float(pool.similarity[m]), coverage),
        float(score[m]),
        newest_visible,
        with_id,
    )

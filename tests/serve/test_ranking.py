"""The array score stage (serve.ranking) against the one-candidate-at-a-time reference
(serve.scoring.rank plus the collapse rule), on the bundled samples' real collections."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.embed import Embedder
from indexer.settings import load_settings
from serve.evidence import (
    PARTS,
    adjustment_parts,
    intent_adjustments,
    row_adjustments,
    service_terms,
)
from serve.evidence import total as adjustment_total
from serve.generation import LoadedCollection
from serve.intent import parse_intent
from serve.local import LocalSearcher
from serve.ranking import Pool, collapse, listed, order, playbook_groups, scored, scores, top_k
from serve.responses import version_entry
from serve.scoring import Candidate, Scored, rank
from serve.search import NEAR_DUPLICATE_COSINE

SAMPLES = Path(__file__).resolve().parents[2] / "indexer" / "samples"
NOW = 1_790_000_000.0


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Any]:
    from indexer.blobs import open_blobs
    from indexer.build import run_index
    from indexer.store import Store

    store = tmp_path_factory.mktemp("ranking-store")
    run_index(
        store=Store(open_blobs(str(store))),
        library=[open_blobs(str(SAMPLES / "escher-library"))],
        tenants=[open_blobs(str(SAMPLES / "escher-tenant-data"))],
        embedder=embedder,
    )
    searcher = LocalSearcher(load_settings({"store": str(store)}, environ={}), embedder)
    yield searcher
    searcher.close()


def _collections(samples: Any) -> list[LoadedCollection]:
    names = ("escher_library", "tenant_acme_playbooks")
    found = [samples.generation.collection(n) for n in names]
    assert all(c is not None for c in found)
    return found


def _random_pool(colls: Sequence[LoadedCollection], rng: random.Random, vector: bool) -> Pool:
    coll, rows = [], []
    for i, c in enumerate(colls):
        picked = rng.sample(range(c.rows), rng.randint(0, c.rows))
        coll += [i] * len(picked)
        rows += picked
    n = len(rows)
    # Coarse values so that exact score ties happen and the tie-break order is exercised.
    sims = np.array([rng.choice([0.2, 0.4, 0.5, 0.7]) for _ in range(n)], dtype=np.float64)
    rel = None if vector else np.array([rng.random() for _ in range(n)], dtype=np.float64)
    adjust = np.array([rng.choice([0.0, 0.08, -0.15]) for _ in range(n)])
    return Pool(
        collections=list(colls),
        coll=np.asarray(coll, dtype=np.int64),
        rows=np.asarray(rows, dtype=np.int64),
        similarity=sims,
        relevance=rel,
        keyword=np.zeros(n),
        coverage=np.zeros(n),
        adjust=adjust,
        parts={"action": adjust},
    )


def _reference_candidates(pool: Pool) -> list[Candidate]:
    out = []
    for m in range(len(pool)):
        c = pool.collections[int(pool.coll[m])]
        row = int(pool.rows[m])
        out.append(
            Candidate(
                collection=c.name,
                row=row,
                similarity=float(pool.similarity[m]),
                playbook_id=c.playbook_ids[row],
                version=c.versions[row],
                status=c.statuses[row],
                author=c.authors[row],
                execution_count=int(c.execution_counts[row]),
                success_count=int(c.success_counts[row]),
                updated_at=float(c.updated_at[row]),
                relevance=None if pool.relevance is None else float(pool.relevance[m]),
                adjustments={"a": float(pool.adjust[m])},
            )
        )
    return out


def _reference_collapse(
    top: Sequence[Scored], loaded: Mapping[str, LoadedCollection], limit: int
) -> list[tuple[Scored, list[Scored], list[Scored]]]:
    """The collapse rule as first written, one candidate at a time."""
    out: list[tuple[Scored, list[Scored], list[Scored]]] = []
    by_group: dict[tuple[str, str], int] = {}
    for s in top:
        c = s.candidate
        group = (c.collection, c.playbook_id)
        if group in by_group:
            out[by_group[group]][1].append(s)
            continue
        f = loaded[c.collection].features
        dup_of = None
        for i, (head, _, _) in enumerate(out):
            h = head.candidate
            if h.collection != c.collection:
                continue
            same_name = f.normalised_names[h.row] == f.normalised_names[c.row]
            close = float(f.vectors[h.row] @ f.vectors[c.row]) >= NEAR_DUPLICATE_COSINE
            if same_name or close:
                dup_of = i
                break
        if dup_of is not None:
            out[dup_of][2].append(s)
            by_group[group] = dup_of
            continue
        if len(out) >= limit:
            continue
        by_group[group] = len(out)
        out.append((s, [], []))
    return out


def _key(s: Scored) -> tuple[str, int]:
    return s.candidate.collection, s.candidate.row


@pytest.mark.parametrize("seed", range(12))
def test_order_scores_and_collapse_match_the_reference(samples: Any, seed: int) -> None:
    rng = random.Random(seed)
    colls = _collections(samples)
    pool = _random_pool(colls, rng, vector=seed % 3 == 0)
    total = scores(pool, NOW)
    group = playbook_groups(pool)
    ranked, moved = order(pool, total, group)

    reference = rank(_reference_candidates(pool), NOW)
    position = {
        (pool.collections[int(pool.coll[m])].name, int(pool.rows[m])): m for m in range(len(pool))
    }
    assert [position[_key(s)] for s in reference] == ranked.tolist()
    for s in reference:
        m = position[_key(s)]
        assert total[m] == pytest.approx(s.score, abs=1e-12)
        assert bool(moved[m]) == s.version_reordered

    loaded = {c.name: c for c in colls}
    for limit in (1, 3, 5, 50):
        expected = _reference_collapse(reference, loaded, limit)
        got = collapse(pool, ranked, group, limit, NEAR_DUPLICATE_COSINE)
        assert [
            (
                position[_key(h)],
                [position[_key(o)] for o in older],
                [position[_key(d)] for d in dup],
            )
            for h, older, dup in expected
        ] == got


QUERIES = (
    "stop production RDS for the weekend",
    "start the ec2 instances",
    "delete unattached azure disks",
    "restart gke nodes on gcp",
    "scale down aks cluster",
    "backup dynamodb tables",
    "resize the vm",
)


@pytest.mark.parametrize("query", QUERIES)
def test_adjustment_parts_are_intent_adjustments_row_by_row(samples: Any, query: str) -> None:
    applied = 0
    for coll in _collections(samples):
        intent = parse_intent(query, coll.features.vocabulary)
        services = service_terms(intent)
        rows = np.arange(coll.rows, dtype=np.int64)
        parts = adjustment_parts(coll, rows, intent, services)
        assert list(parts) == [p for p in PARTS if p in parts]
        sums = adjustment_total(parts, len(rows))
        for i, r in enumerate(rows.tolist()):
            expected = intent_adjustments(coll, r, intent, services)
            assert row_adjustments(parts, i) == expected
            assert sums[i] == sum(expected.values())
            applied += bool(expected)
    assert applied or query == "resize the vm"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=-3, max_value=3), min_size=0, max_size=60),
    st.integers(min_value=0, max_value=70),
)
def test_top_k_is_the_stable_argsort_prefix(values: list[int], k: int) -> None:
    a = np.asarray(values, dtype=np.float32)
    assert top_k(a, k).tolist() == np.argsort(-a, kind="stable")[:k].tolist()


def test_the_random_pools_exercise_version_precedence(samples: Any) -> None:
    """Guards the comparison above: some pools do reorder versions within a playbook."""
    colls = _collections(samples)
    moved_any = 0
    for seed in range(12):
        pool = _random_pool(colls, random.Random(seed), vector=seed % 3 == 0)
        _, moved = order(pool, scores(pool, NOW), playbook_groups(pool))
        moved_any += int(moved.any())
    assert moved_any >= 3


@pytest.mark.parametrize("seed", range(4))
def test_listed_versions_read_from_the_arrays_match_version_entry(samples: Any, seed: int) -> None:
    colls = _collections(samples)
    pool = _random_pool(colls, random.Random(seed), vector=seed % 2 == 0)
    total = scores(pool, NOW)
    _, moved = order(pool, total, playbook_groups(pool))
    for m in range(len(pool)):
        s = scored(pool, m, NOW, moved)
        newest = pool.collections[int(pool.coll[m])].newest_visible.get(s.candidate.playbook_id)
        c = s.candidate
        fields = (c.playbook_id, c.version, c.status, s.confidence, s.score)
        assert listed(pool, m, total, newest) == version_entry(*fields, newest)
        assert listed(pool, m, total, None, with_id=True) == version_entry(
            *fields, None, with_id=True
        )

"""Scoring rules: relevance first, bounded precedence, version order, confidence."""

from __future__ import annotations

import math

import pytest

from serve.scoring import (
    PRIOR_WEIGHT,
    Candidate,
    confidence,
    rank,
    recency_value,
    score,
    success_value,
    usage_value,
)

NOW = 1_800_000_000.0
DAY = 86400.0


def cand(
    pid: str = "p",
    version: str = "1.0.0",
    similarity: float = 0.5,
    *,
    collection: str = "escher_library",
    status: str = "active",
    author: str = "escher_library",
    runs: int = 0,
    success: int = 0,
    updated_at: float = NOW,
) -> Candidate:
    return Candidate(
        collection, 0, similarity, pid, version, status, author, runs, success, updated_at
    )


def order(candidates: list[Candidate]) -> list[tuple[str, str]]:
    return [(s.candidate.playbook_id, s.candidate.version) for s in rank(candidates, NOW)]


def test_the_best_possible_prior_cannot_beat_a_clearly_more_relevant_playbook() -> None:
    relevant = cand(
        "relevant",
        similarity=0.60,
        status="pending_review",
        author="ai_generated",
        updated_at=math.nan,
    )
    trusted = cand(
        "trusted",
        similarity=0.60 - PRIOR_WEIGHT - 0.001,
        author="user_custom",
        runs=10_000,
        success=10_000,
    )
    assert order([trusted, relevant])[0] == ("relevant", "1.0.0")


def test_precedence_orders_playbooks_of_similar_relevance() -> None:
    user = cand("user", similarity=0.700, collection="tenant_a_playbooks", author="user_custom")
    library = cand("library", similarity=0.705)
    ai = cand("ai", similarity=0.710, author="ai_generated")
    assert [pid for pid, _ in order([ai, library, user])] == ["user", "library", "ai"]


def test_status_bonus_follows_the_spec_order() -> None:
    statuses = ["pending_review", "deprecated", "needs_update", "approved", "active"]
    scored = {s: score(cand(status=s), NOW).score for s in statuses}
    assert scored["active"] == scored["approved"]
    assert scored["approved"] > scored["needs_update"] > scored["deprecated"]
    assert scored["deprecated"] > scored["pending_review"]


@pytest.mark.parametrize("similarity", [-1.0, 0.0, 0.42, 1.0])
def test_prior_is_bounded_and_factors_add_up(similarity: float) -> None:
    for c in (
        cand(similarity=similarity),
        cand(similarity=similarity, author="user_custom", runs=500, success=500),
        cand(
            similarity=similarity,
            status="pending_review",
            author="ai_generated",
            updated_at=math.nan,
        ),
    ):
        s = score(c, NOW)
        assert 0.0 <= s.prior <= 1.0
        assert s.score - similarity == pytest.approx(PRIOR_WEIGHT * s.prior)
        assert sum(f.contribution for f in s.factors.values()) == pytest.approx(
            PRIOR_WEIGHT * s.prior
        )
        assert sum(f.weight for f in s.factors.values()) == pytest.approx(1.0)


def test_success_rate_is_smoothed_and_usage_is_capped() -> None:
    assert success_value(0, 0) == 0.5
    assert success_value(1, 1) < success_value(100, 100)
    assert success_value(12, 12) == pytest.approx(13 / 14)
    assert success_value(9, 10) < success_value(10, 10)
    assert usage_value(0) == 0.0
    assert usage_value(100) == 1.0 == usage_value(10**6)
    assert 0 < usage_value(10) < usage_value(50) < 1


def test_recency_halves_every_ninety_days() -> None:
    assert recency_value(NOW, NOW) == 1.0
    assert recency_value(NOW - 90 * DAY, NOW) == pytest.approx(0.5)
    assert recency_value(NOW - 180 * DAY, NOW) == pytest.approx(0.25)
    assert recency_value(math.nan, NOW) == 0.0
    assert recency_value(NOW + DAY, NOW) == 1.0  # a clock skew is not a bonus above 1


def test_newer_version_takes_the_better_position_of_its_group() -> None:
    old = cand("rds-stop", "1.0.0", similarity=0.90, status="deprecated")
    new = cand("rds-stop", "1.2.0", similarity=0.70)
    other = cand("other", "3.0.0", similarity=0.80)
    ranked = rank([old, new, other], NOW)
    assert [(s.candidate.playbook_id, s.candidate.version) for s in ranked] == [
        ("rds-stop", "1.2.0"),
        ("other", "3.0.0"),
        ("rds-stop", "1.0.0"),
    ]
    assert [s.version_reordered for s in ranked] == [True, False, True]


def test_version_order_is_semver_not_text_and_prefers_trusted_status() -> None:
    v9 = cand("p", "1.9.0", similarity=0.9)
    v10 = cand("p", "1.10.0", similarity=0.5)
    assert order([v9, v10]) == [("p", "1.10.0"), ("p", "1.9.0")]
    rc = cand("p", "2.0.0-rc.1", similarity=0.9)
    release = cand("p", "2.0.0", similarity=0.5)
    assert order([rc, release])[0] == ("p", "2.0.0")
    # Spec, Status Precedence Rules: an active version above a newer one still in review.
    review = cand("p", "3.0.0", similarity=0.9, status="pending_review")
    assert order([review, v10])[0] == ("p", "1.10.0")


def test_groups_are_per_collection() -> None:
    mine = cand("shared", "1.0.0", similarity=0.9, collection="tenant_a_playbooks")
    library = cand("shared", "2.0.0", similarity=0.5)
    assert [s.candidate.collection for s in rank([mine, library], NOW)] == [
        "tenant_a_playbooks",
        "escher_library",
    ]


def test_ties_are_broken_deterministically() -> None:
    a, b = cand("a"), cand("b")
    assert order([b, a]) == order([a, b]) == [("a", "1.0.0"), ("b", "1.0.0")]


def test_confidence_is_a_monotone_map_of_similarity_into_the_unit_interval() -> None:
    values = [confidence(s / 100) for s in range(-100, 101)]
    assert values == sorted(values)
    assert values[0] == 0.0 and values[-1] == 1.0
    assert all(round(v, 2) == v for v in values)
    assert confidence(0.5) == 0.5


def test_breakdown_reports_every_factor() -> None:
    breakdown = score(cand(runs=10, success=9), NOW).breakdown()
    assert set(breakdown["factors"]) == {"status", "author", "success", "usage", "recency"}
    assert breakdown["prior_weight"] == PRIOR_WEIGHT
    assert breakdown["similarity"] == 0.5

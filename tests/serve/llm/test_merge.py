"""apply_rerank: the final order can only be a reordering of the candidates given."""

from __future__ import annotations

from serve.llm import Candidate, PassOutcome, RerankItem, Status, apply_rerank
from tests.serve.llm.conftest import FOREIGN, HIDDEN, STOP, USER, USER_OLD, WEEKEND


def outcome(*items: RerankItem) -> PassOutcome:
    return PassOutcome("applied", "m", "v", None, items or None)


def item(id_: str, rank: int, reason: str = "model says") -> RerankItem:
    return RerankItem(id_, rank, 0.5, f"{reason} {rank}")


def order(final: list[tuple[Candidate, float, str]]) -> list[str]:
    return [c.id for c, _, _ in final]


def test_without_items_the_cheap_order_and_reasons_stand(candidates: list[Candidate]) -> None:
    statuses: tuple[Status, ...] = ("timeout", "error", "invalid_output", "skipped")
    for status in statuses:
        final = apply_rerank(candidates, PassOutcome(status, "m", "v"))
        assert final == [(c, c.cheap_score, c.cheap_reason) for c in candidates]


def test_ranked_first_by_rank_then_the_rest_in_cheap_order(candidates: list[Candidate]) -> None:
    final = apply_rerank(candidates, outcome(item(STOP, 2), item(WEEKEND, 1)))
    assert order(final) == [WEEKEND, STOP, USER, USER_OLD]
    assert [reason for _, _, reason in final] == [
        "model says 1",
        "model says 2",
        "cheap reason for user-weekend-shutdown 1.2.0",
        "cheap reason for user-weekend-shutdown 1.0.0",
    ]


def test_ids_that_were_not_candidates_never_appear(candidates: list[Candidate]) -> None:
    final = apply_rerank(candidates, outcome(item(HIDDEN, 1), item(FOREIGN, 2), item(STOP, 3)))
    assert order(final) == [STOP, USER, WEEKEND, USER_OLD]
    only_strangers = apply_rerank(candidates, outcome(item(HIDDEN, 1)))
    assert only_strangers == [(c, c.cheap_score, c.cheap_reason) for c in candidates]


def test_a_repeated_id_counts_once(candidates: list[Candidate]) -> None:
    final = apply_rerank(candidates, outcome(item(WEEKEND, 1), item(WEEKEND, 2)))
    assert order(final) == [WEEKEND, USER, STOP, USER_OLD]


def test_an_older_version_is_never_lifted_above_the_newer_one(
    candidates: list[Candidate],
) -> None:
    # The model puts the deprecated 1.0.0 first: the two versions swap places, each with
    # its own confidence and reason, so 1.2.0 still precedes 1.0.0.
    final = apply_rerank(candidates, outcome(item(USER_OLD, 1), item(STOP, 2), item(USER, 3)))
    assert order(final) == [USER, STOP, USER_OLD, WEEKEND]
    reasons = {c.id: reason for c, _, reason in final}
    assert reasons[USER_OLD] == "model says 1" and reasons[USER] == "model says 3"

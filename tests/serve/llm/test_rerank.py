"""The re-rank pass against a real HTTP server speaking each provider's protocol.

For every scripted answer: what the final order is, what the outcome's status says, how
many calls reached the provider, and that the pass stayed within its budget. Failing
providers are in ``test_rerank_failures.py``.
"""

from __future__ import annotations

import json

import pytest

from serve.llm import Candidate, LLMConfig, LLMPass, PassOutcome, apply_rerank
from tests.serve.llm._fake_provider import Answer, FakeProvider
from tests.serve.llm.conftest import (
    API_KEY,
    EXTRA,
    FOREIGN,
    HIDDEN,
    INTENT,
    MODEL,
    PATHS,
    STOP,
    USER,
    USER_OLD,
    WEEKEND,
    FakeClock,
    cheap,
    configured,
    ids,
    ranking,
    rerank_once,
    timed,
    with_pass,
)

# --- accepted answers ---


def test_valid_ranking_is_applied_with_the_models_confidence_and_reasons(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], provider: str
) -> None:
    fake.script(
        Answer(
            json.dumps(
                {
                    "ranking": [
                        {"id": WEEKEND, "rank": 1, "confidence": 0.95, "reason": "Weekend."},
                        {"id": USER, "rank": 2, "confidence": 0.9, "reason": "Yours."},
                        {"id": STOP, "rank": 3, "confidence": 0.7, "reason": "Simple stop."},
                    ]
                }
            )
        )
    )
    outcome, _ = rerank_once(config, candidates)
    assert outcome.status == "applied"
    assert outcome.detail is None
    final = apply_rerank(candidates, outcome)
    # The one candidate the model left out keeps its cheap place after the ranked ones.
    assert ids(final) == [WEEKEND, USER, STOP, USER_OLD]
    assert [(conf, reason) for _, conf, reason in final] == [
        (0.95, "Weekend."),
        (0.9, "Yours."),
        (0.7, "Simple stop."),
        (0.6, "cheap reason for user-weekend-shutdown 1.0.0"),
    ]
    assert fake.calls(PATHS[provider]) == 1


def test_answer_in_a_json_fence_is_accepted(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Answer(f"```json\n{ranking(STOP, USER, WEEKEND, USER_OLD)}\n```"))
    outcome, _ = rerank_once(config, candidates)
    assert outcome.status == "applied"
    assert ids(apply_rerank(candidates, outcome)) == [STOP, USER, WEEKEND, USER_OLD]


def test_only_the_top_n_candidates_are_sent_and_the_rest_keep_their_place(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Answer(ranking(STOP, USER)))
    outcome, _ = rerank_once(configured(config, rerank_top_n=2), candidates)
    assert outcome.status == "applied"
    sent = json.loads(_data_of(fake.requests[0].user))
    assert [c["id"] for c in sent["candidates"]] == [USER, STOP]
    assert ids(apply_rerank(candidates, outcome)) == [STOP, USER, WEEKEND, USER_OLD]


def test_a_ranking_naming_a_candidate_beyond_the_top_n_is_invalid(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Answer(ranking(WEEKEND, USER)))  # WEEKEND was not sent with top_n=2
    outcome, _ = rerank_once(configured(config, rerank_top_n=2), candidates)
    assert outcome.status == "invalid_output"
    assert apply_rerank(candidates, outcome) == cheap(candidates)


# --- answers that break the contract: discarded, cheap order kept, no retry ---

INVALID_ANSWERS = {
    "prose": ("Sure! The best playbook is the weekend one.", "not valid JSON"),
    "truncated": ('{"ranking": [{"id": "' + USER, "not valid JSON"),
    "array": (json.dumps([{"id": USER, "rank": 1}]), "expected a JSON object"),
    "no ranking": (json.dumps({"result": []}), '"ranking" must be an array'),
    "unknown id": (ranking(USER, "escher_library/made-up/9.9.9"), "not one of the candidate"),
    "duplicated id": (ranking(USER, STOP, USER), "a second time"),
    "hidden playbook": (ranking(HIDDEN, USER, STOP), "not one of the candidate"),
    "foreign tenant": (ranking(FOREIGN, USER), "not one of the candidate"),
    "confidence 1.5": (ranking(USER, confidence=1.5), "confidence must be a number"),
    "rank gap": (
        json.dumps(
            {
                "ranking": [
                    {"id": USER, "rank": 1, "confidence": 0.9, "reason": "a"},
                    {"id": STOP, "rank": 3, "confidence": 0.8, "reason": "b"},
                ]
            }
        ),
        "ranks must be 1..2",
    ),
    "blank reason": (
        json.dumps({"ranking": [{"id": USER, "rank": 1, "confidence": 0.9, "reason": " \n\t"}]}),
        "reason is empty",
    ),
    "boolean confidence": (
        json.dumps({"ranking": [{"id": USER, "rank": 1, "confidence": True, "reason": "a"}]}),
        "confidence must be a number",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_ANSWERS))
def test_an_invalid_answer_falls_back_to_the_cheap_ranking(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], case: str
) -> None:
    content, detail = INVALID_ANSWERS[case]
    fake.script(Answer(content))
    outcome, _ = rerank_once(config, candidates)
    assert outcome.status == "invalid_output"
    assert outcome.items is None
    assert outcome.detail is not None
    assert detail in outcome.detail
    final = apply_rerank(candidates, outcome)
    assert final == cheap(candidates)
    assert HIDDEN not in ids(final) and FOREIGN not in ids(final)
    assert fake.calls() == 1  # an answer that arrived is not retried


# --- the cache ---


def test_a_repeated_question_is_answered_from_the_cache_without_a_call(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Answer(ranking(WEEKEND, USER)), Answer(ranking(STOP)), Answer(ranking(STOP)))

    async def body(llm: LLMPass) -> list[PassOutcome]:
        first = await llm.rerank("q", INTENT, candidates, cache_key_extra=EXTRA)
        again = await llm.rerank("q", INTENT, candidates, cache_key_extra=EXTRA)
        other_manifest = await llm.rerank(
            "q", INTENT, candidates, cache_key_extra=(EXTRA[0], "manifest-0002")
        )
        reordered = await llm.rerank("q", INTENT, list(reversed(candidates)), cache_key_extra=EXTRA)
        return [first, again, other_manifest, reordered]

    (first, again, other_manifest, reordered), _ = timed(with_pass(config, body))
    assert first.status == "applied"
    assert again.status == "cached"
    assert again.items == first.items
    assert ids(apply_rerank(candidates, again))[:2] == [WEEKEND, USER]
    assert other_manifest.status == "applied"
    assert reordered.status == "applied"
    assert fake.calls() == 3


def test_cached_answers_expire(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], clock: FakeClock
) -> None:
    fake.script(Answer(ranking(STOP)), Answer(ranking(WEEKEND)))

    async def body(llm: LLMPass) -> list[str]:
        statuses: list[str] = []
        for step in (0, 599, 2):
            clock.advance(step)
            outcome = await llm.rerank("q", INTENT, candidates, cache_key_extra=EXTRA)
            statuses.append(outcome.status)
        return statuses

    statuses, _ = timed(with_pass(config, body, clock=clock))
    assert statuses == ["applied", "cached", "applied"]
    assert fake.calls() == 2


def test_failures_are_not_cached(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Answer("not json"), Answer(ranking(STOP)))

    async def body(llm: LLMPass) -> list[str]:
        first = await llm.rerank("q", INTENT, candidates, cache_key_extra=EXTRA)
        second = await llm.rerank("q", INTENT, candidates, cache_key_extra=EXTRA)
        return [first.status, second.status]

    statuses, _ = timed(with_pass(config, body))
    assert statuses == ["invalid_output", "applied"]


def _data_of(user_message: str) -> str:
    start = user_message.index("<data>") + len("<data>")
    return user_message[start : user_message.index("</data>")]


def test_the_request_carries_model_settings_and_the_key_in_the_right_header(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], provider: str
) -> None:
    fake.script(Answer(ranking(USER)))
    rerank_once(config, candidates)
    (seen,) = fake.requests
    assert seen.path == PATHS[provider]
    assert seen.body["model"] == MODEL
    assert seen.body["temperature"] == 0
    assert seen.body["max_tokens"] > 0
    if provider == "openai":
        assert seen.headers["authorization"] == f"Bearer {API_KEY}"
        assert "x-api-key" not in seen.headers
        assert seen.body["response_format"] == {"type": "json_object"}
        assert [m["role"] for m in seen.body["messages"]] == ["system", "user"]
    else:
        assert seen.headers["x-api-key"] == API_KEY
        assert seen.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in seen.headers
        assert [m["role"] for m in seen.body["messages"]] == ["user"]
    sent = json.loads(_data_of(seen.user))
    assert sent["query"] == "stop rds for the weekend"
    assert sent["intent"] == INTENT
    assert [c["id"] for c in sent["candidates"]] == [c.id for c in candidates]


def test_a_base_url_ending_in_v1_is_not_doubled(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], provider: str
) -> None:
    fake.script(Answer(ranking(USER)))
    outcome, _ = rerank_once(configured(config, base_url=fake.base_url + "/v1/"), candidates)
    assert outcome.status == "applied"
    assert fake.requests[0].path == PATHS[provider]

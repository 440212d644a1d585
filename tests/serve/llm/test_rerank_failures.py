"""The re-rank pass when the provider is slow, rate-limited, failing or unreachable.

Whatever happens, the pass returns within its budget, says what happened, retries at most
once, and leaves the cheap ranking in place.
"""

from __future__ import annotations

import pytest

from serve.llm import Candidate, LLMConfig, LLMPass, PassOutcome, apply_rerank
from tests.serve.llm._fake_provider import Answer, Drop, Fail, FakeProvider, Raw, Slow
from tests.serve.llm.conftest import (
    EXTRA,
    INTENT,
    LATENCY_MARGIN_S,
    STOP,
    USER,
    WEEKEND,
    cheap,
    configured,
    ids,
    ranking,
    rerank_once,
    timed,
    with_pass,
)

# --- slow, rate-limited, failing, unreachable ---


def test_an_answer_slower_than_the_budget_times_out_within_the_budget(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Slow(3.0, Answer(ranking(STOP, USER))))
    outcome, seconds = rerank_once(configured(config, budget_s=0.5), candidates)
    assert outcome.status == "timeout"
    assert seconds < 1.5
    assert apply_rerank(candidates, outcome) == cheap(candidates)
    assert fake.calls() == 1  # nothing left in the budget for a retry


def test_a_slow_first_call_is_retried_once_within_the_budget(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Slow(3.0, Answer(ranking(USER))), Answer(ranking(WEEKEND, STOP)))
    outcome, _ = rerank_once(configured(config, timeout_s=0.3, budget_s=1.5), candidates)
    assert outcome.status == "applied"
    assert ids(apply_rerank(candidates, outcome))[:2] == [WEEKEND, STOP]
    assert fake.calls() == 2


def test_429_then_an_answer_is_applied_after_one_retry(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Fail(429, retry_after="0"), Answer(ranking(STOP, USER)))
    outcome, _ = rerank_once(config, candidates)
    assert outcome.status == "applied"
    assert ids(apply_rerank(candidates, outcome))[:2] == [STOP, USER]
    assert fake.calls() == 2


def test_a_retry_after_past_the_budget_is_not_waited_for(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Fail(429, retry_after="30"), Answer(ranking(STOP, USER)))
    outcome, seconds = rerank_once(config, candidates)
    assert outcome.status == "error"
    assert outcome.detail == (
        "rate limited (HTTP 429); its Retry-After is past the budget (1 attempt)"
    )
    assert seconds < config.budget_s
    assert fake.calls() == 1
    assert apply_rerank(candidates, outcome) == cheap(candidates)


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_then_an_answer_is_applied_after_one_retry(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], status: int
) -> None:
    fake.script(Fail(status), Answer(ranking(WEEKEND)))
    outcome, _ = rerank_once(config, candidates)
    assert outcome.status == "applied"
    assert fake.calls() == 2


def test_500_twice_is_an_error_after_exactly_two_calls(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Fail(500), Fail(500), Answer(ranking(STOP)))
    outcome, _ = rerank_once(config, candidates)
    assert outcome.status == "error"
    assert outcome.detail == "server error (HTTP 500) (2 attempts)"
    assert fake.calls() == 2
    assert apply_rerank(candidates, outcome) == cheap(candidates)


def test_a_dropped_connection_is_retried_once(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Drop(), Answer(ranking(STOP)))
    outcome, _ = rerank_once(config, candidates)
    assert outcome.status == "applied"
    assert fake.calls() == 2
    fake.script(Drop(), Drop())
    outcome, _ = rerank_once(config, candidates, query="another query")
    assert outcome.status == "error"
    assert outcome.detail is not None and outcome.detail.startswith("connection failed")
    assert fake.calls() == 4


def test_an_unreachable_provider_is_an_error_within_the_budget(
    config: LLMConfig, candidates: list[Candidate]
) -> None:
    closed = FakeProvider().start()
    base_url = closed.base_url
    closed.stop()  # nothing listens there any more
    outcome, _ = rerank_once(configured(config, base_url=base_url), candidates)
    assert outcome.status == "error"
    assert outcome.detail == "connection failed (ConnectError) (2 attempts)"


def test_a_refused_key_is_an_error_without_a_retry(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    outcome, _ = rerank_once(configured(config, api_key="sk-wrong-key-000000"), candidates)
    assert outcome.status == "error"
    assert outcome.detail == "refused (HTTP 401) (1 attempt)"
    assert fake.calls() == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html>bad gateway</html>", "response body is not JSON (1 attempt)"),
        (b'{"unexpected": true}', "response has no text at "),
    ],
)
def test_a_broken_envelope_is_an_error(
    fake: FakeProvider,
    config: LLMConfig,
    candidates: list[Candidate],
    body: bytes,
    detail: str,
) -> None:
    fake.script(Raw(body))
    outcome, _ = rerank_once(config, candidates)
    assert outcome.status == "error"
    assert outcome.detail is not None and outcome.detail.startswith(detail)
    assert apply_rerank(candidates, outcome) == cheap(candidates)


def test_a_per_request_budget_overrides_the_configured_one(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    fake.script(Slow(3.0, Answer(ranking(STOP))))

    async def body(llm: LLMPass) -> PassOutcome:
        return await llm.rerank("q", INTENT, candidates, cache_key_extra=EXTRA, budget_s=0.4)

    outcome, seconds = timed(with_pass(configured(config, budget_s=10.0, timeout_s=10.0), body))
    assert outcome.status == "timeout"
    assert seconds < 0.4 + LATENCY_MARGIN_S


def test_no_budget_left_means_no_call(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate]
) -> None:
    async def body(llm: LLMPass) -> PassOutcome:
        return await llm.rerank("q", INTENT, candidates, cache_key_extra=EXTRA, budget_s=0.05)

    outcome, _ = timed(with_pass(config, body))
    assert outcome.status == "skipped"
    assert outcome.detail == "no time left in the budget"
    assert fake.calls() == 0


def test_no_candidates_means_no_call(fake: FakeProvider, config: LLMConfig) -> None:
    outcome, _ = rerank_once(config, [])
    assert (outcome.status, outcome.detail) == ("skipped", "no candidates")
    assert fake.calls() == 0


def test_an_unexpected_exception_falls_back_instead_of_failing_the_search(
    fake: FakeProvider,
    config: LLMConfig,
    candidates: list[Candidate],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("a bug")

    async def body(llm: LLMPass) -> PassOutcome:
        monkeypatch.setattr(type(llm.provider), "complete", broken)
        return await llm.rerank("q", INTENT, candidates, cache_key_extra=EXTRA)

    outcome, _ = timed(with_pass(config, body))
    assert (outcome.status, outcome.detail) == ("error", "unexpected RuntimeError (1 attempt)")
    assert apply_rerank(candidates, outcome) == cheap(candidates)

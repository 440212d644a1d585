"""The circuit breaker: a provider that keeps failing is not called until it resets."""

from __future__ import annotations

import asyncio

import pytest

from serve.llm import CIRCUIT_OPEN, Candidate, LLMConfig, LLMPass, PassOutcome
from serve.llm.breaker import CircuitBreaker
from tests.serve.llm._fake_provider import Answer, Fail, FakeProvider, Slow
from tests.serve.llm.conftest import STOP, FakeClock, ranking, timed, with_pass


def test_the_circuit_opens_after_k_failed_passes_and_half_opens_later(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], clock: FakeClock
) -> None:
    assert config.breaker_failures == 3
    fake.default = Fail(500)

    async def body(llm: LLMPass) -> list[PassOutcome]:
        outcomes = []
        for n in range(4):
            outcomes.append(await llm.rerank(f"q{n}", {}, candidates, cache_key_extra=()))
        assert fake.calls() == 6  # three failed passes, two calls each; none for the 4th
        clock.advance(29)
        outcomes.append(await llm.rerank("q4", {}, candidates, cache_key_extra=()))
        clock.advance(2)  # 31 s after opening: one trial goes through
        fake.script(Answer(ranking(STOP)))
        outcomes.append(await llm.rerank("q5", {}, candidates, cache_key_extra=()))
        outcomes.append(await llm.rerank("q6", {}, candidates, cache_key_extra=()))
        return outcomes

    outcomes, _ = timed(with_pass(config, body, clock=clock))
    assert [o.status for o in outcomes] == [
        "error",
        "error",
        "error",
        "skipped",
        "skipped",
        "applied",
        "error",  # closed again: calls go out (and the default 500 answers them)
    ]
    assert outcomes[3].detail == CIRCUIT_OPEN
    assert outcomes[3].elapsed_ms < 50
    assert fake.calls() == 6 + 1 + 2


def test_a_failed_trial_opens_the_circuit_again(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], clock: FakeClock
) -> None:
    fake.default = Fail(503)

    async def body(llm: LLMPass) -> list[str]:
        statuses: list[str] = []
        for n in range(3):
            statuses.append((await llm.rerank(f"q{n}", {}, candidates, cache_key_extra=())).status)
        clock.advance(30)
        statuses.append((await llm.rerank("trial", {}, candidates, cache_key_extra=())).status)
        statuses.append((await llm.rerank("after", {}, candidates, cache_key_extra=())).status)
        clock.advance(30)
        fake.script(Answer(ranking(STOP)))
        statuses.append((await llm.rerank("trial 2", {}, candidates, cache_key_extra=())).status)
        return statuses

    statuses, _ = timed(with_pass(config, body, clock=clock))
    assert statuses == ["error", "error", "error", "error", "skipped", "applied"]
    assert fake.calls() == 3 * 2 + 2 + 1


def test_invalid_answers_do_not_count_as_provider_failures(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], clock: FakeClock
) -> None:
    fake.default = Answer("not json")

    async def body(llm: LLMPass) -> list[str]:
        return [
            (await llm.rerank(f"q{n}", {}, candidates, cache_key_extra=())).status for n in range(5)
        ]

    statuses, _ = timed(with_pass(config, body, clock=clock))
    assert statuses == ["invalid_output"] * 5
    assert fake.calls() == 5


def test_a_cached_answer_is_served_while_the_circuit_is_open(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], clock: FakeClock
) -> None:
    fake.script(Answer(ranking(STOP)))

    async def body(llm: LLMPass) -> list[str]:
        statuses: list[str] = [(await llm.rerank("q", {}, candidates, cache_key_extra=())).status]
        for n in range(3):
            statuses.append((await llm.rerank(f"x{n}", {}, candidates, cache_key_extra=())).status)
        statuses.append((await llm.rerank("q", {}, candidates, cache_key_extra=())).status)
        statuses.append((await llm.rerank("y", {}, candidates, cache_key_extra=())).status)
        return statuses

    statuses, _ = timed(with_pass(config, body, clock=clock))
    assert statuses == ["applied", "error", "error", "error", "cached", "skipped"]


# --- the state machine on its own ---


def test_half_open_lets_exactly_one_trial_through(clock: FakeClock) -> None:
    breaker = CircuitBreaker("p:m", failures=2, reset_s=10, clock=clock)
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.advance(10)
    assert breaker.state == "half_open"
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # a concurrent second caller waits for the verdict
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_a_trial_without_a_verdict_frees_its_slot(clock: FakeClock) -> None:
    breaker = CircuitBreaker("p:m", failures=1, reset_s=5, clock=clock)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()
    breaker.release()  # e.g. the request was cancelled mid-call
    assert breaker.allow()


def test_a_success_resets_the_count_of_consecutive_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker("p:m", failures=2, reset_s=5, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_at_least_one_failure_is_needed_to_open() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CircuitBreaker("p:m", failures=0)


def test_a_cancelled_trial_does_not_wedge_the_breaker(
    fake: FakeProvider, config: LLMConfig, candidates: list[Candidate], clock: FakeClock
) -> None:
    fake.default = Fail(500)

    async def body(llm: LLMPass) -> list[str]:
        for n in range(3):
            await llm.rerank(f"q{n}", {}, candidates, cache_key_extra=())
        clock.advance(30)
        fake.script(Slow(5.0, Answer(ranking(STOP))))
        trial = asyncio.create_task(llm.rerank("trial", {}, candidates, cache_key_extra=()))
        while fake.calls() < 7:  # the trial's request has reached the provider
            await asyncio.sleep(0.01)
        concurrent = await llm.rerank("meanwhile", {}, candidates, cache_key_extra=())
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial
        fake.script(Answer(ranking(STOP)))
        after = await llm.rerank("after", {}, candidates, cache_key_extra=())
        return [concurrent.status, after.status]

    statuses, _ = timed(with_pass(config, body, clock=clock))
    assert statuses == ["skipped", "applied"]

"""Fixtures for the LLM pass: the scripted provider on loopback, candidates, a fake clock."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from serve.llm import PROMPT_VERSION, Candidate, LLMConfig, LLMPass, PassOutcome
from tests.serve.llm._fake_provider import ANTHROPIC_PATH, OPENAI_PATH, FakeProvider

T = TypeVar("T")

API_KEY = "sk-fake-7f3c9a1e5b2d4c6e8a0b"
MODEL = "fake-model-1"
PATHS = {"openai": OPENAI_PATH, "anthropic": ANTHROPIC_PATH}
# Generous: this bounds the budget logic's behaviour, it is not a performance claim.
LATENCY_MARGIN_S = 1.0


def candidate(
    id_: str,
    *,
    source: str = "escher_library",
    status: str = "active",
    description: str = "Safely stop an RDS instance with pre-flight checks.",
    score: float = 0.5,
) -> Candidate:
    _collection, playbook_id, version = id_.split("/")
    return Candidate(
        id=id_,
        playbook_id=playbook_id,
        version=version,
        source=source,
        status=status,
        name=playbook_id.replace("-", " ").title(),
        description=description,
        keywords=("rds", "stop"),
        resource_types=("rds::instance",),
        success_count=9,
        execution_count=10,
        prerequisites=("Stop permission",),
        cheap_score=score,
        cheap_reason=f"cheap reason for {playbook_id} {version}",
    )


USER = "tenant_acme_playbooks/user-weekend-shutdown/1.2.0"
STOP = "escher_library/escher-aws-rds-stop/1.2.0"
WEEKEND = "escher_library/escher-aws-rds-weekend-automation/1.5.0"
USER_OLD = "tenant_acme_playbooks/user-weekend-shutdown/1.0.0"
HIDDEN = "tenant_acme_playbooks/user-broken-shutdown/0.1.0"  # broken: never a candidate
FOREIGN = "tenant_globex_playbooks/globex-rds-stop/1.0.0"  # another tenant's


@pytest.fixture
def candidates() -> list[Candidate]:
    """Four visible candidates, best first, as the cheap ranking produced them."""
    return [
        candidate(USER, source="tenant", score=0.9),
        candidate(STOP, score=0.8),
        candidate(WEEKEND, score=0.7),
        candidate(USER_OLD, source="tenant", status="deprecated", score=0.6),
    ]


def ranking(*ids: str, confidence: float = 0.9, reason: str = "Fits the request.") -> str:
    """The model's answer text ranking ``ids`` in that order."""
    return json.dumps(
        {
            "ranking": [
                {"id": i, "rank": n, "confidence": confidence, "reason": f"{reason} ({n})"}
                for n, i in enumerate(ids, 1)
            ]
        }
    )


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    server = FakeProvider(api_key=API_KEY).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["openai", "anthropic"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def config(fake: FakeProvider, provider: str) -> LLMConfig:
    """A pass against the fake: 1.0 s per call, 1.5 s per pass."""
    return LLMConfig(
        provider=provider,
        model=MODEL,
        base_url=fake.base_url,
        api_key=API_KEY,
        timeout_s=1.0,
        budget_s=1.5,
        breaker_failures=3,
        breaker_reset_s=30.0,
    )


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine in a fresh event loop (each test owns its loop and client)."""

    async def main() -> T:
        return await make()

    return asyncio.run(main())


def timed(make: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    """``run(make)`` and the wall-clock seconds it took, as seen by the caller."""
    start = time.monotonic()
    result = run(make)
    return result, time.monotonic() - start


def with_pass(
    config: LLMConfig, body: Callable[[LLMPass], Awaitable[T]], **kwargs: Any
) -> Callable[[], Awaitable[T]]:
    """A coroutine factory: open a pass on ``config``, run ``body``, close the pass."""

    async def go() -> T:
        async with LLMPass(config, **kwargs) as llm:
            return await body(llm)

    return go


def configured(config: LLMConfig, **changes: Any) -> LLMConfig:
    return replace(config, **changes)


INTENT = {"action": "stop", "cloud_provider": "aws", "resource_types": ["rds::instance"]}
EXTRA = ({"cloud_provider": "aws"}, "manifest-0001")


def rerank_once(
    config: LLMConfig, candidates: list[Candidate], *, query: str = "stop rds for the weekend"
) -> tuple[PassOutcome, float]:
    async def body(llm: LLMPass) -> PassOutcome:
        return await llm.rerank(query, INTENT, candidates, cache_key_extra=EXTRA)

    outcome, seconds = timed(with_pass(config, body))
    assert seconds < config.budget_s + LATENCY_MARGIN_S
    assert outcome.elapsed_ms / 1000 < config.budget_s + LATENCY_MARGIN_S
    assert outcome.model == MODEL
    assert outcome.prompt_version == PROMPT_VERSION
    return outcome, seconds


def ids(final: list[tuple[Candidate, float, str]]) -> list[str]:
    return [c.id for c, _, _ in final]


def cheap(candidates: list[Candidate]) -> list[tuple[Candidate, float, str]]:
    return [(c, c.cheap_score, c.cheap_reason) for c in candidates]

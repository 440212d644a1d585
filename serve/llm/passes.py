"""The LLM pass: intent extraction (spec STEP 1) and re-ranking (spec STEP 3) over HTTP.

Neither pass raises. Each returns a :class:`PassOutcome` saying what happened:

- ``applied``: the model answered and the answer passed :mod:`serve.llm.validate`;
- ``cached``: the same question was answered and accepted before (no call made);
- ``timeout``: no answer within the budget (after at most one retry);
- ``error``: the provider refused or failed (HTTP 4xx/5xx, connection, bad envelope);
- ``invalid_output``: an answer arrived but broke the contract; it is discarded;
- ``skipped``: no call was made (circuit open, no candidates, budget already spent).

Every pass runs within one budget (default 2 s) minus a reserve, so the caller's cheap
fallback always has time to run. A call is retried at most once, on a timeout, HTTP 429,
5xx or a connection error, and only if the budget still allows it (a ``Retry-After`` is
honoured only within the budget). A circuit breaker per provider and model stops calls to
one that keeps failing; accepted answers are cached.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import httpx

from serve.llm.breaker import CircuitBreaker
from serve.llm.budget import RETRY_BACKOFF_S, Budget
from serve.llm.cache import TTLCache, cache_key
from serve.llm.config import LLMConfig
from serve.llm.outcome import CIRCUIT_OPEN, Candidate, PassOutcome, RerankItem, Status
from serve.llm.prompts import PROMPT_VERSION, intent_messages, rerank_messages
from serve.llm.providers import PROVIDERS, Provider, ProviderFailure
from serve.llm.validate import InvalidOutput, parse_json_object, validate_intent, validate_ranking

log = logging.getLogger("serve.llm")

INTENT_MAX_TOKENS: Final = 400
RERANK_BASE_TOKENS: Final = 120
RERANK_TOKENS_PER_CANDIDATE: Final = 160


class _Failed:
    """Why no answer text came back."""

    def __init__(self, status: Status, detail: str) -> None:
        self.status: Status = status
        self.detail = detail


class LLMPass:
    """One configured provider and model, with its HTTP client, breaker and cache.

    ``clock`` drives the circuit breaker and the cache's time-to-live; budgets always run
    on the real monotonic clock, as the timeouts that enforce them do. Close with
    :meth:`aclose` (or use ``async with``).
    """

    def __init__(self, config: LLMConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.provider: Provider = PROVIDERS[config.provider](
            config.resolved_base_url, config.model, config.api_key
        )
        self.breaker = CircuitBreaker(
            f"{config.provider}:{config.model}",
            failures=config.breaker_failures,
            reset_s=config.breaker_reset_s,
            clock=clock,
        )
        self._rankings: TTLCache[tuple[RerankItem, ...]] = TTLCache(
            config.cache_size, config.cache_ttl_s, clock=clock
        )
        self._intents: TTLCache[dict[str, Any]] = TTLCache(
            config.cache_size, config.cache_ttl_s, clock=clock
        )
        self._client = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False)

    def __repr__(self) -> str:
        return f"LLMPass(provider={self.config.provider!r}, model={self.config.model!r})"

    @classmethod
    def from_settings(cls, settings: Any) -> LLMPass | None:
        """A pass for the ``llm_*`` settings, or None when no provider is configured."""
        config = LLMConfig.from_settings(settings)
        return None if config is None else cls(config)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> LLMPass:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- the two passes ---

    async def rerank(
        self,
        query: str,
        intent: Mapping[str, Any],
        candidates: Sequence[Candidate],
        *,
        cache_key_extra: tuple[Any, ...],
        budget_s: float | None = None,
    ) -> PassOutcome:
        """Ask the model to reorder and explain the first ``rerank_top_n`` candidates.

        ``cache_key_extra`` must hold whatever else decides the answer: the filters and the
        manifest id at least. On ``applied``/``cached`` the outcome's items name only ids
        of those candidates, each once; on anything else use the cheap ranking.
        """
        started = time.monotonic()
        budget = Budget(self.config.budget_s if budget_s is None else budget_s)
        top = tuple(candidates[: self.config.rerank_top_n])
        ids = [c.id for c in top]
        if not top:
            return self._finish("rerank", "skipped", "no candidates", started)
        if len(set(ids)) != len(ids):
            return self._finish("rerank", "skipped", "candidate ids are not unique", started)
        key = self._key("rerank", query, dict(intent), cache_key_extra, ids)
        cached = self._rankings.get(key)
        if cached is not None:
            return self._finish("rerank", "cached", None, started, items=cached)
        system, user = rerank_messages(query, intent, top)
        max_tokens = RERANK_BASE_TOKENS + RERANK_TOKENS_PER_CANDIDATE * len(top)
        answer = await self._ask(system, user, max_tokens, budget)
        if isinstance(answer, _Failed):
            return self._finish("rerank", answer.status, answer.detail, started)
        try:
            items = validate_ranking(parse_json_object(answer), ids)
        except InvalidOutput as exc:
            return self._finish("rerank", "invalid_output", str(exc), started)
        self._rankings.put(key, items)
        return self._finish("rerank", "applied", None, started, items=items)

    async def extract_intent(
        self, query: str, *, budget_s: float | None = None
    ) -> tuple[dict[str, Any] | None, PassOutcome]:
        """The model's STEP 1 intent for ``query`` (see :func:`validate_intent`), or None
        with the reason in the outcome. Merge it with :func:`serve.llm.merge_intent`."""
        started = time.monotonic()
        budget = Budget(self.config.budget_s if budget_s is None else budget_s)
        key = self._key("intent", query)
        cached = self._intents.get(key)
        if cached is not None:
            return copy.deepcopy(cached), self._finish("intent", "cached", None, started)
        system, user = intent_messages(query)
        answer = await self._ask(system, user, INTENT_MAX_TOKENS, budget)
        if isinstance(answer, _Failed):
            return None, self._finish("intent", answer.status, answer.detail, started)
        try:
            intent = validate_intent(parse_json_object(answer))
        except InvalidOutput as exc:
            return None, self._finish("intent", "invalid_output", str(exc), started)
        self._intents.put(key, intent)
        return copy.deepcopy(intent), self._finish("intent", "applied", None, started)

    # --- helpers ---

    def _key(self, *parts: object) -> str:
        return cache_key(
            *parts, self.provider.name, self.provider.base_url, self.config.model, PROMPT_VERSION
        )

    async def _ask(self, system: str, user: str, max_tokens: int, budget: Budget) -> str | _Failed:
        """The answer text, within ``budget``, retried at most once; or why there is none."""
        if not budget.allows():
            return _Failed("skipped", "no time left in the budget")
        if not self.breaker.allow():
            return _Failed("skipped", CIRCUIT_OPEN)
        settled = False
        try:
            attempts = 0
            note = ""
            while True:
                attempts += 1
                result = await self._attempt(system, user, max_tokens, budget)
                if isinstance(result, str):
                    self.breaker.record_success()
                    settled = True
                    return result
                if attempts >= 2 or not result.retryable:
                    break
                wait = RETRY_BACKOFF_S if result.retry_after is None else result.retry_after
                if not budget.allows(wait):
                    if result.retry_after is not None:
                        note = "; its Retry-After is past the budget"
                    break
                await asyncio.sleep(wait)
            self.breaker.record_failure()
            settled = True
            status: Status = "timeout" if result.kind == "timeout" else "error"
            tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
            return _Failed(status, f"{result.detail}{note} ({tries})")
        finally:
            if not settled:  # cancelled mid-call: free a half-open trial slot
                self.breaker.release()

    async def _attempt(
        self, system: str, user: str, max_tokens: int, budget: Budget
    ) -> str | ProviderFailure:
        """One call, cut off at the per-call timeout or the budget, whichever is sooner."""
        timeout = budget.call_timeout(self.config.timeout_s)
        try:
            async with asyncio.timeout(timeout):
                return await self.provider.complete(
                    self._client, system, user, max_tokens=max_tokens, timeout=timeout
                )
        except TimeoutError:
            return ProviderFailure("timeout", f"no answer within {timeout:.2f} s")
        except ProviderFailure as exc:
            return exc
        except Exception as exc:  # a bug must not fail the search: fall back, and say so
            log.error("llm call failed unexpectedly: %s", type(exc).__name__)
            return ProviderFailure("protocol", f"unexpected {type(exc).__name__}")

    def _finish(
        self,
        kind: str,
        status: Status,
        detail: str | None,
        started: float,
        *,
        items: tuple[RerankItem, ...] | None = None,
    ) -> PassOutcome:
        if detail and self.config.api_key:  # a last guard: no detail may carry the key
            detail = detail.replace(self.config.api_key, "[redacted]")
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        outcome = PassOutcome(status, self.config.model, PROMPT_VERSION, detail, items, elapsed_ms)
        failed = status in ("timeout", "error", "invalid_output")
        log.log(
            logging.WARNING if failed else logging.INFO,
            "llm %s pass %s%s",
            kind,
            status,
            f": {detail}" if detail else "",
            extra={
                "llm_pass": kind,
                "llm_status": status,
                "llm_provider": self.config.provider,
                "llm_model": self.config.model,
                "llm_prompt_version": PROMPT_VERSION,
                "duration_ms": elapsed_ms,
            },
        )
        return outcome

"""The optional LLM re-rank step, run on a finished search response.

Off by default: a request asks for it with ``"rerank": true``, and it runs only when a
provider is configured (``PLAYBOOKS_LLM_PROVIDER``, see :mod:`serve.llm`). It takes the
top ``llm_rerank_top_n`` results of the cheap ranking (already filtered to what the
caller may see), asks the model to reorder and explain them (:meth:`LLMPass.rerank`) and
folds the answer in with :func:`serve.llm.apply_rerank`:

- only those results move; the rest keep their order after them, ranks are renumbered;
- a result the model ranked gets the model's ``confidence`` and a ``reason`` that starts
  with the model's reason; the deterministic one stays in ``reason_deterministic`` (and
  the cheap confidence in ``confidence_deterministic``);
- nothing can be added: the pass only accepts ids it was given, and this step checks it
  again; on any other outcome the response is left exactly as the cheap ranking made it.

Every response gets a ``rerank`` object saying what happened: ``status`` (one of
:data:`serve.llm.STATUSES`), ``model``, ``prompt_version``, ``detail``, ``elapsed_ms``
and ``candidates`` (how many results were offered). When the pass ran, its time is also
in ``timings_ms.rerank`` and in ``took_ms``.

The same ``"rerank": true`` also runs the intent pass (:meth:`LLMPass.extract_intent`,
:func:`extract_llm_intent`) *before* the cheap ranking, with :data:`INTENT_SHARE` of the
request's LLM budget; :func:`serve.search.run_search` merges its answer into the rule-based
intent (``llm_intent=``) and the re-rank gets what is left of the budget
(:func:`remaining_budget`). Every response gets an ``llm_intent`` object (:func:`mark_intent`):
``status``, ``model``, ``prompt_version``, ``detail``, ``elapsed_ms``. On any failure the
intent is the rules' alone and the search answers as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from serve.llm import PROMPT_VERSION, Candidate, LLMPass, PassOutcome, apply_rerank
from serve.request import SearchRequest

log = logging.getLogger("serve.rerank")

NOT_REQUESTED: Final = "not requested"
# The pass keeps to its budget by itself; this outer limit only guards against a bug.
OVERRUN_GRACE_S: Final = 0.25
# The intent pass's share of the request's LLM budget; the re-rank gets the rest.
INTENT_SHARE: Final = 0.4


def candidate_id(result: Mapping[str, Any]) -> str:
    """The opaque id a result is known by to the model: ``collection/playbook_id/version``."""
    return f"{result['collection']}/{result['playbook_id']}/{result['version']}"


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v) for v in value)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def to_candidate(result: Mapping[str, Any]) -> Candidate:
    """A search result as a candidate of the pass (its text fields from ``metadata``)."""
    meta = result.get("metadata") or {}
    return Candidate(
        id=candidate_id(result),
        playbook_id=str(result["playbook_id"]),
        version=str(result["version"]),
        source=str(result["source"]),
        status=str(result["status"]),
        name=str(meta.get("name") or ""),
        description=str(meta.get("description") or ""),
        keywords=_strings(meta.get("keywords")),
        resource_types=_strings(meta.get("resource_types")),
        success_count=_count(meta.get("success_count")),
        execution_count=_count(meta.get("execution_count")),
        prerequisites=_strings(meta.get("prerequisites")),
        cheap_score=float(result.get("confidence") or 0.0),
        cheap_reason=str(result.get("reason") or ""),
    )


def _report(outcome: PassOutcome, offered: int) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "model": outcome.model,
        "prompt_version": outcome.prompt_version,
        "detail": outcome.detail,
        "elapsed_ms": outcome.elapsed_ms,
        "candidates": offered,
    }


def skip_reason(request: SearchRequest, llm: LLMPass | None) -> PassOutcome | None:
    """The ``skipped`` outcome when the pass will not run for ``request``, else None."""
    if not request.rerank:
        model = llm.config.model if llm is not None else None
        return PassOutcome("skipped", model, PROMPT_VERSION, NOT_REQUESTED)
    if llm is None:
        return PassOutcome.not_configured()
    return None


def mark_skipped(response: dict[str, Any], outcome: PassOutcome) -> dict[str, Any]:
    """Record a pass that did not run; the results are untouched."""
    response["rerank"] = _report(outcome, 0)
    return response


def _prompt_intent(response: Mapping[str, Any]) -> dict[str, Any]:
    intent = response.get("intent")
    if not isinstance(intent, Mapping):
        return {}
    return {k: v for k, v in intent.items() if k not in ("corrections", "llm_fields")}


async def extract_llm_intent(
    request: SearchRequest, llm: LLMPass | None, *, budget_s: float
) -> tuple[dict[str, Any] | None, PassOutcome]:
    """The model's STEP 1 intent for ``request`` (None when the pass is not requested, not
    configured or failed) and its outcome, within ``INTENT_SHARE * budget_s``; never raises."""
    skipped = skip_reason(request, llm)
    if skipped is not None:
        return None, skipped
    assert llm is not None
    share = INTENT_SHARE * budget_s
    try:
        async with asyncio.timeout(share + OVERRUN_GRACE_S):
            return await llm.extract_intent(request.query, budget_s=share)
    except TimeoutError:
        return None, PassOutcome(
            "timeout", llm.config.model, PROMPT_VERSION, "the pass overran its budget"
        )
    except Exception as exc:  # the pass never raises; if it does, the search must not fail
        log.error("llm intent step failed unexpectedly: %s", type(exc).__name__)
        return None, PassOutcome(
            "error", llm.config.model, PROMPT_VERSION, f"unexpected {type(exc).__name__}"
        )


def remaining_budget(budget_s: float, started: float) -> float:
    """What is left of ``budget_s`` for the re-rank, the intent pass having begun at
    ``started`` (``time.perf_counter()``); never negative."""
    return max(0.0, budget_s - (time.perf_counter() - started))


def mark_intent(response: dict[str, Any], outcome: PassOutcome) -> dict[str, Any]:
    """Record the intent pass's outcome in ``response["llm_intent"]``."""
    response["llm_intent"] = {
        "status": outcome.status,
        "model": outcome.model,
        "prompt_version": outcome.prompt_version,
        "detail": outcome.detail,
        "elapsed_ms": outcome.elapsed_ms,
    }
    return response


def cache_key_extra(
    request: SearchRequest, manifest_id: str | None, tenant: str
) -> tuple[str | None, str, str, str, str]:
    """What besides the query, intent and candidate ids decides the model's answer."""
    return (manifest_id, tenant, request.filters.canonical(), request.mode, request.versions)


def _joined_reason(model_reason: str, deterministic: str) -> str:
    if not deterministic:
        return model_reason
    stop = "" if model_reason.endswith((".", "!", "?")) else "."
    return f"{model_reason}{stop} {deterministic}"


def _reorder(
    results: list[dict[str, Any]],
    candidates: Sequence[Candidate],
    final: Sequence[tuple[Candidate, float, str]],
) -> list[dict[str, Any]]:
    """The top results in ``final``'s order (with the model's words), then the rest."""
    by_id = {candidate_id(r): r for r in results[: len(candidates)]}
    reordered: list[dict[str, Any]] = []
    for candidate, confidence, reason in final:
        result = by_id[candidate.id]
        result["reason_deterministic"] = candidate.cheap_reason
        result["confidence_deterministic"] = candidate.cheap_score
        if reason != candidate.cheap_reason or confidence != candidate.cheap_score:
            result["confidence"] = round(float(confidence), 4)
            result["reason"] = _joined_reason(reason, candidate.cheap_reason)
        reordered.append(result)
    out = reordered + results[len(candidates) :]
    for rank, result in enumerate(out, start=1):
        result["rank"] = rank
    return out


async def _rerank(
    llm: LLMPass,
    query: str,
    intent: Mapping[str, Any],
    candidates: Sequence[Candidate],
    extra: tuple[Any, ...],
    budget_s: float,
) -> PassOutcome:
    try:
        async with asyncio.timeout(budget_s + OVERRUN_GRACE_S):
            return await llm.rerank(
                query, intent, candidates, cache_key_extra=extra, budget_s=budget_s
            )
    except TimeoutError:
        return PassOutcome(
            "timeout", llm.config.model, PROMPT_VERSION, "the pass overran its budget"
        )
    except Exception as exc:  # the pass never raises; if it does, the search must not fail
        log.error("llm re-rank step failed unexpectedly: %s", type(exc).__name__)
        return PassOutcome(
            "error", llm.config.model, PROMPT_VERSION, f"unexpected {type(exc).__name__}"
        )


async def apply_llm_pass(
    response: dict[str, Any],
    request: SearchRequest,
    llm: LLMPass | None,
    *,
    manifest_id: str | None,
    tenant: str,
    budget_s: float,
) -> dict[str, Any]:
    """``response`` with the pass applied (or not) and its ``rerank`` report; never raises.

    ``response`` is :func:`serve.search.run_search`'s, for ``request`` as ``tenant``; it is
    updated in place and returned.
    """
    skipped = skip_reason(request, llm)
    if skipped is not None:
        return mark_skipped(response, skipped)
    assert llm is not None
    started = time.perf_counter()
    results: list[dict[str, Any]] = list(response.get("results") or [])
    top = results[: llm.config.rerank_top_n]
    candidates = [to_candidate(r) for r in top]
    outcome = await _rerank(
        llm,
        request.query,
        _prompt_intent(response),
        candidates,
        cache_key_extra(request, manifest_id, tenant),
        budget_s,
    )
    if outcome.used:
        final = apply_rerank(candidates, outcome)
        given = [c.id for c in candidates]
        if sorted(c.id for c, _, _ in final) != sorted(given):  # never add, drop or repeat
            log.error("llm re-rank result does not match its candidates; cheap order kept")
            outcome = PassOutcome(
                "error", outcome.model, outcome.prompt_version, "re-rank changed the candidate set"
            )
        else:
            response["results"] = _reorder(results, candidates, final)
    response["rerank"] = _report(outcome, len(candidates))
    spent_ms = round((time.perf_counter() - started) * 1000, 3)
    timings = response.get("timings_ms")
    if isinstance(timings, dict):
        timings["rerank"] = spent_ms
    if isinstance(response.get("took_ms"), int | float):
        response["took_ms"] = round(response["took_ms"] + spent_ms, 2)
    return response

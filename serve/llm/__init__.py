"""The optional LLM pass: intent extraction and re-ranking by an external model over HTTP.

Off unless ``PLAYBOOKS_LLM_PROVIDER`` is set (:meth:`LLMPass.from_settings` returns None).
The search path uses it around the cheap ranking, splitting one budget per request::

    budget = Budget(settings.llm_budget_seconds)
    llm_intent, intent_outcome = await llm.extract_intent(query, budget_s=0.4 * budget.total_s)
    intent = merge_intent(rule_intent, llm_intent, explicit_filters)
    ...  # cheap ranking -> candidates (visible ones only), best first
    outcome = await llm.rerank(query, intent, candidates,
                               cache_key_extra=(filters, manifest_id),
                               budget_s=budget.remaining())
    final = apply_rerank(candidates, outcome)   # [(candidate, confidence, reason)]

When the pass is off (``llm is None``) a request asking for it reports
``PassOutcome.not_configured()`` (status ``skipped``).

It never raises and never adds a candidate: an answer is used only if it is valid JSON
naming only the ids it was given, each at most once; otherwise the cheap order stands
and ``outcome.status`` says why (see :mod:`serve.llm.passes`). Tenant-written playbook
fields reach the model only as quoted data (:mod:`serve.llm.prompts`).
"""

from serve.llm.budget import Budget
from serve.llm.config import LLMConfig
from serve.llm.merge import apply_rerank, merge_intent
from serve.llm.outcome import (
    CIRCUIT_OPEN,
    NOT_CONFIGURED,
    STATUSES,
    Candidate,
    PassOutcome,
    RerankItem,
    Status,
)
from serve.llm.passes import LLMPass
from serve.llm.prompts import PROMPT_VERSION

__all__ = [
    "CIRCUIT_OPEN",
    "NOT_CONFIGURED",
    "PROMPT_VERSION",
    "STATUSES",
    "Budget",
    "Candidate",
    "LLMConfig",
    "LLMPass",
    "PassOutcome",
    "RerankItem",
    "Status",
    "apply_rerank",
    "merge_intent",
]

"""Folding the model's answers into the deterministic results.

:func:`merge_intent`: explicit request filters always win, then the rule-based intent
wherever it says something, then the model fills the gaps (keywords are the union).
:func:`apply_rerank`: the final order; the model can only reorder the candidates it was
given and explain them. Nothing here can add a candidate.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from serve.llm.outcome import Candidate, PassOutcome
from serve.llm.validate import INTENT_KEYS

# Explicit filters with these names override the intent's top-level field of the same
# name; any other explicit filter overrides the key of that name in intent["filters"].
TOP_LEVEL_FILTERS: Final = frozenset({"action", "cloud_provider", "resource_types", "use_case"})


def _unset(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == () or value == {}


def merge_intent(
    rule_intent: Mapping[str, Any],
    llm_intent: Mapping[str, Any] | None,
    explicit_filters: Mapping[str, Any],
) -> dict[str, Any]:
    """One intent: ``explicit_filters`` > ``rule_intent`` (where set) > ``llm_intent``.

    Only the STEP 1 fields of ``llm_intent`` are read. The model only fills fields the
    rules left empty (``None``, ``""``, ``[]``, ``{}``); ``filters`` merge key by key the
    same way; ``keywords`` are the rules' keywords followed by the model's new ones.
    Inputs are not modified.
    """
    merged: dict[str, Any] = copy.deepcopy(dict(rule_intent))
    for key, value in (llm_intent or {}).items():
        if key not in INTENT_KEYS or _unset(value):
            continue
        current = merged.get(key)
        if key == "filters" and isinstance(value, Mapping):
            rule_filters = current if isinstance(current, Mapping) else {}
            merged[key] = {
                **copy.deepcopy(dict(value)),
                **{k: v for k, v in rule_filters.items() if not _unset(v)},
            }
        elif key == "keywords" and isinstance(value, list | tuple):
            rule_keywords = list(current) if isinstance(current, list | tuple) else []
            merged[key] = rule_keywords + [k for k in value if k not in rule_keywords]
        elif _unset(current):
            merged[key] = copy.deepcopy(value)
    for key, value in explicit_filters.items():
        if key in TOP_LEVEL_FILTERS:
            merged[key] = copy.deepcopy(value)
        else:
            filters = merged.get("filters")
            merged["filters"] = {
                **(filters if isinstance(filters, Mapping) else {}),
                key: copy.deepcopy(value),
            }
    return merged


def apply_rerank(
    candidates: Sequence[Candidate], outcome: PassOutcome
) -> list[tuple[Candidate, float, str]]:
    """``(candidate, confidence, reason)`` in final order.

    With no items (any status but applied/cached) this is the cheap order with the cheap
    scores and reasons. Otherwise the ranked candidates come first, by rank, with the
    model's confidence and reason, then every candidate the model did not mention in cheap
    order. Items naming an id not among ``candidates`` are ignored, so nothing hidden or
    foreign can appear. Precedence between versions of one playbook still holds: the
    positions such versions end up in are refilled in their cheap relative order.
    """
    cheap = [(c, c.cheap_score, c.cheap_reason) for c in candidates]
    if not outcome.items:
        return cheap
    by_id = {c.id: c for c in candidates}
    ranked: list[tuple[Candidate, float, str]] = []
    mentioned: set[str] = set()
    for item in sorted(outcome.items, key=lambda i: i.rank):
        if item.id in by_id and item.id not in mentioned:
            mentioned.add(item.id)
            ranked.append((by_id[item.id], item.confidence, item.reason))
    if not ranked:
        return cheap
    order = ranked + [entry for entry in cheap if entry[0].id not in mentioned]
    return _keep_version_precedence(order, candidates)


def _keep_version_precedence(
    order: list[tuple[Candidate, float, str]], candidates: Sequence[Candidate]
) -> list[tuple[Candidate, float, str]]:
    cheap_position = {c.id: n for n, c in enumerate(candidates)}
    slots: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for n, (candidate, _, _) in enumerate(order):
        slots[(candidate.source, candidate.playbook_id)].append(n)
    result = list(order)
    for positions in slots.values():
        if len(positions) > 1:
            entries = sorted((order[n] for n in positions), key=lambda e: cheap_position[e[0].id])
            for n, entry in zip(positions, entries, strict=True):
                result[n] = entry
    return result

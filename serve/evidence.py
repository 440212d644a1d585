"""Intent evidence: score deltas from what the query asks for, per candidate row.

For a hybrid search, each candidate gets (on the fused-relevance scale, about 0..1):

- ``action`` +ACTION_BOOST when its name has the query's verb, or ``FAMILY_SHARE`` of
  it for a close verb of the same family (:data:`serve.intent.ACTION_FAMILY`) when no
  opposite verb is there too; ``opposite_action`` -OPPOSITE_PENALTY when its name has an
  opposite verb (only when the intent is confident about the direction);
- ``other_provider`` - when it targets providers and none is the one the query names or
  implies (confident: PROVIDER_PENALTY_CONFIDENT, else PROVIDER_PENALTY_SOFT);
- ``resource_type`` +RESOURCE_BOOST when it has a resource type the query names;
- ``service_missing`` -SERVICE_MISSING_PENALTY when none of the services the query names
  appears in its text (off: 0.0, as measured).

:func:`intent_adjustments` states the rule for one row; :func:`adjustment_parts` computes
the same deltas for many rows at once from the collection's inverted lists (label -> rows)
and keyword postings, which is what a search uses. Deltas are added in the order above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from serve.intent import ACTION_FAMILY, Intent
from serve.keyword import tokens

if TYPE_CHECKING:
    from serve.collection import LoadedCollection

ACTION_BOOST = 0.08
OPPOSITE_PENALTY = 0.15
PROVIDER_PENALTY_CONFIDENT = 0.12
PROVIDER_PENALTY_SOFT = 0.04
RESOURCE_BOOST = 0.03
FAMILY_SHARE = 0.75  # of ACTION_BOOST, for a close verb (serve.intent.ACTION_FAMILY)
# A named service (rds, sqs...) absent from a playbook's text: off, as measured on
# real_runbooks (0.03 -> 0.8873, 0.06 -> 0.8845 NDCG@10 against 0.8901 without).
SERVICE_MISSING_PENALTY = 0.0
PARTS = ("service_missing", "action", "opposite_action", "other_provider", "resource_type")


def service_terms(intent: Intent) -> tuple[frozenset[str], ...]:
    """The index terms of each service the query names (``"autoscaling group"`` ->
    ``{"autoscal", "group"}``)."""
    return tuple(t for t in (frozenset(tokens(s)) for s in intent.services) if t)


def _provider_penalty(intent: Intent) -> float:
    return PROVIDER_PENALTY_CONFIDENT if intent.provider_confident else PROVIDER_PENALTY_SOFT


def intent_adjustments(
    coll: LoadedCollection,
    row: int,
    intent: Intent,
    services: Sequence[frozenset[str]] = (),
) -> dict[str, float]:
    """Score deltas from the query's intent for one row (empty when nothing applies);
    ``services`` are :func:`service_terms`, for the missing-service penalty."""
    f = coll.features
    out: dict[str, float] = {}
    if services and SERVICE_MISSING_PENALTY:
        held = f.keyword.doc_terms[row]
        if not any(terms <= held for terms in services):
            out["service_missing"] = -SERVICE_MISSING_PENALTY
    verbs = f.verbs[row]
    if intent.action_confident and intent.action:
        if intent.action in verbs:
            out["action"] = ACTION_BOOST
        elif verbs & ACTION_FAMILY.get(intent.action, frozenset()) and not verbs & intent.opposites:
            out["action"] = ACTION_BOOST * FAMILY_SHARE
        elif verbs & intent.opposites:
            out["opposite_action"] = -OPPOSITE_PENALTY
    providers = f.providers[row]
    if intent.providers and providers and not providers & set(intent.providers):
        out["other_provider"] = -_provider_penalty(intent)
    if intent.resource_types and f.resource_types[row] & set(intent.resource_types):
        out["resource_type"] = RESOURCE_BOOST
    return out


def member(rows: np.ndarray, sorted_ids: np.ndarray | None) -> np.ndarray:
    """For each of ``rows``, whether it is in ``sorted_ids`` (ascending)."""
    if sorted_ids is None or not len(sorted_ids) or not len(rows):
        return np.zeros(len(rows), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ids, rows), len(sorted_ids) - 1)
    return np.asarray(sorted_ids[pos] == rows)


def _any_member(
    rows: np.ndarray, lists: Mapping[str, np.ndarray], keys: Iterable[str]
) -> np.ndarray:
    hit = np.zeros(len(rows), dtype=bool)
    for key in keys:
        hit |= member(rows, lists.get(key))
    return hit


def adjustment_parts(
    coll: LoadedCollection,
    rows: np.ndarray,
    intent: Intent,
    services: Sequence[frozenset[str]] = (),
) -> dict[str, np.ndarray]:
    """:func:`intent_adjustments` for each of ``rows`` at once: part name -> float64 delta
    per row (0.0 where the part does not apply), in :data:`PARTS` order; parts that apply
    to no row are left out."""
    f = coll.features
    verb_rows, provider_rows = f.verb_rows, f.provider_rows
    out: dict[str, np.ndarray] = {}
    if services and SERVICE_MISSING_PENALTY:
        kw = f.keyword
        has_one = np.zeros(len(rows), dtype=bool)
        for terms in services:
            has_one |= kw.coverage_many(rows, sorted(terms)) == 1.0
        out["service_missing"] = np.where(has_one, 0.0, -SERVICE_MISSING_PENALTY)
    if intent.action_confident and intent.action:
        has_action = member(rows, verb_rows.get(intent.action))
        family = ACTION_FAMILY.get(intent.action, frozenset())
        has_family = _any_member(rows, verb_rows, family)
        has_opposite = _any_member(rows, verb_rows, intent.opposites)
        out["action"] = np.where(
            has_action,
            ACTION_BOOST,
            np.where(has_family & ~has_opposite, ACTION_BOOST * FAMILY_SHARE, 0.0),
        )
        out["opposite_action"] = np.where(
            ~has_action & ~(has_family & ~has_opposite) & has_opposite, -OPPOSITE_PENALTY, 0.0
        )
    if intent.providers:
        has_any = _any_member(rows, provider_rows, provider_rows.keys())
        has_named = _any_member(rows, provider_rows, intent.providers)
        out["other_provider"] = np.where(has_any & ~has_named, -_provider_penalty(intent), 0.0)
    if intent.resource_types:
        has_type = _any_member(rows, f.resource_type_rows, intent.resource_types)
        out["resource_type"] = np.where(has_type, RESOURCE_BOOST, 0.0)
    return {name: out[name] for name in PARTS if name in out and out[name].any()}


def total(parts: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """The sum of the parts per row (in :data:`PARTS` order, as the one-row rule adds)."""
    out = np.zeros(n, dtype=np.float64)
    for name in PARTS:
        if name in parts:
            out = out + parts[name]
    return out


def row_adjustments(parts: Mapping[str, np.ndarray], i: int) -> dict[str, float]:
    """Row ``i``'s deltas as :func:`intent_adjustments` returns them."""
    return {name: float(values[i]) for name, values in parts.items() if values[i] != 0.0}

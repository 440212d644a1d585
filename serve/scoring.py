"""Ranking: relevance first; precedence (spec: Ranking Engine, status bonuses) as a bonus.

For each candidate playbook version::

    score = relevance + sum(intent adjustments) + PRIOR_WEIGHT * prior

- ``relevance`` is the fused vector + keyword relevance (:mod:`serve.fusion`, about
  0..1) in hybrid and keyword modes, and the cosine ``similarity`` itself in vector mode
  (the spec's approach: cosine between the query and the playbook's embedded text).
- intent adjustments (:func:`serve.evidence.intent_adjustments`): the query's verb in the
  playbook's name +, the opposite verb -, another provider than the one named or implied
  -, a resource type the query names +. Empty in vector and keyword modes.
- ``prior`` in [0, 1] is a weighted mix (weights sum to 1) of what the spec ranks by:

  =========  ======  =========================================================
  factor     weight  value in [0, 1]
  =========  ======  =========================================================
  status     0.30    active/approved 1.0, needs_update 0.4, deprecated 0.2,
                     pending_review 0.1 (spec: Ranking by Status)
  author     0.30    user_custom 1.0, escher_library 0.6, ai_generated 0.2
                     (spec: precedence USER > ESCHER > AI)
  success    0.20    smoothed success rate (success + 1) / (runs + 2): no runs -> 0.5
  usage      0.10    execution count, log-capped: min(log1p(runs) / log1p(100), 1)
  recency    0.10    0.5 ** (days since updated_at / 90); unknown -> 0
  =========  ======  =========================================================

- ``PRIOR_WEIGHT = 0.08``: the prior can overturn a cosine gap of at most 0.08, so it
  orders playbooks of similar relevance but cannot lift an irrelevant one above a
  relevant one.

Then, within each (collection, playbook_id) group the positions the group holds are
reassigned so that its versions follow the spec's Status Precedence Rules: trusted
(active/approved) before the rest, then newest version first (``version_sort_key``).
In the usual case (new version active, old one deprecated) that is simply newest first.

``confidence`` is a monotone map of similarity alone: ``clip((s - 0.20) / 0.60, 0, 1)``,
rounded to 2 decimals (all-MiniLM-L6-v2 gives unrelated texts cosines around 0-0.2 and
close paraphrases 0.8 and above).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from indexer.model import version_sort_key

PRIOR_WEIGHT = 0.08
STATUS_WEIGHT = 0.30
AUTHOR_WEIGHT = 0.30
SUCCESS_WEIGHT = 0.20
USAGE_WEIGHT = 0.10
RECENCY_WEIGHT = 0.10

STATUS_VALUES: Mapping[str, float] = {
    "active": 1.0,
    "approved": 1.0,
    "needs_update": 0.4,
    "deprecated": 0.2,
    "pending_review": 0.1,
}
AUTHOR_VALUES: Mapping[str, float] = {
    "user_custom": 1.0,
    "escher_library": 0.6,
    "ai_generated": 0.2,
}
TRUSTED_STATUSES = frozenset({"active", "approved"})
USAGE_CAP = 100
RECENCY_HALF_LIFE_DAYS = 90.0
CONFIDENCE_FLOOR = 0.20
CONFIDENCE_CEILING = 0.80
COVERAGE_SHARE = 0.3
_DAY = 86400.0


@dataclass(frozen=True)
class Candidate:
    """One playbook version a vector search returned, with what scoring reads."""

    collection: str
    row: int
    similarity: float
    playbook_id: str
    version: str
    status: str
    author: str
    execution_count: int
    success_count: int
    updated_at: float  # seconds since the epoch; NaN when unknown
    # Hybrid retrieval (serve.fusion): the fused relevance that replaces ``similarity`` in
    # the score (None: the vector-only score, similarity itself), the normalised keyword
    # score, keyword coverage of the query, and intent adjustments (name -> score delta).
    relevance: float | None = None
    keyword: float = 0.0
    coverage: float = 0.0
    adjustments: Mapping[str, float] = field(default_factory=dict)

    @property
    def base(self) -> float:
        """What the score starts from: the fused relevance, else the cosine."""
        return self.similarity if self.relevance is None else self.relevance


@dataclass(frozen=True)
class Factor:
    value: float  # in [0, 1]
    weight: float  # share of the prior
    contribution: float  # PRIOR_WEIGHT * weight * value: what it adds to the score

    def to_dict(self) -> dict[str, float]:
        return {
            "value": round(self.value, 4),
            "weight": self.weight,
            "contribution": round(self.contribution, 4),
        }


FACTOR_WEIGHTS = (
    ("status", STATUS_WEIGHT),
    ("author", AUTHOR_WEIGHT),
    ("success", SUCCESS_WEIGHT),
    ("usage", USAGE_WEIGHT),
    ("recency", RECENCY_WEIGHT),
)


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    prior: float
    confidence: float
    values: tuple[float, ...] = ()  # each prior factor's value, in FACTOR_WEIGHTS order
    version_reordered: bool = False

    @property
    def factors(self) -> dict[str, Factor]:
        """The prior's factors (built on demand: only ``explain`` shows them)."""
        return {
            name: Factor(v, w, PRIOR_WEIGHT * w * v)
            for (name, w), v in zip(FACTOR_WEIGHTS, self.values, strict=True)
        }

    def breakdown(self) -> dict[str, object]:
        """The score's parts, for ``explain: true``."""
        c = self.candidate
        return {
            "similarity": round(c.similarity, 4),
            "keyword": round(c.keyword, 4),
            "keyword_coverage": round(c.coverage, 4),
            "relevance": round(c.base, 4),
            "intent": {k: round(v, 4) for k, v in sorted(c.adjustments.items())},
            "prior": round(self.prior, 4),
            "prior_weight": PRIOR_WEIGHT,
            "factors": {name: f.to_dict() for name, f in self.factors.items()},
            "score": round(self.score, 4),
            "version_reordered": self.version_reordered,
        }


def success_value(success: int, runs: int) -> float:
    """Laplace-smoothed success rate: a playbook with no runs sits at 0.5."""
    runs = max(runs, 0)
    success = min(max(success, 0), runs)
    return (success + 1) / (runs + 2)


def usage_value(runs: int) -> float:
    return min(math.log1p(max(runs, 0)) / math.log1p(USAGE_CAP), 1.0)


def recency_value(updated_at: float, now: float) -> float:
    if math.isnan(updated_at):
        return 0.0
    age_days = max(now - updated_at, 0.0) / _DAY
    return float(0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS))


def confidence(similarity: float, coverage: float | None = None) -> float:
    """Calibrated confidence in [0, 1]: the cosine mapped onto the unit interval and, when
    keyword evidence is given, blended with the share of query terms the playbook holds
    (monotone in both)."""
    scaled = (similarity - CONFIDENCE_FLOOR) / (CONFIDENCE_CEILING - CONFIDENCE_FLOOR)
    value = min(max(scaled, 0.0), 1.0)
    if coverage is not None:
        value = (1 - COVERAGE_SHARE) * value + COVERAGE_SHARE * min(max(coverage, 0.0), 1.0)
    return round(value, 2)


def score(c: Candidate, now: float) -> Scored:
    """Score one candidate (see the module docstring); ``now`` in epoch seconds."""
    values = (
        STATUS_VALUES.get(c.status, 0.0),
        AUTHOR_VALUES.get(c.author, 0.0),
        success_value(c.success_count, c.execution_count),
        usage_value(c.execution_count),
        recency_value(c.updated_at, now),
    )
    prior = sum(w * v for (_, w), v in zip(FACTOR_WEIGHTS, values, strict=True))
    total = c.base + sum(c.adjustments.values()) + PRIOR_WEIGHT * prior
    conf = confidence(c.similarity, None if c.relevance is None else c.coverage)
    return Scored(c, total, prior, conf, values)


def _within_group_key(s: Scored) -> tuple[bool, tuple[int, int, int, int, str]]:
    return (s.candidate.status in TRUSTED_STATUSES, version_sort_key(s.candidate.version))


def rank(candidates: Sequence[Candidate], now: float) -> list[Scored]:
    """Every candidate scored and ordered best first (deterministic on ties)."""
    scored = sorted(
        (score(c, now) for c in candidates),
        key=lambda s: (
            -s.score,
            s.candidate.collection,
            s.candidate.playbook_id,
            s.candidate.version,
        ),
    )
    positions: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, s in enumerate(scored):
        positions[(s.candidate.collection, s.candidate.playbook_id)].append(i)
    ordered = list(scored)
    for slots in positions.values():
        if len(slots) < 2:
            continue
        members = sorted((scored[i] for i in slots), key=_within_group_key, reverse=True)
        for slot, member in zip(slots, members, strict=True):
            moved = scored[slot] is not member
            ordered[slot] = replace(member, version_reordered=True) if moved else member
    return ordered

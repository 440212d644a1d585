"""Combine the vector and keyword channels into one relevance per candidate row.

Both methods take, for the same candidate rows, the cosine similarities and the raw BM25
scores, and return a relevance in [0, 1] per row (higher is better):

- ``blend`` (the default):
  ``VECTOR_SHARE * cosine + (1 - VECTOR_SHARE) * (bm25 / max_bm25) ** KEYWORD_POWER``.
  The cosine is kept absolute (it is calibrated: unrelated texts sit near 0.1, close
  paraphrases above 0.7) and the BM25 score is divided by the best BM25 score among the
  candidates, so a query no playbook shares words with adds nothing. The square root
  (``KEYWORD_POWER = 0.5``) compresses the keyword scale: a candidate with half the best
  BM25 keeps ~71% of the keyword share, so one dominant keyword match cannot bury a
  semantically closer playbook (measured on real_runbooks: power 1 -> 0.8850, 0.5 ->
  0.8885, 0.3 -> 0.8871, 2 -> 0.8740 NDCG@10).
- ``rrf``: reciprocal-rank fusion, ``sum 1 / (RRF_K + rank)`` over both channels,
  divided by its largest possible value ``2 / (RRF_K + 1)``. Scale-free, but it throws
  away how far apart the scores are.

The harness (``playbooks eval``) reports both; :data:`DEFAULT_FUSION` is the one the
numbers favoured (see bench/relevance/README.md).
"""

from __future__ import annotations

import numpy as np

VECTOR_SHARE = 0.7
KEYWORD_POWER = 0.5
RRF_K = 60
FUSIONS = ("blend", "rrf")
DEFAULT_FUSION = "blend"


def normalise_keyword(bm25: np.ndarray) -> np.ndarray:
    top = float(bm25.max()) if bm25.size else 0.0
    return bm25 / top if top > 0 else np.zeros_like(bm25)


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based rank of each value, best (largest) first; ties share the better rank order
    by position (stable)."""
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


def fuse(
    cosines: np.ndarray,
    bm25: np.ndarray,
    method: str = DEFAULT_FUSION,
    vector_share: float | None = None,
) -> np.ndarray:
    """Relevance in [0, 1] for each candidate (see the module docstring); ``vector_share``
    overrides :data:`VECTOR_SHARE` for the blend."""
    if method == "blend":
        share = VECTOR_SHARE if vector_share is None else vector_share
        cos = np.clip(cosines.astype(np.float64), 0.0, 1.0)
        return share * cos + (1 - share) * normalise_keyword(bm25) ** KEYWORD_POWER
    if method == "rrf":
        vector = 1.0 / (RRF_K + _ranks(cosines))
        keyword = np.where(bm25 > 0, 1.0 / (RRF_K + _ranks(bm25)), 0.0)
        return (vector + keyword) / (2.0 / (RRF_K + 1))
    raise ValueError(f"unknown fusion {method!r}; expected one of {', '.join(FUSIONS)}")

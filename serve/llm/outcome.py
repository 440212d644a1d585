"""What goes into the LLM pass and what comes out of it.

:class:`Candidate` is one result of the cheap ranking (best first); :class:`PassOutcome`
says what the pass did, for the response to show: its ``status`` is one of
:data:`STATUSES` and ``items`` holds the model's ranking only when it was accepted
(``applied``) or replayed from the cache (``cached``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from serve.llm.prompts import PROMPT_VERSION

Status = Literal["applied", "cached", "timeout", "error", "invalid_output", "skipped"]
STATUSES: Final = ("applied", "cached", "timeout", "error", "invalid_output", "skipped")
NOT_CONFIGURED: Final = "not configured"
CIRCUIT_OPEN: Final = "circuit open"


@dataclass(frozen=True)
class Candidate:
    """One candidate of the cheap ranking.

    ``id`` is opaque and unique (e.g. ``tenant_acme_playbooks/user-weekend-shutdown/1.2.0``);
    every text field is tenant-written, hence untrusted. ``cheap_score`` is the cheap
    ranking's confidence in [0, 1] and ``cheap_reason`` its deterministic reason: both are
    what a result shows when the model says nothing about it.
    """

    id: str
    playbook_id: str
    version: str
    source: str  # "tenant" | "escher_library"
    status: str
    name: str
    description: str
    keywords: tuple[str, ...]
    resource_types: tuple[str, ...]
    success_count: int
    execution_count: int
    prerequisites: tuple[str, ...]
    cheap_score: float
    cheap_reason: str


@dataclass(frozen=True)
class RerankItem:
    """The model's word on one candidate: its rank (1 = best), confidence and reason."""

    id: str
    rank: int
    confidence: float
    reason: str


@dataclass(frozen=True)
class PassOutcome:
    """What one pass did.

    ``detail`` is a short human note (never a key, never provider or tenant text);
    ``items`` is ``None`` unless ``status`` is ``applied`` or ``cached`` and a ranking was
    asked for; then it is sorted by rank and names each of a subset of the candidate ids
    at most once.
    """

    status: Status
    model: str | None
    prompt_version: str
    detail: str | None = None
    items: tuple[RerankItem, ...] | None = None
    elapsed_ms: float = 0.0

    @property
    def used(self) -> bool:
        """True when the model's answer shaped the result (``applied`` or ``cached``)."""
        return self.status in ("applied", "cached")

    @classmethod
    def not_configured(cls) -> PassOutcome:
        """The outcome to report when a request asks for the pass but none is configured."""
        return cls("skipped", None, PROMPT_VERSION, NOT_CONFIGURED)

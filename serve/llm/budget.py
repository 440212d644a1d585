"""One time budget per pass, with a reserve kept back so the cheap fallback can still run.

The budget runs on a real monotonic clock (the one ``asyncio`` timeouts use): a model call
is given ``min(per-call timeout, remaining)`` and is cut off there; a retry is made only
if at least :data:`MIN_ATTEMPT_S` would be left for it after any wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

DEFAULT_BUDGET_S: Final = 2.0
RESERVE_S: Final = 0.05
MIN_ATTEMPT_S: Final = 0.1
RETRY_BACKOFF_S: Final = 0.05


class Budget:
    """``total_s`` seconds from creation, of which ``reserve_s`` are never handed out."""

    def __init__(
        self,
        total_s: float = DEFAULT_BUDGET_S,
        *,
        reserve_s: float = RESERVE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_s = total_s
        self.reserve_s = min(reserve_s, total_s)
        self._clock = clock
        self._start = clock()

    def elapsed(self) -> float:
        return self._clock() - self._start

    def remaining(self) -> float:
        """Seconds left for model calls (the reserve excluded); never negative."""
        return max(0.0, self.total_s - self.reserve_s - self.elapsed())

    def call_timeout(self, per_call_s: float) -> float:
        """How long the next call may take."""
        return min(per_call_s, self.remaining())

    def allows(self, wait_s: float = 0.0) -> bool:
        """Whether, after waiting ``wait_s``, a call would still get :data:`MIN_ATTEMPT_S`."""
        return self.remaining() - wait_s >= MIN_ATTEMPT_S


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)

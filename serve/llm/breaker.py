"""A circuit breaker per provider and model: stop calling one that keeps failing.

closed --K consecutive failures--> open --reset_s later--> half-open
half-open lets one trial call through: success closes, failure opens again.

A failure is a pass that ended in ``timeout`` or ``error`` (retries included); an answer
that arrived but was invalid is not the provider failing. Time comes from the injected
clock so tests can move it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failures: int = 5,
        reset_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        self.name = name
        self.max_failures = failures
        self.reset_s = reset_s
        self._clock = clock
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_out = False

    @property
    def state(self) -> State:
        if self._state == "open" and self._clock() - self._opened_at >= self.reset_s:
            return "half_open"
        return self._state

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open state only one trial at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._trial_out:
            return False
        self._state = "half_open"
        self._trial_out = True
        return True

    def record_success(self) -> None:
        self._state = "closed"
        self._failures = 0
        self._trial_out = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._state == "half_open" or self._failures >= self.max_failures:
            self._state = "open"
            self._opened_at = self._clock()
        self._trial_out = False

    def release(self) -> None:
        """A call that was let through ended without a verdict (e.g. it was cancelled)."""
        self._trial_out = False

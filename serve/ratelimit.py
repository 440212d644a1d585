"""Rate limit per credential: a token bucket per caller, refusals as 429 + ``Retry-After``.

Each credential (``Principal.rate_key``: one API key, or one token subject of a tenant)
gets a bucket of ``rate_per_minute`` tokens that refills continuously at
``rate_per_minute / 60`` per second, so a client may burst up to a minute's allowance and
then proceeds at the steady rate. ``rate_per_minute = 0`` disables the limit. At most
:data:`MAX_BUCKETS` buckets are kept (least recently used first out), so a flood of
distinct credentials cannot grow memory without bound. Thread-safe.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Final

from indexer.errors import TooManyRequests

MAX_BUCKETS: Final = 100_000


class RateLimited(TooManyRequests):
    """429, with the seconds until one request is allowed again."""

    def __init__(self, message: str, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(message, retry_after_seconds=seconds)
        self.headers: Mapping[str, str] = {"Retry-After": str(seconds)}


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Takes one token from ``key``'s bucket; raises :class:`RateLimited` when empty."""
        if self.per_minute <= 0:
            return
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.refill
                raise RateLimited(
                    f"rate limit of {self.per_minute} requests per minute exceeded for this "
                    "credential",
                    retry_after=wait,
                )
            self._buckets[key] = (tokens - 1.0, now)
            while len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)

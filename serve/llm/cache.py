"""Accepted answers, kept in a bounded LRU with a time-to-live.

Keys are the SHA-256 of everything that decides an answer (:func:`cache_key`): which pass,
the query, the intent and filters, the manifest id, the candidate ids in order, the
provider, model and prompt version. Only accepted answers are stored.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


def _plain(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return repr(value)


def cache_key(*parts: object) -> str:
    """A stable digest of ``parts`` (JSON with sorted keys; tuples count as lists)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TTLCache(Generic[V]):
    """At most ``max_size`` entries, each for ``ttl_s`` seconds (0 disables the cache)."""

    def __init__(
        self, max_size: int, ttl_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_size = max_size
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        if self.max_size <= 0 or self.ttl_s <= 0:
            return
        self._entries[key] = (self._clock() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

"""The record cache returns what the table holds, in order, and stays bounded."""

from __future__ import annotations

from typing import Any

from serve.records import RecordCache


class Table:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def fetch(self, rows: list[int]) -> list[dict[str, Any]]:
        self.calls.append(list(rows))
        return [{"row": r} for r in rows]


def test_rows_in_order_and_only_missing_ones_fetched() -> None:
    cache, table = RecordCache(capacity=10), Table()
    assert cache.rows("s1", [3, 1, 2], table.fetch) == [{"row": 3}, {"row": 1}, {"row": 2}]
    assert cache.rows("s1", [2, 4, 3], table.fetch) == [{"row": 2}, {"row": 4}, {"row": 3}]
    assert table.calls == [[3, 1, 2], [4]]
    assert (cache.hits, cache.misses) == (2, 4)


def test_snapshots_do_not_share_rows_and_repeats_are_fetched_once() -> None:
    cache, table = RecordCache(capacity=10), Table()
    cache.rows("s1", [1], table.fetch)
    assert cache.rows("s2", [1, 1], table.fetch) == [{"row": 1}, {"row": 1}]
    assert table.calls == [[1], [1]]


def test_least_recently_used_rows_leave_first() -> None:
    cache, table = RecordCache(capacity=2), Table()
    cache.rows("s", [1, 2], table.fetch)
    cache.rows("s", [1], table.fetch)  # 1 is now the most recent
    cache.rows("s", [3], table.fetch)  # evicts 2
    assert len(cache) == 2
    cache.rows("s", [1, 2], table.fetch)
    assert table.calls[-1] == [2]


def test_zero_capacity_caches_nothing() -> None:
    cache, table = RecordCache(capacity=0), Table()
    cache.rows("s", [1], table.fetch)
    cache.rows("s", [1], table.fetch)
    assert table.calls == [[1], [1]] and len(cache) == 0

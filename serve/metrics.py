"""Prometheus metrics: a small thread-safe registry and the server's series.

``GET /metrics`` renders :class:`Metrics` in the Prometheus text exposition format
(version 0.0.4). One :class:`Metrics` lives on ``app.state.metrics`` (never a module-level
global, so two apps in one process - tests - do not share counts). Label values are
bounded by construction: a route label is the route's template (``/api/playbook/search``),
never the raw path, and unmatched paths share one label.

Series (``playbooks_`` prefix):

==========================================  ===============================================
``http_requests_total{route,method,status}``  requests answered
``http_request_duration_seconds{route}``      request latency histogram
``search_stage_seconds{stage}``               per-stage search latency (embed, filter,
                                              vector, keyword, score, rerank)
``manifest_info{manifest_id}``                1 for the manifest being served
``manifest_age_seconds``                      now - the served manifest's created_at
``generation_swaps_total``                    generations swapped in after start-up
``generation_load_failures_total{reason}``    manifests that failed to load, by error code
``collection_loads_total``                    collections loaded (library at a swap,
                                              tenants on first use or after eviction)
``collection_load_failures_total{reason}``    collections that failed to load, by error code
``collection_load_seconds``                   time to read, verify and prepare a collection
``collection_evictions_total``                collections evicted (memory budget, swaps)
``collections_loaded``                        collections held in memory now
``collections_resident_bytes``                their estimated memory
``collections_budget_bytes``                  the memory budget (``memory_budget_mb``)
``llm_pass_total{status}``                    LLM pass outcomes (the response's
                                              ``rerank.status``)
``querylog_dropped_total``                    query-log records dropped (buffer full,
                                              write failed)
``querylog_flushed_records_total``            query-log records written to the store
==========================================  ===============================================
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeGuard

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "playbooks_"
UNMATCHED_ROUTE = "(unmatched)"
# Seconds: a search is ~5-50 ms, a slow LLM pass up to a few seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SEARCH_STAGES = ("embed", "filter", "vector", "keyword", "score", "rerank")

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = PREFIX + name
        self.help = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> LabelValues:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}
        if not self.label_names:
            self._values[()] = 0.0

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Gauge(_Metric):
    """A gauge set directly, or computed at render time by ``collect``."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        collect: Callable[[], Iterable[tuple[LabelValues, float]]] | None = None,
    ) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}
        self._collect = collect

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def render(self) -> list[str]:
        if self._collect is not None:
            items = sorted(self._collect())
        else:
            with self._lock:
                items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        # per label set: [count per bucket (non-cumulative, + the +Inf overflow), sum]
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        slot = next((i for i, b in enumerate(self.buckets) if value <= b), len(self.buckets))
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            counts[slot] += 1
            total[0] += value

    def count(self, **labels: str) -> int:
        with self._lock:
            series = self._series.get(self._key(labels))
            return sum(series[0]) if series else 0

    def render(self) -> list[str]:
        with self._lock:
            items = sorted((k, (list(c), s[0])) for k, (c, s) in self._series.items())
        lines = []
        for key, (counts, total) in items:
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return lines


def _manifest_epoch(created_at: str) -> float | None:
    try:
        return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Metrics:
    """The server's series. ``manifest`` is a callable returning the served manifest's
    ``(manifest_id, created_at)`` or None, read at render time (no state to keep in sync)."""

    def __init__(self, manifest: Callable[[], tuple[str, str] | None] = lambda: None) -> None:
        self._manifest = manifest
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds", "HTTP request latency by route template.", ("route",)
        )
        self.search_stage = Histogram(
            "search_stage_seconds", "Time spent in each stage of a search.", ("stage",)
        )
        self.manifest_info = Gauge(
            "manifest_info",
            "1 for the manifest being served.",
            ("manifest_id",),
            collect=self._collect_info,
        )
        self.manifest_age = Gauge(
            "manifest_age_seconds",
            "Seconds since the served manifest was created.",
            collect=self._collect_age,
        )
        self.swaps = Counter(
            "generation_swaps_total", "Generations swapped in after start-up (hot reloads)."
        )
        self.load_failures = Counter(
            "generation_load_failures_total",
            "Manifests that failed to load (the old generation kept serving), by error code.",
            ("reason",),
        )
        self.collection_loads = Counter(
            "collection_loads_total", "Collections loaded from the store (verified)."
        )
        self.collection_load_failures = Counter(
            "collection_load_failures_total",
            "Collections that failed to load (their requests got 503), by error code.",
            ("reason",),
        )
        self.collection_load_seconds = Histogram(
            "collection_load_seconds", "Time to read, verify and prepare one collection."
        )
        self.collection_evictions = Counter(
            "collection_evictions_total",
            "Collections evicted from memory (over the memory budget, or retired by a swap).",
        )
        self.collections_loaded = Gauge("collections_loaded", "Collections held in memory.")
        self.collections_resident_bytes = Gauge(
            "collections_resident_bytes", "Estimated memory of the collections held."
        )
        self.collections_budget_bytes = Gauge(
            "collections_budget_bytes", "Memory budget for loaded collections."
        )
        self.llm_pass = Counter(
            "llm_pass_total", "Outcomes of the optional LLM pass, by status.", ("status",)
        )
        self.querylog_dropped = Counter(
            "querylog_dropped_total", "Query-log records dropped (buffer full or write failed)."
        )
        self.querylog_flushed = Counter(
            "querylog_flushed_records_total", "Query-log records written to the store."
        )
        self._all: tuple[_Metric, ...] = (
            self.http_requests,
            self.http_duration,
            self.search_stage,
            self.manifest_info,
            self.manifest_age,
            self.swaps,
            self.load_failures,
            self.collection_loads,
            self.collection_load_failures,
            self.collection_load_seconds,
            self.collection_evictions,
            self.collections_loaded,
            self.collections_resident_bytes,
            self.collections_budget_bytes,
            self.llm_pass,
            self.querylog_dropped,
            self.querylog_flushed,
        )

    def _collect_info(self) -> list[tuple[LabelValues, float]]:
        served = self._manifest()
        return [((served[0],), 1.0)] if served else []

    def _collect_age(self) -> list[tuple[LabelValues, float]]:
        served = self._manifest()
        created = _manifest_epoch(served[1]) if served else None
        return [((), round(time.time() - created, 3))] if created is not None else []

    def observe_search(self, response: Mapping[str, Any]) -> None:
        """Stage timings (``timings_ms``, plus ``rerank.took_ms``) and the LLM outcome."""
        timings = response.get("timings_ms")
        if isinstance(timings, Mapping):
            for stage, ms in timings.items():
                if stage in SEARCH_STAGES and _is_number(ms):
                    self.search_stage.observe(float(ms) / 1000, stage=stage)
        rerank = response.get("rerank")
        if isinstance(rerank, Mapping):
            status = rerank.get("status")
            if isinstance(status, str) and status:
                self.llm_pass.inc(status=status[:40])
            took = rerank.get("took_ms")
            if _is_number(took) and not (isinstance(timings, Mapping) and "rerank" in timings):
                self.search_stage.observe(float(took) / 1000, stage="rerank")

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._all:
            lines.extend(metric.header())
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


def _is_number(x: Any) -> TypeGuard[int | float]:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)

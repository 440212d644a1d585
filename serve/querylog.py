"""The query log: one record per search, buffered in memory, flushed as Parquet to the store.

Records follow :data:`indexer.analytics.QUERY_LOG_SCHEMA` and land in
``logs/queries/date=YYYY-MM-DD/<utc stamp>-<host>-<pid>-<seq>.parquet`` in the same store
as the snapshots, where the analysts' ``queries`` view reads them. Contract:

- :meth:`QueryLog.append` never blocks a request: it takes a lock held only for a list
  append; when the buffer is full the record is dropped and counted
  (``playbooks_querylog_dropped_total``).
- A background thread flushes every ``flush_seconds`` or as soon as half the buffer is
  used, and :meth:`QueryLog.close` flushes what is left. Each flush is one file written in
  one atomic operation (local: temp file + rename; S3: one PUT), so a crash loses at most
  the records of the current interval and never leaves a half-written file.
- A failed write is logged and its records are kept for the next flush while they fit.
- Partitions older than ``retention_days`` (0 keeps everything) are deleted at start-up
  and once a day.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from indexer.analytics import QUERY_LOG_PREFIX, QUERY_LOG_SCHEMA
from indexer.blobs import Blobs
from serve.metrics import Metrics

log = logging.getLogger("serve.querylog")

RETENTION_CHECK_SECONDS = 86400.0
_PARTITION = re.compile(rf"^{QUERY_LOG_PREFIX}/date=(\d{{4}}-\d{{2}}-\d{{2}})/")
_SAFE_HOST = re.compile(r"[^A-Za-z0-9.-]+")


def query_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def search_record(
    *,
    ts: datetime,
    request_id: str | None,
    tenant: str | None,
    query: str | None,
    filters: Mapping[str, Any] | None,
    response: Mapping[str, Any] | None,
    manifest_id: str | None,
    latency_ms: float,
    status_code: int,
    keep_text: bool,
) -> dict[str, Any]:
    """One row of :data:`QUERY_LOG_SCHEMA` from a search and its (possibly absent) response.

    Optional response keys (``intent``, ``timings_ms``, ``rerank``) are read defensively.
    """
    response = response or {}
    results = response.get("results") or []
    rerank = response.get("rerank")
    timings = response.get("timings_ms")
    return {
        "ts": ts,
        "request_id": request_id,
        "tenant": tenant,
        "query": query if keep_text else None,
        "query_hash": query_hash(query) if query is not None else None,
        "intent": _json(response.get("intent")),
        "filters": _json(filters),
        "manifest_id": response.get("manifest_id") or manifest_id,
        "result_ids": [str(r.get("playbook_id")) for r in results if isinstance(r, Mapping)],
        "result_scores": [
            float(r["score"])
            if isinstance(r.get("score"), int | float)
            else float(r.get("confidence") or 0.0)
            for r in results
            if isinstance(r, Mapping)
        ],
        "latency_ms": round(latency_ms, 3),
        "stage_ms": _json(timings if isinstance(timings, Mapping) else None),
        "rerank_status": rerank.get("status") if isinstance(rerank, Mapping) else None,
        "status_code": status_code,
    }


class QueryLog:
    """A bounded buffer of query records and the thread that writes them to ``blobs``."""

    def __init__(
        self,
        blobs: Blobs,
        metrics: Metrics,
        *,
        flush_seconds: float = 5.0,
        capacity: int = 10000,
        retention_days: int = 0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.blobs = blobs
        self.metrics = metrics
        self.flush_seconds = flush_seconds
        self.capacity = capacity
        self.retention_days = retention_days
        self.clock = clock
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one writer at a time (thread vs close)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = itertools.count(1)
        self._host = _SAFE_HOST.sub("-", socket.gethostname())[:40] or "host"
        self._last_retention = 0.0

    # ----- request path ------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> bool:
        """Buffer one record; False (and counted) when the buffer is full. Never blocks."""
        wake = False
        with self._lock:
            if len(self._buffer) >= self.capacity:
                full = True
            else:
                self._buffer.append(record)
                full = False
                wake = len(self._buffer) >= max(1, self.capacity // 2)
        if full:
            self.metrics.querylog_dropped.inc()
            return False
        if wake:
            self._wake.set()
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    # ----- background side -------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self.enforce_retention()
        self._thread = threading.Thread(target=self._run, name="querylog-flusher", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the flusher and write what is buffered (call once, on shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.flush()
                now = self.clock().timestamp()
                if now - self._last_retention >= RETENTION_CHECK_SECONDS:
                    self.enforce_retention()
            except Exception:  # the flusher must outlive any one bad write
                log.exception("query log flush failed")

    def flush(self) -> int:
        """Write the buffered records as one Parquet file per date; returns records written."""
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            by_date: dict[date, list[dict[str, Any]]] = {}
            for record in batch:
                by_date.setdefault(record["ts"].astimezone(UTC).date(), []).append(record)
            written = 0
            for day, records in sorted(by_date.items()):
                key = self._key(day)
                try:
                    self.blobs.write(key, _parquet(records))
                except Exception as exc:
                    self._requeue(records)
                    log.error(
                        "query log write failed; records kept for the next flush",
                        extra={"key": key, "records": len(records), "error": str(exc)},
                    )
                    continue
                written += len(records)
                self.metrics.querylog_flushed.inc(len(records))
            return written

    def _requeue(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            room = max(0, self.capacity - len(self._buffer))
            kept = records[:room]
            self._buffer[:0] = kept
        if len(records) > len(kept):
            self.metrics.querylog_dropped.inc(len(records) - len(kept))

    def _key(self, day: date) -> str:
        stamp = self.clock().strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{self._host}-{os.getpid()}-{next(self._seq):06d}.parquet"
        return f"{QUERY_LOG_PREFIX}/date={day.isoformat()}/{name}"

    def enforce_retention(self) -> int:
        """Delete partitions older than ``retention_days``; returns files deleted."""
        self._last_retention = self.clock().timestamp()
        if self.retention_days <= 0:
            return 0
        oldest = self.clock().date() - timedelta(days=self.retention_days)
        deleted = 0
        try:
            for info in list(self.blobs.list(QUERY_LOG_PREFIX)):
                match = _PARTITION.match(info.key)
                if match is None:
                    continue
                try:
                    day = date.fromisoformat(match.group(1))
                except ValueError:
                    continue
                if day < oldest:
                    self.blobs.delete(info.key)
                    deleted += 1
        except Exception as exc:
            log.error("query log retention failed", extra={"error": str(exc)})
        if deleted:
            log.info(
                "query log retention deleted %d file(s)",
                deleted,
                extra={"deleted": deleted, "older_than": oldest.isoformat()},
            )
        return deleted


def _parquet(records: list[dict[str, Any]]) -> bytes:
    table = pa.Table.from_pylist(records, schema=QUERY_LOG_SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()

"""The query log: one record per search, flushed as Parquet, readable by the analysts' view,
and a server killed mid-run loses nothing it had flushed."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from indexer.analytics import QUERY_LOG_PREFIX, QUERY_LOG_SCHEMA, open_analytics
from indexer.blobs import LocalBlobs
from indexer.embed import Embedder
from serve.app import create_app
from serve.metrics import Metrics
from serve.querylog import QueryLog, query_hash, search_record
from tests.serve._helpers import auth, make_settings, search
from tests.serve._server import server_process
from tests.serve._tiny_store import KEYS, TinyStore

WAIT_SECONDS = 60  # bounds on waiting for a flush / a real server, not speed tests


def record(n: int = 0, ts: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    base = search_record(
        ts=ts or datetime.now(UTC),
        request_id=f"r-{n}",
        tenant="alpha",
        query=f"stop rds {n}",
        filters={"cloud_provider": ["aws"]},
        response={
            "manifest_id": "m-1",
            "results": [{"playbook_id": "escher-aws-rds-stop", "score": 0.9}],
            "timings_ms": {"embed": 3.0},
            "intent": {"action": "stop"},
            "rerank": {"status": "off"},
        },
        manifest_id=None,
        latency_ms=12.5,
        status_code=200,
        keep_text=True,
    )
    return {**base, **overrides}


def log_files(root: Path) -> list[Path]:
    return sorted((root / QUERY_LOG_PREFIX).glob("date=*/*.parquet"))


def read_all(root: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in log_files(root):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def test_a_flush_writes_one_parquet_file_one_level_under_its_date(tmp_path: Path) -> None:
    metrics = Metrics()
    qlog = QueryLog(LocalBlobs(tmp_path), metrics)
    for n in range(3):
        assert qlog.append(record(n))
    assert qlog.flush() == 3
    files = log_files(tmp_path)
    assert len(files) == 1
    rel = files[0].relative_to(tmp_path).as_posix()
    assert rel.startswith(f"{QUERY_LOG_PREFIX}/date={datetime.now(UTC).date().isoformat()}/")
    assert rel.count("/") == 3
    table = pq.read_table(files[0])
    assert table.schema.equals(QUERY_LOG_SCHEMA)
    first = table.to_pylist()[0]
    assert first["tenant"] == "alpha" and first["query"] == "stop rds 0"
    assert first["result_ids"] == ["escher-aws-rds-stop"] and first["result_scores"] == [0.9]
    assert first["rerank_status"] == "off" and first["intent"] == '{"action": "stop"}'
    assert metrics.querylog_flushed.value() == 3
    assert qlog.flush() == 0  # nothing buffered: no empty file
    assert len(log_files(tmp_path)) == 1


def test_a_full_buffer_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    metrics = Metrics()
    qlog = QueryLog(LocalBlobs(tmp_path), metrics, capacity=2)
    assert [qlog.append(record(n)) for n in range(4)] == [True, True, False, False]
    assert metrics.querylog_dropped.value() == 2
    assert qlog.flush() == 2


def test_only_the_hash_is_kept_when_configured() -> None:
    row = search_record(
        ts=datetime.now(UTC),
        request_id="r",
        tenant="alpha",
        query="secret plans",
        filters=None,
        response=None,
        manifest_id="m-1",
        latency_ms=1.0,
        status_code=422,
        keep_text=False,
    )
    assert row["query"] is None
    assert row["query_hash"] == query_hash("secret plans")
    assert row["manifest_id"] == "m-1" and row["result_ids"] == []


def test_a_failed_write_keeps_the_records_for_the_next_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = LocalBlobs(tmp_path)
    qlog = QueryLog(blobs, Metrics())
    qlog.append(record(1))
    real = blobs.write

    def broken(key: str, data: bytes) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(blobs, "write", broken)
    assert qlog.flush() == 0
    assert qlog.pending() == 1
    monkeypatch.setattr(blobs, "write", real)
    assert qlog.flush() == 1
    assert [r["request_id"] for r in read_all(tmp_path)] == ["r-1"]


def test_retention_deletes_old_partitions_only(tmp_path: Path) -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    qlog = QueryLog(LocalBlobs(tmp_path), Metrics(), retention_days=7, clock=lambda: now)
    for days in (0, 7, 8, 30):
        qlog.append(record(days, ts=now - timedelta(days=days)))
    qlog.flush()
    assert len(log_files(tmp_path)) == 4
    assert qlog.enforce_retention() == 2
    left = sorted(p.parent.name for p in log_files(tmp_path))
    assert left == ["date=2026-03-03", "date=2026-03-10"]


@pytest.fixture
def store_dir(tiny_store: TinyStore, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(tiny_store.root, target, ignore=shutil.ignore_patterns("logs"))
    return target


def test_searches_are_logged_and_read_by_the_queries_view(
    store_dir: Path, embedder: Embedder, tiny_store: TinyStore
) -> None:
    settings = make_settings(store_dir, querylog_flush_seconds=3600)
    with TestClient(create_app(settings, embedder=embedder)) as c:
        body = search(c, "alpha", {"query": "stop rds", "filters": {"cloud_provider": "aws"}})
        search(c, "beta", {"query": "hibernate walrus"})
        bad = c.post("/api/playbook/search", json={"query": ""}, headers=auth("alpha"))
        assert bad.status_code == 422
        assert log_files(store_dir) == []  # buffered until the flush interval or shutdown
    con = open_analytics(str(store_dir), None)
    rows = con.execute(
        "SELECT tenant, query, manifest_id, result_ids, status_code, filters, date "
        "FROM queries ORDER BY ts"
    ).fetchall()
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("alpha", "stop rds", 200),
        ("beta", "hibernate walrus", 200),
        ("alpha", None, 422),  # refused before it was parsed: no text to keep
    ]
    assert rows[0][2] == tiny_store.manifest_id
    assert rows[0][3] == [r["playbook_id"] for r in body["results"]]
    assert '"cloud_provider": ["aws"]' in rows[0][5]


def test_query_text_can_be_left_out(store_dir: Path, embedder: Embedder) -> None:
    settings = make_settings(store_dir, querylog_store_query_text="false")
    with TestClient(create_app(settings, embedder=embedder)) as c:
        search(c, "alpha", {"query": "stop rds"})
    rows = read_all(store_dir)
    assert [(r["query"], r["query_hash"]) for r in rows] == [(None, query_hash("stop rds"))]


@pytest.fixture
def killed_server(store_dir: Path, tmp_path: Path) -> Iterator[tuple[Path, set[str]]]:
    """A real server that flushed a first batch, then was SIGKILLed amid a second one."""
    env = {"PLAYBOOKS_QUERYLOG_FLUSH_SECONDS": "0.2", "PLAYBOOKS_POLL_SECONDS": "0"}
    with server_process(store_dir, tmp_path / "server.log", env) as server:
        headers = {"Authorization": f"Bearer {KEYS['alpha']}"}
        with httpx.Client(base_url=server.url, timeout=30) as http:
            first = {f"before-{n}" for n in range(20)}
            for rid in sorted(first):
                r = http.post(
                    "/api/playbook/search",
                    json={"query": "stop rds"},
                    headers={**headers, "X-Request-ID": rid},
                )
                assert r.status_code == 200, r.text
            deadline = time.monotonic() + WAIT_SECONDS
            while not first <= {r["request_id"] for r in read_all(store_dir)}:
                assert time.monotonic() < deadline, "the first batch was never flushed"
                time.sleep(0.1)
            for n in range(40):  # keep the server busy and flushing, then kill it mid-run
                r = http.post(
                    "/api/playbook/search",
                    json={"query": f"resize ec2 {n}"},
                    headers={**headers, "X-Request-ID": f"after-{n}"},
                )
                assert r.status_code == 200
                if n == 25:
                    server.process.send_signal(signal.SIGKILL)
                    server.process.wait(timeout=30)
                    break
        yield store_dir, first


def test_a_killed_server_loses_no_flushed_record(killed_server: tuple[Path, set[str]]) -> None:
    store_dir, flushed_before = killed_server
    rows = read_all(store_dir)  # every file parses: writes are atomic (temp + rename)
    ids = [r["request_id"] for r in rows]
    assert flushed_before <= set(ids)
    assert len(ids) == len(set(ids))  # nothing written twice
    visible = [p for p in (store_dir / QUERY_LOG_PREFIX).rglob("*") if p.is_file()]
    assert all(p.suffix == ".parquet" for p in visible if not p.name.startswith("."))
    con = open_analytics(str(store_dir), None)
    (count,) = con.execute(
        "SELECT count(*) FROM queries WHERE request_id LIKE 'before-%'"
    ).fetchone() or (0,)
    assert count == len(flushed_before)

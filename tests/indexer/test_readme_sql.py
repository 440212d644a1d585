"""Every SQL block of the README's analyst section runs against a real store whose query
log holds real search records (from the server's own record builder)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from indexer.analytics import QUERY_LOG_SCHEMA, open_analytics
from indexer.blobs import LocalBlobs
from indexer.build import run_index
from indexer.cli_analytics import write_result
from indexer.embed import Embedder
from indexer.store import Store
from serve.querylog import search_record
from tests._playbooks import write_playbook

README = Path(__file__).resolve().parents[2] / "README.md"


def analyst_queries() -> list[str]:
    text = README.read_text()
    section = text[text.index("## For analysts") :]
    section = section[: section.index("\n## ", 3)]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def test_the_readme_has_ten_analyst_questions() -> None:
    assert len(analyst_queries()) == 10


@pytest.fixture(scope="module")
def store_with_log(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    root = tmp_path_factory.mktemp("analyst")
    lib, ten = root / "lib", root / "ten"
    write_playbook(
        lib,
        "aws-rds-stop",
        description="Stop an RDS instance",
        tags={"category": "cost-optimization"},
        execution_count=0,
        success_count=0,
    )
    write_playbook(
        lib,
        "aws-rds-start",
        description="Start an RDS instance",
        tags={"category": "cost-optimization"},
    )
    write_playbook(ten, "weekend-shutdown", tenant="acme", tags={"category": "cost"})
    bad = write_playbook(ten, "broken", tenant="acme")
    (bad / "metadata.json").write_text("{")
    store_root = root / "store"
    store = Store(LocalBlobs(store_root))
    report = run_index(
        store=store, library=[LocalBlobs(lib)], tenants=[LocalBlobs(ten)], embedder=embedder
    )
    records = [
        search_record(
            ts=datetime(2026, 11, 22, 10, i, tzinfo=UTC),
            request_id=f"r{i}",
            tenant="acme",
            query=q,
            filters={},
            manifest_id=report.manifest_id,
            latency_ms=5.0 + i,
            status_code=200,
            keep_text=True,
            response={
                "manifest_id": report.manifest_id,
                "intent": {"action": "stop", "cloud_provider": ["aws"]},
                "timings_ms": {"embed": 3.0, "vector": 0.2, "keyword": 0.1},
                "results": [
                    {"playbook_id": "aws-rds-stop", "score": 0.8},
                    {"playbook_id": "weekend-shutdown", "score": 0.6},
                ],
            },
        )
        for i, q in enumerate(["stop rds", "weekend rds shutdown", "halt the database"])
    ]
    folder = store_root / "logs/queries/date=2026-11-22"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(records, schema=QUERY_LOG_SCHEMA), folder / "test-000001.parquet"
    )
    return store_root


@pytest.mark.parametrize("sql", analyst_queries(), ids=lambda s: s.split("\n")[0][:40])
def test_each_readme_query_runs(store_with_log: Path, sql: str) -> None:
    con = open_analytics(str(store_with_log), None)
    out = io.StringIO()
    write_result(con.sql(sql), "csv", out)  # exactly what `playbooks sql --format csv` prints
    rows = [tuple(r) for r in csv.reader(io.StringIO(out.getvalue()))][1:]
    assert rows, "every README question has an answer on this store"
    if "never been executed" in sql:
        assert ("escher_library", "aws-rds-stop", "3") in rows
    if "rejected" in sql.split("\n")[0]:
        assert any("broken/v1.0.0" in str(r) for r in rows)

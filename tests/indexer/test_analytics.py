"""Analyst views and ``playbooks sql`` / ``playbooks stats`` over real stores (local and S3)."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from indexer import duckdb_ext
from indexer.analytics import QUERY_LOG_SCHEMA, VIEWS, open_analytics, stats
from indexer.blobs import LocalBlobs, open_blobs
from indexer.build import run_index
from indexer.cli_analytics import (
    register,
    render_stats,
    run_shell,
    statement_complete,
)
from indexer.embed import Embedder
from indexer.errors import BadRequest, ConfigError, NotFound, StoreError
from indexer.store import METADATA_FILE, Store, playbook_schema
from tests._playbooks import write_playbook

LIBRARY, ACME, GLOBEX = "escher_library", "tenant_acme_playbooks", "tenant_globex_playbooks"


@dataclass(frozen=True)
class Built:
    root: Path
    lib: Path
    ten: Path
    first: str  # the older manifest (before night-scale was published)
    second: str  # CURRENT

    @property
    def store(self) -> str:
        return str(self.root / "store")


def _sources(lib: Path, ten: Path) -> None:
    write_playbook(
        lib,
        "aws-rds-stop",
        status="deprecated",
        tags={"category": "cost"},
        execution_count=10,
        success_count=9,
    )
    write_playbook(
        lib, "aws-rds-stop", "1.1.0", tags={"category": "cost"}, execution_count=0, success_count=0
    )
    write_playbook(
        lib,
        "gcp-gce-start",
        cloud_provider=["gcp"],
        resource_types=["compute::instance"],
        tags={"category": "compute"},
    )
    write_playbook(
        ten,
        "weekend-shutdown",
        tenant="acme",
        cloud_provider=["aws", "azure"],
        updated_at=1730000000,
    )
    write_playbook(
        ten,
        "ledger-restart",
        tenant="globex",
        status="draft",
        author="ai_generated",
        execution_count=2,
        success_count=1,
    )
    write_playbook(ten, "bad-status", tenant="globex", status="weird")


def _index(store: Store, lib: Path, ten: Path, embedder: Embedder) -> str:
    report = run_index(
        store=store, library=[LocalBlobs(lib)], tenants=[LocalBlobs(ten)], embedder=embedder
    )
    assert report.committed and report.manifest_id
    return report.manifest_id


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Built:
    """A store with two manifests: the second adds acme's night-scale playbook."""
    root = tmp_path_factory.mktemp("analytics")
    lib, ten = root / "lib", root / "ten"
    _sources(lib, ten)
    store = Store(open_blobs(str(root / "store")))
    first = _index(store, lib, ten, embedder)
    write_playbook(ten, "night-scale", tenant="acme", keywords=["scale"])
    second = _index(store, lib, ten, embedder)
    return Built(root, lib, ten, first, second)


@pytest.fixture
def store_copy(built: Built, tmp_path: Path) -> Path:
    """A copy of the built store that a test may change."""
    return Path(shutil.copytree(built.store, tmp_path / "store"))


@pytest.fixture(autouse=True)
def _no_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PLAYBOOKS_STORE", "PLAYBOOKS_ENDPOINT_URL", "PLAYBOOKS_MANIFEST"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def con(built: Built) -> Iterator[duckdb.DuckDBPyConnection]:
    c = open_analytics(built.store, None)
    yield c
    c.close()


def _types(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {view}").fetchall()}


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


PLAYBOOK_TYPES = {
    "collection": "VARCHAR",
    "tenant_id": "VARCHAR",
    "playbook_id": "VARCHAR",
    "version": "VARCHAR",
    "version_major": "INTEGER",
    "status": "VARCHAR",
    "author": "VARCHAR",
    "cloud_provider": "VARCHAR[]",
    "resource_types": "VARCHAR[]",
    "tags": "MAP(VARCHAR, VARCHAR)",
    "created_at": "TIMESTAMP WITH TIME ZONE",
    "updated_at": "TIMESTAMP WITH TIME ZONE",
    "last_executed_at": "TIMESTAMP WITH TIME ZONE",
    "execution_count": "BIGINT",
    "success_count": "BIGINT",
    "success_rate": "DOUBLE",
    "based_on_escher": "BOOLEAN",
    "scripts": "STRUCT(format VARCHAR, path VARCHAR, uri VARCHAR, sha256 VARCHAR, "
    "size_bytes BIGINT)[]",
}
QUERY_TYPES = {
    "ts": "TIMESTAMP WITH TIME ZONE",
    "request_id": "VARCHAR",
    "tenant": "VARCHAR",
    "query": "VARCHAR",
    "query_hash": "VARCHAR",
    "intent": "VARCHAR",
    "filters": "VARCHAR",
    "manifest_id": "VARCHAR",
    "result_ids": "VARCHAR[]",
    "result_scores": "DOUBLE[]",
    "latency_ms": "DOUBLE",
    "stage_ms": "VARCHAR",
    "rerank_status": "VARCHAR",
    "status_code": "INTEGER",
    "date": "DATE",
}


# ----- views -------------------------------------------------------------------------------
def test_playbooks_view_has_every_parquet_column_typed_but_the_vector(
    con: duckdb.DuckDBPyConnection,
) -> None:
    types = _types(con, "playbooks")
    expected_names = [f.name for f in playbook_schema(384) if f.name != "vector"]
    assert list(types) == expected_names
    assert {k: types[k] for k in PLAYBOOK_TYPES} == PLAYBOOK_TYPES
    assert _types(con, "playbook_vectors")["vector"] == "FLOAT[384]"


def test_playbooks_view_rows_by_collection_with_tenant(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT collection, tenant_id, count(*) FROM playbooks GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert rows == [(LIBRARY, None, 3), (ACME, "acme", 2), (GLOBEX, "globex", 1)]
    assert _scalar(con, "SELECT count(*) FROM playbook_vectors") == 6
    # typed values: a map lookup, a list, a timestamp
    row = con.execute(
        "SELECT tags['category'], cloud_provider, epoch(updated_at) FROM playbooks "
        "WHERE playbook_id = 'weekend-shutdown'"
    ).fetchone()
    assert row == (None, ["aws", "azure"], 1730000000.0)


def test_collections_view_describes_each_snapshot(
    built: Built, con: duckdb.DuckDBPyConnection
) -> None:
    store = Store(LocalBlobs(built.store))
    manifest = store.read_manifest(built.second)
    types = _types(con, "collections")
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["files"] == "MAP(VARCHAR, STRUCT(sha256 VARCHAR, bytes BIGINT))"
    rows = con.execute(
        "SELECT collection, tenant_id, snapshot_id, rows, rejected, seen, "
        "source_fingerprint, strftime(created_at, '%Y-%m-%dT%H:%M:%S.%fZ'), "
        "files['metadata.parquet'].bytes FROM collections ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == [LIBRARY, ACME, GLOBEX]
    for name, tenant, snap, n, rejected, seen, fingerprint, created, size in rows:
        ref = manifest.collections[name]
        desc = store.read_description(ref)
        assert (snap, n, rejected, fingerprint) == (
            ref.snapshot_id,
            ref.rows,
            ref.rejected,
            ref.source_fingerprint,
        )
        assert tenant == (None if name == LIBRARY else name.split("_")[1])
        assert created == desc["created_at"] and seen == desc["validation"]["seen"]
        assert size == ref.files[METADATA_FILE].bytes
    assert [(r[0], r[4]) for r in rows] == [(LIBRARY, 0), (ACME, 0), (GLOBEX, 1)]


def test_rejections_view_names_the_bad_folder_field_and_reason(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute(
        "SELECT collection, tenant_id, folder, field, reason FROM rejections"
    ).fetchall()
    assert len(rows) == 1
    collection, tenant, folder, field, reason = rows[0]
    assert (collection, tenant, field) == (GLOBEX, "globex", "metadata.json:status")
    assert folder.endswith("tenants/globex/playbooks/bad-status/v1.0.0")
    assert "'weird'" in reason and "active" in reason


def test_manifests_view_lists_history_and_marks_current(
    built: Built, con: duckdb.DuckDBPyConnection
) -> None:
    assert _types(con, "manifests")["created_at"] == "TIMESTAMP WITH TIME ZONE"
    rows = con.execute(
        "SELECT manifest_id, parent, created_by_tool, collections, rows, "
        "rejected, run_indexed, run_built, is_current, is_selected, error "
        "FROM manifests ORDER BY created_at"
    ).fetchall()
    assert rows == [
        (
            built.first,
            None,
            "playbooks index",
            3,
            5,
            1,
            5,
            [LIBRARY, ACME, GLOBEX],
            False,
            False,
            None,
        ),
        (built.second, built.first, "playbooks index", 3, 6, 1, 6, [ACME], True, True, None),
    ]


def test_manifest_flag_selects_an_older_manifest(built: Built) -> None:
    con = open_analytics(built.store, None, manifest_id=built.first)
    try:
        assert _scalar(con, "SELECT count(*) FROM playbooks") == 5
        assert _scalar(con, "SELECT count(*) FROM playbooks WHERE playbook_id = 'night-scale'") == 0
        assert con.execute(
            "SELECT manifest_id, is_current FROM manifests WHERE is_selected"
        ).fetchall() == [(built.first, False)]
        assert _scalar(con, "SELECT getvariable('playbooks_manifest')") == built.first
    finally:
        con.close()


def test_missing_manifest_and_empty_store_are_not_found(built: Built, tmp_path: Path) -> None:
    with pytest.raises(
        NotFound,
        match=r"^no manifest m-20200101T000000000000Z-000000000000 "
        r"in .*store$",
    ):
        open_analytics(built.store, None, "m-20200101T000000000000Z-000000000000")
    with pytest.raises(NotFound, match=r"has no manifests/CURRENT: nothing has been indexed"):
        open_analytics(str(tmp_path / "empty"), None)


def test_a_missing_or_truncated_parquet_file_is_reported_by_name(store_copy: Path) -> None:
    parquet = sorted(store_copy.glob(f"snapshots/{ACME}/*/{METADATA_FILE}"))[-1]
    data = parquet.read_bytes()
    parquet.write_bytes(data[:-10])
    with pytest.raises(
        StoreError,
        match=rf"{parquet}: {len(data) - 10} bytes, manifest "
        rf"expects {len(data)}",
    ):
        open_analytics(str(store_copy), None)
    parquet.unlink()
    with pytest.raises(StoreError, match=rf"^{parquet} is missing"):
        open_analytics(str(store_copy), None)


def test_an_unreadable_old_manifest_shows_as_an_error_row(built: Built, store_copy: Path) -> None:
    bad = "m-20200101T000000000000Z-000000000000"
    (store_copy / "manifests" / f"{bad}.json").write_text("{not json")
    con = open_analytics(str(store_copy), None)
    try:
        rows = con.execute(
            "SELECT manifest_id, error IS NOT NULL, is_current FROM manifests ORDER BY manifest_id"
        ).fetchall()
        assert rows == [
            (bad, True, False),
            (built.first, False, False),
            (built.second, False, True),
        ]
        assert "not a valid manifest" in _scalar(
            con, f"SELECT error FROM manifests WHERE manifest_id = '{bad}'"
        )
    finally:
        con.close()


def test_manifests_without_playbooks_give_typed_empty_views(
    tmp_path: Path, embedder: Embedder
) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    no_collections = run_index(store=store, library=[], tenants=[], embedder=embedder)
    (tmp_path / "lib").mkdir()
    (tmp_path / "ten").mkdir()
    empty_library = _index(store, tmp_path / "lib", tmp_path / "ten", embedder)
    for manifest_id, collections in ((no_collections.manifest_id, 0), (empty_library, 1)):
        con = open_analytics(str(tmp_path / "store"), None, manifest_id)
        try:
            assert {k: _types(con, "playbooks")[k] for k in PLAYBOOK_TYPES} == PLAYBOOK_TYPES
            assert _types(con, "playbook_vectors")["vector"] == "FLOAT[384]"
            assert _scalar(con, "SELECT count(*) FROM collections") == collections
            for view in ("playbooks", "playbook_vectors", "rejections", "queries"):
                assert _scalar(con, f"SELECT count(*) FROM {view}") == 0, view
            summary = stats(con)
            assert summary["totals"]["versions"] == 0
            assert summary["success_rates"]["overall"]["success_rate"] is None
            assert render_stats(summary).splitlines()[2].startswith("playbooks  0 versions")
        finally:
            con.close()


# ----- the query log -------------------------------------------------------------------------
def _log_records() -> pa.Table:
    t0 = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
    return pa.Table.from_pylist(
        [
            {
                "ts": t0,
                "request_id": "r1",
                "tenant": "acme",
                "query": "stop rds",
                "query_hash": "h1",
                "intent": '{"action": "stop"}',
                "filters": "{}",
                "manifest_id": "m-x",
                "result_ids": ["aws-rds-stop@1.1.0", "weekend-shutdown@1.0.0"],
                "result_scores": [0.9, 0.5],
                "latency_ms": 12.5,
                "stage_ms": '{"vector": 3.1}',
                "rerank_status": "off",
                "status_code": 200,
            },
            {
                "ts": t0,
                "request_id": "r2",
                "tenant": "globex",
                "query": None,
                "query_hash": "h2",
                "intent": None,
                "filters": None,
                "manifest_id": "m-x",
                "result_ids": [],
                "result_scores": [],
                "latency_ms": 30.0,
                "stage_ms": None,
                "rerank_status": "timeout",
                "status_code": 500,
            },
        ],
        schema=QUERY_LOG_SCHEMA,
    )


def test_queries_view_is_typed_and_empty_without_logs(con: duckdb.DuckDBPyConnection) -> None:
    assert _types(con, "queries") == QUERY_TYPES
    assert _scalar(con, "SELECT count(*) FROM queries") == 0
    assert stats(con)["queries"]["count"] == 0


def test_queries_view_reads_parquet_logs_by_date(store_copy: Path) -> None:
    folder = store_copy / "logs/queries/date=2026-01-02"
    folder.mkdir(parents=True)
    pq.write_table(_log_records(), folder / "part-0001.parquet")
    con = open_analytics(str(store_copy), None)
    try:
        assert _types(con, "queries") == QUERY_TYPES
        rows = con.execute(
            "SELECT request_id, tenant, query, result_ids, status_code, "
            "strftime(\"date\", '%Y-%m-%d') FROM queries ORDER BY 1"
        ).fetchall()
        assert rows == [
            (
                "r1",
                "acme",
                "stop rds",
                ["aws-rds-stop@1.1.0", "weekend-shutdown@1.0.0"],
                200,
                "2026-01-02",
            ),
            ("r2", "globex", None, [], 500, "2026-01-02"),
        ]
        assert (
            _scalar(con, "SELECT intent->>'$.action' FROM queries WHERE request_id = 'r1'")
            == "stop"
        )
        q = stats(con)["queries"]
        assert (q["count"], q["errors"], q["first"]) == (2, 1, "2026-01-02T09:30:00Z")
    finally:
        con.close()


# ----- stats ---------------------------------------------------------------------------------
def test_stats_counts_rates_freshness_and_rejections(
    built: Built, con: duckdb.DuckDBPyConnection
) -> None:
    created = {
        name: ts
        for name, ts in con.execute(
            "SELECT collection, epoch(created_at) FROM collections"
        ).fetchall()
    }
    now = datetime(2030, 1, 1, tzinfo=UTC)
    s = stats(con, now=now)
    assert s["store"] == str(Path(built.store).resolve())
    assert s["manifest"]["manifest_id"] == built.second and s["manifest"]["is_current"]
    assert s["totals"] == {
        "collections": 3,
        "versions": 6,
        "playbooks": 5,
        "searchable": 5,
        "rejected": 1,
    }
    assert s["counts"]["by_collection"][ACME] == {
        "tenant_id": "acme",
        "versions": 2,
        "playbooks": 2,
        "searchable": 2,
    }
    assert s["counts"]["by_status"] == {"active": 4, "deprecated": 1, "draft": 1}
    assert s["counts"]["by_provider"] == {"aws": 5, "azure": 1, "gcp": 1}
    assert s["counts"]["by_author"] == {"escher_library": 3, "user_custom": 2, "ai_generated": 1}
    rates = s["success_rates"]
    assert rates["overall"] == {"executions": 24, "successes": 19, "success_rate": 19 / 24}
    assert rates["by_collection"][LIBRARY] == {
        "executions": 14,
        "successes": 12,
        "success_rate": 12 / 14,
    }
    assert rates["by_category"] == {
        "(none)": {"executions": 10, "successes": 7, "success_rate": 0.7},
        "compute": {"executions": 4, "successes": 3, "success_rate": 0.75},
        "cost": {"executions": 10, "successes": 9, "success_rate": 0.9},
    }
    fresh = s["freshness"][ACME]
    assert fresh["age_seconds"] == round(now.timestamp() - created[ACME])
    assert fresh["snapshot_created_at"] == datetime.fromtimestamp(int(created[ACME]), UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert fresh["newest_updated_at"] == "2024-10-27T03:33:20Z"
    rej = s["rejections"]
    assert rej["total"] == 1 and list(rej["by_collection"]) == [GLOBEX]
    first = rej["by_collection"][GLOBEX]["first"]
    assert [x["field"] for x in first] == ["metadata.json:status"]
    json.dumps(s)  # JSON-ready as it is


def test_render_stats_is_a_readable_summary(con: duckdb.DuckDBPyConnection) -> None:
    text = render_stats(stats(con))
    lines = text.splitlines()
    assert lines[2] == (
        "playbooks  6 versions of 5 playbooks in 3 collections; 5 searchable; 1 folders rejected"
    )
    assert "status     active 4, deprecated 1, draft 1" in lines
    assert "provider   aws 5, azure 1, gcp 1" in lines
    assert any(line.startswith("cost ") and line.endswith("90.0%") for line in lines)
    assert any(line.startswith("(all) ") and line.endswith("79.2%") for line in lines)
    assert any("bad-status/v1.0.0: metadata.json:status: expected one of" in line for line in lines)
    assert lines[-1] == "queries    none logged"


# ----- the CLI -------------------------------------------------------------------------------
def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="playbooks")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


QUERY = (
    "SELECT playbook_id, version, status, cloud_provider, execution_count FROM playbooks "
    "WHERE collection = 'escher_library' ORDER BY playbook_id, version"
)


def test_cli_sql_table(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["sql", QUERY, "--store", built.store]) == 0
    assert capsys.readouterr().out == (
        "playbook_id    version  status      cloud_provider  execution_count\n"
        "-------------  -------  ----------  --------------  ---------------\n"
        "aws-rds-stop   1.0.0    deprecated  [aws]                        10\n"
        "aws-rds-stop   1.1.0    active      [aws]                         0\n"
        "gcp-gce-start  1.0.0    active      [gcp]                         4\n"
        "(3 rows)\n"
    )


def test_cli_sql_csv(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["sql", QUERY, "--store", built.store, "--format", "csv"]) == 0
    assert capsys.readouterr().out == (
        "playbook_id,version,status,cloud_provider,execution_count\n"
        "aws-rds-stop,1.0.0,deprecated,[aws],10\n"
        "aws-rds-stop,1.1.0,active,[aws],0\n"
        "gcp-gce-start,1.0.0,active,[gcp],4\n"
    )


def test_cli_sql_json(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "SELECT playbook_id, cloud_provider, tags, created_at, success_rate, purpose "
        "FROM playbooks WHERE playbook_id = 'gcp-gce-start'"
    )
    assert _cli(["sql", sql, "--store", built.store, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "playbook_id": "gcp-gce-start",
            "cloud_provider": ["gcp"],
            "tags": {"category": "compute"},
            "created_at": "2024-09-14 16:00:00+00",
            "success_rate": 0.75,
            "purpose": "",
        }
    ]
    assert (
        _cli(["sql", "SELECT 1 AS x WHERE false", "--store", built.store, "--format", "json"]) == 0
    )
    assert capsys.readouterr().out == "[]\n"


def test_cli_sql_manifest_flag(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        _cli(
            [
                "sql",
                "SELECT count(*) AS n FROM playbooks",
                "--store",
                built.store,
                "--manifest",
                built.first,
                "--format",
                "csv",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == "n\n5\n"


def test_cli_sql_errors_name_the_problem(built: Built) -> None:
    with pytest.raises(BadRequest, match=r'^Parser Error: syntax error at or near "selec"$'):
        _cli(["sql", "selec 1", "--store", built.store])
    with pytest.raises(
        BadRequest,
        match=r"^Catalog Error: Table with name nope does not "
        r"exist!",
    ):
        _cli(["sql", "select * from nope", "--store", built.store])
    with pytest.raises(
        BadRequest,
        match=r"^Conversion Error: Could not convert string 'x' "
        r"to INT32$",
    ):
        _cli(["sql", "select 'x'::int", "--store", built.store])
    with pytest.raises(NotFound, match=r"^no manifest m-nope"):
        _cli(["sql", "select 1", "--store", built.store, "--manifest", "m-nope"])


def test_cli_sql_shell_reads_a_pipe(
    built: Built, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (
        ".tables\n"
        "SELECT count(*) AS n\n  FROM rejections;\n"
        "selec 1;\n"
        ".format csv\n"
        "SELECT 'a;b' AS x, -- a comment;\n 2 AS y; SELECT 3 AS z;\n"
        ".schema queries\n"
        "SELECT 4 AS last\n"
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    assert _cli(["sql", "--store", built.store]) == 1  # a statement failed
    captured = capsys.readouterr()
    out = captured.out
    for view in VIEWS:
        assert f"\n{view} " in out
    assert "n\n-\n1\n(1 row)\n" in out
    assert "x,y\na;b,2\nz\n3\n" in out
    assert "ts             TIMESTAMP WITH TIME ZONE\n" in out
    assert out.endswith("last\n4\n")
    assert captured.err == 'error: Parser Error: syntax error at or near "selec"\n'


def test_shell_stops_at_quit_and_succeeds_without_errors(con: duckdb.DuckDBPyConnection) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_shell(con, io.StringIO("select 1 as one;\n.quit\nselect 2;\n"), out, err, "csv")
    assert (code, out.getvalue(), err.getvalue()) == (0, "one\n1\n", "")


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("select 1;", True),
        ("select 1", False),
        ("select ';'", False),
        ("select ';' ;", True),
        ("select 1; -- done", True),
        ("select 1 -- ;", False),
        ("select 'it''s;'", False),
        ("select 1 /* ; */", False),
        ('select "a;";', True),
        ("select 'open;", False),
    ],
)
def test_statement_complete(text: str, complete: bool) -> None:
    assert statement_complete(text) is complete


def test_cli_stats_text_and_json(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["stats", "--store", built.store]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"store      {Path(built.store).resolve()}\nmanifest   {built.second}")
    assert _cli(["stats", "--store", built.store, "--json", "--manifest", built.first]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["manifest"] == {
        "manifest_id": built.first,
        "is_current": False,
        "created_at": doc["manifest"]["created_at"],
    }
    assert doc["totals"]["versions"] == 5


# ----- extensions and S3 ---------------------------------------------------------------------
def test_extensions_come_from_their_packages() -> None:
    import duckdb_extension_httpfs

    path = duckdb_ext.extension_path("httpfs")
    assert path.is_file()
    assert path.is_relative_to(Path(duckdb_extension_httpfs.__file__).parent)
    assert path.parent.name == f"v{duckdb.__version__}"
    with pytest.raises(
        ConfigError,
        match=rf"needs the package duckdb-extension-nosuch=="
        rf"{duckdb.__version__}, which is not installed",
    ):
        duckdb_ext.extension_path("nosuch")
    con = duckdb_ext.connect()
    try:
        assert _scalar(con, "SELECT current_setting('autoinstall_known_extensions')") is False
        duckdb_ext.load_extension(con, "fts")
        duckdb_ext.load_extension(con, "fts")  # already loaded: a no-op
        assert (
            _scalar(con, "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'fts'")
            is True
        )
    finally:
        con.close()


@pytest.mark.usefixtures("aws_env")
def test_s3_access_follows_the_endpoint_url() -> None:
    moto = duckdb_ext.s3_access("http://127.0.0.1:5000")
    assert (moto.endpoint, moto.use_ssl, moto.url_style, moto.region) == (
        "127.0.0.1:5000",
        False,
        "path",
        "us-east-1",
    )
    assert moto.key_id == "testing" and moto.secret and moto.secret.reveal() == "testing"
    minio = duckdb_ext.s3_access("https://minio.example:9000/")
    assert (minio.endpoint, minio.use_ssl, minio.url_style) == ("minio.example:9000", True, "path")
    aws = duckdb_ext.s3_access(None)
    assert (aws.endpoint, aws.use_ssl, aws.url_style) == (None, True, "vhost")
    assert "ENDPOINT" not in duckdb_ext.s3_secret_sql(aws)


def test_s3_secret_is_redacted(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "it's-a-secret-key")
    con = duckdb_ext.connect()
    try:
        duckdb_ext.configure_s3(con, "http://127.0.0.1:5000")
        described = _scalar(con, "SELECT secret_string FROM duckdb_secrets()")
        assert "endpoint=127.0.0.1:5000" in described and "use_ssl=false" in described
        assert "it's-a-secret-key" not in described and "secret=redacted" in described
    finally:
        con.close()


def test_views_over_an_s3_store_through_httpfs(
    built: Built, s3: Any, moto_server: str, embedder: Embedder
) -> None:
    s3.create_bucket(Bucket="analytics-store")
    location = "s3://analytics-store/index"
    store = Store(open_blobs(location, moto_server))
    manifest_id = _index(store, built.lib, built.ten, embedder)
    con = open_analytics(location, moto_server)
    try:
        assert (
            _scalar(con, "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'")
            is True
        )
        assert _scalar(con, "SELECT count(*) FROM playbooks") == 6
        assert {k: _types(con, "playbooks")[k] for k in PLAYBOOK_TYPES} == PLAYBOOK_TYPES
        assert _scalar(
            con, f"SELECT metadata_uri FROM collections WHERE collection = '{LIBRARY}'"
        ).startswith(f"{location}/snapshots/{LIBRARY}/")
        assert con.execute("SELECT collection, field FROM rejections").fetchall() == [
            (GLOBEX, "metadata.json:status")
        ]
        assert con.execute("SELECT manifest_id, is_current FROM manifests").fetchall() == [
            (manifest_id, True)
        ]
        assert _types(con, "queries") == QUERY_TYPES
        assert _scalar(con, "SELECT count(*) FROM queries") == 0
    finally:
        con.close()

    buf = io.BytesIO()
    pq.write_table(_log_records(), buf)
    s3.put_object(
        Bucket="analytics-store",
        Key="index/logs/queries/date=2026-01-02/part-0001.parquet",
        Body=buf.getvalue(),
    )
    con = open_analytics(location, moto_server)
    try:
        assert con.execute(
            'SELECT request_id, "date"::VARCHAR FROM queries ORDER BY 1'
        ).fetchall() == [("r1", "2026-01-02"), ("r2", "2026-01-02")]
        s = stats(con)
        assert (s["totals"]["versions"], s["queries"]["count"]) == (6, 2)
    finally:
        con.close()

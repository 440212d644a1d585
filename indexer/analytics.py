"""Analyst views over a store, and the summary behind ``playbooks stats``.

:func:`open_analytics` returns an in-memory DuckDB connection holding these views over one
manifest (the one CURRENT names, or the one asked for):

==================  ======================================================================
``playbooks``       one row per playbook version: every column of ``metadata.parquet``
                    (``collection``, ``tenant_id``, the typed metadata ...) but the vector
``playbook_vectors`` collection, tenant_id, playbook_id, version, content_hash, vector
``collections``     one row per collection of the manifest, with its snapshot's description
``manifests``       every manifest in the store (the history), ``is_current``, ``is_selected``
``rejections``      each collection's validation report: folder, field, reason
``queries``         the server's query log, ``logs/queries/date=YYYY-MM-DD/*.parquet``
==================  ======================================================================

Nothing is taken on trust from a path: the manifest is read and verified through
:class:`~indexer.store.Store`, each ``snapshot.json`` against the manifest's checksum, and
each ``metadata.parquet`` is checked for presence and size before a view names it by its
exact URI. On S3 DuckDB reads the files through httpfs, loaded from its PyPI package
(:mod:`indexer.duckdb_ext`). The connection's time zone is UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

import duckdb
import pyarrow as pa

from indexer import duckdb_ext
from indexer.blobs import S3Blobs, open_blobs
from indexer.duckdb_ext import sql_literal
from indexer.errors import NotFound, PlaybookError, StoreError
from indexer.model import SEARCHABLE_STATUSES, collection_tenant
from indexer.store import METADATA_FILE, Manifest, SnapshotRef, Store, playbook_schema

QUERY_LOG_PREFIX = "logs/queries"
# One record per search, written by the server as Parquet under
# logs/queries/date=YYYY-MM-DD/ (the partition becomes the view's `date` column).
QUERY_LOG_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("us", tz="UTC")),
        ("request_id", pa.string()),
        ("tenant", pa.string()),
        ("query", pa.string()),  # null when only the hash is kept
        ("query_hash", pa.string()),
        ("intent", pa.string()),  # JSON
        ("filters", pa.string()),  # JSON
        ("manifest_id", pa.string()),
        ("result_ids", pa.list_(pa.string())),
        ("result_scores", pa.list_(pa.float64())),
        ("latency_ms", pa.float64()),
        ("stage_ms", pa.string()),  # JSON: stage name -> milliseconds
        ("rerank_status", pa.string()),
        ("status_code", pa.int32()),
    ]
)

VIEWS: Mapping[str, str] = {
    "playbooks": "one row per playbook version (every metadata column, typed)",
    "playbook_vectors": "each playbook version's embedding, FLOAT[dimension]",
    "collections": "the manifest's collections and their snapshots",
    "manifests": "every manifest in the store (the history)",
    "rejections": "folders left out by validation: folder, field, reason",
    "queries": "the search server's query log",
}
_INTERNAL = "_analytics"  # tables behind the small views (not listed by SHOW TABLES)
_LOG_KEY = re.compile(rf"^{QUERY_LOG_PREFIX}/date=[^/]+/[^/]+\.parquet$")
_TS = pa.timestamp("us", tz="UTC")
_STRINGS = pa.list_(pa.string())


def open_analytics(
    store_location: str, endpoint_url: str | None, manifest_id: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views above over ``manifest_id`` (default: CURRENT).

    Raises :class:`NotFound` when the store has no CURRENT or no such manifest,
    :class:`StoreError` when a file the manifest names is missing or does not match, and
    :class:`ConfigError` when the httpfs package cannot be loaded (S3 stores).
    """
    blobs = open_blobs(store_location, endpoint_url)
    con = duckdb_ext.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        if isinstance(blobs, S3Blobs):
            duckdb_ext.configure_s3(con, endpoint_url, blobs.bucket)
        define_views(con, Store(blobs), manifest_id)
    except BaseException:
        con.close()
        raise
    return con


def define_views(
    con: duckdb.DuckDBPyConnection, store: Store, manifest_id: str | None = None
) -> Manifest:
    """Create the views on ``con`` (which must reach the store's files); returns the manifest."""
    current = store.current().manifest_id
    selected = manifest_id or current
    if selected is None:
        raise NotFound(
            f"{store.uri} has no manifests/CURRENT: nothing has been indexed "
            "there yet (run `playbooks index`)",
            store=store.uri,
        )
    manifest = store.read_manifest(selected)
    refs = sorted(manifest.collections.values(), key=lambda r: r.collection)
    with ThreadPoolExecutor(max_workers=8) as pool:  # S3: one round trip each
        descriptions = list(pool.map(partial(_checked_description, store), refs))
        history = list(pool.map(partial(_read_or_error, store), store.manifest_ids()))
    con.execute(f"CREATE SCHEMA {_INTERNAL}")
    _view_from_arrow(con, "collections", _collections_table(store, refs, descriptions))
    _view_from_arrow(con, "manifests", _manifests_table(history, current, manifest.manifest_id))
    _view_from_arrow(con, "rejections", _rejections_table(refs, descriptions))
    _define_playbooks(con, store, manifest, refs)
    _define_queries(con, store)
    con.execute("SET VARIABLE playbooks_store = ?", [store.uri])
    con.execute("SET VARIABLE playbooks_manifest = ?", [manifest.manifest_id])
    return manifest


# ----- reading and checking the store -------------------------------------------------
def _checked_description(store: Store, ref: SnapshotRef) -> dict[str, Any]:
    """snapshot.json (verified) after checking that metadata.parquet is there, whole."""
    description = store.read_description(ref)
    expected = ref.files.get(METADATA_FILE)
    uri = store.metadata_uri(ref)
    if expected is None:
        raise StoreError(
            f"manifest entry for {ref.collection} has no checksum for {METADATA_FILE}", file=uri
        )
    key = f"{ref.path}/{METADATA_FILE}"
    size = next((info.size for info in store.blobs.list(ref.path) if info.key == key), None)
    if size is None:
        raise StoreError(f"{uri} is missing (named by snapshot {ref.snapshot_id})", file=uri)
    if size != expected.bytes:
        raise StoreError(f"{uri}: {size} bytes, manifest expects {expected.bytes}", file=uri)
    return description


def _read_or_error(store: Store, manifest_id: str) -> Manifest | tuple[str, str]:
    # One unreadable old manifest must not hide the rest of the history.
    try:
        return store.read_manifest(manifest_id)
    except PlaybookError as exc:
        return manifest_id, exc.message


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# ----- the small relations (built in Python, stored as tables behind views) -------------
def _view_from_arrow(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    staging = f"_staging_{name}"
    con.register(staging, table)
    try:
        con.execute(f"CREATE TABLE {_INTERNAL}.{name} AS SELECT * FROM {staging}")
    finally:
        con.unregister(staging)
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM {_INTERNAL}.{name}")


def _collections_table(
    store: Store, refs: Sequence[SnapshotRef], descriptions: Sequence[Mapping[str, Any]]
) -> pa.Table:
    file_sum = pa.struct([("sha256", pa.string()), ("bytes", pa.int64())])
    schema = pa.schema(
        [
            ("collection", pa.string()),
            ("tenant_id", pa.string()),
            ("snapshot_id", pa.string()),
            ("rows", pa.int64()),
            ("rejected", pa.int64()),
            ("seen", pa.int64()),
            ("source_fingerprint", pa.string()),
            ("created_at", _TS),
            ("model", pa.string()),
            ("dimension", pa.int32()),
            ("sources", _STRINGS),
            ("path", pa.string()),
            ("metadata_uri", pa.string()),
            ("files", pa.map_(pa.string(), file_sum)),
        ]
    )
    rows = []
    for ref, desc in zip(refs, descriptions, strict=True):
        model = desc.get("model") or {}
        rows.append(
            {
                "collection": ref.collection,
                "tenant_id": collection_tenant(ref.collection),
                "snapshot_id": ref.snapshot_id,
                "rows": ref.rows,
                "rejected": ref.rejected,
                "seen": _int((desc.get("validation") or {}).get("seen")),
                "source_fingerprint": ref.source_fingerprint,
                "created_at": _timestamp(desc.get("created_at")),
                "model": model.get("name"),
                "dimension": _int(desc.get("dimension")),
                "sources": [str(s) for s in desc.get("sources") or []],
                "path": store.blobs.uri_for(ref.path),
                "metadata_uri": store.metadata_uri(ref),
                "files": [(k, v.to_dict()) for k, v in sorted(ref.files.items())],
            }
        )
    return pa.Table.from_pylist(rows, schema=schema)


def _manifests_table(
    history: Sequence[Manifest | tuple[str, str]], current: str | None, selected: str
) -> pa.Table:
    # rows / rejected: what the manifest's snapshots hold; run_*: what the index run that
    # committed it did (a collection carried over unchanged counts as neither built nor seen).
    counts = ("seen", "indexed", "reused", "embedded", "rejected")
    schema = pa.schema(
        [
            ("manifest_id", pa.string()),
            ("parent", pa.string()),
            ("created_at", _TS),
            ("created_by_tool", pa.string()),
            ("created_by_version", pa.string()),
            ("created_by_host", pa.string()),
            ("created_by_user", pa.string()),
            ("model", pa.string()),
            ("dimension", pa.int32()),
            ("collections", pa.int32()),
            ("rows", pa.int64()),
            ("rejected", pa.int64()),
            *[(f"run_{c}", pa.int64()) for c in counts],
            ("run_built", _STRINGS),
            ("report_json", pa.string()),
            ("is_current", pa.bool_()),
            ("is_selected", pa.bool_()),
            ("error", pa.string()),
        ]
    )
    rows: list[dict[str, Any]] = []
    for m in history:
        if isinstance(m, tuple):
            mid, error = m
            rows.append(
                {
                    "manifest_id": mid,
                    "is_current": mid == current,
                    "is_selected": mid == selected,
                    "error": error,
                }
            )
            continue
        by, report = m.created_by, m.report
        rows.append(
            {
                "manifest_id": m.manifest_id,
                "parent": m.parent,
                "created_at": _timestamp(m.created_at),
                "created_by_tool": by.get("tool"),
                "created_by_version": by.get("version"),
                "created_by_host": by.get("host"),
                "created_by_user": by.get("user"),
                "model": m.model.name,
                "dimension": m.model.dimension,
                "collections": len(m.collections),
                "rows": sum(ref.rows for ref in m.collections.values()),
                "rejected": sum(ref.rejected for ref in m.collections.values()),
                **{f"run_{c}": _int(report.get(c)) for c in counts},
                "run_built": [str(b) for b in report.get("built") or []],
                "report_json": json.dumps(dict(report), sort_keys=True, default=str),
                "is_current": m.manifest_id == current,
                "is_selected": m.manifest_id == selected,
                "error": None,
            }
        )
    return pa.Table.from_pylist(rows, schema=schema)


def _rejections_table(
    refs: Sequence[SnapshotRef], descriptions: Sequence[Mapping[str, Any]]
) -> pa.Table:
    schema = pa.schema(
        [
            ("collection", pa.string()),
            ("tenant_id", pa.string()),
            ("snapshot_id", pa.string()),
            ("folder", pa.string()),
            ("field", pa.string()),
            ("reason", pa.string()),
        ]
    )
    rows = []
    for ref, desc in zip(refs, descriptions, strict=True):
        for r in (desc.get("validation") or {}).get("rejected") or []:
            rows.append(
                {
                    "collection": ref.collection,
                    "tenant_id": collection_tenant(ref.collection),
                    "snapshot_id": ref.snapshot_id,
                    "folder": str(r.get("folder", "")),
                    "field": str(r.get("field", "")),
                    "reason": str(r.get("reason", "")),
                }
            )
    return pa.Table.from_pylist(rows, schema=schema)


# ----- views over files ------------------------------------------------------------------
def _define_playbooks(
    con: duckdb.DuckDBPyConnection, store: Store, manifest: Manifest, refs: Sequence[SnapshotRef]
) -> None:
    dimension = int(manifest.model.dimension)
    if refs:
        uris = ", ".join(sql_literal(store.metadata_uri(ref)) for ref in refs)
        source = f"read_parquet([{uris}], union_by_name = true)"
    else:  # a manifest without collections: empty, but typed like a snapshot
        empty = playbook_schema(dimension).empty_table()
        con.register("_staging_playbooks", empty)
        try:
            con.execute(
                f"CREATE TABLE {_INTERNAL}.no_playbooks AS SELECT * FROM _staging_playbooks"
            )
        finally:
            con.unregister("_staging_playbooks")
        source = f"{_INTERNAL}.no_playbooks"
    con.execute(f"CREATE VIEW playbooks AS SELECT * EXCLUDE (vector) FROM {source}")
    con.execute(
        "CREATE VIEW playbook_vectors AS SELECT collection, tenant_id, playbook_id, version, "
        f"content_hash, CAST(vector AS FLOAT[{dimension}]) AS vector FROM {source}"
    )


def _define_queries(con: duckdb.DuckDBPyConnection, store: Store) -> None:
    schema = QUERY_LOG_SCHEMA.append(pa.field("date", pa.date32()))
    con.register("_staging_queries", schema.empty_table())
    try:
        con.execute(f"CREATE TABLE {_INTERNAL}.no_queries AS SELECT * FROM _staging_queries")
    finally:
        con.unregister("_staging_queries")
    has_logs = any(_LOG_KEY.match(info.key) for info in store.blobs.list(QUERY_LOG_PREFIX))
    if not has_logs:  # read_parquet refuses a glob that matches nothing
        con.execute(f"CREATE VIEW queries AS SELECT * FROM {_INTERNAL}.no_queries")
        return
    types = con.execute(f"DESCRIBE {_INTERNAL}.no_queries").fetchall()
    columns = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind, *_ in types)
    glob = sql_literal(f"{store.blobs.uri_for(QUERY_LOG_PREFIX)}/date=*/*.parquet")
    con.execute(
        f"CREATE VIEW queries AS SELECT {columns} FROM read_parquet({glob}, "
        "hive_partitioning = true, hive_types = {'date': DATE}, union_by_name = true)"
    )


# ----- stats -----------------------------------------------------------------------------
def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rate(executions: int, successes: int) -> dict[str, Any]:
    return {
        "executions": executions,
        "successes": successes,
        "success_rate": successes / executions if executions else None,
    }


def _counts(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
    return {str(k): int(n) for k, n in con.execute(sql).fetchall()}


def stats(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> dict[str, Any]:
    """A summary of the views on ``con`` (from :func:`open_analytics`), JSON-ready.

    Keys: ``store``, ``manifest``, ``totals``, ``counts`` (by collection, status, provider,
    author), ``success_rates`` (overall, by collection, by ``tags['category']``),
    ``freshness`` (per collection: snapshot time and age, newest ``updated_at``),
    ``rejections`` (total, per collection with the first few reasons) and ``queries``.
    """
    now = now or datetime.now(UTC)
    one = con.execute(
        "SELECT getvariable('playbooks_store'), manifest_id, epoch(created_at), "
        "is_current FROM manifests WHERE is_selected"
    ).fetchone()
    assert one is not None, "manifests view has no selected manifest"
    searchable = ", ".join(sql_literal(s) for s in sorted(SEARCHABLE_STATUSES))
    per_collection = con.execute(f"""
        SELECT c.collection, c.tenant_id, c.snapshot_id, epoch(c.created_at),
               count(p.playbook_id), count(DISTINCT p.playbook_id),
               count(p.playbook_id) FILTER (WHERE p.status IN ({searchable})),
               coalesce(sum(p.execution_count), 0), coalesce(sum(p.success_count), 0),
               epoch(max(p.updated_at))
        FROM collections c LEFT JOIN playbooks p USING (collection)
        GROUP BY ALL ORDER BY c.collection""").fetchall()
    counts: dict[str, Any] = {"by_collection": {}}
    rates: dict[str, Any] = {"overall": None, "by_collection": {}, "by_category": {}}
    freshness: dict[str, Any] = {}
    for name, tenant, snap, created, versions, ids, visible, runs, ok, newest in per_collection:
        counts["by_collection"][name] = {
            "tenant_id": tenant,
            "versions": versions,
            "playbooks": ids,
            "searchable": visible,
        }
        rates["by_collection"][name] = _rate(int(runs), int(ok))
        freshness[name] = {
            "snapshot_id": snap,
            "snapshot_created_at": _iso(created),
            "age_seconds": None if created is None else round(now.timestamp() - created),
            "newest_updated_at": _iso(newest),
        }
    counts["by_status"] = _counts(
        con, "SELECT status, count(*) FROM playbooks GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    counts["by_provider"] = _counts(
        con,
        "SELECT provider, count(*) FROM (SELECT "
        "unnest(cloud_provider) AS provider FROM playbooks) "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    counts["by_author"] = _counts(
        con, "SELECT author, count(*) FROM playbooks GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    for category, runs, ok in con.execute(
        "SELECT coalesce(tags['category'], '(none)'), coalesce(sum(execution_count), 0), "
        "coalesce(sum(success_count), 0) FROM playbooks GROUP BY 1 ORDER BY 1"
    ).fetchall():
        rates["by_category"][category] = _rate(int(runs), int(ok))
    total_runs = sum(r["executions"] for r in rates["by_collection"].values())
    total_ok = sum(r["successes"] for r in rates["by_collection"].values())
    rates["overall"] = _rate(total_runs, total_ok)
    rejections: dict[str, Any] = {}
    for name, n, first in con.execute(
        "SELECT collection, count(*), list({'folder': folder, 'field': field, "
        "'reason': reason} ORDER BY folder, field)[1:3] FROM rejections "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall():
        rejections[name] = {"count": int(n), "first": list(first)}
    q = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE status_code >= 400), "
        "quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95), "
        "epoch(min(ts)), epoch(max(ts)) FROM queries"
    ).fetchone()
    assert q is not None
    by_collection = counts["by_collection"].values()
    return {
        "store": one[0],
        "manifest": {"manifest_id": one[1], "created_at": _iso(one[2]), "is_current": one[3]},
        "totals": {
            "collections": len(per_collection),
            "versions": sum(c["versions"] for c in by_collection),
            "playbooks": sum(c["playbooks"] for c in by_collection),
            "searchable": sum(c["searchable"] for c in by_collection),
            "rejected": sum(r["count"] for r in rejections.values()),
        },
        "counts": counts,
        "success_rates": rates,
        "freshness": freshness,
        "rejections": {
            "total": sum(r["count"] for r in rejections.values()),
            "by_collection": rejections,
        },
        "queries": {
            "count": int(q[0]),
            "errors": int(q[1]),
            "latency_p50_ms": q[2],
            "latency_p95_ms": q[3],
            "first": _iso(q[4]),
            "last": _iso(q[5]),
        },
    }

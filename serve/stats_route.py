"""``GET /api/stats``: the ``playbooks stats`` summary, scoped to the caller's tenant.

The summary is :func:`indexer.analytics.stats` (counts by collection, status, provider and
author; success rates; freshness of each collection; rejections) computed over the live
generation's in-memory tables, restricted to ``escher_library`` and the caller's own
tenant collection: another tenant's rows, collection names and rejections are never
read. The query-log part of the CLI summary is left out (it is store-wide; see
``/metrics`` and the analysts' ``queries`` view). Results are cached per (manifest,
tenant); ``age_seconds`` is recomputed on each call.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from indexer.analytics import QUERY_LOG_SCHEMA, stats
from indexer.errors import NotReady
from indexer.model import collection_tenant
from indexer.store import Store
from serve.auth import authenticate
from serve.generation import Generation, LoadedCollection
from serve.middleware import context_of
from serve.search import searched_collections

CACHE_SIZE = 128
_TS = pa.timestamp("us", tz="UTC")


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register(f"_t_{name}", table)
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM _t_{name}")


def tenant_stats(
    generation: Generation, store: Store, tenant: str, now: datetime | None = None
) -> dict[str, Any]:
    """The summary for ``tenant``: the library and that tenant's collection only.

    Reads each collection's ``snapshot.json`` (verified against the manifest) for its
    creation time and rejections; raises StoreError when one cannot be read.
    """
    colls: Sequence[LoadedCollection] = [
        c for name in searched_collections(tenant) if (c := generation.collection(name))
    ]
    descriptions = [store.read_description(c.ref) for c in colls]
    manifest = generation.manifest
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        _register(
            con,
            "manifests",
            pa.Table.from_pylist(
                [
                    {
                        "manifest_id": manifest.manifest_id,
                        "created_at": _timestamp(manifest.created_at),
                        "is_current": True,
                        "is_selected": True,
                    }
                ],
                schema=pa.schema(
                    [
                        ("manifest_id", pa.string()),
                        ("created_at", _TS),
                        ("is_current", pa.bool_()),
                        ("is_selected", pa.bool_()),
                    ]
                ),
            ),
        )
        _register(
            con,
            "collections",
            pa.Table.from_pylist(
                [
                    {
                        "collection": c.name,
                        "tenant_id": collection_tenant(c.name),
                        "snapshot_id": c.ref.snapshot_id,
                        "created_at": _timestamp(d.get("created_at")),
                    }
                    for c, d in zip(colls, descriptions, strict=True)
                ],
                schema=pa.schema(
                    [
                        ("collection", pa.string()),
                        ("tenant_id", pa.string()),
                        ("snapshot_id", pa.string()),
                        ("created_at", _TS),
                    ]
                ),
            ),
        )
        _register(
            con,
            "rejections",
            pa.Table.from_pylist(
                [
                    {
                        "collection": c.name,
                        "folder": str(r.get("folder", "")),
                        "field": str(r.get("field", "")),
                        "reason": str(r.get("reason", "")),
                    }
                    for c, d in zip(colls, descriptions, strict=True)
                    for r in (d.get("validation") or {}).get("rejected") or []
                ],
                schema=pa.schema(
                    [(n, pa.string()) for n in ("collection", "folder", "field", "reason")]
                ),
            ),
        )
        if colls:
            tables = [c.table for c in colls]  # loaded tables hold no vectors
            playbooks = pa.concat_tables(tables, promote_options="permissive")
            _register(con, "playbooks", playbooks)
        else:  # unreachable in practice (a manifest always has the library), but typed
            con.execute(
                "CREATE VIEW playbooks AS SELECT NULL::VARCHAR AS collection, "
                "NULL::VARCHAR AS playbook_id, NULL::VARCHAR AS status, "
                "NULL::VARCHAR AS author, NULL::VARCHAR[] AS cloud_provider, "
                "NULL::BIGINT AS execution_count, NULL::BIGINT AS success_count, "
                "NULL::TIMESTAMPTZ AS updated_at, NULL::MAP(VARCHAR, VARCHAR) AS tags "
                "WHERE false"
            )
        _register(con, "queries", QUERY_LOG_SCHEMA.empty_table())
        con.execute("SET VARIABLE playbooks_store = ''")
        summary = stats(con, now=now)
    finally:
        con.close()
    summary.pop("store", None)
    summary.pop("queries", None)
    summary["manifest"].pop("is_current", None)
    summary["tenant"] = tenant
    summary["collections"] = [c.name for c in colls]
    return summary


class StatsCache:
    """A bounded LRU of (manifest id, tenant) -> summary; thread-safe."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, generation: Generation, store: Store, tenant: str) -> dict[str, Any]:
        key = (generation.manifest_id, tenant)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
        if found is None:
            found = tenant_stats(generation, store, tenant)
            with self._lock:
                self._items[key] = found
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return _with_fresh_ages(found)


def _with_fresh_ages(summary: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(summary)
    now = time.time()
    for entry in out.get("freshness", {}).values():
        created = _timestamp(entry.get("snapshot_created_at"))
        if created is not None:
            entry["age_seconds"] = round(now - created.timestamp())
    return out


async def api_stats(request: Request) -> JSONResponse:
    """``GET /api/stats``: authenticated like a search; 503 while nothing is loaded."""
    state = request.app.state
    tenant = authenticate(request.headers, state.api_keys)
    context = context_of(request)
    context["tenant"] = tenant
    with state.in_flight.use(request.app) as generation:
        if generation is None:
            raise NotReady("no snapshot is loaded; stats are unavailable")
        context["manifest_id"] = generation.manifest_id
        cache: StatsCache = state.stats_cache
        summary = await run_in_threadpool(cache.get, generation, state.store, tenant)
    return JSONResponse(summary)

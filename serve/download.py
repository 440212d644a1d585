"""``GET /api/script/download``: a pre-signed GET URL, checksum and size for a script.

Query parameters: ``playbook_id`` (required), ``version`` (default: the newest visible
version), ``format`` (e.g. ``shell``), ``path`` (one file, e.g. ``shell/main.sh``),
``tenant_id`` (optional; must be the caller's), ``source`` (``tenant`` | ``library``).

Only what the caller may see is signed: the caller's own tenant collection (any status
it holds) or the library (searchable statuses only), looked up in the live generation,
never another tenant's. The URL is signed only for an object under that collection's own
source prefix. The answer lists every matching file::

    {"playbook_id", "version", "source", "expires_at",
     "files": [{"path", "format", "url", "checksum": "sha256:<hex>", "size_bytes",
                "expires_at"}],
     "url", "checksum", "size_bytes"}      # the first file's, for one-file clients
"""

from __future__ import annotations

from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from indexer.blobs import Blobs
from indexer.errors import InvalidParameter, NotFound, NotReady
from indexer.model import (
    LIBRARY_COLLECTION,
    SEARCHABLE_STATUSES,
    is_safe_id,
    parse_semver,
    tenant_collection,
    version_sort_key,
)
from serve.auth import authorize, check_tenant_claim
from serve.generation import Generation, LoadedCollection
from serve.presign import MAX_PATH_CHARS, presign_get_uri

PARAMS: Final = ("playbook_id", "version", "format", "path", "tenant_id", "source")
SOURCES: Final = ("tenant", "library")


def _params(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in PARAMS:
            raise InvalidParameter(
                f"{name}: unknown parameter; known: {', '.join(PARAMS)}",
                field=name,
                known=list(PARAMS),
            )
        if name in out:
            raise InvalidParameter(f"{name}: given more than once", field=name)
        if len(value) > MAX_PATH_CHARS:
            raise InvalidParameter(f"{name}: longer than {MAX_PATH_CHARS} characters", field=name)
        out[name] = value
    pid = out.get("playbook_id")
    if pid is None or not is_safe_id(pid):
        raise InvalidParameter("playbook_id: required, a safe id", field="playbook_id")
    if "version" in out and parse_semver(out["version"]) is None:
        raise InvalidParameter(
            "version: expected a semantic version such as 1.2.0", field="version"
        )
    if "format" in out and not is_safe_id(out["format"]):
        raise InvalidParameter(
            "format: expected a script folder name such as shell", field="format"
        )
    if "source" in out and out["source"] not in SOURCES:
        raise InvalidParameter(f"source: expected one of {', '.join(SOURCES)}", field="source")
    return out


def _find(coll: LoadedCollection, pid: str, version: str | None, library: bool) -> int | None:
    rows = [
        i
        for i, p in enumerate(coll.playbook_ids)
        if p == pid
        and (version is None or coll.versions[i] == version)
        and (not library or coll.statuses[i] in SEARCHABLE_STATUSES)
    ]
    if not rows:
        return None
    if version is None:
        newest = coll.newest_visible.get(pid)
        for i in rows:
            if coll.versions[i] == newest:
                return i
    return max(rows, key=lambda i: version_sort_key(coll.versions[i]))


def _lookup(generation: Generation, tenant: str, q: dict[str, str]) -> tuple[str, dict[str, Any]]:
    order = [("tenant", tenant_collection(tenant)), ("library", LIBRARY_COLLECTION)]
    for source, name in order:
        if q.get("source", source) != source:
            continue
        coll = generation.collection(name)
        if coll is None:
            continue
        row = _find(coll, q["playbook_id"], q.get("version"), source == "library")
        if row is not None:
            return source, coll.records([row])[0]
    raise NotFound(
        f"no playbook {q['playbook_id']}"
        f"{' v' + q['version'] if 'version' in q else ''} that this tenant may see",
        playbook_id=q["playbook_id"],
        version=q.get("version"),
    )


def _roots(sources: list[Blobs], source: str, tenant: str) -> list[str]:
    sub = "playbooks" if source == "library" else f"tenants/{tenant}/playbooks"
    return [f"{b.uri}/{sub}/" for b in sources]


async def script_download(request: Request) -> JSONResponse:
    state = request.app.state
    who = authorize(request.headers, state.api_keys, "search")
    q = _params(request)
    check_tenant_claim(q.get("tenant_id"), who.tenant)
    generation: Generation | None = state.generation  # read once: one generation
    if generation is None:
        raise NotReady("no snapshot is loaded; downloads are unavailable")
    source, record = _lookup(generation, who.tenant, q)
    scripts = [
        s
        for s in record.get("scripts") or []
        if ("format" not in q or s["format"] == q["format"])
        and ("path" not in q or s["path"] == q["path"])
    ]
    if not scripts:
        raise NotFound(
            f"{record['playbook_id']} v{record['version']} has no matching script",
            available=[s["path"] for s in record.get("scripts") or []],
        )
    sources: list[Blobs] = state.library_sources if source == "library" else state.tenant_sources
    roots = _roots(sources, source, who.tenant)
    ttl = state.settings.download_url_seconds

    def sign() -> list[dict[str, Any]]:
        files = []
        for s in scripts:
            if not any(s["uri"].startswith(r) for r in roots):
                raise NotFound(
                    "the script is not stored under this playbook's source", path=s["path"]
                )
            signed = presign_get_uri(sources, s["uri"], ttl)
            files.append(
                {
                    "path": s["path"],
                    "format": s["format"],
                    "url": signed.url,
                    "checksum": f"sha256:{s['sha256']}",
                    "size_bytes": s["size_bytes"],
                    "expires_at": signed.expires_at,
                }
            )
        return files

    files = await run_in_threadpool(sign)
    first = files[0]
    return JSONResponse(
        {
            "playbook_id": record["playbook_id"],
            "version": record["version"],
            "source": source,
            "status": record["status"],
            "expires_at": first["expires_at"],
            "files": files,
            "url": first["url"],
            "checksum": first["checksum"],
            "size_bytes": first["size_bytes"],
        }
    )

"""Turn validated playbooks into snapshot rows (the columns of ``store.playbook_schema``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from indexer.model import parse_semver
from indexer.store import playbook_schema
from indexer.text import content_hash, embed_text, step_names

if TYPE_CHECKING:
    from indexer.validate import ValidPlaybook


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def playbook_row(p: ValidPlaybook) -> dict[str, Any]:
    """Every column but ``vector``; ``embed_text`` and ``content_hash`` included."""
    m = p.metadata
    folder = p.folder
    major, minor, patch, pre = parse_semver(m["version"]) or (0, 0, 0, "")
    text = embed_text(m, p.explain_plan)
    params = (p.parameters or {}).get("parameters") or []
    return {
        "collection": folder.collection,
        "tenant_id": folder.tenant_id,
        "playbook_id": m["playbook_id"],
        "version": m["version"],
        "version_major": major,
        "version_minor": minor,
        "version_patch": patch,
        "version_prerelease": pre,
        "name": m["name"],
        "description": m["description"],
        "purpose": m.get("purpose") or "",
        "use_cases": list(m.get("use_cases") or []),
        "keywords": list(m.get("keywords") or []),
        "cloud_provider": list(m["cloud_provider"]),
        "resource_types": list(m["resource_types"]),
        "prerequisites": list(m.get("prerequisites") or []),
        "author": m["author"],
        "storage_strategy": m["storage_strategy"],
        "status": m["status"],
        "tags": sorted((m.get("tags") or {}).items()),
        "estimated_impact_json": _json(m.get("estimated_impact")),
        "created_at": _ts(m.get("created_at")),
        "updated_at": _ts(m.get("updated_at")),
        "last_executed_at": _ts(m.get("last_executed_at")),
        "execution_count": int(m.get("execution_count") or 0),
        "success_count": int(m.get("success_count") or 0),
        "success_rate": m.get("success_rate"),
        "based_on_escher": m.get("based_on_escher"),
        "escher_playbook_id": m.get("escher_playbook_id"),
        "escher_version": m.get("escher_version"),
        "parameters_json": _json(p.parameters),
        "explain_plan_json": _json(p.explain_plan),
        "parameter_names": [str(x.get("name")) for x in params if isinstance(x, dict)],
        "step_names": step_names(p.explain_plan),
        "scripts": [
            {
                "format": s.format,
                "path": s.path,
                "uri": s.uri,
                "sha256": s.sha256,
                "size_bytes": s.size_bytes,
            }
            for s in p.scripts
        ],
        "source_uri": folder.uri,
        "source_fingerprint": folder.fingerprint,
        "embed_text": text,
        "content_hash": content_hash(text),
    }


def rows_table(rows: Sequence[dict[str, Any]], vectors: np.ndarray, dimension: int) -> pa.Table:
    """A table of ``rows`` (from :func:`playbook_row`) with their vectors, in that order."""
    schema = playbook_schema(dimension)
    if len(rows) != len(vectors):
        raise ValueError(f"{len(rows)} rows but {len(vectors)} vectors")
    columns: dict[str, Any] = {
        f.name: [r.get(f.name) for r in rows] for f in schema if f.name != "vector"
    }
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, dimension)
    arrays = [
        columns["vector"] if f.name == "vector" else pa.array(columns[f.name], type=f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)

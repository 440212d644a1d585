"""Shape search results as the spec's STEP 4 shows them (plus where to fetch scripts).

One result::

    {"rank": 1, "playbook_id": "...", "version": "1.2.0",
     "source": "tenant" | "escher_library", "collection": "tenant_acme_playbooks",
     "status": "active", "confidence": 0.91, "score": 0.8123,
     "reason": "Your team's playbook, 12/12 successful runs; matches rds::instance",
     "warnings": [...],                 status warnings, "a newer version X is available"
     "metadata": {...}, "parameters": {...}, "explain_plan": {...},
     "scripts": {"shell": {"entry_point": "main.sh",
                           "files": [{"path", "uri", "sha256", "size_bytes"}]}},
     "score_breakdown": {...}}          only when the request says "explain": true

Reasons are deterministic (no LLM): who wrote it, its run record, what it matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from indexer.model import LIBRARY_COLLECTION, STATUS_WARNINGS, version_sort_key
from serve.intent import Intent
from serve.scoring import Scored

if TYPE_CHECKING:  # serve.filters imports the collections, which import the ranking
    from serve.filters import Filters

# Which file of a script folder is its entry point: the first with a telling extension.
_ENTRY_EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "shell": (".sh", ".bash"),
    "python": (".py",),
    "terraform": (".tf", ".tf.json"),
    "cloudformation": (".yaml", ".yml", ".json", ".template"),
    "ssm": (".yaml", ".yml", ".json"),
    "powershell": (".ps1",),
    "arm": (".json",),
    "bicep": (".bicep",),
    "ansible": (".yaml", ".yml"),
}
_ENTRY_NAMES = ("main", "index", "template", "playbook", "run")
_WORD = re.compile(r"[a-z0-9]+")


def source_of(collection: str) -> str:
    return "escher_library" if collection == LIBRARY_COLLECTION else "tenant"


def _epoch(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _parse_json(text: str | None) -> Any:
    return json.loads(text) if text else None


def _success_rate(record: Mapping[str, Any]) -> float | None:
    runs = int(record.get("execution_count") or 0)
    if record.get("success_rate") is not None:
        return float(record["success_rate"])
    return round(int(record.get("success_count") or 0) / runs, 4) if runs else None


def metadata_of(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": record["name"],
        "description": record["description"],
        "purpose": record.get("purpose"),
        "cloud_provider": list(record.get("cloud_provider") or []),
        "resource_types": list(record.get("resource_types") or []),
        "tags": dict(record.get("tags") or []),
        "estimated_impact": _parse_json(record.get("estimated_impact_json")),
        "prerequisites": list(record.get("prerequisites") or []),
        "use_cases": list(record.get("use_cases") or []),
        "keywords": list(record.get("keywords") or []),
        "author": record.get("author"),
        "storage_strategy": record.get("storage_strategy"),
        "created_at": _epoch(record.get("created_at")),
        "updated_at": _epoch(record.get("updated_at")),
        "last_executed_at": _epoch(record.get("last_executed_at")),
        "execution_count": int(record.get("execution_count") or 0),
        "success_count": int(record.get("success_count") or 0),
        "success_rate": _success_rate(record),
        "based_on_escher": record.get("based_on_escher"),
        "escher_playbook_id": record.get("escher_playbook_id"),
        "escher_version": record.get("escher_version"),
    }


def _entry_point(fmt: str, paths: Sequence[str]) -> str:
    names = [p.rsplit("/", 1)[-1] for p in paths]
    telling = [n for n in names if n.lower().endswith(_ENTRY_EXTENSIONS.get(fmt, ()))]
    for name in telling:
        if name.rsplit(".", 1)[0].lower() in _ENTRY_NAMES:
            return name
    return (telling or names)[0]


def scripts_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """``{format: {"entry_point", "files": [...]}}``: where each script can be fetched."""
    by_format: dict[str, list[dict[str, Any]]] = {}
    for s in record.get("scripts") or []:
        by_format.setdefault(s["format"], []).append(
            {
                "path": s["path"],
                "uri": s["uri"],
                "sha256": s["sha256"],
                "size_bytes": s["size_bytes"],
            }
        )
    return {
        fmt: {"entry_point": _entry_point(fmt, [f["path"] for f in files]), "files": files}
        for fmt, files in sorted(by_format.items())
    }


def _matched_resources(
    resource_types: Iterable[str], filters: Filters, query: str, intent: Intent | None = None
) -> list[str]:
    """The playbook's resource types the request asked for (by filter, else by query word
    or by the service the query names)."""
    types = list(resource_types)
    if filters.resource_types:
        return [t for t in types if t in filters.resource_types]
    # By query word: the service part ("rds" of "rds::instance") must be named.
    words = set(_WORD.findall(query.lower()))
    named = set(intent.resource_types) if intent is not None else set()
    return [t for t in types if t.split("::", 1)[0].lower() in words or t in named]


def reason_for(
    record: Mapping[str, Any],
    collection: str,
    filters: Filters,
    query: str,
    intent: Intent | None = None,
) -> str:
    """One deterministic sentence: who wrote it, how it has run, what it matches."""
    author = record.get("author")
    tenant = source_of(collection) == "tenant"
    if author == "ai_generated":
        who = "AI-generated playbook" + (" in your team's collection" if tenant else "")
    elif tenant:
        who = "Your team's playbook"
    else:
        who = "Escher library playbook"
    runs = int(record.get("execution_count") or 0)
    success = int(record.get("success_count") or 0)
    if runs == 0:
        record_text = "no recorded runs yet"
    elif tenant:
        record_text = f"{success}/{runs} successful runs"
    else:
        record_text = f"{round(100 * success / runs)}% success over {runs} runs"
    text = f"{who}, {record_text}"
    matched = _matched_resources(record.get("resource_types") or [], filters, query, intent)
    if matched:
        text += f"; matches {', '.join(matched)}"
    return text


def warnings_for(status: str, version: str, newest_visible: str | None) -> list[str]:
    out = []
    if status in STATUS_WARNINGS:
        out.append(STATUS_WARNINGS[status])
    if newest_visible is not None and version_sort_key(newest_visible) > version_sort_key(version):
        out.append(f"a newer version {newest_visible} is available")
    return out


# The row columns a result reads (metadata_of, reason_for, static_parts).
RESULT_COLUMNS = (
    "name",
    "description",
    "purpose",
    "cloud_provider",
    "resource_types",
    "tags",
    "estimated_impact_json",
    "prerequisites",
    "use_cases",
    "keywords",
    "author",
    "storage_strategy",
    "created_at",
    "updated_at",
    "last_executed_at",
    "execution_count",
    "success_count",
    "success_rate",
    "based_on_escher",
    "escher_playbook_id",
    "escher_version",
    "parameters_json",
    "explain_plan_json",
    "scripts",
)


def static_parts(record: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a result that depend on its row alone (metadata, parameters, explain
    plan, scripts). Computed once per row and kept with it (:mod:`serve.records`), so they
    are shared by every response showing that row: read-only from here on."""
    return {
        "metadata": metadata_of(record),
        "parameters": _parse_json(record.get("parameters_json")),
        "explain_plan": _parse_json(record.get("explain_plan_json")),
        "scripts": scripts_of(record),
    }


def shape_result(
    rank: int,
    scored: Scored,
    record: Mapping[str, Any],
    newest_visible: str | None,
    filters: Filters,
    query: str,
    explain: bool,
    intent: Intent | None = None,
    static: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One result; ``static`` is :func:`static_parts` of ``record`` when already known."""
    c = scored.candidate
    result: dict[str, Any] = {
        "rank": rank,
        "playbook_id": c.playbook_id,
        "version": c.version,
        "source": source_of(c.collection),
        "collection": c.collection,
        "status": c.status,
        "confidence": scored.confidence,
        "score": round(scored.score, 4),
        "reason": reason_for(record, c.collection, filters, query, intent),
        "warnings": warnings_for(c.status, c.version, newest_visible),
        **(static if static is not None else static_parts(record)),
    }
    if explain:
        result["score_breakdown"] = scored.breakdown()
    return result


def version_entry(
    playbook_id: str,
    version: str,
    status: str,
    confidence: float,
    score: float,
    newest_visible: str | None,
    with_id: bool = False,
) -> dict[str, Any]:
    """A version listed under a result (an older version, or a near-duplicate, which
    names its playbook: ``with_id``)."""
    entry: dict[str, Any] = {"playbook_id": playbook_id} if with_id else {}
    entry.update(
        {
            "version": version,
            "status": status,
            "confidence": confidence,
            "score": round(score, 4),
            "warnings": warnings_for(status, version, newest_visible),
        }
    )
    return entry


# Match quality (calibrated on bench/relevance: see its README). Cosines of the best
# result's embedded text with the query, and the share of query terms it holds.
GOOD_COSINE = 0.55
WEAK_COSINE = 0.40
GOOD_COVERAGE = 0.6
NONE_COVERAGE = 0.5


def match_quality(best: Scored | None, mode: str = "hybrid") -> dict[str, Any]:
    """``{"quality": "good"|"weak"|"none", "confident": bool, "reason": str}`` for the
    best result: "none" means nothing in the store fits and the results are not answers."""
    if best is None:
        return {"quality": "none", "confident": False, "reason": "no playbook matched"}
    c = best.candidate
    sim, cov = c.similarity, c.coverage
    keyword = mode != "vector"
    if sim >= GOOD_COSINE or (keyword and sim >= WEAK_COSINE and cov >= GOOD_COVERAGE):
        quality = "good"
    elif sim < WEAK_COSINE and (not keyword or cov < NONE_COVERAGE):
        quality = "none"
    else:
        quality = "weak"
    reason = {
        "good": "the best result matches the query closely",
        "weak": "the best result is only loosely related; check it before running it",
        "none": "no playbook in the store fits this query; the results are the nearest "
        "neighbours, not answers",
    }[quality]
    return {
        "quality": quality,
        "confident": quality == "good",
        "reason": reason,
        "similarity": round(sim, 4),
        "keyword_coverage": round(cov, 4) if keyword else None,
    }

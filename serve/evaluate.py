"""Relevance evaluation: run labelled queries through the server's search path, score them.

Input (JSONL, one object per line)::

    {"id": "q001", "query": "...", "filters": {...}, "relevant": {"<playbook_id>": 1..3},
     "tenant": "acme",              optional; default: the library only
     "expect": {...}}               optional ordering checks, see :func:`check_expectations`

Each query goes through :func:`serve.request.parse_search_request` and
:func:`serve.search.run_search` on a loaded generation, exactly as a server request would
(``limit`` 10, the chosen ``mode``). Per query the harness records ``ranked``: playbook
ids best first, at most 10 (a result's near-duplicates, which the response lists under
it, follow it), and the response's match quality.

Metrics (grades as given; unlisted playbooks are grade 0):

- NDCG@10 with linear gain: ``sum grade_i / log2(i + 1)`` over ranks 1..10, divided by
  the same sum for the ideal order of all labelled playbooks;
- Recall@10: labelled playbooks (grade >= 1) in the top 10 / all labelled;
- MRR@10: 1 / rank of the first labelled playbook in the top 10 (0 if none);
- zero-result rate: queries with no result at all (over answerable queries);
- no-match: on queries with no relevant playbook, how often ``match.quality`` is
  ``"none"`` (hit rate); on answerable queries, how often it wrongly is (false-fire rate);
- expectations (tenant scenarios): the share of ``expect`` checks that hold.

Answerable-query metrics are averaged over queries with at least one labelled playbook.

With ``rerank`` (``playbooks eval --rerank``) every query also asks for the optional LLM
pass (``"rerank": true``, :mod:`serve.rerank_step`): the metrics are computed on the
lists it reordered, each row records the pass's ``rerank`` status and the summary counts
them (``rerank_statuses``).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.errors import InvalidParameter
from serve.fusion import DEFAULT_FUSION
from serve.generation import Generation
from serve.request import SearchRequest, parse_search_request
from serve.search import run_search

K = 10
# (response, request, tenant) -> the response after the LLM pass (LocalSearcher.rerank)
RerankStep = Callable[[dict[str, Any], SearchRequest, str], dict[str, Any]]
LIBRARY_ONLY = "-library-only"  # same value as serve.local.LIBRARY_ONLY


def dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = K) -> float:
    ideal = dcg(sorted(relevant.values(), reverse=True)[:k])
    if ideal <= 0:
        return 0.0
    return dcg([relevant.get(p, 0) for p in ranked[:k]]) / ideal


def recall_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = K) -> float:
    wanted = {p for p, g in relevant.items() if g > 0}
    if not wanted:
        return 0.0
    return len(wanted & set(ranked[:k])) / len(wanted)


def mrr_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = K) -> float:
    for i, p in enumerate(ranked[:k], start=1):
        if relevant.get(p, 0) > 0:
            return 1.0 / i
    return 0.0


def load_queries(path: Path | str) -> list[dict[str, Any]]:
    """Queries from a JSONL file; raises InvalidParameter naming the line on bad input."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except ValueError as exc:
            raise InvalidParameter(f"{path}:{n}: not valid JSON ({exc})", line=n) from None
        if not isinstance(q, dict) or not isinstance(q.get("query"), str):
            raise InvalidParameter(f"{path}:{n}: expected an object with a string 'query'", line=n)
        if not isinstance(q.get("relevant", {}), dict):
            raise InvalidParameter(f"{path}:{n}: 'relevant' must be an object", line=n)
        q.setdefault("id", f"line{n}")
        out.append(q)
    return out


def ranked_ids(response: Mapping[str, Any], k: int = K) -> list[str]:
    """Playbook ids best first (near-duplicates right after the result they sit under)."""
    ids: list[str] = []
    for r in response["results"]:
        for pid in [r["playbook_id"], *(s["playbook_id"] for s in r.get("similar", []))]:
            if pid not in ids:
                ids.append(pid)
    return ids[:k]


def check_expectations(
    expect: Mapping[str, Any], response: Mapping[str, Any], ranked: Sequence[str]
) -> list[dict[str, Any]]:
    """Each check of ``expect`` with whether it held. Keys (all optional):

    ``first`` playbook id ranked first; ``first_version``/``first_source`` its version and
    source (tenant | escher_library); ``older_versions_of_first`` versions listed under it;
    ``absent`` ids that must not appear (in results, older versions or similar);
    ``absent_collections`` collections that must not appear; ``before`` [[a, b], ...]:
    a ranked above b (b may be absent); ``not_first`` ids that must not be ranked first.
    """
    results = response["results"]
    top = results[0] if results else None
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    if "first" in expect:
        check(
            "first",
            top is not None and top["playbook_id"] == expect["first"],
            f"first is {top['playbook_id'] if top else None}, expected {expect['first']}",
        )
    if "first_version" in expect:
        check(
            "first_version",
            top is not None and top["version"] == expect["first_version"],
            f"first version {top['version'] if top else None}",
        )
    if "first_source" in expect:
        check(
            "first_source",
            top is not None and top["source"] == expect["first_source"],
            f"first source {top['source'] if top else None}",
        )
    if "older_versions_of_first" in expect:
        got = [v["version"] for v in (top or {}).get("older_versions", [])]
        check(
            "older_versions_of_first",
            got == list(expect["older_versions_of_first"]),
            f"older versions {got}",
        )
    everywhere = {r["playbook_id"] for r in results} | {
        s["playbook_id"] for r in results for s in r.get("similar", [])
    }
    for pid in expect.get("absent", []):
        check(
            "absent", pid not in everywhere, f"{pid} {'present' if pid in everywhere else 'absent'}"
        )
    collections = {r["collection"] for r in results}
    for coll in expect.get("absent_collections", []):
        check("absent_collection", coll not in collections, f"{coll} in {sorted(collections)}")
    for pid in expect.get("not_first", []):
        check("not_first", top is None or top["playbook_id"] != pid, f"first is {pid}?")
    for a, b in expect.get("before", []):
        ok = a in ranked and (b not in ranked or ranked.index(a) < ranked.index(b))
        check("before", ok, f"{a} before {b}")
    return checks


@dataclass
class EvalRun:
    rows: list[dict[str, Any]]  # input object + ranked + match + metrics
    overall: dict[str, Any]
    by_kind: dict[str, dict[str, Any]]


def _mean(values: Iterable[float]) -> float:
    v = list(values)
    return round(sum(v) / len(v), 4) if v else 0.0


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r.get("relevant")]
    unanswerable = [r for r in rows if not r.get("relevant")]
    checks = [c for r in rows for c in r.get("checks", [])]
    statuses = Counter(str(r["rerank"]) for r in rows if "rerank" in r)
    rerank = {"rerank_statuses": dict(sorted(statuses.items()))} if statuses else {}
    return {
        "queries": len(rows),
        "answerable": len(answerable),
        "ndcg@10": _mean(r["ndcg@10"] for r in answerable),
        "recall@10": _mean(r["recall@10"] for r in answerable),
        "mrr@10": _mean(r["mrr@10"] for r in answerable),
        "zero_result_rate": _mean(float(not r["ranked"]) for r in answerable),
        "zero_result_rate_all": _mean(float(not r["ranked"]) for r in rows),
        "no_match_hit_rate": _mean(float(r["match"] == "none") for r in unanswerable)
        if unanswerable
        else None,
        "no_match_false_fire_rate": _mean(float(r["match"] == "none") for r in answerable),
        "not_confident_on_no_answer": _mean(float(not r["confident"]) for r in unanswerable)
        if unanswerable
        else None,
        "not_confident_on_answerable": _mean(float(not r["confident"]) for r in answerable),
        "expectations_held": f"{sum(c['ok'] for c in checks)}/{len(checks)}" if checks else None,
        "latency_ms_p50": _percentile([r["took_ms"] for r in rows], 50),
        "latency_ms_p95": _percentile([r["took_ms"] for r in rows], 95),
        **rerank,
    }


def _percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return round(s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))], 2)


def run_eval(
    generation: Generation,
    embedder: Any,
    settings: Any,
    queries: Sequence[Mapping[str, Any]],
    mode: str = "hybrid",
    tenant: str | None = None,
    fusion: str = DEFAULT_FUSION,
    rerank: RerankStep | None = None,
) -> EvalRun:
    """Every query through the server's search path (see the module docstring); with
    ``rerank``, each asks for the LLM pass and ``rerank`` applies it."""
    rows = []
    for q in queries:
        body: dict[str, Any] = {"query": q["query"], "limit": K, "mode": mode}
        if q.get("filters"):
            body["filters"] = q["filters"]
        if rerank is not None:
            body["rerank"] = True
        request = parse_search_request(body, settings)
        who = q.get("tenant") or tenant or LIBRARY_ONLY
        started = time.perf_counter()
        response = run_search(generation, embedder, request, who, fusion=fusion)
        if rerank is not None:
            response = rerank(response, request, who)
        took = (time.perf_counter() - started) * 1000
        ranked = ranked_ids(response)
        relevant = {str(k): int(v) for k, v in (q.get("relevant") or {}).items()}
        row = {
            **q,
            "ranked": ranked,
            "match": response["match"]["quality"],
            "confident": response["match"]["confident"],
            "ndcg@10": round(ndcg_at(ranked, relevant), 4),
            "recall@10": round(recall_at(ranked, relevant), 4),
            "mrr@10": round(mrr_at(ranked, relevant), 4),
            "took_ms": round(took, 2),
        }
        if rerank is not None:
            row["rerank"] = response.get("rerank", {}).get("status")
        if q.get("expect"):
            row["checks"] = check_expectations(q["expect"], response, ranked)
        rows.append(row)
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_kind[str(r.get("kind", "-"))].append(r)
    return EvalRun(rows, summarise(rows), {k: summarise(v) for k, v in sorted(by_kind.items())})


def write_results(run: EvalRun, path: Path | str) -> None:
    """RESULTS.jsonl: per query the input object plus ``ranked`` (and the metrics)."""
    with Path(path).open("w", encoding="utf-8") as f:
        for r in run.rows:
            f.write(json.dumps(r, sort_keys=False) + "\n")


def save_metrics(run: EvalRun, path: Path | str, meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """Write the metrics file; returns the previous run's file content, if there was one."""
    p = Path(path)
    previous = None
    if p.exists():
        try:
            previous = json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            previous = None
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        **meta,
        "overall": run.overall,
        "by_kind": run.by_kind,
        "previous_overall": (previous or {}).get("overall"),
        "per_query": [
            {
                k: r.get(k)
                for k in (
                    "id",
                    "kind",
                    "query",
                    "ndcg@10",
                    "recall@10",
                    "mrr@10",
                    "match",
                    "ranked",
                    "checks",
                    "rerank",
                )
                if k in r
            }
            for r in run.rows
        ],
    }
    p.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return previous


_COLUMNS = (
    "ndcg@10",
    "recall@10",
    "mrr@10",
    "zero_result_rate",
    "no_match_hit_rate",
    "no_match_false_fire_rate",
    "expectations_held",
)


_LABELS = {
    "ndcg@10": "NDCG@10",
    "recall@10": "Recall@10",
    "mrr@10": "MRR@10",
    "zero_result_rate": "zero-res",
    "no_match_hit_rate": "nomatch-hit",
    "no_match_false_fire_rate": "false-fire",
    "expectations_held": "expect-ok",
}


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def render(
    run: EvalRun,
    meta: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    per_query: bool = True,
) -> str:
    """The table the CLI prints: overall (with the previous run), per kind, per query."""
    lines = [
        f"{meta.get('queries_file', '')}  mode={meta.get('mode')}  "
        f"fusion={meta.get('fusion')}  manifest={meta.get('manifest_id')}",
        "",
    ]
    header = f"{'':<22}" + "".join(f"{_LABELS[c]:>14}" for c in _COLUMNS)
    lines.append(header)
    lines.append(f"{'overall':<22}" + "".join(f"{_cell(run.overall.get(c)):>14}" for c in _COLUMNS))
    prev = (previous or {}).get("overall")
    if prev:
        lines.append(
            f"{'previous run':<22}" + "".join(f"{_cell(prev.get(c)):>14}" for c in _COLUMNS)
        )
    for kind, s in run.by_kind.items():
        label = f"{kind} ({s['queries']})"
        lines.append(f"{label:<22}" + "".join(f"{_cell(s.get(c)):>14}" for c in _COLUMNS))
    lines.append(
        f"latency ms p50 {run.overall['latency_ms_p50']}  p95 {run.overall['latency_ms_p95']}"
    )
    if "rerank_statuses" in run.overall:
        counts = ", ".join(f"{k}={v}" for k, v in run.overall["rerank_statuses"].items())
        lines.append(
            f"llm pass: {counts}  model={meta.get('llm_model')}  "
            f"prompt={meta.get('llm_prompt_version')}"
        )
    if per_query:
        lines += [
            "",
            f"{'id':<8} {'kind':<17} {'ndcg':>6} {'rec':>5} {'mrr':>5} "
            f"{'match':<5}  query -> top 3",
        ]
        for r in run.rows:
            failed = [c["detail"] for c in r.get("checks", []) if not c["ok"]]
            lines.append(
                f"{r.get('id')!s:<8} {r.get('kind', '-')!s:<17} {r['ndcg@10']:>6.3f} "
                f"{r['recall@10']:>5.2f} {r['mrr@10']:>5.2f} {r['match']:<5}  "
                f"{r['query'][:48]!r} -> {', '.join(r['ranked'][:3])}"
                + (f"  [llm {r['rerank']}]" if "rerank" in r else "")
                + (f"  FAILED: {'; '.join(failed)}" if failed else "")
            )
    return "\n".join(lines)

"""In-process search latency by stage, at each store size.

For each size, loads the store's CURRENT manifest with :class:`serve.local.LocalSearcher`
(exactly the server's search path; queries embedded by the store's ONNX query model, as
the server does, every query text distinct so its cache never answers), then runs ~300
varied queries from realistic templates (a quarter of them with a ``cloud_provider`` or
``tags`` filter) as the median-sized tenant, and reports
p50/p95/p99 of each stage of the response's ``timings_ms`` (embed, filter, vector,
keyword, score), of the search stage without embedding (filter + vector + score, and the
same plus keyword), and of ``took_ms``, plus the process CPU time per search (all
threads: less sensitive to other jobs on the machine than wall time). The first queries
are a warm-up and not counted.

    python -m bench.search_bench                  # 10k, 100k real vectors; 1m random
    python -m bench.search_bench --sizes 10k,100k,1m --vectors random   # quick, search-only

``--vectors random`` stores are a search-only stand-in: costs are real, relevance is not.
Writes ``bench/results/search.json`` (and ``search.txt``, the table).
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bench._table import save, table
from bench.stores import VECTORS, parse_sizes, servable_store
from bench.synth import ACTIONS, CONTEXTS, SERVICES

STAGES = ("embed", "filter", "vector", "keyword", "score")
WARMUP = 10
TEMPLATES = (
    "{verb} {service} {ctx}",
    "how do I {verb} the {service} {ctx}",
    "{service} {verb} {ctx}",
    "{verb} {provider} {service}",
    "need to {verb} our {service} {ctx} quickly",
    "{verb} {service} for team {n}",
    "runbook to {verb} {service} in account {n}",
)
CATEGORIES = sorted({c for _, c, _ in CONTEXTS})


def queries(n: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """``n`` distinct request bodies (then more, numbered, if iterated further)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    i = 0
    while True:
        provider = rng.choice(list(SERVICES))
        _, service = rng.choice(SERVICES[provider])
        verb = rng.choice(ACTIONS)[0]
        ctx = rng.choice(CONTEXTS)[0]
        text = rng.choice(TEMPLATES).format(
            verb=verb, service=service, ctx=ctx, provider=provider.upper(), n=rng.randint(1, 9999)
        )
        if text in seen:
            continue
        seen.add(text)
        body: dict[str, Any] = {"query": text, "limit": 5}
        roll = rng.random()
        if roll < 0.15:
            body["filters"] = {"cloud_provider": provider}
        elif roll < 0.25:
            body["filters"] = {"tags": {"category": rng.choice(CATEGORIES)}}
        yield body
        i += 1


def percentiles(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    if not len(a):
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(a.mean())}


def bench_size(store: Any, n_queries: int) -> dict[str, Any]:
    from indexer.settings import load_settings
    from serve.local import LocalSearcher

    settings = load_settings({"store": str(store.path), "querylog": "false"})
    t = time.perf_counter()
    searcher = LocalSearcher(settings)
    searcher.embedder.warm()
    load_s = time.perf_counter() - t
    embedder_kind = type(searcher.embedder).__name__
    tenant = store.mid_tenant
    samples: dict[str, list[float]] = {
        k: [] for k in (*STAGES, "fvs", "fvks", "took", "wall", "cpu")
    }
    strategies: dict[str, int] = {}
    try:
        for i, body in enumerate(queries(n_queries + WARMUP)):
            if i >= n_queries + WARMUP:
                break
            t, cpu = time.perf_counter(), time.process_time()
            resp = searcher.search(body, tenant)
            wall = (time.perf_counter() - t) * 1000
            cpu_ms = (time.process_time() - cpu) * 1000
            if i < WARMUP:
                continue
            tm = resp["timings_ms"]
            for k in STAGES:
                samples[k].append(tm[k])
            samples["fvs"].append(tm["filter"] + tm["vector"] + tm["score"])
            samples["fvks"].append(tm["filter"] + tm["vector"] + tm["keyword"] + tm["score"])
            samples["took"].append(resp["took_ms"])
            samples["wall"].append(wall)
            samples["cpu"].append(cpu_ms)
            s = resp["retrieval"]["strategy"]
            strategies[s] = strategies.get(s, 0) + 1
        sel = searcher.generation.selections
        cache = {"hits": sel.hits, "misses": sel.misses}
    finally:
        searcher.close()
        del searcher
        gc.collect()
    return {
        "size": store.size.name,
        "playbooks": store.size.total,
        "vectors": store.vectors,
        "query_embedder": embedder_kind,
        "tenant": tenant,
        "tenant_rows": store.tenant_rows[tenant],
        "queries": n_queries,
        "load_seconds": load_s,
        "strategies": strategies,
        "selection_cache": cache,
        "ms": {k: percentiles(v) for k, v in samples.items()},
    }


LABELS = {
    "embed": "embed (query model, uncached)",
    "filter": "filter",
    "vector": "vector",
    "keyword": "keyword (BM25)",
    "score": "score",
    "fvs": "search stage: filter+vector+score",
    "fvks": "search stage + keyword",
    "took": "took_ms (whole search)",
    "wall": "wall (LocalSearcher.search)",
    "cpu": "CPU time, all threads (less noisy)",
}
TARGETS = {"fvs": "p50 <= 1 ms at 1m"}


def render(results: Sequence[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        for key, label in LABELS.items():
            p = r["ms"][key]
            rows.append(
                [
                    r["size"],
                    label,
                    p["p50"],
                    p["p95"],
                    p["p99"],
                    TARGETS.get(key, "") if r["size"] == "1m" else "",
                ]
            )
    head = "\n".join(
        f"{r['size']}: {r['playbooks']:,} playbooks ({r['vectors']} vectors), query "
        f"embedder {r['query_embedder']}, tenant "
        f"{r['tenant']} ({r['tenant_rows']} rows), {r['queries']} queries, load "
        f"{r['load_seconds']:.1f}s, strategies {r['strategies']}, selection cache "
        f"{r['selection_cache']}"
        for r in results
    )
    return head + "\n\n" + table(["size", "stage (ms)", "p50", "p95", "p99", "target"], rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="10k,100k,1m")
    p.add_argument(
        "--vectors", choices=VECTORS, default="auto", help="auto: real at 10k/100k, random at 1m"
    )
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--name", default="search", help="results file name (bench/results/NAME)")
    args = p.parse_args(argv)
    results = []
    for size in parse_sizes(args.sizes):
        store = servable_store(size, args.vectors)
        print(f"searching {size.name} ...", flush=True)
        results.append(bench_size(store, args.queries))
    text = render(results)
    print()
    print(text)
    path = save(args.name, {"vectors_option": args.vectors, "note": NOTE, "sizes": results}, text)
    print(f"\nsaved {path}")
    return {"sizes": results}


NOTE = (
    "In-process (no HTTP). Numbers from a shared 2-core machine with other jobs running: "
    "noisy. Random vectors are a search-only stand-in (costs real, relevance not)."
)


if __name__ == "__main__":
    main()

"""Filtered top-10 at scale: flat + selector, HNSW + selector, and the server's choice.

Builds (once, cached under ``bench/stores/ann-<size>.faiss``) an ``IndexHNSWFlat``
exactly as the indexer does (:func:`indexer.vectors.build_index`: inner product, M=32,
efConstruction 80, every core) over ``size`` clustered 384-d unit vectors (seeded
gaussian centroids around a few hundred topics, points around the centroids: uniform
random unit vectors in 384-d have no neighbourhood structure, which makes any ANN index
look worse than it is on embeddings). Then, single-threaded, for filters keeping 100%,
50%, 10%, 5%, 1% and 0.1% of the rows (a seeded random subset), runs top-10 queries
(drawn from the same distribution, not in the index) and reports p50/p95/p99 latency and
recall@10 against the exact answer of:

- ``flat``: the flat scan of the same vectors with an ``IDSelector`` (``faiss.IndexFlatIP``),
- ``hnsw``: HNSW with the filter pushed into the walk, efSearch 64, nothing else,
- ``chosen``: :func:`serve.vector_search.nearest` (exact at <= 2% of rows or 20,000,
  else HNSW with efSearch max(128, 25 / fraction), the exact answer when the walk
  returns a short list),

plus the build time, index size and peak RSS. The selector is built once per filter
(the server caches selections), its build time is reported apart.

    python -m bench.ann_bench                     # 1,000,000 vectors (build: minutes)
    python -m bench.ann_bench --size 200k --queries 100
    python -m bench.ann_bench --size 100k --ef-construction 40   # build time vs recall

Writes ``bench/results/ann.json`` (and ``ann.txt``, the table).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bench._table import save, table
from indexer.vectors import HNSW_EF_CONSTRUCTION, HNSW_M, build_index
from indexer.vectors import vector_matrix as index_vectors
from serve.vector_search import All, choose_strategy, exact_top_k, nearest, selector

STORES = Path(__file__).resolve().parent / "stores"
DIMENSION = 384
K = 10
FRACTIONS = (1.0, 0.5, 0.1, 0.05, 0.01, 0.001)
TOPICS = 200
CENTROIDS = 4000
SEED = 8
WARMUP = 5
METHODS = ("flat", "hnsw", "chosen")
PLAIN_EF_SEARCH = 64  # the "hnsw" column: the filter pushed in and nothing else


def parse_size(text: str) -> int:
    t = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        n = int(float(t[:-1] if scale > 1 else t) * scale)
    except ValueError:
        raise SystemExit(f"--size: expected a count like 200k, 1m or 50000, got {text!r}") from None
    if n < 1000:
        raise SystemExit(f"--size: expected at least 1000 vectors, got {text!r}")
    return n


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _centroids(d: int) -> np.ndarray:
    """Centroids around topics: neighbouring clusters share a topic, as embeddings do."""
    rng = np.random.default_rng(SEED)
    topics = _normalise(rng.standard_normal((TOPICS, d), dtype=np.float32))
    owner = rng.integers(0, TOPICS, CENTROIDS)
    spread = _normalise(rng.standard_normal((CENTROIDS, d), dtype=np.float32))
    return _normalise(topics[owner] + 0.9 * spread)


def clustered(n: int, d: int = DIMENSION, stream: int = 0) -> np.ndarray:
    """``n`` seeded unit vectors, each a centroid plus gaussian noise (cosine to its
    centroid ~0.75), in chunks so that float64 temporaries stay small."""
    centres = _centroids(d)
    rng = np.random.default_rng([SEED, stream])
    out = np.empty((n, d), dtype=np.float32)
    chunk = 65_536
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        noise = rng.standard_normal((m, d), dtype=np.float32) * np.float32(0.9 / np.sqrt(d))
        out[start : start + m] = centres[rng.integers(0, CENTROIDS, m)] + noise
        _normalise(out[start : start + m])
    return out


def cached_index(n: int, ef_construction: int) -> tuple[Any, dict[str, Any]]:
    """The HNSW index over ``clustered(n)``: read from bench/stores when built before
    with the same parameters, else built (and saved). Returns it and its build record."""
    STORES.mkdir(parents=True, exist_ok=True)
    stem = (
        f"ann-{n}" if ef_construction == HNSW_EF_CONSTRUCTION else f"ann-{n}-efc{ef_construction}"
    )
    path, meta_path = STORES / f"{stem}.faiss", STORES / f"{stem}.json"
    params = {
        "size": n,
        "d": DIMENSION,
        "M": HNSW_M,
        "ef_construction": ef_construction,
        "seed": SEED,
        "topics": TOPICS,
        "centroids": CENTROIDS,
    }
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("params") == params:
            print(f"reading {path} ...", flush=True)
            t = time.perf_counter()
            index = faiss.read_index(str(path))
            meta["read_seconds"] = round(time.perf_counter() - t, 2)
            meta["cached"] = True
            return index, meta
    print(f"generating {n:,} clustered {DIMENSION}-d vectors ...", flush=True)
    t = time.perf_counter()
    x = clustered(n)
    generate = time.perf_counter() - t
    threads = len(os.sched_getaffinity(0))
    print(
        f"building HNSW (M={HNSW_M}, efConstruction={ef_construction}, {threads} threads) ...",
        flush=True,
    )
    load_before = os.getloadavg()
    t = time.perf_counter()
    index = build_index(x, DIMENSION, hnsw_min_rows=0, ef_construction=ef_construction)
    build = time.perf_counter() - t
    del x
    faiss.write_index(index, str(path))
    meta = {
        "params": params,
        "generate_seconds": round(generate, 2),
        "build_seconds": round(build, 2),
        "build_threads": threads,
        "load_average_before_build": [round(v, 2) for v in load_before],
        "load_average_after_build": [round(v, 2) for v in os.getloadavg()],
        "index_bytes": path.stat().st_size,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    meta["cached"] = False
    return index, meta


def admitted_rows(n: int, fraction: float) -> np.ndarray | All:
    if fraction >= 1.0:
        return "all"
    rng = np.random.default_rng([SEED, int(fraction * 1_000_000)])
    keep = max(1, round(n * fraction))
    return np.sort(rng.choice(n, keep, replace=False)).astype(np.int64)


def _percentiles(ms: Sequence[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(np.asarray(ms), [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


@contextlib.contextmanager
def one_thread() -> Iterator[bool]:
    """FAISS (OpenMP) and numpy's BLAS on one thread, as in the server; yields whether
    BLAS could be limited (threadpoolctl, when installed)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        try:
            from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            yield False
            return
        with threadpool_limits(1):
            yield True
    finally:
        faiss.omp_set_num_threads(before)


def bench_filter(
    index: Any, vectors: np.ndarray, queries: np.ndarray, fraction: float
) -> dict[str, Any]:
    n = len(vectors)
    admitted = admitted_rows(n, fraction)
    kept = n if isinstance(admitted, str) else len(admitted)
    t = time.perf_counter()
    sel = None if isinstance(admitted, str) else selector(admitted, n)
    selector_ms = (time.perf_counter() - t) * 1000
    flat = faiss.downcast_index(index.storage)  # the same vectors, scanned exactly
    hnsw_params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
    hnsw_params.efSearch = PLAIN_EF_SEARCH
    flat_params = faiss.SearchParameters()
    if sel is not None:
        hnsw_params.sel = sel
        flat_params.sel = sel

    def run_flat(q: np.ndarray) -> np.ndarray:
        _, ids = flat.search(q.reshape(1, -1), K, params=flat_params)
        return ids[0][ids[0] >= 0]

    def run_hnsw(q: np.ndarray) -> np.ndarray:
        _, ids = index.search(q.reshape(1, -1), K, params=hnsw_params)
        return ids[0][ids[0] >= 0]

    def run_chosen(q: np.ndarray) -> np.ndarray:
        return nearest(index, vectors, admitted, q, K, sel=sel).rows

    runners = {"flat": run_flat, "hnsw": run_hnsw, "chosen": run_chosen}
    truth = [set(exact_top_k(vectors, admitted, q, K)[0].tolist()) for q in queries]
    out: dict[str, Any] = {
        "fraction": fraction,
        "admitted": kept,
        "selector_ms": round(selector_ms, 3),
        "chosen_strategy": choose_strategy(index, kept, n),
    }
    for name, run in runners.items():
        for q in queries[:WARMUP]:
            run(q)
        ms, recall, short = [], [], 0
        for q, want in zip(queries, truth, strict=True):
            t = time.perf_counter()
            got = run(q)
            ms.append((time.perf_counter() - t) * 1000)
            recall.append(len(want.intersection(got.tolist())) / len(want))
            short += len(got) < len(want)
        out[name] = {
            **_percentiles(ms),
            "recall": float(np.mean(recall)),
            "min_recall": float(np.min(recall)),
            "short_lists": short,
        }
    return out


def render(result: dict[str, Any]) -> str:
    rows = []
    for f in result["filters"]:
        row: list[Any] = [f"{f['fraction'] * 100:g}%", f["admitted"]]
        for m in METHODS:
            row += [f[m]["p50"], f[m]["p99"], f[m]["recall"]]
        row += [f["hnsw"]["short_lists"], f["chosen_strategy"]]
        rows.append(row)
    headers = ["filter keeps", "rows"]
    for m in METHODS:
        headers += [f"{m} p50 ms", f"{m} p99 ms", f"{m} recall"]
    headers += ["hnsw short", "chosen"]
    b = result["build"]
    head = (
        f"{result['size']:,} x {DIMENSION}-d clustered unit vectors; top-{K}; "
        f"{result['queries']} queries per filter; 1 thread at query time"
        f"{'' if result['blas_limited'] else ' (BLAS threads not limited)'}\n"
        f"HNSW M={HNSW_M} efConstruction={b['params']['ef_construction']} "
        f"efSearch {PLAIN_EF_SEARCH} (hnsw) / per filter (chosen): "
        + (
            f"built in {b['build_seconds']:.1f} s on {b['build_threads']} threads "
            f"(load avg before/after {b['load_average_before_build'][0]:.2f}/"
            f"{b['load_average_after_build'][0]:.2f})"
        )
        + f", {b['index_bytes'] / 2**20:.0f} MiB on disk; peak RSS "
        f"{result['peak_rss_mib']:.0f} MiB; load avg during queries "
        f"{result['load_average'][0]:.2f}\n"
    )
    return head + table(headers, rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", default="1m", help="vectors in the index (e.g. 200k, 1m)")
    p.add_argument("--queries", type=int, default=200, help="queries per filter")
    p.add_argument("--ef-construction", type=int, default=HNSW_EF_CONSTRUCTION)
    p.add_argument("--name", default="ann", help="results file name (bench/results/NAME)")
    args = p.parse_args(argv)
    n = parse_size(args.size)
    index, build = cached_index(n, args.ef_construction)
    vectors = index_vectors(index)
    queries = clustered(args.queries, stream=1)
    filters = []
    with one_thread() as blas_limited:
        for fraction in FRACTIONS:
            print(f"filter keeping {fraction * 100:g}% ...", flush=True)
            filters.append(bench_filter(index, vectors, queries, fraction))
    result = {
        "size": n,
        "dimension": DIMENSION,
        "k": K,
        "queries": args.queries,
        "blas_limited": blas_limited,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "build": build,
        "filters": filters,
    }
    text = render(result)
    print()
    print(text)
    path = save(args.name, result, text)
    print(f"\nsaved {path}")
    return result


if __name__ == "__main__":
    main()

"""Embedding speed and fidelity: torch (sentence-transformers) against the ONNX query models.

Exports the packaged model in every scheme of :mod:`indexer.onnx_export` into a temporary
folder, then measures

* query latency (p50/p95 of ``embed_one`` over real queries from
  ``bench/relevance/real_runbooks.jsonl``, cache off; three rounds in rotated order, so
  load from other processes hits every configuration alike), plus the LRU hit;
* indexing throughput (docs/s of ``embed`` on playbook texts of 100–200 tokens built from
  the real-runbooks corpus: name, description, purpose, keywords, use cases,
  prerequisites);
* the cosine of every vector to the torch one (min and mean).

Prints two tables and writes the numbers to ``bench/results/embed.json``.

Example::

    python -m bench.embed_bench                    # ~2 minutes on 2 cores
    python -m bench.embed_bench --queries 50 --docs 100 --out /tmp/embed.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
QUERIES_FILE = HERE / "relevance" / "real_runbooks.jsonl"
CORPUS_GLOB = "/work/shared/corpus/real-runbooks/escher-library/playbooks/*/v1.0.0/metadata.json"
DEFAULT_OUT = HERE / "results" / "embed.json"
SCHEMES = ("fp32", "dynamic-int8", "blockwise-int8")
ROUNDS = 3


@dataclass
class Row:
    name: str
    threads: int
    p50_ms: float | None = None
    p95_ms: float | None = None
    docs_per_s: float | None = None
    cos_min: float | None = None
    cos_mean: float | None = None


def load_queries(n: int) -> list[str]:
    with open(QUERIES_FILE) as fh:
        return [json.loads(line)["query"] for line in fh if line.strip()][:n]


def load_docs(n: int, tokenizer: Any, lo: int = 100, hi: int = 200) -> list[str]:
    """Playbook texts of ``lo``–``hi`` tokens (longer ones cut at ``hi``), sorted by id."""
    docs = []
    for path in sorted(glob.glob(CORPUS_GLOB)):
        with open(path) as fh:
            m = json.load(fh)
        parts = [m.get("name", ""), m.get("description", "")]
        if m.get("purpose") and m["purpose"] != m.get("description"):
            parts.append(m["purpose"])
        parts.append(", ".join(m.get("keywords", [])))
        parts += list(m.get("use_cases", [])) + list(m.get("prerequisites", []))
        text = ". ".join(p for p in parts if p)
        enc = tokenizer.encode(text)
        if len(enc.ids) > hi:
            text = text[: enc.offsets[hi - 2][1]]  # leave room for [CLS] and [SEP]
        if lo <= len(tokenizer.encode(text).ids) <= hi:
            docs.append(text)
        if len(docs) == n:
            break
    return docs


def cosines(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    c = np.sum(got * ref, axis=1)
    return float(c.min()), float(c.mean())


def percentile_ms(samples: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1e3, q))


def cpu_facts() -> dict[str, Any]:
    flags: set[str] = set()
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                elif line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "model": model,
        "avx2": "avx2" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "load_average": list(os.getloadavg()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.embed_bench",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="example: python -m bench.embed_bench --queries 200 --docs 300",
    )
    parser.add_argument("--queries", type=int, default=200, help="queries timed (default 200)")
    parser.add_argument("--docs", type=int, default=300, help="documents embedded (default 300)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import torch
    from tokenizers import Tokenizer

    from indexer.embed import Embedder
    from indexer.onnx_export import export_query_model
    from serve.query_embed import OnnxQueryEmbedder

    torch_embedder = Embedder()
    torch_embedder.warm()
    torch_threads = torch.get_num_threads()
    machine = cpu_facts()

    with tempfile.TemporaryDirectory(prefix="embed-bench-") as tmp:
        exports: dict[str, dict[str, Any]] = {}
        for scheme in SCHEMES:
            started = time.perf_counter()
            info = export_query_model(None, Path(tmp) / scheme, scheme=scheme)
            exports[scheme] = {
                "seconds": round(time.perf_counter() - started, 2),
                "file": info.onnx_file,
                "bytes": (Path(tmp) / scheme / info.onnx_file).stat().st_size,
                "sha256": info.onnx_sha256,
                "quantisation": info.quantisation,
            }
            print(
                f"exported {scheme}: {exports[scheme]['bytes'] / 1e6:.1f} MB in "
                f"{exports[scheme]['seconds']} s",
                flush=True,
            )
        onnx = {
            (scheme, threads): OnnxQueryEmbedder(Path(tmp) / scheme, threads=threads, cache_size=0)
            for scheme in SCHEMES
            for threads in (1, 2)
        }
        for e in onnx.values():
            e.warm()
        tokenizer = Tokenizer.from_file(str(Path(tmp) / "fp32" / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        queries = load_queries(args.queries)
        docs = load_docs(args.docs, tokenizer)
        doc_tokens = [len(tokenizer.encode(d).ids) for d in docs]

        # ----- query latency ---------------------------------------------------------
        # One block of queries per configuration, not one query per configuration in turn:
        # torch's OpenMP workers keep spinning for a while after each call, which would
        # slow whatever ran next. ROUNDS rounds in rotated order spread other processes'
        # load over every configuration.
        configs: dict[tuple[str, int], Callable[[str], np.ndarray]] = {
            ("torch", torch_threads): torch_embedder.embed_one,
        }
        if torch_threads != 1:
            configs[("torch", 1)] = torch_embedder.embed_one
        for key, e in onnx.items():
            configs[(f"onnx {key[0]}", key[1])] = e.embed_one
        samples: dict[tuple[str, int], list[float]] = {k: [] for k in configs}
        vectors: dict[tuple[str, int], list[np.ndarray]] = {}
        order = list(configs)
        for round_no in range(ROUNDS):
            for key in order[round_no:] + order[:round_no]:
                fn = configs[key]
                if key[0] == "torch":
                    torch.set_num_threads(key[1])
                for q in queries[:5]:  # warm-up
                    fn(q)
                got = []
                for q in queries:
                    t = time.perf_counter()
                    got.append(fn(q))
                    samples[key].append(time.perf_counter() - t)
                vectors.setdefault(key, got)
                time.sleep(0.3)  # let spinning worker threads go idle
        torch.set_num_threads(torch_threads)
        ref_q = np.vstack(vectors[("torch", torch_threads)])
        latency: list[Row] = []
        for key in configs:
            cmin, cmean = cosines(np.vstack(vectors[key]), ref_q)
            latency.append(
                Row(
                    key[0],
                    key[1],
                    percentile_ms(samples[key], 50),
                    percentile_ms(samples[key], 95),
                    None,
                    cmin,
                    cmean,
                )
            )
        cached = OnnxQueryEmbedder(Path(tmp) / "blockwise-int8", threads=1)
        for q in queries:
            cached.embed_one(q)
        hits = []
        for q in queries:
            t = time.perf_counter()
            cached.embed_one(q)
            hits.append(time.perf_counter() - t)
        latency.append(
            Row(
                "onnx blockwise-int8, LRU hit",
                1,
                percentile_ms(hits, 50),
                percentile_ms(hits, 95),
                None,
                None,
                None,
            )
        )

        # ----- indexing throughput -------------------------------------------------
        throughput: list[Row] = []
        started = time.perf_counter()
        ref_d = torch_embedder.embed(docs)
        throughput.append(
            Row(
                "torch",
                torch_threads,
                None,
                None,
                len(docs) / (time.perf_counter() - started),
                1.0,
                1.0,
            )
        )
        for (scheme, threads), e in onnx.items():
            started = time.perf_counter()
            doc_vectors = e.embed(docs)
            rate = len(docs) / (time.perf_counter() - started)
            throughput.append(
                Row(f"onnx {scheme}", threads, None, None, rate, *cosines(doc_vectors, ref_d))
            )
    machine["load_average_end"] = list(os.getloadavg())

    print_tables(latency, throughput, len(queries), len(docs), doc_tokens)
    result = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "libraries": _libraries(),
        "queries": len(queries),
        "docs": len(docs),
        "doc_tokens": {
            "min": min(doc_tokens),
            "median": statistics.median(doc_tokens),
            "max": max(doc_tokens),
        },
        "exports": exports,
        "latency": [asdict(r) for r in latency],
        "throughput": [asdict(r) for r in throughput],
        "cache": cached.cache_stats().to_dict(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


def _libraries() -> dict[str, str]:
    import onnxruntime
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
        "tokenizers": tokenizers.__version__,
    }


def _fmt(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def print_tables(
    latency: list[Row], throughput: list[Row], n_queries: int, n_docs: int, doc_tokens: list[int]
) -> None:
    print(f"\nquery latency: embed_one over {n_queries} real queries (cache off)")
    print(f"| {'model':30} | threads | p50 ms | p95 ms | cos min | cos mean |")
    print(f"|{'-' * 32}|---------|--------|--------|---------|----------|")
    for r in latency:
        print(
            f"| {r.name:30} | {r.threads:7} | {_fmt(r.p50_ms, '6.3f')} | "
            f"{_fmt(r.p95_ms, '6.3f')} | {_fmt(r.cos_min, '7.4f')} | "
            f"{_fmt(r.cos_mean, '8.4f')} |"
        )
    print(
        f"\nindexing throughput: embed of {n_docs} playbook texts "
        f"({min(doc_tokens)}–{max(doc_tokens)} tokens, median "
        f"{statistics.median(doc_tokens):.0f})"
    )
    print(f"| {'model':30} | threads | docs/s | cos min | cos mean |")
    print(f"|{'-' * 32}|---------|--------|---------|----------|")
    for r in throughput:
        print(
            f"| {r.name:30} | {r.threads:7} | {_fmt(r.docs_per_s, '6.1f')} | "
            f"{_fmt(r.cos_min, '7.4f')} | {_fmt(r.cos_mean, '8.4f')} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())

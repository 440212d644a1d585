"""Indexing throughput of a full build against the embedding model alone on the same texts.

Writes ~2,000 synthetic playbooks (:mod:`bench.synth` sources: a library plus tenants),
loads the packaged model once (not timed), then alternates, ``--rounds`` times:

* pipeline: a complete ``run_index`` into a fresh store (crawl, validate, embed, write
  snapshots, commit), with the time spent inside ``Embedder.embed`` recorded;
* model: ``Embedder.embed`` alone over the ``embed_text`` column the pipeline wrote (the
  exact strings it embedded), in one call.

Reports playbooks/s for each (best round) and the pipeline's overhead over the raw model,
``pipeline_seconds / model_seconds - 1`` (target <= 15%), split into embedding inside the
pipeline and everything else.

    python -m bench.index_bench [--library 1000 --tenants 10 --per-tenant 100 --rounds 2]

Writes ``bench/results/index.json`` (and ``index.txt``).
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench._table import RESULTS, save, table
from bench.synth import SynthCounts, write_sources
from indexer.blobs import LocalBlobs
from indexer.build import run_index
from indexer.embed import Embedder
from indexer.store import Store

WORK = Path(__file__).resolve().parent / "stores" / "index_bench"


class _TimedEmbedder(Embedder):
    """The packaged embedder, counting seconds spent in :meth:`embed`."""

    spent = 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        t = time.perf_counter()
        try:
            return super().embed(texts)
        finally:
            self.spent += time.perf_counter() - t


def _texts(store: Store) -> list[str]:
    manifest = store.read_manifest(str(store.current().manifest_id))
    out: list[str] = []
    for ref in sorted(manifest.collections.values(), key=lambda r: r.collection):
        out += store.load_snapshot(ref).table.column("embed_text").to_pylist()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--library", type=int, default=1_000)
    p.add_argument("--tenants", type=int, default=10)
    p.add_argument("--per-tenant", type=int, default=100)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    counts = SynthCounts(args.library, args.tenants, args.per_tenant)

    shutil.rmtree(WORK, ignore_errors=True)
    lib, ten = write_sources(WORK / "sources", counts, args.seed)
    t = time.perf_counter()
    embedder = _TimedEmbedder()
    embedder.warm()
    embedder.embed(["warm up the model", "and its kernels"] * 32)
    model_load = time.perf_counter() - t

    pipeline: list[tuple[float, float]] = []  # (total, inside embed)
    model: list[float] = []
    embedded = 0
    for r in range(args.rounds):
        root = WORK / f"store-{r}"
        shutil.rmtree(root, ignore_errors=True)
        store = Store(LocalBlobs(root))
        embedder.spent = 0.0
        t = time.perf_counter()
        report = run_index(
            store=store,
            library=[LocalBlobs(lib)],
            tenants=[LocalBlobs(ten)],
            embedder=embedder,
            command="bench.index_bench",
        )
        pipeline.append((time.perf_counter() - t, embedder.spent))
        embedded = report.total("embedded")
        texts = _texts(store)
        t = time.perf_counter()
        embedder.embed(texts)
        model.append(time.perf_counter() - t)
        print(
            f"  round {r + 1}: pipeline {pipeline[-1][0]:.1f}s (embed {pipeline[-1][1]:.1f}s),"
            f" model alone {model[-1]:.1f}s, {len(texts)} texts",
            flush=True,
        )
        shutil.rmtree(root, ignore_errors=True)

    n = counts.total
    best_pipe, best_pipe_embed = min(pipeline)
    best_model = min(model)
    overhead = best_pipe / best_model - 1
    rows = [
        ["model alone (Embedder.embed)", best_model, n / best_model, "-", ""],
        ["full run_index", best_pipe, n / best_pipe, f"{overhead:+.1%}", "<= +15%"],
        ["  of which embed", best_pipe_embed, "", f"{best_pipe_embed / best_model - 1:+.1%}", ""],
        [
            "  of which crawl/validate/write/commit",
            best_pipe - best_pipe_embed,
            "",
            f"{(best_pipe - best_pipe_embed) / best_model:+.1%}",
            "",
        ],
    ]
    text = (
        f"{n} playbooks ({counts.library} library + {counts.tenants} tenants x "
        f"{counts.per_tenant}), {embedded} embedded; best of {args.rounds} rounds; model "
        f"load {model_load:.1f}s (not included); shared 2-core machine, noisy\n\n"
        + table(["run", "seconds", "playbooks/s", "over model", "target"], rows)
    )
    print()
    print(text)
    result = {
        "playbooks": n,
        "embedded": embedded,
        "rounds": args.rounds,
        "model_load_seconds": model_load,
        "pipeline_seconds": [p[0] for p in pipeline],
        "pipeline_embed_seconds": [p[1] for p in pipeline],
        "model_seconds": model,
        "model_playbooks_per_s": n / best_model,
        "pipeline_playbooks_per_s": n / best_pipe,
        "overhead_ratio": overhead,
        "target_overhead_ratio": 0.15,
    }
    path = save("index", result)
    (RESULTS / "index.txt").write_text(text + "\n")
    print(f"\nsaved {path}")
    shutil.rmtree(WORK, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()

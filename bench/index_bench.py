"""Indexing throughput of a full build against the embedding model alone on the same texts.

Writes ~2,000 synthetic playbooks (:mod:`bench.synth` sources: a library plus tenants),
loads the packaged model once (not timed), then, ``--rounds`` times (alternating which
goes first, so a load change on a shared machine does not always hit the same one):

* pipeline: a complete ``run_index`` into a fresh store (crawl, validate, embed, write
  snapshots, commit), with the time spent inside ``Embedder.embed`` recorded;
* model: ``Embedder.embed`` alone over the ``embed_text`` column the pipeline wrote (the
  exact strings it embedded, one per row), in one call.

Each is timed in wall seconds and in process CPU seconds (user + system, every thread):
other processes' load stretches wall time by a different amount from one minute to the
next, CPU time much less, so the CPU overhead is the steadier figure on a shared machine.
Reports playbooks/s for each (best round) and the pipeline's overhead over the raw model,
``pipeline / model - 1`` (target <= 15%), split into embedding inside the pipeline and
everything else. The pipeline embeds each distinct text once (``indexer.embed.embed_all``),
so it can pass fewer texts through the model than the model-alone run: the header says how
many, and the second table compares the two per text the model actually read (the
pipeline's overhead with that saving left out).

    python -m bench.index_bench [--library 1000 --tenants 10 --per-tenant 100 --rounds 3]

Writes ``bench/results/index.json`` (and ``index.txt``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench._table import save, table
from bench.synth import SynthCounts, write_sources
from indexer.blobs import LocalBlobs
from indexer.build import run_index
from indexer.embed import Embedder
from indexer.store import Store

WORK = Path(__file__).resolve().parent / "stores" / "index_bench"


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    t = os.times()
    return t.user + t.system


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


class _TimedEmbedder(Embedder):
    """The packaged embedder, counting wall and CPU seconds and texts in :meth:`embed`."""

    def __init__(self) -> None:
        super().__init__()
        self.spent = Timing()
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        w, c = time.perf_counter(), cpu_seconds()
        try:
            return super().embed(texts)
        finally:
            self.spent.wall += time.perf_counter() - w
            self.spent.cpu += cpu_seconds() - c
            self.texts += len(texts)


def _texts(store: Store) -> list[str]:
    manifest = store.read_manifest(str(store.current().manifest_id))
    out: list[str] = []
    for ref in sorted(manifest.collections.values(), key=lambda r: r.collection):
        out += store.load_snapshot(ref).table.column("embed_text").to_pylist()
    return out


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _over(part: float, whole: float) -> str:
    return f"{part / whole:+.1%}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--library", type=int, default=1_000)
    p.add_argument("--tenants", type=int, default=10)
    p.add_argument("--per-tenant", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
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
    load_before = _load()

    pipeline: list[tuple[Timing, Timing]] = []  # (whole run, inside embed)
    model: list[Timing] = []
    embedded = model_texts = 0
    texts: list[str] = []

    def run_pipeline(r: int) -> None:
        nonlocal embedded, model_texts, texts
        root = WORK / f"store-{r}"
        shutil.rmtree(root, ignore_errors=True)
        store = Store(LocalBlobs(root))
        embedder.spent, embedder.texts = Timing(), 0
        w, c = time.perf_counter(), cpu_seconds()
        report = run_index(
            store=store,
            library=[LocalBlobs(lib)],
            tenants=[LocalBlobs(ten)],
            embedder=embedder,
            command="bench.index_bench",
        )
        whole = Timing(time.perf_counter() - w, cpu_seconds() - c)
        pipeline.append((whole, Timing(embedder.spent.wall, embedder.spent.cpu)))
        embedded, model_texts = report.total("embedded"), embedder.texts
        texts = _texts(store)
        shutil.rmtree(root, ignore_errors=True)

    def run_model() -> None:
        w, c = time.perf_counter(), cpu_seconds()
        embedder.embed(texts)
        model.append(Timing(time.perf_counter() - w, cpu_seconds() - c))

    run_pipeline(0)  # also yields the texts the model-alone runs embed
    run_model()
    for r in range(1, args.rounds):
        if r % 2:
            run_model()
            run_pipeline(r)
        else:
            run_pipeline(r)
            run_model()
    for r, ((pw, pe), m) in enumerate(zip(pipeline, model, strict=True)):
        print(
            f"  round {r + 1}: pipeline {pw.wall:.1f}s / {pw.cpu:.1f} cpu-s (embed {pe.wall:.1f}s"
            f" / {pe.cpu:.1f}), model alone {m.wall:.1f}s / {m.cpu:.1f} cpu-s",
            flush=True,
        )

    n = counts.total
    best_pipe = min(pipeline, key=lambda x: x[0].wall)
    best_pipe_cpu = min(pipeline, key=lambda x: x[0].cpu)
    best_model = min(m.wall for m in model)
    best_model_cpu = min(m.cpu for m in model)
    pw, pe = best_pipe
    pcw, pce = best_pipe_cpu
    rows = [
        ["model alone (Embedder.embed)", best_model, best_model_cpu, n / best_model, "-", "-"],
        [
            "full run_index",
            pw.wall,
            pcw.cpu,
            n / pw.wall,
            _over(pw.wall - best_model, best_model),
            _over(pcw.cpu - best_model_cpu, best_model_cpu),
        ],
        [
            "  of which embed",
            pe.wall,
            pce.cpu,
            "",
            _over(pe.wall - best_model, best_model),
            _over(pce.cpu - best_model_cpu, best_model_cpu),
        ],
        [
            "  of which crawl/validate/write/commit",
            pw.wall - pe.wall,
            pcw.cpu - pce.cpu,
            "",
            _over(pw.wall - pe.wall, best_model),
            _over(pcw.cpu - pce.cpu, best_model_cpu),
        ],
    ]
    m_text, m_text_cpu = best_model / len(texts), best_model_cpu / len(texts)
    k = max(model_texts, 1)
    per_text = [
        ["model alone", len(texts), m_text, m_text_cpu, "-", "-"],
        [
            "pipeline embed",
            model_texts,
            pe.wall / k,
            pce.cpu / k,
            _over(pe.wall / k - m_text, m_text),
            _over(pce.cpu / k - m_text_cpu, m_text_cpu),
        ],
        [
            "pipeline whole run",
            model_texts,
            pw.wall / k,
            pcw.cpu / k,
            _over(pw.wall / k - m_text, m_text),
            _over(pcw.cpu / k - m_text_cpu, m_text_cpu),
        ],
    ]
    overhead = pw.wall / best_model - 1
    overhead_cpu = pcw.cpu / best_model_cpu - 1
    text = (
        f"{n} playbooks ({counts.library} library + {counts.tenants} tenants x "
        f"{counts.per_tenant}), {embedded} embedded rows, {model_texts} distinct texts through "
        f"the model in the pipeline; best of {args.rounds} rounds; model load {model_load:.1f}s "
        f"(not included); shared 2-core machine, load average {load_before} before, "
        f"{_load()} after; target: overhead <= +15%\n\n"
        + table(["run", "seconds", "cpu-s", "playbooks/s", "over model", "over (cpu)"], rows)
        + "\n\n"
        + table(
            ["per text through the model", "texts", "s/text", "cpu-s/text", "over", "over (cpu)"],
            per_text,
        )
    )
    print()
    print(text)
    result = {
        "playbooks": n,
        "embedded": embedded,
        "model_texts_in_pipeline": model_texts,
        "rounds": args.rounds,
        "model_load_seconds": model_load,
        "load_average_before": load_before,
        "load_average_after": _load(),
        "pipeline_seconds": [x[0].wall for x in pipeline],
        "pipeline_cpu_seconds": [x[0].cpu for x in pipeline],
        "pipeline_embed_seconds": [x[1].wall for x in pipeline],
        "pipeline_embed_cpu_seconds": [x[1].cpu for x in pipeline],
        "model_seconds": [m.wall for m in model],
        "model_cpu_seconds": [m.cpu for m in model],
        "model_playbooks_per_s": n / best_model,
        "pipeline_playbooks_per_s": n / pw.wall,
        "overhead_ratio": overhead,
        "overhead_ratio_cpu": overhead_cpu,
        # The same, per text the model read (leaves out what embedding each text once saves).
        "overhead_ratio_per_model_text": pw.wall / k / m_text - 1,
        "overhead_ratio_per_model_text_cpu": pcw.cpu / k / m_text_cpu - 1,
        "target_overhead_ratio": 0.15,
    }
    path = save("index", result, text)
    print(f"\nsaved {path}")
    shutil.rmtree(WORK, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()

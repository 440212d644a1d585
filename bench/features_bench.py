"""Loading a collection's ranking features: from the snapshot's features file vs computed.

For the library and the median tenant of a cached bench store (:mod:`bench.stores`;
the store must carry features files: ``python -m bench.stores --add-features``), times
:func:`serve.features.collection_features` with the snapshot's ``features.npz`` and without
it (tokenising every row, as for snapshots written before features files), and measures
the memory a :class:`~serve.features.CollectionFeatures` holds (tracemalloc, plus the file's
bytes its arrays view; the vectors it is given excluded): as loaded, and after every lazy
per-row structure (per-row sets, every row's document terms) has been built.

Prints a table and writes ``bench/results/features.json``.

    python -m bench.features_bench                   # 1m-random store
    python -m bench.features_bench --size 10k --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench import _table
from bench.stores import SIZES, load_bench_store, resolve_vectors
from indexer.blobs import LocalBlobs
from indexer.store import FEATURES_FILE, Store
from serve.features import CollectionFeatures, collection_features, fingerprint, table_vectors

HERE = Path(__file__).resolve().parent


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _held_bytes(build: Callable[[], CollectionFeatures], touch: bool) -> int:
    """Bytes still allocated after ``build()`` (and, with ``touch``, its lazy parts)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    f = build()
    if touch:
        _ = (f.providers, f.resource_types, f.verbs, f.normalised_names, f.vocabulary)
        _ = [f.keyword.doc_terms[i] for i in range(f.keyword.rows)]
        _ = f.keyword._by_length
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del f
    return held


def measure(name: str, table: pa.Table, data: bytes, rounds: int) -> dict[str, Any]:
    vectors = table_vectors(table)
    assert collection_features(table, vectors, data).from_file, f"{name}: file not used"
    collection_features(table, vectors, data)  # warm (fingerprint, imports)
    return {
        "collection": name,
        "rows": table.num_rows,
        "file_bytes": len(data),
        "from_file_ms": _median_ms(lambda: collection_features(table, vectors, data), rounds),
        "computed_ms": _median_ms(lambda: collection_features(table, vectors), rounds),
        # loaded arrays are views into the file's bytes: those count as held too
        "held_from_file_bytes": len(data)
        + _held_bytes(lambda: collection_features(table, vectors, data), touch=False),
        "held_computed_bytes": _held_bytes(
            lambda: collection_features(table, vectors), touch=False
        ),
        "held_all_lazy_parts_bytes": len(data)
        + _held_bytes(lambda: collection_features(table, vectors, data), touch=True),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", choices=list(SIZES), default="1m")
    p.add_argument("--vectors", default="auto")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    size = SIZES[args.size]
    found = load_bench_store(size, resolve_vectors(size, args.vectors))
    if found is None:
        raise SystemExit(f"no cached {args.size} store: python -m bench.stores --sizes {args.size}")
    store = Store(LocalBlobs(found.path))
    manifest = store.read_manifest(str(store.current().manifest_id))
    results = []
    for name in ("escher_library", f"tenant_{found.mid_tenant}_playbooks"):
        ref = manifest.collections[name]
        if FEATURES_FILE not in ref.files:
            raise SystemExit(
                f"{found.path}: {name} has no features file; "
                f"python -m bench.stores --sizes {args.size} --add-features"
            )
        data = store.load_snapshot(ref)
        assert data.features_bytes is not None
        results.append(measure(name, data.table, data.features_bytes, args.rounds))
    mib = 1 / 2**20
    print(
        _table.table(
            [
                "collection",
                "rows",
                "file MiB",
                "from file ms",
                "computed ms",
                "held (file) MiB",
                "held (computed) MiB",
                "held, all lazy parts MiB",
            ],
            [
                [
                    r["collection"],
                    f"{r['rows']:,}",
                    f"{r['file_bytes'] * mib:.2f}",
                    f"{r['from_file_ms']:.1f}",
                    f"{r['computed_ms']:.0f}",
                    f"{r['held_from_file_bytes'] * mib:.2f}",
                    f"{r['held_computed_bytes'] * mib:.2f}",
                    f"{r['held_all_lazy_parts_bytes'] * mib:.2f}",
                ]
                for r in results
            ],
        )
    )
    doc = {
        "store": str(found.path.relative_to(HERE.parent)),
        "features": fingerprint(),
        "rounds": args.rounds,
        "collections": results,
    }
    print(f"wrote {_table.save('features', doc)}")


if __name__ == "__main__":
    main()

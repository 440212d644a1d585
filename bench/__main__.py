"""``python -m bench`` (``make bench``): every benchmark, each printing its table and
writing its numbers to ``bench/results/<name>.json``.

    python -m bench                 # all, at their default sizes
    python -m bench lifecycle       # one (names: embed, lifecycle, index, search, http, ann,
                                    # features)
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "embed": "bench.embed_bench",
    "lifecycle": "bench.lifecycle",
    "index": "bench.index_bench",
    "search": "bench.search_bench",
    "http": "bench.http_bench",
    "ann": "bench.ann_bench",
    "features": "bench.features_bench",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(BENCHMARKS[name]).main([])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

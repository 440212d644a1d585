"""Index lifecycle costs on a synthetic store: full build, nightly with nothing changed,
nightly with 1% of playbooks changed, on-publish reindex of one tenant.

    python -m bench.lifecycle [--library 10000 --tenants 200 --per-tenant 200]

Defaults: 10,000 library playbooks + 200 tenants x 200 = 50,000 playbooks. Embeddings are
real (the packaged model). The model is loaded once before timing (its load time is
reported separately); every timed run is a complete ``run_index`` (crawl, validate, embed,
write snapshots, commit).
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from pathlib import Path

from bench._table import save, table
from bench.synth import SynthCounts, touch_description, write_sources
from indexer.blobs import LocalBlobs
from indexer.build import RunReport, run_index
from indexer.embed import Embedder
from indexer.store import Store

WORK = Path(__file__).resolve().parent / "stores" / "lifecycle"


def _timed(label: str, fn) -> tuple[float, RunReport]:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    report = fn()
    seconds = time.perf_counter() - t
    print(
        f"  {label}: {seconds:.2f}s ({report.total('embedded')} embedded, "
        f"{sum(c.action == 'built' for c in report.collections.values())} collections built)",
        flush=True,
    )
    return seconds, report


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--library", type=int, default=10_000)
    p.add_argument("--tenants", type=int, default=200)
    p.add_argument("--per-tenant", type=int, default=200)
    p.add_argument("--changed-share", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    counts = SynthCounts(args.library, args.tenants, args.per_tenant)

    shutil.rmtree(WORK, ignore_errors=True)
    t = time.perf_counter()
    lib, ten = write_sources(WORK / "sources", counts, args.seed)
    print(f"wrote {counts.total} playbooks in {time.perf_counter() - t:.1f}s", flush=True)
    t = time.perf_counter()
    embedder = Embedder()
    embedder.warm()
    model_load = time.perf_counter() - t
    store = Store(LocalBlobs(WORK / "store"))

    def run(**kw):  # type: ignore[no-untyped-def]
        return run_index(
            store=store,
            library=[LocalBlobs(lib)],
            tenants=[LocalBlobs(ten)],
            embedder=embedder,
            **kw,
        )

    full, r_full = _timed("full build", run)
    nightly, r_nightly = _timed("nightly, nothing changed", run)

    rng = random.Random(args.seed)
    folders = sorted(lib.glob("playbooks/*/v1.0.0")) + sorted(
        ten.glob("tenants/*/playbooks/*/v1.0.0")
    )
    n_changed = max(1, int(len(folders) * args.changed_share))
    for folder in rng.sample(folders, n_changed):
        touch_description(folder, "Updated runbook text.")
    changed, r_changed = _timed(f"nightly, {n_changed} changed", run)

    tenant = "t0000"
    touch_description(ten / "tenants" / tenant / "playbooks" / "pb-00000" / "v1.0.0", "Hotfix.")
    publish, r_publish = _timed(
        f"on-publish, tenant {tenant}", lambda: run(include_library=False, only_tenants=[tenant])
    )

    rows = [
        ["full build", full, 1.0, r_full.total("embedded"), "-"],
        [
            "nightly, nothing changed",
            nightly,
            nightly / full,
            r_nightly.total("embedded"),
            "< 0.05",
        ],
        [
            f"nightly, {args.changed_share:.0%} changed ({n_changed})",
            changed,
            changed / full,
            r_changed.total("embedded"),
            "< 0.10",
        ],
        [
            f"on-publish, one tenant ({args.per_tenant} playbooks)",
            publish,
            publish / full,
            r_publish.total("embedded"),
            "~1 s",
        ],
    ]
    text = (
        f"{counts.total} playbooks ({counts.library} library + {counts.tenants} tenants x "
        f"{counts.per_tenant}); model load {model_load:.1f}s (not included)\n\n"
        + table(["run", "seconds", "share of full", "embedded", "target"], rows)
    )
    print()
    print(text)
    result = {
        "playbooks": counts.total,
        "library": counts.library,
        "tenants": counts.tenants,
        "per_tenant": counts.per_tenant,
        "model_load_seconds": model_load,
        "runs": [
            {"run": r[0], "seconds": r[1], "share_of_full": r[2], "embedded": r[3], "target": r[4]}
            for r in rows
        ],
    }
    path = save("lifecycle", result, text)
    print(f"\nsaved {path}")
    return result


if __name__ == "__main__":
    main()

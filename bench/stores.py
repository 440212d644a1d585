"""Benchmark stores at 10k, 100k and 1M playbooks, written directly as snapshots.

Each size is a library plus tenants of realistic, uneven sizes (a few large tenants, many
small ones; the total is exact)::

    10k   =  5,000 library +    50 tenants (mean 100)
    100k  = 10,000 library +   450 tenants (mean 200)
    1m    = 10,000 library + 2,000 tenants (mean 495)

Text comes from :mod:`bench.synth`'s templates and goes through the indexer's own row
function (:func:`indexer.rows.playbook_row`, :func:`indexer.rows.rows_table`), so the
Parquet columns, ``embed_text`` and FAISS files are what ``playbooks index`` writes; only
crawling and validation are skipped. Vectors are either real (``--vectors real``: the
packaged model over ``embed_text``, batched) or seeded random unit vectors
(``--vectors random``: a search-only stand-in; relevance is meaningless, costs are not).
``--vectors auto`` (the default, what ``make bench`` uses) is real at 10k and 100k and
random at 1m.
The manifest names the packaged model either way, so the server accepts the store.

Every snapshot carries its ranking features file (:func:`serve.features.features_file_bytes`,
as ``playbooks index`` writes it), so a server loads collections without tokenising them.

Built stores are cached under ``bench/stores/<size>-<vectors>/`` (gitignored) and reused;
``bench_store.json`` (written last) marks a complete build and lists the tenants by size.
Memory stays bounded at 1M: one collection is generated, embedded and written at a time.

``--add-features`` upgrades a cached store built before features files (or with other
feature code) without regenerating anything else: each collection lacking a current
features file gets a *new* snapshot (:meth:`indexer.store.Store.add_features`: Parquet and
FAISS files hard-linked, ``features.bin`` added), a new manifest names them (its parent is
the old one) and CURRENT moves to it; old snapshots and manifests stay as they were.

    python -m bench.stores --sizes 10k,100k --vectors random
    python -m bench.stores                        # 10k, 100k real; 1m random
    python -m bench.stores --sizes 1m --add-features   # ~CPU-minutes at 1m: tokenises 1M rows
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from bench.synth import _doc
from indexer.blobs import LocalBlobs
from indexer.embed import DIMENSION, model_identity
from indexer.model import LIBRARY_COLLECTION, tenant_collection
from indexer.query_model import QueryModelPlan, ensure_query_model
from indexer.rows import playbook_row, rows_table
from indexer.settings import SETTINGS_BY_NAME
from indexer.store import FEATURES_FILE, Manifest, SnapshotRef, Store
from indexer.text import TEXT_VERSION
from indexer.vectors import INDEX_KIND, index_bytes
from serve.features import features_file_bytes, fingerprint
from serve.features_file import read_fingerprint

ROOT = Path(__file__).resolve().parent / "stores"
INFO_FILE = "bench_store.json"
VECTORS = ("auto", "random", "real")
DEFAULT_QUERY_MODEL = SETTINGS_BY_NAME[
    "query_model"
].default  # what `playbooks index` records  # auto: real up to 100k, random at 1m (search-only)


def resolve_vectors(size: StoreSize, vectors: str) -> str:
    """``auto`` -> ``real`` for 10k and 100k, ``random`` for 1m; else as given."""
    if vectors == "auto":
        return "random" if size.name == "1m" else "real"
    return vectors


@dataclass(frozen=True)
class StoreSize:
    name: str
    library: int
    tenants: int
    per_tenant: int  # mean

    @property
    def total(self) -> int:
        return self.library + self.tenants * self.per_tenant


SIZES = {
    "10k": StoreSize("10k", 5_000, 50, 100),
    "100k": StoreSize("100k", 10_000, 450, 200),
    "1m": StoreSize("1m", 10_000, 2_000, 495),
}


@dataclass(frozen=True)
class BenchStore:
    """A complete benchmark store on disk and what it holds."""

    path: Path
    size: StoreSize
    vectors: str
    tenant_rows: dict[str, int]
    build_seconds: float

    @property
    def mid_tenant(self) -> str:
        """The tenant of median size (the one searches run as)."""
        ordered = sorted(self.tenant_rows, key=lambda t: (self.tenant_rows[t], t))
        return ordered[len(ordered) // 2]


def parse_sizes(text: str) -> list[StoreSize]:
    out = []
    for name in text.lower().split(","):
        if name.strip() not in SIZES:
            raise SystemExit(f"unknown size {name!r}; known: {', '.join(SIZES)}")
        out.append(SIZES[name.strip()])
    return out


def tenant_sizes(size: StoreSize, seed: int) -> list[int]:
    """Uneven tenant sizes (log-normal, at least 10) summing to ``tenants * per_tenant``."""
    rng = np.random.default_rng(seed)
    total = size.tenants * size.per_tenant
    raw = rng.lognormal(mean=0.0, sigma=0.8, size=size.tenants)
    sizes = np.maximum(10, np.floor(raw / raw.sum() * total)).astype(int)
    diff = total - int(sizes.sum())
    order = np.argsort(-sizes)
    i = 0
    while diff != 0:  # settle rounding on the largest tenants
        j = order[i % len(order)]
        step = 1 if diff > 0 else -1
        if sizes[j] + step >= 10:
            sizes[j] += step
            diff -= step
        i += 1
    return [int(s) for s in sizes]


def _fake_valid(
    collection: str, tenant: str | None, meta: dict[str, Any], params: dict, plan: dict, script: str
) -> Any:
    """Duck-types :class:`indexer.validate.ValidPlaybook` for :func:`playbook_row`."""
    base = f"bench://{collection}/{meta['playbook_id']}/v{meta['version']}"
    body = script.encode()
    sha = hashlib.sha256(body).hexdigest()
    folder = SimpleNamespace(
        collection=collection,
        tenant_id=tenant,
        uri=base,
        fingerprint=hashlib.sha256(base.encode() + body).hexdigest(),
    )
    scripts = [
        SimpleNamespace(
            format="shell",
            path="shell/run.sh",
            uri=f"{base}/shell/run.sh",
            sha256=sha,
            size_bytes=len(body),
        )
    ]
    full = {
        "prerequisites": [],
        "estimated_impact": None,
        "last_executed_at": None,
        "success_rate": None,
        "based_on_escher": False,
        "escher_playbook_id": None,
        "escher_version": None,
        **meta,
    }
    return SimpleNamespace(
        folder=folder,
        metadata=full,
        parameters=params,
        explain_plan=plan["explain_plan"],
        scripts=scripts,
    )


def collection_rows(collection: str, tenant: str | None, n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        pid = f"pb-{i:05d}" if tenant else f"lib-{i:06d}"
        rows.append(playbook_row(_fake_valid(collection, tenant, *_doc(rng, pid, tenant))))
    return rows


def random_vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIMENSION)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def store_path(size: StoreSize, vectors: str) -> Path:
    return ROOT / f"{size.name}-{vectors}"


def load_bench_store(size: StoreSize, vectors: str) -> BenchStore | None:
    path = store_path(size, vectors)
    info = path / INFO_FILE
    if not info.is_file():
        return None
    doc = json.loads(info.read_text())
    return BenchStore(path, size, vectors, dict(doc["tenant_rows"]), float(doc["build_seconds"]))


def build_store(
    size: StoreSize, vectors: str, seed: int = 7, log: Callable[[str], None] = print
) -> BenchStore:
    """The cached store for ``size``/``vectors``, building it first when absent."""
    vectors = resolve_vectors(size, vectors)
    if vectors not in VECTORS:
        raise SystemExit(f"--vectors must be one of {', '.join(VECTORS)}")
    found = load_bench_store(size, vectors)
    if found is not None:
        log(f"reusing {found.path} ({size.total:,} playbooks)")
        if json.loads((found.path / INFO_FILE).read_text()).get("features") != fingerprint():
            log(
                f"  {found.path.name} lacks current features files (collections load by "
                f"tokenising): python -m bench.stores --sizes {size.name} --add-features"
            )
        return found
    path = store_path(size, vectors)
    shutil.rmtree(path, ignore_errors=True)  # a half-built store from an interrupted run
    store = Store(LocalBlobs(path))
    model = model_identity()
    embedder = None
    if vectors == "real":
        from indexer.embed import Embedder

        embedder = Embedder()
        embedder.warm()
    sizes = tenant_sizes(size, seed)
    plan: list[tuple[str, str | None, int]] = [(LIBRARY_COLLECTION, None, size.library)]
    plan += [(tenant_collection(f"t{t:04d}"), f"t{t:04d}", n) for t, n in enumerate(sizes)]
    description = {
        "model": model.to_dict(),
        "dimension": model.dimension,
        "index": INDEX_KIND,
        "text_version": TEXT_VERSION,
        "bench": {"vectors": vectors, "seed": seed},
    }
    refs: dict[str, SnapshotRef] = {}
    started = time.perf_counter()
    for i, (collection, tenant, n) in enumerate(plan):
        cseed = seed * 1_000_003 + i
        rows = collection_rows(collection, tenant, n, cseed)
        if embedder is not None:
            vecs = embedder.embed([r["embed_text"] for r in rows])
        else:
            vecs = random_vectors(n, cseed)
        table = rows_table(rows, vecs, DIMENSION)
        refs[collection] = store.write_snapshot(
            collection,
            table,
            index_bytes(vecs, DIMENSION),
            description,
            source_fingerprint=f"bench-{size.name}-{vectors}-{seed}-{i}",
            features_bytes=features_file_bytes(table),
        )
        if i % 100 == 0 or i == len(plan) - 1:
            log(
                f"  {size.name}/{vectors}: {i + 1}/{len(plan)} collections, "
                f"{time.perf_counter() - started:.0f}s"
            )
    manifest = Manifest.create(
        parent=None,
        created_by={"command": "bench.stores"},
        model=model,
        collections=refs,
        report={"bench": {"size": size.name, "vectors": vectors}},
    )
    store.write_manifest(manifest)
    store.swap_current(manifest.manifest_id, store.current())
    seconds = time.perf_counter() - started
    tenant_rows = {t: n for _, t, n in plan if t is not None}
    (path / INFO_FILE).write_text(
        json.dumps(
            {
                "size": size.name,
                "vectors": vectors,
                "seed": seed,
                "playbooks": size.total,
                "build_seconds": seconds,
                "manifest_id": manifest.manifest_id,
                "features": fingerprint(),
                "tenant_rows": tenant_rows,
            },
            indent=1,
        )
        + "\n"
    )
    log(f"built {path} ({size.total:,} playbooks) in {seconds:.0f}s")
    return BenchStore(path, size, vectors, tenant_rows, seconds)


def add_features(
    path: Path, log: Callable[[str], None] = print, now: datetime | None = None
) -> dict[str, Any]:
    """Give every collection of the store at ``path`` a current features file (see the
    module docstring); returns what was done (``{"added": n, "kept": n, "seconds": s,
    "manifest_id": ...}``). A store already up to date gets no new manifest."""
    store = Store(LocalBlobs(path))
    pointer = store.current()
    if pointer.manifest_id is None:
        raise SystemExit(f"{path}: no CURRENT manifest")
    manifest = store.read_manifest(pointer.manifest_id)
    want = fingerprint()
    refs: dict[str, SnapshotRef] = {}
    added = 0
    started = time.perf_counter()
    for i, (name, ref) in enumerate(sorted(manifest.collections.items())):
        if FEATURES_FILE in ref.files:
            data = store.blobs.read(f"{ref.path}/{FEATURES_FILE}")
            if read_fingerprint(data) == want:
                refs[name] = ref
                continue
        table = store.load_snapshot(ref).table
        refs[name] = store.add_features(ref, features_file_bytes(table), now=now)
        added += 1
        if i % 100 == 0 or i == len(manifest.collections) - 1:
            log(
                f"  {path.name}: {i + 1}/{len(manifest.collections)} collections, "
                f"{time.perf_counter() - started:.0f}s"
            )
    seconds = time.perf_counter() - started
    manifest_id = manifest.manifest_id
    if added:
        upgraded = Manifest.create(
            parent=manifest.manifest_id,
            created_by={"command": "bench.stores --add-features"},
            model=manifest.model,
            collections=refs,
            report={**manifest.report, "features_added": {"collections": added}},
            now=now,
            query_model=manifest.query_model,
        )
        store.write_manifest(upgraded)
        store.swap_current(upgraded.manifest_id, pointer)
        manifest_id = upgraded.manifest_id
    info_file = path / INFO_FILE
    if info_file.is_file():
        info = json.loads(info_file.read_text())
        info.update(manifest_id=manifest_id, features=want)
        if added:
            info["features_added_seconds"] = round(seconds, 1)
        info_file.write_text(json.dumps(info, indent=1) + "\n")
    kept = len(refs) - added
    log(f"{path}: features added to {added} collections, {kept} kept, {seconds:.0f}s")
    return {"added": added, "kept": kept, "seconds": seconds, "manifest_id": manifest_id}


def add_query_model(
    path: Path,
    scheme: str = DEFAULT_QUERY_MODEL,
    cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Make the store at ``path`` record an ONNX query model (``scheme``), as ``playbooks
    index`` does (:func:`indexer.query_model.ensure_query_model`: exported once per
    machine, cached), so the server embeds queries with it; returns the CURRENT manifest
    id. A store that already records that scheme is left as it is."""
    store = Store(LocalBlobs(path))
    pointer = store.current()
    if pointer.manifest_id is None:
        raise SystemExit(f"{path}: no CURRENT manifest")
    manifest = store.read_manifest(pointer.manifest_id)
    if manifest.query_model is not None and manifest.query_model.scheme == scheme:
        return manifest.manifest_id
    cache = cache_dir or Path(SETTINGS_BY_NAME["model_cache_dir"].default).expanduser()
    ref = ensure_query_model(
        store, manifest.model, manifest, QueryModelPlan(scheme, cache), say=log
    )
    upgraded = Manifest.create(
        parent=manifest.manifest_id,
        created_by={"command": "bench.stores --add-query-model"},
        model=manifest.model,
        collections=manifest.collections,
        report=manifest.report,
        query_model=ref,
    )
    store.write_manifest(upgraded)
    store.swap_current(upgraded.manifest_id, pointer)
    info_file = path / INFO_FILE
    if info_file.is_file():
        info = json.loads(info_file.read_text())
        info.update(manifest_id=upgraded.manifest_id, query_model=scheme)
        info_file.write_text(json.dumps(info, indent=1) + "\n")
    log(f"{path}: query model {scheme} recorded in {upgraded.manifest_id}")
    return upgraded.manifest_id


def servable_store(size: StoreSize, vectors: str) -> BenchStore:
    """:func:`build_store` (or the cached one), recording the ONNX query model the server
    embeds queries with (:func:`add_query_model`): what the search benchmarks serve."""
    store = build_store(size, vectors)
    add_query_model(store.path)
    loaded = load_bench_store(size, store.vectors)
    return loaded if loaded is not None else store


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="10k,100k,1m")
    p.add_argument("--vectors", choices=VECTORS, default="auto")
    p.add_argument(
        "--add-features",
        action="store_true",
        help="upgrade the cached stores of --sizes/--vectors with features files (see above)",
    )
    p.add_argument(
        "--add-query-model",
        action="store_true",
        help="make the cached stores record the ONNX query model (see add_query_model)",
    )
    args = p.parse_args(argv)
    for size in parse_sizes(args.sizes):
        if args.add_query_model:
            vectors = resolve_vectors(size, args.vectors)
            if load_bench_store(size, vectors) is None:
                raise SystemExit(f"no cached store at {store_path(size, vectors)}; build it first")
            add_query_model(store_path(size, vectors))
        elif args.add_features:
            vectors = resolve_vectors(size, args.vectors)
            if load_bench_store(size, vectors) is None:
                raise SystemExit(f"no cached store at {store_path(size, vectors)}; build it first")
            add_features(store_path(size, vectors))
        else:
            build_store(size, args.vectors)


if __name__ == "__main__":
    main()

"""One index run: crawl -> validate -> embed -> snapshot per collection -> commit.

Full (nightly) and incremental (one tenant) runs share this code path:

- a collection whose *source fingerprint* (every file's key, size and ETag/mtime, plus the
  model, validation rules and text version) equals the parent manifest's is carried over
  as it is, not rewritten;
- a playbook whose embedded text is unchanged reuses its vector from the parent snapshot
  (keyed by content hash + model identity); only the rest is embedded, each distinct text
  once per run (a copy in another collection takes the vector computed earlier in the run);
- the new manifest names every collection (carried or rebuilt) and CURRENT moves by
  compare-and-swap. If another run moved CURRENT first, this run re-reads it, rebases its
  rebuilt collections onto the newer manifest and retries; the report says so.

A run that fails before the swap leaves CURRENT, and so what is served, as it was.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from indexer.blobs import BlobInfo, Blobs
from indexer.crawl import CrawlResult, VersionFolder, crawl_library, crawl_tenants
from indexer.embed import CHUNK_TEXTS, Embedder, VectorMemo, embed_all
from indexer.errors import CommitConflict, StoreError
from indexer.events import Event, EventLog, apply_events, events_fingerprint, group_events
from indexer.gates import GatePolicy, enforce_gates
from indexer.model import LIBRARY_COLLECTION, collection_tenant, version_sort_key
from indexer.provenance import created_by, library_versions
from indexer.query_model import QueryModelPlan, ensure_query_model
from indexer.report import Rejection
from indexer.reuse import load_previous
from indexer.rows import playbook_row, rows_table
from indexer.store import Manifest, ModelIdentity, SnapshotRef, Store
from indexer.text import TEXT_VERSION
from indexer.validate import ValidPlaybook, validate_folder
from indexer.vectors import HNSW_MIN_ROWS, index_bytes, index_kind
from serve.features import features_file_bytes

RULES_VERSION = "rules-v1"
FOLD_VERSION = "fold-v1"  # how indexer.events folds events into metadata
Progress = Callable[[str], None]
Fault = Callable[[str], None]


@dataclass
class CollectionOutcome:
    """What the run did with one collection."""

    collection: str
    action: str  # built | carried | kept | removed
    seen: int = 0
    indexed: int = 0
    reused: int = 0
    embedded: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    snapshot_id: str | None = None
    deleted: int = 0  # versions left out by a ``deleted`` event (indexer.events)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "action": self.action,
            "seen": self.seen,
            "indexed": self.indexed,
            "reused": self.reused,
            "embedded": self.embedded,
            "rejected": [r.to_dict() for r in self.rejected],
            "snapshot_id": self.snapshot_id,
        }
        if self.deleted:
            out["deleted"] = self.deleted
        return out


@dataclass
class RunReport:
    """The run's summary: counts, rejections with reasons, time, and the commit outcome."""

    store: str
    manifest_id: str | None = None
    parent: str | None = None
    committed: bool = False
    attempts: int = 0
    rebased_onto: list[str] = field(default_factory=list)
    unchanged: bool = False  # nothing changed: CURRENT already names an equal manifest
    collections: dict[str, CollectionOutcome] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def total(self, attr: str) -> int:
        return sum(getattr(c, attr) for c in self.collections.values())

    @property
    def rejections(self) -> list[Rejection]:
        return [r for c in self.collections.values() for r in c.rejected]

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "manifest_id": self.manifest_id,
            "parent": self.parent,
            "committed": self.committed,
            "attempts": self.attempts,
            "rebased_onto": self.rebased_onto,
            "unchanged": self.unchanged,
            "seen": self.total("seen"),
            "indexed": self.total("indexed"),
            "reused": self.total("reused"),
            "embedded": self.total("embedded"),
            "rejected": len(self.rejections),
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "collections": {k: v.to_dict() for k, v in sorted(self.collections.items())},
        }


def source_fingerprint(
    folders: Iterable[VersionFolder],
    rejections: Iterable[Rejection],
    model: ModelIdentity,
    events: Iterable[BlobInfo] = (),
) -> str:
    """Changes whenever anything that feeds the collection's snapshot changes.

    ``events`` (the tenant's event objects) count only when there are some, so a
    collection without events keeps the fingerprint it had before events existed.
    """
    h = hashlib.sha256()
    h.update(f"{RULES_VERSION}\0{TEXT_VERSION}\0{model.name}\0{model.weights_sha256}\n".encode())
    for f in sorted(folders, key=lambda f: f.uri):
        h.update(f"{f.uri}\0{f.fingerprint}\n".encode())
    for r in sorted(rejections, key=lambda r: (r.folder, r.field)):
        h.update(f"{r.folder}\0{r.field}\0{r.reason}\n".encode())
    events = list(events)
    if events:
        h.update(f"{FOLD_VERSION}\0{events_fingerprint(events)}\n".encode())
    return h.hexdigest()


def _fold_events(
    valid: list[ValidPlaybook], events: Sequence[Event], outcome: CollectionOutcome
) -> list[ValidPlaybook]:
    """Each version's metadata with its write-API events folded in; deleted ones left out."""
    by_version = group_events(events)
    out: list[ValidPlaybook] = []
    for p in valid:
        mine = by_version.get((p.metadata["playbook_id"], p.metadata["version"]), [])
        metadata = apply_events(p.metadata, mine)
        if metadata is None:
            outcome.deleted += 1
            continue
        out.append(replace(p, metadata=metadata) if mine else p)
    return out


def _read_events(sources: Sequence[tuple[Blobs, list[BlobInfo]]], collection: str) -> list[Event]:
    tenant = collection_tenant(collection)
    if tenant is None:
        return []
    return [e for blobs, infos in sources for e in EventLog(blobs).events(tenant, infos)]


def _validate_all(
    folders: Sequence[VersionFolder], progress: Progress, collection: str
) -> tuple[list[ValidPlaybook], list[Rejection]]:
    valid: list[ValidPlaybook] = []
    rejected: list[Rejection] = []
    seen: dict[tuple[str, str], str] = {}
    # Reads are I/O bound (S3 round trips): validate folders concurrently, keep input order.
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(validate_folder, folders))
    for folder, out in zip(folders, outcomes, strict=True):
        if isinstance(out, list):
            rejected.extend(out)
            continue
        key = (out.metadata["playbook_id"], out.metadata["version"])
        if key in seen:
            rejected.append(
                Rejection(
                    folder.uri,
                    "(folder)",
                    f"duplicate of {seen[key]} (same playbook_id and version)",
                )
            )
            continue
        seen[key] = folder.uri
        valid.append(out)
    if len(folders) >= 200:
        progress(f"{collection}: validated {len(folders)} folders, {len(rejected)} rejected")
    return valid, rejected


def _snapshot_rejections(store: Store, ref: SnapshotRef) -> list[Rejection]:
    if ref.rejected == 0:
        return []
    validation = store.read_description(ref).get("validation", {})
    return [Rejection(**r) for r in validation.get("rejected", [])]


def _build_collection(
    store: Store,
    collection: str,
    folders: list[VersionFolder],
    crawl_rejections: list[Rejection],
    fingerprint: str,
    parent_ref: SnapshotRef | None,
    embedder: Embedder,
    sources: list[str],
    progress: Progress,
    events: Sequence[Event] = (),
    hnsw_min_rows: int = HNSW_MIN_ROWS,
    memo: VectorMemo | None = None,
) -> tuple[SnapshotRef, CollectionOutcome]:
    outcome = CollectionOutcome(collection, "built", seen=len(folders) + len(crawl_rejections))
    model = embedder.identity
    previous = load_previous(
        store,
        parent_ref,
        dimension=model.dimension,
        rules_version=RULES_VERSION,
        text_version=TEXT_VERSION,
    )
    # Folders untouched since the parent snapshot (and with no events) are not read again.
    with_events = {(e.playbook_id, e.version) for e in events}
    kept: list[int] = []
    changed: list[VersionFolder] = []
    for folder in folders:
        i = previous.reusable_row(folder)
        if i is None or (folder.playbook_id, folder.version_dir[1:]) in with_events:
            changed.append(folder)
        else:
            kept.append(i)
    valid, rejected = _validate_all(changed, progress, collection)
    outcome.rejected = crawl_rejections + rejected
    if events:
        valid = _fold_events(valid, events, outcome)
    kept_rows = previous.rows(kept)
    taken = {(r["playbook_id"], r["version"]) for r in kept_rows}
    for p in valid:
        if (p.metadata["playbook_id"], p.metadata["version"]) in taken:
            outcome.rejected.append(
                Rejection(
                    p.folder.uri,
                    "(folder)",
                    "duplicate of another folder with the same playbook_id and version",
                )
            )
    rows = kept_rows + [
        playbook_row(p)
        for p in valid
        if (p.metadata["playbook_id"], p.metadata["version"]) not in taken
    ]
    rows.sort(key=lambda r: (r["playbook_id"], version_sort_key(r["version"])))
    vectors = np.zeros((len(rows), model.dimension), dtype=np.float32)
    memo = memo if memo is not None else VectorMemo()
    todo: list[int] = []  # rows without a parent vector: "embedded" in the report
    fresh: list[int] = []  # of those, the ones no earlier collection of this run embedded
    for i, row in enumerate(rows):
        vec = previous.vector_for(row["content_hash"])
        if vec is None:
            todo.append(i)
            vec = memo.get(row["content_hash"])
        if vec is None:
            fresh.append(i)
        else:
            vectors[i] = vec

    def embedded(done: int, total: int) -> None:
        if total > CHUNK_TEXTS:
            progress(f"{collection}: embedded {done}/{total} distinct texts")

    # Distinct texts once, longest first, in whole batches: as the raw model path batches.
    vectors[fresh] = embed_all(embedder, [rows[i]["embed_text"] for i in fresh], embedded)
    for i in fresh:
        memo.add(rows[i]["content_hash"], vectors[i])
    outcome.indexed, outcome.reused, outcome.embedded = len(rows), len(rows) - len(todo), len(todo)
    table = rows_table(rows, vectors, model.dimension)
    description = {
        "model": model.to_dict(),
        "dimension": model.dimension,
        "index": index_kind(len(rows), hnsw_min_rows),
        "text_version": TEXT_VERSION,
        "rules_version": RULES_VERSION,
        "sources": sources,
        "validation": {
            "seen": outcome.seen,
            "indexed": outcome.indexed,
            "rejected": [r.to_dict() for r in outcome.rejected],
        },
        "built_with": library_versions(),
    }
    ref = store.write_snapshot(
        collection,
        table,
        index_bytes(vectors, model.dimension, hnsw_min_rows),
        description,
        fingerprint,
        rejected=len(outcome.rejected),
        features_bytes=features_file_bytes(table),  # computed by the serving code itself
    )
    outcome.snapshot_id = ref.snapshot_id
    return ref, outcome


def run_index(
    *,
    store: Store,
    library: Sequence[Blobs],
    tenants: Sequence[Blobs],
    embedder: Embedder,
    include_library: bool = True,
    only_tenants: Sequence[str] | None = None,
    progress: Progress | None = None,
    fault: Fault | None = None,
    max_attempts: int = 5,
    command: str = "playbooks index",
    gates: GatePolicy | None = None,
    hnsw_min_rows: int = HNSW_MIN_ROWS,
    query_model: QueryModelPlan | None = None,
) -> RunReport:
    """Index the sources into ``store`` and move CURRENT; never raises for bad playbooks.

    ``only_tenants`` (with ``include_library=False``) is the on-publish run: only those
    tenants' collections are looked at; every other collection is kept from the parent.
    ``fault(step)`` is called at each commit step (tests use it to simulate a crash).
    ``gates`` (None: off) are checked before the manifest is written: a failure raises
    :class:`~indexer.gates.PromotionRefused` and CURRENT stays where it was.
    A collection built with at least ``hnsw_min_rows`` rows gets an HNSW vector index,
    a smaller one a flat index (:mod:`indexer.vectors`).
    ``query_model`` says which ONNX query model the manifest records (None: the parent's,
    when it matches the model; see :func:`indexer.query_model.ensure_query_model`).
    Raises :class:`StoreError` when the store cannot be written or CURRENT cannot be moved
    after ``max_attempts`` compare-and-swap attempts.
    """
    say = progress or (lambda _msg: None)
    hit = fault or (lambda _step: None)
    started = time.monotonic()
    report = RunReport(store=store.uri)
    model = embedder.identity

    crawl = CrawlResult()
    if include_library:
        for blobs in library:
            crawl_library(blobs, crawl)
    for blobs in tenants:
        crawl_tenants(blobs, crawl, only=only_tenants)
    say(
        f"crawled {sum(len(v) for v in crawl.folders.values())} version folders "
        f"in {len(crawl.folders)} collections"
    )
    stray = crawl.rejections.pop("(tenants)", [])

    pointer = store.current()
    parent = store.read_manifest(pointer.manifest_id) if pointer.manifest_id else None
    if parent is not None and parent.model != model:
        if not include_library or only_tenants is not None:
            raise StoreError(
                f"{parent.manifest_id} was built with another embedding model "
                f"({parent.model.weights_sha256[:12]}…); a partial run cannot mix models: "
                "run a full index first",
                manifest=parent.manifest_id,
            )
        say(f"model changed since {parent.manifest_id}: every collection is rebuilt")
    same_model = parent is not None and parent.model == model
    base = dict(parent.collections) if parent and same_model else {}

    built: dict[str, SnapshotRef] = {}
    in_scope: set[str] = set()
    memo = VectorMemo()  # vectors embedded by this run, by content hash
    carried: list[SnapshotRef] = []
    for collection in sorted(crawl.folders):
        in_scope.add(collection)
        folders = crawl.folders[collection]
        crawl_rej = crawl.rejections.get(collection, [])
        event_sources = crawl.events.get(collection, [])
        fp = source_fingerprint(
            folders, crawl_rej, model, [i for _blobs, infos in event_sources for i in infos]
        )
        prev = base.get(collection)
        if prev is not None and prev.source_fingerprint == fp:
            report.collections[collection] = CollectionOutcome(
                collection,
                "carried",
                seen=len(folders) + len(crawl_rej),
                indexed=prev.rows,
                reused=prev.rows,
                snapshot_id=prev.snapshot_id,
            )
            carried.append(prev)
            continue
        ref, outcome = _build_collection(
            store,
            collection,
            folders,
            crawl_rej,
            fp,
            prev,
            embedder,
            crawl.sources.get(collection, []),
            say,
            _read_events(event_sources, collection),
            hnsw_min_rows,
            memo,
        )
        built[collection] = ref
        report.collections[collection] = outcome
        say(
            f"{collection}: {outcome.indexed} indexed ({outcome.reused} reused, "
            f"{outcome.embedded} embedded), {len(outcome.rejected)} rejected"
        )
    # A carried snapshot still leaves its rejected folders out: report them every run.
    with ThreadPoolExecutor(max_workers=16) as pool:
        for ref, rejections in zip(
            carried, pool.map(_snapshot_rejections, [store] * len(carried), carried), strict=True
        ):
            report.collections[ref.collection].rejected = rejections
    if stray:
        report.collections.setdefault("(tenants)", CollectionOutcome("(tenants)", "skipped"))
        report.collections["(tenants)"].rejected.extend(stray)
    hit("snapshots-written")
    query_ref = ensure_query_model(store, model, parent, query_model, say)

    def in_run_scope(collection: str) -> bool:
        if collection == LIBRARY_COLLECTION:
            return include_library
        tenant = collection_tenant(collection)
        return only_tenants is None or tenant in set(only_tenants)

    for attempt in range(1, max_attempts + 1):
        report.attempts = attempt
        if attempt > 1:
            pointer = store.current()
            parent = store.read_manifest(pointer.manifest_id) if pointer.manifest_id else None
            if parent is not None and parent.model != model:
                raise StoreError(
                    f"{parent.manifest_id} was built with another model; rerun this index job",
                    manifest=parent.manifest_id,
                )
            report.rebased_onto.append(pointer.manifest_id or "(empty)")
            say(f"CURRENT moved to {pointer.manifest_id}; rebasing and retrying")
        collections: dict[str, SnapshotRef] = {}
        if parent is not None and parent.model == model:
            for name, ref in parent.collections.items():
                # Outside this run's scope, or in scope but not rebuilt: take the newest.
                if not in_run_scope(name) or (name in in_scope and name not in built):
                    collections[name] = ref
        for name in in_scope:
            if name in built:
                collections[name] = built[name]
            elif name not in collections and name in base:
                collections[name] = base[name]
        if parent is not None:
            for name, ref in parent.collections.items():
                if in_run_scope(name) and name not in in_scope:
                    # Its source prefix is gone: the collection leaves the manifest.
                    collections.pop(name, None)
                    report.collections[name] = CollectionOutcome(
                        name, "removed", snapshot_id=ref.snapshot_id
                    )
        for name, ref in collections.items():
            if name not in report.collections:
                report.collections[name] = CollectionOutcome(
                    name, "kept", indexed=ref.rows, snapshot_id=ref.snapshot_id
                )
        if (
            parent is not None
            and dict(parent.collections) == collections
            and parent.query_model == query_ref
        ):
            # Nothing to promote: keep CURRENT (no new manifest, no reload for servers).
            report.manifest_id = report.parent = parent.manifest_id
            report.committed, report.unchanged = True, True
            break
        summary = {
            "seen": report.total("seen"),
            "indexed": report.total("indexed"),
            "reused": report.total("reused"),
            "embedded": report.total("embedded"),
            "rejected": len(report.rejections),
            "built": sorted(built),
        }
        manifest = Manifest.create(
            parent=pointer.manifest_id,
            created_by=created_by(command),
            model=model,
            collections=collections,
            report=summary,
            query_model=query_ref,
        )
        if gates is not None:
            enforce_gates(gates, store, parent, manifest, report)
        store.write_manifest(manifest)
        hit("manifest-written")
        try:
            store.swap_current(manifest.manifest_id, pointer)
        except CommitConflict:
            continue
        hit("committed")
        report.manifest_id = manifest.manifest_id
        report.parent = pointer.manifest_id
        report.committed = True
        break
    else:
        raise StoreError(
            f"could not move CURRENT after {max_attempts} attempts: other "
            "index runs kept committing first"
        )
    report.seconds = time.monotonic() - started
    return report

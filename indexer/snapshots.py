"""The operator side of the store: list, show, diff, roll back, pin and garbage-collect.

Every function takes a :class:`~indexer.store.Store`, returns plain data and raises
:mod:`indexer.errors` domain errors; nothing here prints (``indexer.cli_snapshots`` renders).
The store's rules hold throughout: manifests are created, never edited; CURRENT moves only by
compare-and-swap; a pin is a marker object ``manifests/pins/<manifest_id>``; garbage
collection deletes only what no remaining manifest names.

A manifest reference (``ref``) is a full manifest id, ``CURRENT``, ``CURRENT~N`` (N parents
back along CURRENT's history) or a unique prefix of an id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from indexer.errors import BadRequest, CommitConflict, Conflict, NotFound, StoreError
from indexer.provenance import created_by
from indexer.store import Manifest, SnapshotRef, Store, iso, utc_now

DEFAULT_KEEP_LAST = 10
DEFAULT_KEEP_DAYS = 30.0
# A run writes its snapshots before its manifest; gc must not take them in between.
DEFAULT_GRACE = timedelta(hours=1)
_CURRENT_REF = re.compile(r"^(?:CURRENT|current)(?:~(\d+))?$")
_ID_TIME = re.compile(r"^[msq]-(\d{8}T\d{12}Z)-")  # manifest, snapshot, query model
# Per-row columns a diff does not compare: derived (vector), summed up by content_hash
# (embed_text), or noise (touching a file without changing it moves source_fingerprint).
_NOT_COMPARED = frozenset({"vector", "embed_text", "collection", "source_fingerprint"})


def id_time(any_id: str) -> datetime | None:
    """The creation time stamped in a manifest, snapshot or query model id (None: none)."""
    m = _ID_TIME.match(any_id)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _created(m: Manifest) -> datetime:
    try:
        return datetime.strptime(m.created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        stamped = id_time(m.manifest_id)
        if stamped is None:
            raise StoreError(
                f"manifest {m.manifest_id} has an unreadable created_at {m.created_at!r}",
                manifest=m.manifest_id,
            ) from None
        return stamped


def resolve(store: Store, ref: str) -> str:
    """The manifest id ``ref`` names (see the module docstring); NotFound or BadRequest."""
    ref = ref.strip()
    m = _CURRENT_REF.match(ref)
    if m:
        mid = store.current().manifest_id
        if mid is None:
            raise NotFound(f"{store.uri} has no CURRENT manifest yet", store=store.uri)
        for step in range(int(m.group(1) or 0)):
            parent = store.read_manifest(mid).parent
            if parent is None:
                raise NotFound(
                    f"{ref}: CURRENT's history is only {step + 1} manifest(s) long", manifest=ref
                )
            mid = parent
        return mid
    ids = store.manifest_ids()
    if ref in ids:
        return ref
    matches = [i for i in ids if ref and i.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no manifest {ref!r} in {store.uri}", manifest=ref)
    shown = ", ".join(matches[:4]) + (", …" if len(matches) > 4 else "")
    raise BadRequest(
        f"{ref!r} matches {len(matches)} manifests ({shown}); give more of the id", manifest=ref
    )


# ----- list / show ----------------------------------------------------------------------
@dataclass(frozen=True)
class ManifestSummary:
    """One line of ``snapshots list``. ``problem`` is set when the manifest is unreadable."""

    manifest_id: str
    created_at: str
    parent: str | None
    collections: int
    rows: int
    rejected: int
    is_current: bool
    pinned: bool
    tool: str = ""
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(m: Manifest, current: str | None, pinned: set[str]) -> ManifestSummary:
    return ManifestSummary(
        m.manifest_id,
        m.created_at,
        m.parent,
        len(m.collections),
        sum(r.rows for r in m.collections.values()),
        sum(r.rejected for r in m.collections.values()),
        m.manifest_id == current,
        m.manifest_id in pinned,
        str(m.created_by.get("tool", "")),
    )


def list_manifests(store: Store, limit: int | None = None) -> list[ManifestSummary]:
    """Every manifest (or the newest ``limit``), newest first, with its counts and flags."""
    ids = store.manifest_ids()[::-1]
    if limit is not None:
        ids = ids[: max(limit, 0)]
    current = store.current().manifest_id
    pinned = set(store.pinned_ids())
    out = []
    for mid in ids:
        try:
            out.append(_summary(store.read_manifest(mid), current, pinned))
        except StoreError as exc:
            stamped = id_time(mid)
            out.append(
                ManifestSummary(
                    mid,
                    iso(stamped) if stamped else "",
                    None,
                    0,
                    0,
                    0,
                    mid == current,
                    mid in pinned,
                    problem=exc.message,
                )
            )
    return out


@dataclass(frozen=True)
class ManifestDetail:
    """``snapshots show``: the manifest, whether it is live or pinned, and (on request)
    whether every snapshot it names loads and matches its checksums."""

    manifest: Manifest
    is_current: bool
    pin: Mapping[str, Any] | None
    verified: Mapping[str, str] | None = None  # collection -> "ok" or the error

    def to_dict(self) -> dict[str, Any]:
        out = {
            "manifest_id": self.manifest.manifest_id,
            **self.manifest.body(),
            "is_current": self.is_current,
            "pinned": self.pin is not None,
            "pin": self.pin,
        }
        if self.verified is not None:
            out["verified"] = dict(self.verified)
        return out


def show(store: Store, ref: str, *, verify: bool = False) -> ManifestDetail:
    """One manifest by reference; ``verify`` loads each snapshot and checks its checksums."""
    m = store.read_manifest(resolve(store, ref))
    verified: dict[str, str] | None = None
    if verify:
        verified = {}
        for name, snap in sorted(m.collections.items()):
            try:
                store.load_snapshot(snap)
                verified[name] = "ok"
            except StoreError as exc:
                verified[name] = exc.message
    return ManifestDetail(
        m, store.current().manifest_id == m.manifest_id, store.read_pin(m.manifest_id), verified
    )


# ----- diff -----------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionChange:
    """A playbook version in both snapshots whose stored fields differ (status aside)."""

    playbook_id: str
    version: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class StatusChange:
    playbook_id: str
    version: str
    old: str
    new: str


@dataclass
class CollectionDiff:
    """How one collection differs. ``change``: added | removed | changed.

    Playbook-level lists are filled only for ``changed`` (both snapshots are loaded and
    verified); for an added or removed collection the row counts say it all.
    """

    collection: str
    change: str
    old_snapshot: str | None
    new_snapshot: str | None
    old_rows: int
    new_rows: int
    added: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    changed: list[VersionChange] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "old_rows": self.old_rows,
            "new_rows": self.new_rows,
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "status_changes": len(self.status_changes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "change": self.change,
            "old_snapshot": self.old_snapshot,
            "new_snapshot": self.new_snapshot,
            "old_rows": self.old_rows,
            "new_rows": self.new_rows,
            "added": [{"playbook_id": p, "version": v} for p, v in self.added],
            "removed": [{"playbook_id": p, "version": v} for p, v in self.removed],
            "changed": [
                {"playbook_id": c.playbook_id, "version": c.version, "fields": list(c.fields)}
                for c in self.changed
            ],
            "status_changes": [asdict(s) for s in self.status_changes],
        }


@dataclass
class ManifestDiff:
    """From manifest ``old`` to ``new``: every collection whose snapshot differs.

    ``proposed``: ``new`` is a manifest that was not written (a dry run, a refusal)."""

    old: str | None
    new: str
    collections: list[CollectionDiff]
    unchanged: list[str]
    proposed: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "proposed": self.proposed,
            "unchanged": self.unchanged,
            "collections": {c.collection: c.counts() for c in self.collections},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "proposed": self.proposed,
            "unchanged": self.unchanged,
            "collections": [c.to_dict() for c in self.collections],
        }


def _rows(store: Store, ref: SnapshotRef) -> dict[tuple[str, str], dict[str, Any]]:
    table = store.load_snapshot(ref).table
    keep = [n for n in table.column_names if n not in _NOT_COMPARED]
    return {(r["playbook_id"], r["version"]): r for r in table.select(keep).to_pylist()}


def _diff_collection(store: Store, name: str, a: SnapshotRef, b: SnapshotRef) -> CollectionDiff:
    d = CollectionDiff(name, "changed", a.snapshot_id, b.snapshot_id, a.rows, b.rows)
    old, new = _rows(store, a), _rows(store, b)
    d.added = sorted(set(new) - set(old))
    d.removed = sorted(set(old) - set(new))
    for key in sorted(set(old) & set(new)):
        o, n = old[key], new[key]
        if o.get("status") != n.get("status"):
            d.status_changes.append(StatusChange(*key, str(o.get("status")), str(n.get("status"))))
        fields = tuple(f for f in n if f != "status" and o.get(f) != n.get(f))
        if fields:
            d.changed.append(VersionChange(*key, fields))
    return d


def diff_manifests(
    store: Store, old: Manifest | None, new: Manifest, *, proposed: bool = False
) -> ManifestDiff:
    """:func:`diff` over manifest objects (``old`` None: an empty store; ``proposed``: ``new``
    was not written). Snapshots are read through :meth:`Store.load_snapshot`, so a
    checksum mismatch raises."""
    before = dict(old.collections) if old else {}
    out = ManifestDiff(old.manifest_id if old else None, new.manifest_id, [], [], proposed)
    for name in sorted(set(before) | set(new.collections)):
        a, b = before.get(name), new.collections.get(name)
        if a is not None and b is not None:
            if a.snapshot_id == b.snapshot_id:
                out.unchanged.append(name)
            else:
                out.collections.append(_diff_collection(store, name, a, b))
        elif b is not None:
            out.collections.append(CollectionDiff(name, "added", None, b.snapshot_id, 0, b.rows))
        elif a is not None:
            out.collections.append(CollectionDiff(name, "removed", a.snapshot_id, None, a.rows, 0))
    return out


def diff(store: Store, a: str, b: str | None = None) -> ManifestDiff:
    """What changed from manifest ``a`` to ``b`` (``b`` None: from ``a``'s parent to ``a``).

    Per collection: added, removed, or changed; for a changed one, the playbook versions
    (playbook_id, version) added, removed, changed (content_hash or any other stored field
    such as execution counts, named) and status changes (old -> new).
    """
    if b is None:
        new = store.read_manifest(resolve(store, a))
        old = store.read_manifest(new.parent) if new.parent else None
    else:
        old = store.read_manifest(resolve(store, a))
        new = store.read_manifest(resolve(store, b))
    return diff_manifests(store, old, new)


# ----- rollback -------------------------------------------------------------------------
@dataclass(frozen=True)
class RollbackResult:
    """``manifest_id`` is the new manifest (None when nothing needed to change)."""

    target: str
    collection: str | None
    parent: str | None
    manifest_id: str | None
    changed: tuple[str, ...]
    committed: bool
    diff: ManifestDiff | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            k: getattr(self, k)
            for k in ("target", "collection", "parent", "manifest_id", "committed")
        }
        out["changed"] = list(self.changed)
        out["diff"] = self.diff.to_dict() if self.diff else None
        return out


def _rolled_back(
    current: Manifest | None, target: Manifest, collection: str | None
) -> tuple[dict[str, SnapshotRef], tuple[str, ...]]:
    """The collections of the rollback manifest, and the names whose snapshot changes."""
    now = dict(current.collections) if current else {}
    if collection is None:
        wanted = dict(target.collections)
    else:
        if collection not in target.collections:
            raise NotFound(
                f"manifest {target.manifest_id} has no collection {collection!r} (it has: "
                f"{', '.join(sorted(target.collections)) or 'none'})",
                manifest=target.manifest_id,
                collection=collection,
            )
        if current is not None and current.model != target.model:
            raise Conflict(
                f"{collection} in {target.manifest_id} was embedded with another model "
                f"({target.model.name}, {target.model.weights_sha256[:12]}) than CURRENT "
                f"{current.manifest_id}; roll back the whole store instead",
                manifest=target.manifest_id,
                collection=collection,
            )
        wanted = {**now, collection: target.collections[collection]}
    changed = tuple(
        sorted(
            n
            for n in set(now) | set(wanted)
            if (now[n].snapshot_id if n in now else None)
            != (wanted[n].snapshot_id if n in wanted else None)
        )
    )
    return wanted, changed


def rollback(
    store: Store,
    to: str,
    collection: str | None = None,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    max_attempts: int = 5,
) -> RollbackResult:
    """Make CURRENT serve what manifest ``to`` served: for every collection, or for one.

    Commits a NEW manifest whose parent is CURRENT (by compare-and-swap) rather than
    pointing CURRENT back at the old id: history stays linear and auditable (each move of
    the pointer is a manifest saying who did what, when and from which target), and
    CURRENT never returns to a value it held before (on S3 its tag is the MD5 of its
    content, so an old value would look unchanged to a writer that read it earlier).
    Whole store: the new manifest's collections (and model) are the target's. One
    collection: CURRENT's, except that ``collection`` takes the target's snapshot
    (NotFound if the target lacks it, Conflict if the target used another model).
    Every snapshot that changes is loaded and verified before the pointer moves. If
    CURRENT moves meanwhile and the move touched what this rollback changes, raises
    :class:`CommitConflict` (rerun after a look at ``diff``); otherwise it rebases and
    retries. ``dry_run`` commits nothing and returns the diff from CURRENT to what would
    be committed.
    """
    target = store.read_manifest(resolve(store, to))
    seen: dict[str, str | None] | None = None
    for _attempt in range(max_attempts):
        pointer = store.current()
        current = store.read_manifest(pointer.manifest_id) if pointer.manifest_id else None
        collections, changed = _rolled_back(current, target, collection)
        # What this rollback decides on: all of CURRENT (whole store) or one collection.
        now_refs = dict(current.collections) if current else {}
        state: dict[str, str | None] = {
            n: r.snapshot_id for n, r in now_refs.items() if collection in (None, n)
        }
        if collection is None:
            state["(model)"] = current.model.weights_sha256 if current else None
        if seen is not None and state != seen:
            raise CommitConflict(
                f"CURRENT moved to {pointer.manifest_id} during the rollback and changed what "
                "it rolls back; check `playbooks snapshots diff` and rerun",
                manifest=pointer.manifest_id,
            )
        seen = state
        source = target if collection is None or current is None else current
        model, query_model = source.model, source.query_model  # the query model goes with it
        if not changed and (
            current is None or (current.model == model and current.query_model == query_model)
        ):
            return RollbackResult(
                target.manifest_id, collection, pointer.manifest_id, None, (), False
            )
        manifest = Manifest.create(
            parent=pointer.manifest_id,
            created_by=created_by("playbooks snapshots rollback"),
            model=model,
            collections=collections,
            now=now,
            report={
                "rollback": {
                    "to": target.manifest_id,
                    "collection": collection,
                    "changed": list(changed),
                }
            },
            query_model=query_model,
        )
        if dry_run:
            return RollbackResult(
                target.manifest_id,
                collection,
                pointer.manifest_id,
                None,
                changed,
                False,
                diff_manifests(store, current, manifest, proposed=True),
            )
        for name in changed:
            if name in collections:
                store.load_snapshot(collections[name])
        store.write_manifest(manifest)
        try:
            store.swap_current(manifest.manifest_id, pointer)
        except CommitConflict:
            continue
        return RollbackResult(
            target.manifest_id, collection, pointer.manifest_id, manifest.manifest_id, changed, True
        )
    raise StoreError(
        f"could not move CURRENT after {max_attempts} attempts: other writers kept committing first"
    )


# ----- pins -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PinResult:
    manifest_id: str
    changed: bool  # False: pin() found it already pinned


def pin(store: Store, ref: str, note: str = "", *, now: datetime | None = None) -> PinResult:
    """Pin a manifest so :func:`gc` never removes it or anything it names."""
    mid = resolve(store, ref)
    by = created_by("playbooks snapshots pin")
    body = {"pinned_at": iso(now or utc_now()), "by": by["user"], "host": by["host"], "note": note}
    return PinResult(mid, store.write_pin(mid, body))


def unpin(store: Store, ref: str) -> PinResult:
    """Remove a pin (a pin whose manifest is gone can be removed by its full id)."""
    mid = ref if ref in store.pinned_ids() else resolve(store, ref)
    if not store.delete_pin(mid):
        raise NotFound(f"manifest {mid} is not pinned", manifest=mid)
    return PinResult(mid, True)


# ----- garbage collection ---------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotGone:
    collection: str
    snapshot_id: str
    files: int | None  # None on a dry run


@dataclass
class GcReport:
    """What :func:`gc` deleted (or, on a dry run, would delete) and what it kept, and why."""

    dry_run: bool
    now: str
    kept_manifests: dict[str, list[str]] = field(default_factory=dict)
    deleted_manifests: list[str] = field(default_factory=list)
    deleted_snapshots: list[SnapshotGone] = field(default_factory=list)
    kept_snapshots: int = 0  # named by a remaining manifest
    recent_snapshots: list[str] = field(default_factory=list)  # unnamed, within the grace
    unrecognised: list[str] = field(default_factory=list)  # folders without an id time
    deleted_models: list[str] = field(default_factory=list)  # models/<key> folders
    kept_models: int = 0  # named by a remaining manifest
    recent_models: list[str] = field(default_factory=list)  # unnamed, within the grace

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "now": self.now,
            "kept_manifests": self.kept_manifests,
            "deleted_manifests": self.deleted_manifests,
            "deleted_snapshots": [asdict(s) for s in self.deleted_snapshots],
            "kept_snapshots": self.kept_snapshots,
            "recent_snapshots": self.recent_snapshots,
            "unrecognised": self.unrecognised,
            "deleted_models": self.deleted_models,
            "kept_models": self.kept_models,
            "recent_models": self.recent_models,
        }


def _read_all(store: Store, ids: list[str]) -> dict[str, Manifest]:
    out = {}
    for mid in ids:
        try:
            out[mid] = store.read_manifest(mid)
        except NotFound:
            continue  # deleted meanwhile
        except StoreError as exc:
            raise StoreError(
                f"gc refuses to run: manifest {mid} is unreadable ({exc.message}); "
                "it may name snapshots that must be kept. Inspect it, then move "
                "or delete it by hand",
                manifest=mid,
            ) from None
    return out


def gc(
    store: Store,
    keep_last: int = DEFAULT_KEEP_LAST,
    keep_days: float = DEFAULT_KEEP_DAYS,
    dry_run: bool = False,
    now: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> GcReport:
    """Delete manifests outside retention, then snapshot folders no remaining manifest names.

    Retained manifests: CURRENT; the newest ``keep_last`` of CURRENT's history (CURRENT and
    its parents: manifests that were live, not ones that lost a race); every manifest
    younger than ``keep_days`` days or than ``grace``; every pinned manifest. A snapshot
    folder is deleted only when no manifest left after that step names it (re-listed, so a
    manifest committed meanwhile protects its snapshots) and its id is older than
    ``grace`` (an index run writes its snapshots before its manifest). Query model folders
    (``models/<key>/``) follow the same rule. Refuses to run
    (StoreError) when CURRENT is missing or unreadable, or any manifest is unreadable.
    A server held on an old manifest by ``--manifest`` must have that manifest pinned.
    """
    if keep_last < 0 or keep_days < 0:
        raise BadRequest(f"keep_last and keep_days must be >= 0 (got {keep_last}, {keep_days})")
    now = now or utc_now()
    report = GcReport(dry_run, iso(now))
    current = store.current().manifest_id
    ids = store.manifest_ids()
    manifests = _read_all(store, ids)
    if current is None and ids:
        raise StoreError(f"gc refuses to run: {store.uri} has manifests but no CURRENT")
    if current is not None and current not in manifests:
        raise StoreError(
            f"gc refuses to run: CURRENT names {current}, which is missing", manifest=current
        )

    reasons: dict[str, list[str]] = {}
    if current is not None:
        reasons[current] = ["current"]
    mid: str | None = current
    for n in range(keep_last):
        if mid is None or mid not in manifests:
            break
        reasons.setdefault(mid, []).append(f"history #{n + 1} of {keep_last}")
        mid = manifests[mid].parent
    pinned = set(store.pinned_ids())
    for other, m in manifests.items():
        age = now - _created(m)
        if age < timedelta(days=keep_days):
            reasons.setdefault(other, []).append(f"younger than {keep_days:g} days")
        elif age < grace:
            reasons.setdefault(other, []).append("within the grace period")
        if other in pinned:
            reasons.setdefault(other, []).append("pinned")
    report.kept_manifests = {k: reasons[k] for k in sorted(reasons)}
    report.deleted_manifests = [i for i in ids if i in manifests and i not in reasons]

    if dry_run:
        remaining = {k: manifests[k] for k in reasons}
    else:
        for doomed in report.deleted_manifests:
            store.delete_manifest(doomed)
        remaining = _read_all(store, store.manifest_ids())
        live = store.current().manifest_id
        if live is not None and live not in remaining:
            raise StoreError(
                f"gc stopped before deleting snapshots: CURRENT names {live}, which is missing",
                manifest=live,
            )
    named = {(c, r.snapshot_id) for m in remaining.values() for c, r in m.collections.items()}
    for collection in store.collections_on_disk():
        for sid in store.snapshot_ids(collection):
            if (collection, sid) in named:
                report.kept_snapshots += 1
                continue
            stamped = id_time(sid)
            if stamped is None or not sid.startswith("s-"):
                report.unrecognised.append(f"{collection}/{sid}")
            elif now - stamped < grace:
                report.recent_snapshots.append(f"{collection}/{sid}")
            else:
                files = None if dry_run else store.remove_snapshot(collection, sid)
                report.deleted_snapshots.append(SnapshotGone(collection, sid, files))
    _gc_query_models(store, remaining.values(), report, now, grace, dry_run)
    return report


def _gc_query_models(
    store: Store,
    remaining: Iterable[Manifest],
    report: GcReport,
    now: datetime,
    grace: timedelta,
    dry_run: bool,
) -> None:
    named = {m.query_model.key for m in remaining if m.query_model is not None}
    for key in store.query_model_keys():
        stamped = id_time(key)
        if key in named:
            report.kept_models += 1
        elif stamped is None or not key.startswith("q-"):
            report.unrecognised.append(f"models/{key}")
        elif now - stamped < grace:
            report.recent_models.append(key)
        else:
            if not dry_run:
                store.remove_query_model(key)
            report.deleted_models.append(key)

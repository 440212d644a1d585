"""The store layout: the one contract between the indexer (writer) and the server (reader).

::

    <root>/snapshots/<collection>/<snapshot_id>/metadata.parquet   one row per playbook version
    <root>/snapshots/<collection>/<snapshot_id>/index.faiss        row i == parquet row i
    <root>/snapshots/<collection>/<snapshot_id>/features.bin       ranking features (optional)
    <root>/snapshots/<collection>/<snapshot_id>/snapshot.json      self-description, checksums
    <root>/manifests/<manifest_id>.json                            immutable
    <root>/manifests/CURRENT                                       the one mutable pointer
    <root>/manifests/pins/<manifest_id>                            pin marker (gc keeps it)
    <root>/models/<key>/query_model.json, model.*.onnx, tokenizer  ONNX query model (immutable)

Nothing else reads or writes these files. Snapshots and manifests are written once and
never modified; ``snapshot.json`` is written after the files it checksums, the manifest
after every snapshot it names, and CURRENT moves last, by compare-and-swap
(:meth:`Store.swap_current`). A reader that follows CURRENT therefore never sees a
half-written state, and :meth:`Store.load_snapshot` verifies every checksum it reads.
Manifest and snapshot ids embed a hash of their content, so they are tamper-evident.

A manifest may name an ONNX query model (:class:`QueryModelRef`): a folder under
``models/`` written like a snapshot (every file checksummed in the manifest,
``query_model.json`` last, never overwritten) before the manifest that names it. Its key
starts with the upload time (``q-<time>-``) so garbage collection can tell a model an
index run has just uploaded from an abandoned one; the rest is its content key.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from indexer.blobs import BlobNotFound, Blobs
from indexer.errors import ChecksumMismatch, NotFound, StoreError

FORMAT_VERSION = 1
SNAPSHOTS = "snapshots"
MANIFESTS = "manifests"
CURRENT_KEY = f"{MANIFESTS}/CURRENT"
PINS = f"{MANIFESTS}/pins"  # pins/<manifest_id>: marker objects, see indexer.snapshots
MODELS = "models"
QUERY_MODEL_INFO = "query_model.json"  # written last in a models/<key>/ folder
METADATA_FILE = "metadata.parquet"
INDEX_FILE = "index.faiss"
FEATURES_FILE = "features.bin"  # serve.features_file; absent in snapshots written before it
DESCRIPTION_FILE = "snapshot.json"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stamp(ts: datetime) -> str:
    return ts.strftime("%Y%m%dT%H%M%S%fZ")


@dataclass(frozen=True)
class ModelIdentity:
    """Which embedding model made the vectors: a server must embed queries with the same."""

    name: str
    weights_sha256: str
    dimension: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights_sha256": self.weights_sha256,
            "dimension": self.dimension,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelIdentity:
        return cls(str(d["name"]), str(d["weights_sha256"]), int(d["dimension"]))


def playbook_schema(dimension: int) -> pa.Schema:
    """The Parquet schema of ``metadata.parquet``: one row per playbook version."""
    script = pa.struct(
        [
            ("format", pa.string()),
            ("path", pa.string()),
            ("uri", pa.string()),
            ("sha256", pa.string()),
            ("size_bytes", pa.int64()),
        ]
    )
    ts = pa.timestamp("s", tz="UTC")
    strings = pa.list_(pa.string())
    return pa.schema(
        [
            ("collection", pa.string()),
            ("tenant_id", pa.string()),
            ("playbook_id", pa.string()),
            ("version", pa.string()),
            ("version_major", pa.int32()),
            ("version_minor", pa.int32()),
            ("version_patch", pa.int32()),
            ("version_prerelease", pa.string()),
            ("name", pa.string()),
            ("description", pa.string()),
            ("purpose", pa.string()),
            ("use_cases", strings),
            ("keywords", strings),
            ("cloud_provider", strings),
            ("resource_types", strings),
            ("prerequisites", strings),
            ("author", pa.string()),
            ("storage_strategy", pa.string()),
            ("status", pa.string()),
            ("tags", pa.map_(pa.string(), pa.string())),
            ("estimated_impact_json", pa.string()),
            ("created_at", ts),
            ("updated_at", ts),
            ("last_executed_at", ts),
            ("execution_count", pa.int64()),
            ("success_count", pa.int64()),
            ("success_rate", pa.float64()),
            ("based_on_escher", pa.bool_()),
            ("escher_playbook_id", pa.string()),
            ("escher_version", pa.string()),
            ("parameters_json", pa.string()),
            ("explain_plan_json", pa.string()),
            ("parameter_names", strings),
            ("step_names", strings),
            ("scripts", pa.list_(script)),
            ("source_uri", pa.string()),
            ("source_fingerprint", pa.string()),
            ("embed_text", pa.string()),
            ("content_hash", pa.string()),
            ("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


@dataclass(frozen=True)
class FileSum:
    sha256: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "bytes": self.bytes}


@dataclass(frozen=True)
class SnapshotRef:
    """A manifest's entry for one collection."""

    collection: str
    snapshot_id: str
    rows: int
    files: Mapping[str, FileSum]
    source_fingerprint: str
    rejected: int = 0

    @property
    def path(self) -> str:
        return f"{SNAPSHOTS}/{self.collection}/{self.snapshot_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "path": self.path,
            "rows": self.rows,
            "rejected": self.rejected,
            "source_fingerprint": self.source_fingerprint,
            "files": {k: v.to_dict() for k, v in sorted(self.files.items())},
        }

    @classmethod
    def from_dict(cls, collection: str, d: Mapping[str, Any]) -> SnapshotRef:
        return cls(
            collection=collection,
            snapshot_id=str(d["snapshot_id"]),
            rows=int(d["rows"]),
            files={k: FileSum(str(v["sha256"]), int(v["bytes"])) for k, v in d["files"].items()},
            source_fingerprint=str(d.get("source_fingerprint", "")),
            rejected=int(d.get("rejected", 0)),
        )


def query_model_key(content_key: str, now: datetime | None = None) -> str:
    """The folder name of a query model uploaded now: ``q-<time>-<content_key>``."""
    key = f"q-{_stamp(now or utc_now())}-{content_key}"
    if not _ID_RE.match(key):
        raise StoreError(f"invalid query model key {key!r}")
    return key


def content_key_of(key: str) -> str:
    """``q-<time>-<content>`` -> ``<content>`` (what two uploads of one export share)."""
    return key.split("-", 2)[2] if key.startswith("q-") and key.count("-") >= 2 else key


@dataclass(frozen=True)
class QueryModelRef:
    """A manifest's entry for its ONNX query model: the folder ``models/<key>/``.

    ``files`` holds every file of the folder (``query_model.json`` included) with its
    checksum; ``source`` is the model it was exported from (equal to the manifest's
    ``model``); ``onnx_file`` names the ONNX graph among ``files``.
    """

    key: str
    scheme: str
    onnx_file: str
    source: ModelIdentity
    files: Mapping[str, FileSum]

    @property
    def path(self) -> str:
        return f"{MODELS}/{self.key}"

    @property
    def onnx_sha256(self) -> str:
        return self.files[self.onnx_file].sha256

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "path": self.path,
            "scheme": self.scheme,
            "onnx_file": self.onnx_file,
            "onnx_sha256": self.onnx_sha256,
            "source": self.source.to_dict(),
            "files": {k: v.to_dict() for k, v in sorted(self.files.items())},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QueryModelRef:
        ref = cls(
            key=str(d["key"]),
            scheme=str(d["scheme"]),
            onnx_file=str(d["onnx_file"]),
            source=ModelIdentity.from_dict(d["source"]),
            files={k: FileSum(str(v["sha256"]), int(v["bytes"])) for k, v in d["files"].items()},
        )
        if not _ID_RE.match(ref.key) or not all(_ID_RE.match(n) for n in ref.files):
            raise ValueError(f"query_model: invalid key or file name in {ref.key!r}")
        if ref.onnx_file not in ref.files or QUERY_MODEL_INFO not in ref.files:
            raise ValueError(f"query_model.files must list {ref.onnx_file} and {QUERY_MODEL_INFO}")
        return ref


@dataclass(frozen=True)
class Manifest:
    """Immutable: which snapshot each collection uses, and how it was built."""

    manifest_id: str
    parent: str | None
    created_at: str
    created_by: Mapping[str, Any]
    model: ModelIdentity
    collections: Mapping[str, SnapshotRef]
    report: Mapping[str, Any] = field(default_factory=dict)
    query_model: QueryModelRef | None = None

    def body(self) -> dict[str, Any]:
        body = {
            "format": FORMAT_VERSION,
            "parent": self.parent,
            "created_at": self.created_at,
            "created_by": dict(self.created_by),
            "model": self.model.to_dict(),
            "collections": {k: v.to_dict() for k, v in sorted(self.collections.items())},
            "report": dict(self.report),
        }
        # Only when present: manifests written before query models keep their ids.
        if self.query_model is not None:
            body["query_model"] = self.query_model.to_dict()
        return body

    def to_json(self) -> bytes:
        doc = {"manifest_id": self.manifest_id, **self.body()}
        return (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode()

    @classmethod
    def create(
        cls,
        *,
        parent: str | None,
        created_by: Mapping[str, Any],
        model: ModelIdentity,
        collections: Mapping[str, SnapshotRef],
        report: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        query_model: QueryModelRef | None = None,
    ) -> Manifest:
        ts = now or utc_now()
        draft = cls(
            "", parent, iso(ts), created_by, model, dict(collections), report or {}, query_model
        )
        digest = sha256_hex(json.dumps(draft.body(), sort_keys=True).encode())[:12]
        return cls(
            f"m-{_stamp(ts)}-{digest}",
            parent,
            draft.created_at,
            created_by,
            model,
            dict(collections),
            report or {},
            query_model,
        )

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        try:
            doc = json.loads(data)
            m = cls(
                manifest_id=str(doc["manifest_id"]),
                parent=doc.get("parent"),
                created_at=str(doc["created_at"]),
                created_by=doc.get("created_by", {}),
                model=ModelIdentity.from_dict(doc["model"]),
                collections={
                    name: SnapshotRef.from_dict(name, ref)
                    for name, ref in doc["collections"].items()
                },
                report=doc.get("report", {}),
                query_model=(
                    QueryModelRef.from_dict(doc["query_model"])
                    if doc.get("query_model") is not None
                    else None
                ),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"{where}: not a valid manifest ({exc!r})", file=where) from None
        digest = sha256_hex(json.dumps(m.body(), sort_keys=True).encode())[:12]
        if not m.manifest_id.endswith(f"-{digest}"):
            raise ChecksumMismatch(
                f"{where}: content does not match its id {m.manifest_id}", file=where
            )
        return m


@dataclass(frozen=True)
class CurrentPointer:
    """What CURRENT said when read, and its tag for a later compare-and-swap."""

    manifest_id: str | None
    tag: str | None


@dataclass(frozen=True)
class SnapshotData:
    """A snapshot's files, read and verified."""

    ref: SnapshotRef
    table: pa.Table
    index_bytes: bytes
    description: Mapping[str, Any]
    features_bytes: bytes | None = None  # FEATURES_FILE, when the snapshot has one


class Store:
    """Reads and writes the layout above on any :class:`~indexer.blobs.Blobs`."""

    def __init__(self, blobs: Blobs) -> None:
        self.blobs = blobs

    @property
    def uri(self) -> str:
        return self.blobs.uri

    # ----- snapshots -------------------------------------------------------------------
    def write_snapshot(
        self,
        collection: str,
        table: pa.Table,
        index_bytes: bytes,
        description: Mapping[str, Any],
        source_fingerprint: str,
        rejected: int = 0,
        now: datetime | None = None,
        features_bytes: bytes | None = None,
    ) -> SnapshotRef:
        """Write the files of a new snapshot (``features.bin`` when ``features_bytes`` is
        given); ``snapshot.json`` goes last."""
        if not _ID_RE.match(collection):
            raise StoreError(f"invalid collection name {collection!r}")
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        contents = {METADATA_FILE: buf.getvalue(), INDEX_FILE: index_bytes}
        if features_bytes is not None:
            contents[FEATURES_FILE] = features_bytes
        files = {k: FileSum(sha256_hex(v), len(v)) for k, v in contents.items()}
        ts = now or utc_now()
        base = self._new_snapshot_base(collection, files, ts)
        for name, data in contents.items():
            self.blobs.write(f"{base}/{name}", data)
        return self._describe_snapshot(
            collection, base, files, table.num_rows, description, source_fingerprint, rejected, ts
        )

    def add_features(
        self, ref: SnapshotRef, features_bytes: bytes, now: datetime | None = None
    ) -> SnapshotRef:
        """A new snapshot holding ``ref``'s files plus ``features_bytes`` as
        ``features.bin`` (for stores written before features files). ``ref`` is left as
        it is; on a local store its Parquet and FAISS files are hard-linked, not copied
        (elsewhere they are read and written). Verifies ``ref``'s checksums first."""
        desc = self.read_description(ref)
        old = {name: self._read_verified(ref, name) for name in (METADATA_FILE, INDEX_FILE)}
        files = {k: ref.files[k] for k in old}
        files[FEATURES_FILE] = FileSum(sha256_hex(features_bytes), len(features_bytes))
        ts = now or utc_now()
        base = self._new_snapshot_base(ref.collection, files, ts)
        for name, data in old.items():
            src = self.blobs.local_path(f"{ref.path}/{name}")
            dst = self.blobs.local_path(f"{base}/{name}")
            if src is not None and dst is not None:
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.unlink(missing_ok=True)
                os.link(src, dst)
            else:
                self.blobs.write(f"{base}/{name}", data)
        self.blobs.write(f"{base}/{FEATURES_FILE}", features_bytes)
        own = {"format", "collection", "snapshot_id", "created_at", "rows"}
        own |= {"source_fingerprint", "files"}
        description = {k: v for k, v in desc.items() if k not in own}
        description["features_added_to"] = ref.snapshot_id
        return self._describe_snapshot(
            ref.collection,
            base,
            files,
            ref.rows,
            description,
            ref.source_fingerprint,
            ref.rejected,
            ts,
        )

    def _new_snapshot_base(
        self, collection: str, files: Mapping[str, FileSum], ts: datetime
    ) -> str:
        """``snapshots/<collection>/<id>``: the id embeds the time and the files' sums
        (the features file's only when there is one, so older ids stay as they were)."""
        sums = files[METADATA_FILE].sha256 + files[INDEX_FILE].sha256
        if FEATURES_FILE in files:
            sums += files[FEATURES_FILE].sha256
        snapshot_id = f"s-{_stamp(ts)}-{sha256_hex(sums.encode())[:12]}"
        return f"{SNAPSHOTS}/{collection}/{snapshot_id}"

    def _describe_snapshot(
        self,
        collection: str,
        base: str,
        files: dict[str, FileSum],
        rows: int,
        description: Mapping[str, Any],
        source_fingerprint: str,
        rejected: int,
        ts: datetime,
    ) -> SnapshotRef:
        """Write ``snapshot.json`` (after the files it checksums) and return the ref."""
        snapshot_id = base.rsplit("/", 1)[-1]
        desc = {
            "format": FORMAT_VERSION,
            "collection": collection,
            "snapshot_id": snapshot_id,
            "created_at": iso(ts),
            "rows": rows,
            "source_fingerprint": source_fingerprint,
            "files": {k: v.to_dict() for k, v in files.items()},
            **description,
        }
        desc_bytes = (json.dumps(desc, indent=2, default=str) + "\n").encode()
        self.blobs.write(f"{base}/{DESCRIPTION_FILE}", desc_bytes)
        files = {**files, DESCRIPTION_FILE: FileSum(sha256_hex(desc_bytes), len(desc_bytes))}
        return SnapshotRef(collection, snapshot_id, rows, files, source_fingerprint, rejected)

    def _read_verified(self, ref: SnapshotRef, name: str) -> bytes:
        key = f"{ref.path}/{name}"
        try:
            data = self.blobs.read(key)
        except BlobNotFound:
            raise StoreError(
                f"{self.blobs.uri_for(key)} is missing (named by snapshot {ref.snapshot_id})",
                file=self.blobs.uri_for(key),
            ) from None
        expected = ref.files.get(name)
        if expected is None:
            raise StoreError(f"manifest entry for {ref.collection} has no checksum for {name}")
        actual = sha256_hex(data)
        if actual != expected.sha256 or len(data) != expected.bytes:
            raise ChecksumMismatch(
                f"{self.blobs.uri_for(key)}: sha256 {actual[:12]}… ({len(data)} bytes), "
                f"manifest expects {expected.sha256[:12]}… ({expected.bytes} bytes)",
                file=self.blobs.uri_for(key),
            )
        return data

    def load_snapshot(self, ref: SnapshotRef, *, skip_columns: Sequence[str] = ()) -> SnapshotData:
        """Read and verify a snapshot's files; raises :class:`ChecksumMismatch` or StoreError.
        Every byte is verified; ``skip_columns`` are left out of the decoded table (the
        server keeps vectors in the FAISS index only, and decoding them is half the work)."""
        desc_bytes = self._read_verified(ref, DESCRIPTION_FILE)
        parquet_bytes = self._read_verified(ref, METADATA_FILE)
        index_bytes = self._read_verified(ref, INDEX_FILE)
        features_bytes = (
            self._read_verified(ref, FEATURES_FILE) if FEATURES_FILE in ref.files else None
        )
        parquet = pq.ParquetFile(pa.BufferReader(parquet_bytes))
        columns = [c for c in parquet.schema_arrow.names if c not in skip_columns]
        table = parquet.read(columns=columns, use_threads=False)
        if table.num_rows != ref.rows:
            raise StoreError(
                f"{ref.path}: {table.num_rows} rows, manifest says {ref.rows}", file=ref.path
            )
        return SnapshotData(ref, table, index_bytes, json.loads(desc_bytes), features_bytes)

    def read_description(self, ref: SnapshotRef) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._read_verified(ref, DESCRIPTION_FILE))
        return result

    def metadata_uri(self, ref: SnapshotRef) -> str:
        return self.blobs.uri_for(f"{ref.path}/{METADATA_FILE}")

    def snapshot_ids(self, collection: str) -> list[str]:
        return self.blobs.list_dirs(f"{SNAPSHOTS}/{collection}")

    def collections_on_disk(self) -> list[str]:
        return self.blobs.list_dirs(SNAPSHOTS)

    def delete_snapshot(self, collection: str, snapshot_id: str) -> int:
        """Delete every file of one snapshot folder; returns how many were removed."""
        n = 0
        for info in list(self.blobs.list(f"{SNAPSHOTS}/{collection}/{snapshot_id}")):
            self.blobs.delete(info.key)
            n += 1
        return n

    # ----- manifests -------------------------------------------------------------------
    def write_manifest(self, manifest: Manifest) -> None:
        """Write once; refuses to replace an existing manifest with other content."""
        key = f"{MANIFESTS}/{manifest.manifest_id}.json"
        data = manifest.to_json()
        if self.blobs.tag(key) is not None:
            if self.blobs.read(key) != data:
                raise StoreError(f"{self.blobs.uri_for(key)} exists with other content")
            return
        self.blobs.write_if(key, data, None)

    def read_manifest(self, manifest_id: str) -> Manifest:
        if not _ID_RE.match(manifest_id):
            raise NotFound(
                f"no manifest {manifest_id!r}: not a valid manifest id", manifest=manifest_id
            )
        key = f"{MANIFESTS}/{manifest_id}.json"
        try:
            data = self.blobs.read(key)
        except BlobNotFound:
            raise NotFound(
                f"no manifest {manifest_id} in {self.uri}", manifest=manifest_id
            ) from None
        m = Manifest.from_json(data, self.blobs.uri_for(key))
        if m.manifest_id != manifest_id:
            raise ChecksumMismatch(f"{self.blobs.uri_for(key)} holds manifest {m.manifest_id}")
        return m

    def manifest_ids(self) -> list[str]:
        """Every manifest in the store, oldest first (ids sort by creation time)."""
        out = []
        for info in self.blobs.list(MANIFESTS):
            if info.key.count("/") != 1:  # direct children only (not pins/ etc.)
                continue
            name = info.key.rsplit("/", 1)[-1]
            if name.endswith(".json") and name.startswith("m-"):
                out.append(name[: -len(".json")])
        return sorted(out)

    def iter_manifests(self) -> Iterator[Manifest]:
        for mid in self.manifest_ids():
            yield self.read_manifest(mid)

    # ----- the pointer -----------------------------------------------------------------
    def current(self) -> CurrentPointer:
        """Read CURRENT with its tag (``manifest_id`` is None in an empty store)."""
        tag = self.blobs.tag(CURRENT_KEY)
        if tag is None:
            return CurrentPointer(None, None)
        try:
            data = self.blobs.read(CURRENT_KEY)
        except BlobNotFound:
            return CurrentPointer(None, None)
        # Re-read the tag: the pointer may have moved between the two calls.
        tag2 = self.blobs.tag(CURRENT_KEY)
        if tag2 != tag:
            return self.current()
        manifest_id = data.decode("utf-8", "replace").strip()
        if not _ID_RE.match(manifest_id):
            raise StoreError(
                f"{self.blobs.uri_for(CURRENT_KEY)} holds {manifest_id!r}, not a manifest id"
            )
        return CurrentPointer(manifest_id, tag)

    def current_tag(self) -> str | None:
        """Cheap change detection for pollers (stat / HEAD)."""
        return self.blobs.tag(CURRENT_KEY)

    def swap_current(self, manifest_id: str, expected: CurrentPointer) -> CurrentPointer:
        """Point CURRENT at ``manifest_id`` if it still is ``expected``.

        Raises :class:`~indexer.errors.CommitConflict` when another writer moved it first.
        The manifest must already be written (it is read back and verified first).
        """
        self.read_manifest(manifest_id)
        tag = self.blobs.write_if(CURRENT_KEY, f"{manifest_id}\n".encode(), expected.tag)
        return CurrentPointer(manifest_id, tag)

    # ----- pins and deletion (operator side: indexer.snapshots) --------------------------
    def pin_key(self, manifest_id: str) -> str:
        if not _ID_RE.match(manifest_id):
            raise NotFound(
                f"no manifest {manifest_id!r}: not a valid manifest id", manifest=manifest_id
            )
        return f"{PINS}/{manifest_id}"

    def write_pin(self, manifest_id: str, note: Mapping[str, Any]) -> bool:
        """Mark a manifest as pinned (a marker object; no manifest is modified).

        Returns False when it was already pinned (the existing marker is left as it is).
        Raises :class:`NotFound` when the manifest does not exist.
        """
        self.read_manifest(manifest_id)
        key = self.pin_key(manifest_id)
        if self.blobs.tag(key) is not None:
            return False
        body = {"manifest_id": manifest_id, **note}
        self.blobs.write(key, (json.dumps(body, indent=2, default=str) + "\n").encode())
        return True

    def read_pin(self, manifest_id: str) -> dict[str, Any] | None:
        """The pin marker's body, or None when the manifest is not pinned."""
        try:
            data = self.blobs.read(self.pin_key(manifest_id))
        except BlobNotFound:
            return None
        try:
            body = json.loads(data)
        except ValueError:
            body = {}
        return body if isinstance(body, dict) else {}

    def delete_pin(self, manifest_id: str) -> bool:
        """Remove a pin marker; returns False when there was none."""
        key = self.pin_key(manifest_id)
        if self.blobs.tag(key) is None:
            return False
        self.blobs.delete(key)
        return True

    def pinned_ids(self) -> list[str]:
        """Ids of every pinned manifest (whether or not the manifest still exists)."""
        out = []
        for info in self.blobs.list(PINS):
            name = info.key.rsplit("/", 1)[-1]
            if info.key == f"{PINS}/{name}" and _ID_RE.match(name):
                out.append(name)
        return sorted(out)

    def delete_manifest(self, manifest_id: str) -> None:
        """Delete one manifest file. Refuses the manifest CURRENT names (StoreError)."""
        if not _ID_RE.match(manifest_id):
            raise NotFound(
                f"no manifest {manifest_id!r}: not a valid manifest id", manifest=manifest_id
            )
        if self.current().manifest_id == manifest_id:
            raise StoreError(
                f"refusing to delete {manifest_id}: CURRENT names it", manifest=manifest_id
            )
        self.blobs.delete(f"{MANIFESTS}/{manifest_id}.json")

    def remove_snapshot(self, collection: str, snapshot_id: str) -> int:
        """:meth:`delete_snapshot`, then (local folders) the folder itself and any temp files
        a crashed write left behind; returns how many files were removed."""
        if not _ID_RE.match(collection) or not _ID_RE.match(snapshot_id):
            raise StoreError(f"invalid snapshot {collection}/{snapshot_id}")
        n = self.delete_snapshot(collection, snapshot_id)
        folder = self.blobs.local_path(f"{SNAPSHOTS}/{collection}/{snapshot_id}")
        if folder is not None and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        return n

    # ----- query models (written by indexer.query_model, read by serve.query_models) ------
    def query_model_keys(self) -> list[str]:
        """The folders under ``models/`` (complete or not)."""
        return self.blobs.list_dirs(MODELS)

    def read_query_model(self, key: str) -> dict[str, bytes]:
        """Every file of ``models/<key>/`` by name, unverified ({} when there is none)."""
        if not _ID_RE.match(key):
            raise StoreError(f"invalid query model key {key!r}")
        out = {}
        for info in self.blobs.list(f"{MODELS}/{key}"):
            name = info.key.rsplit("/", 1)[-1]
            if info.key == f"{MODELS}/{key}/{name}":
                out[name] = self.blobs.read(info.key)
        return out

    def write_query_model(self, key: str, files: Mapping[str, bytes]) -> dict[str, FileSum]:
        """Write a query model folder, ``query_model.json`` last; returns each file's sum.

        Never overwrites: an object already there with the same bytes is kept (a rerun
        after a crash), one with other bytes is refused (StoreError naming it).
        """
        if not _ID_RE.match(key) or QUERY_MODEL_INFO not in files:
            raise StoreError(f"invalid query model {key!r}: needs a key and {QUERY_MODEL_INFO}")
        sums: dict[str, FileSum] = {}
        for name in sorted(files, key=lambda n: n == QUERY_MODEL_INFO):  # the info file last
            if not _ID_RE.match(name):
                raise StoreError(f"invalid file name {name!r} in query model {key}")
            data = files[name]
            path = f"{MODELS}/{key}/{name}"
            if self.blobs.tag(path) is not None:
                if self.blobs.read(path) != data:
                    raise StoreError(
                        f"{self.blobs.uri_for(path)} exists with other content; query "
                        "models are never overwritten",
                        file=self.blobs.uri_for(path),
                    )
            else:
                self.blobs.write(path, data)
            sums[name] = FileSum(sha256_hex(data), len(data))
        return sums

    def has_query_model(self, ref: QueryModelRef) -> bool:
        """Every file ``ref`` names is present with the right size (a cheap listing)."""
        sizes = {i.key.rsplit("/", 1)[-1]: i.size for i in self.blobs.list(ref.path)}
        return all(sizes.get(n) == s.bytes for n, s in ref.files.items())

    def fetch_query_model(self, ref: QueryModelRef, cache_dir: Path) -> Path:
        """A local folder holding ``ref``'s files, each verified against the manifest.

        A local store is read in place; an S3 one is downloaded to ``cache_dir/<key>/``
        (files already there and intact are not fetched again). Raises StoreError for a
        missing file, :class:`ChecksumMismatch` for an altered one, both naming the file.
        """
        in_place = self.blobs.local_path(ref.path)
        if in_place is not None:
            for name, expected in ref.files.items():
                path = in_place / name
                if not path.is_file():
                    raise StoreError(
                        f"{path} is missing (named by query model {ref.key})", file=str(path)
                    )
                _check_sum(str(path), file_sum(path), expected)
            return in_place
        dest = cache_dir / ref.key
        dest.mkdir(parents=True, exist_ok=True)
        for name, expected in ref.files.items():
            path = dest / name
            if path.is_file() and file_sum(path) == expected:
                continue
            key = f"{ref.path}/{name}"
            try:
                data = self.blobs.read(key)
            except BlobNotFound:
                raise StoreError(
                    f"{self.blobs.uri_for(key)} is missing (named by query model {ref.key})",
                    file=self.blobs.uri_for(key),
                ) from None
            _check_sum(self.blobs.uri_for(key), FileSum(sha256_hex(data), len(data)), expected)
            tmp = dest / f".{name}.part"
            tmp.write_bytes(data)
            tmp.replace(path)
        return dest

    def remove_query_model(self, key: str) -> int:
        """Delete every file of ``models/<key>/`` (and, locally, the folder)."""
        if not _ID_RE.match(key):
            raise StoreError(f"invalid query model key {key!r}")
        n = 0
        for info in list(self.blobs.list(f"{MODELS}/{key}")):
            self.blobs.delete(info.key)
            n += 1
        folder = self.blobs.local_path(f"{MODELS}/{key}")
        if folder is not None and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        return n


def hash_file(h: Any, path: Path) -> int:
    """Feed the file at ``path`` to the hash ``h`` in 1 MiB chunks; returns its size."""
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size


def file_sum(path: Path) -> FileSum:
    """sha256 and size of a local file, read in chunks."""
    h = hashlib.sha256()
    size = hash_file(h, path)
    return FileSum(h.hexdigest(), size)


def _check_sum(where: str, actual: FileSum, expected: FileSum) -> None:
    if actual != expected:
        raise ChecksumMismatch(
            f"{where}: sha256 {actual.sha256[:12]}… ({actual.bytes} bytes), "
            f"manifest expects {expected.sha256[:12]}… ({expected.bytes} bytes)",
            file=where,
        )

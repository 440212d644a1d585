"""Build a small real store for serve tests without the indexer's crawl/validate steps.

Rows follow ``indexer.store.playbook_schema(384)`` exactly; vectors come from the real
embedder over each playbook's ``"<name>. <description>"``; snapshots, manifest and CURRENT
are written through :class:`indexer.store.Store`, so the server reads what it would read
in production. Use it for cases the sample sources cannot express (hidden statuses,
chosen run counts, two tenants with the same playbook id).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa

from indexer.blobs import open_blobs
from indexer.embed import Embedder
from indexer.model import LIBRARY_COLLECTION, collection_tenant, parse_semver, tenant_collection
from indexer.store import Manifest, SnapshotRef, Store, playbook_schema

DIMENSION = 384
UPDATED = 1728391162  # 2024-10-08
CREATED = 1726329600


@dataclass(frozen=True)
class Playbook:
    playbook_id: str
    version: str
    name: str
    description: str
    status: str = "active"
    author: str = "escher_library"
    cloud_provider: tuple[str, ...] = ("aws",)
    resource_types: tuple[str, ...] = ("ec2::instance",)
    tags: Mapping[str, str] = field(default_factory=dict)
    execution_count: int = 0
    success_count: int = 0
    updated_at: int | None = UPDATED
    scripts: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"shell": ("shell/main.sh",)}
    )

    @property
    def text(self) -> str:
        return f"{self.name}. {self.description}"


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def row(p: Playbook, collection: str, source_root: str) -> dict[str, Any]:
    """Every column of ``playbook_schema`` but ``vector``."""
    major, minor, patch, pre = parse_semver(p.version) or (0, 0, 0, "")
    base = f"{source_root}/{p.playbook_id}/v{p.version}"
    scripts = [
        {
            "format": fmt,
            "path": path,
            "uri": f"{base}/{path}",
            "sha256": hashlib.sha256(f"{p.playbook_id}/{p.version}/{path}".encode()).hexdigest(),
            "size_bytes": 100 + i,
        }
        for fmt, paths in sorted(p.scripts.items())
        for i, path in enumerate(paths)
    ]
    return {
        "collection": collection,
        "tenant_id": collection_tenant(collection),
        "playbook_id": p.playbook_id,
        "version": p.version,
        "version_major": major,
        "version_minor": minor,
        "version_patch": patch,
        "version_prerelease": pre,
        "name": p.name,
        "description": p.description,
        "purpose": f"Purpose of {p.name}",
        "use_cases": [f"Use {p.name}"],
        "keywords": [w.lower() for w in p.name.split()[:4]],
        "cloud_provider": list(p.cloud_provider),
        "resource_types": list(p.resource_types),
        "prerequisites": ["Valid credentials"],
        "author": p.author,
        "storage_strategy": "using_default"
        if collection == LIBRARY_COLLECTION
        else "uploaded_trusted",
        "status": p.status,
        "tags": sorted(p.tags.items()),
        "estimated_impact_json": json.dumps({"downtime_minutes": 10}),
        "created_at": _ts(CREATED),
        "updated_at": _ts(p.updated_at),
        "last_executed_at": _ts(p.updated_at) if p.execution_count else None,
        "execution_count": p.execution_count,
        "success_count": p.success_count,
        "success_rate": None,
        "based_on_escher": False,
        "escher_playbook_id": None,
        "escher_version": None,
        "parameters_json": json.dumps(
            {"parameters": [{"name": "instance_id", "type": "string", "required": True}]}
        ),
        "explain_plan_json": json.dumps(
            {"what_it_does": p.description, "what_happens": [{"step": 1, "action": p.name}]}
        ),
        "parameter_names": ["instance_id"],
        "step_names": [p.name],
        "scripts": scripts,
        "source_uri": base,
        "source_fingerprint": f"fp-{p.playbook_id}-{p.version}",
        "embed_text": p.text,
        "content_hash": f"hash-{p.playbook_id}-{p.version}",
    }


def snapshot_table(rows: Sequence[dict[str, Any]], vectors: np.ndarray) -> pa.Table:
    schema = playbook_schema(DIMENSION)
    columns = {f.name: [r[f.name] for r in rows] for f in schema if f.name != "vector"}
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    arrays = [
        pa.FixedSizeListArray.from_arrays(flat, DIMENSION)
        if f.name == "vector"
        else pa.array(columns[f.name], type=f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def index_bytes(vectors: np.ndarray) -> bytes:
    index = faiss.IndexFlatIP(DIMENSION)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return bytes(faiss.serialize_index(index).tobytes())


def write_collection(
    store: Store, collection: str, playbooks: Sequence[Playbook], embedder: Embedder
) -> SnapshotRef:
    tenant = collection_tenant(collection)
    root = f"/sources/tenants/{tenant}/playbooks" if tenant else "/sources/playbooks"
    rows = [row(p, collection, root) for p in playbooks]
    vectors = embedder.embed([p.text for p in playbooks])
    return store.write_snapshot(
        collection,
        snapshot_table(rows, vectors),
        index_bytes(vectors),
        {"model": embedder.identity.to_dict(), "built_by": "tests/serve/_tiny_store"},
        source_fingerprint=f"tiny-{collection}-{len(rows)}",
    )


def commit(
    store: Store,
    embedder: Embedder,
    library: Sequence[Playbook],
    tenants: Mapping[str, Sequence[Playbook]],
) -> str:
    """Write one snapshot per collection, a manifest, and move CURRENT to it."""
    refs = {LIBRARY_COLLECTION: write_collection(store, LIBRARY_COLLECTION, library, embedder)}
    for tenant, playbooks in tenants.items():
        name = tenant_collection(tenant)
        refs[name] = write_collection(store, name, playbooks, embedder)
    pointer = store.current()
    manifest = Manifest.create(
        parent=pointer.manifest_id,
        created_by={"tool": "tiny_store"},
        model=embedder.identity,
        collections=refs,
    )
    store.write_manifest(manifest)
    store.swap_current(manifest.manifest_id, pointer)
    return manifest.manifest_id


def open_store(root: Path) -> Store:
    return Store(open_blobs(str(root)))


# ----- the standard corpus ------------------------------------------------------------

RDS_STOP_OLD_TEXT = "Stop RDS instance. Stop an RDS database instance."
LIBRARY = (
    Playbook(
        "escher-aws-rds-stop",
        "1.2.0",
        "Stop RDS instance safely",
        "Safely stop an Amazon RDS database instance after taking a snapshot, with "
        "pre-flight checks for active connections.",
        resource_types=("rds::instance",),
        tags={"category": "cost-optimization", "risk_level": "medium"},
        execution_count=1547,
        success_count=1516,
        scripts={
            "shell": ("shell/main.sh",),
            "python": ("python/requirements.txt", "python/stop_rds.py"),
        },
    ),
    Playbook(
        "escher-aws-rds-stop",
        "1.0.0",
        "Stop RDS instance",
        "Stop an RDS database instance.",
        status="deprecated",
        resource_types=("rds::instance",),
        tags={"category": "cost-optimization"},
        execution_count=300,
        success_count=290,
        updated_at=UPDATED - 200 * 86400,
    ),
    Playbook(
        "escher-aws-ec2-rightsize",
        "1.0.0",
        "Rightsize EC2 instances",
        "Find oversized EC2 instances from CloudWatch CPU metrics and change them to a "
        "smaller instance type.",
        tags={"category": "cost-optimization", "requires_approval": "true"},
        execution_count=80,
        success_count=76,
    ),
    Playbook(
        "escher-azure-vm-deallocate",
        "1.0.0",
        "Deallocate idle Azure VMs",
        "Deallocate idle Azure virtual machines overnight to stop compute billing.",
        cloud_provider=("azure",),
        resource_types=("compute::virtual-machine",),
        tags={"category": "cost-optimization"},
        execution_count=40,
        success_count=39,
    ),
    Playbook(
        "escher-gcp-bucket-lifecycle",
        "2.1.0",
        "GCS bucket lifecycle rules",
        "Apply lifecycle rules to Google Cloud Storage buckets to move old objects to "
        "coldline storage.",
        status="needs_update",
        cloud_provider=("gcp",),
        resource_types=("storage::bucket",),
        execution_count=12,
        success_count=12,
    ),
    Playbook(
        "escher-aws-s3-encrypt",
        "0.1.0",
        "Enable S3 default encryption",
        "Enable default server-side encryption on S3 buckets that have none.",
        status="pending_review",
        author="ai_generated",
        resource_types=("s3::bucket",),
    ),
    # Never searchable: each has a text no other playbook resembles.
    Playbook(
        "hidden-draft",
        "1.0.0",
        "Polish the brass telescopes",
        "Polish the brass telescopes in the lighthouse observatory.",
        status="draft",
    ),
    Playbook(
        "hidden-ready",
        "1.0.0",
        "Feed the office goldfish",
        "Feed the goldfish in the office aquarium every morning.",
        status="ready",
    ),
    Playbook(
        "hidden-archived",
        "1.0.0",
        "Migrate punch cards",
        "Migrate legacy mainframe punch cards to magnetic tape.",
        status="archived",
    ),
    Playbook(
        "hidden-rejected",
        "1.0.0",
        "Knit woollen scarves",
        "Knit woollen scarves for the alpaca farm volunteers.",
        status="rejected",
    ),
    Playbook(
        "escher-aws-rds-stop",
        "2.0.0",
        "Stop RDS instance broken rewrite",
        "Stop RDS instance with the experimental rewrite.",
        status="broken",
        resource_types=("rds::instance",),
    ),
)
HIDDEN_TEXTS = {
    "draft": "Polish the brass telescopes in the lighthouse observatory",
    "ready": "Feed the goldfish in the office aquarium every morning",
    "archived": "Migrate legacy mainframe punch cards to magnetic tape",
    "rejected": "Knit woollen scarves for the alpaca farm volunteers",
    "broken": "Stop RDS instance with the experimental rewrite",
}
ALPHA_TEXT = "Stop the orchid cluster Aurora databases every Friday night"
BETA_TEXT = "Hibernate the walrus fleet of EC2 spot instances every night"
TENANTS = {
    "alpha": (
        Playbook(
            "team-weekend-shutdown",
            "1.0.0",
            "Orchid weekend shutdown",
            f"{ALPHA_TEXT} and start them on Monday morning.",
            author="user_custom",
            resource_types=("rds::cluster",),
            execution_count=12,
            success_count=12,
            tags={"team": "alpha"},
        ),
        Playbook(
            "alpha-hidden-backup",
            "1.0.0",
            "Carve pumpkin lanterns",
            "Carve pumpkin lanterns for the harvest festival parade.",
            status="broken",
            author="user_custom",
        ),
    ),
    "beta": (
        Playbook(
            "team-weekend-shutdown",
            "1.0.0",
            "Walrus nightly hibernate",
            f"{BETA_TEXT} to save money.",
            author="user_custom",
            execution_count=5,
            success_count=4,
            tags={"team": "beta"},
        ),
        Playbook(
            "beta-penguin-secrets",
            "2.0.0",
            "Rotate penguin secrets",
            "Rotate the penguin API secrets stored in AWS Secrets Manager.",
            author="user_custom",
            resource_types=("secretsmanager::secret",),
        ),
    ),
}
KEYS = {
    "alpha": "alpha-key-0123456789abcdef",
    "beta": "beta-key-0123456789abcdef",
    "gamma": "gamma-key-0123456789abcdef",  # a tenant with no playbooks yet
}


@dataclass(frozen=True)
class TinyStore:
    root: Path
    first_manifest: str  # the library only
    manifest_id: str  # CURRENT: library + alpha + beta


def build_standard(root: Path, embedder: Embedder) -> TinyStore:
    store = open_store(root)
    first = commit(store, embedder, LIBRARY[:3], {})
    current = commit(store, embedder, LIBRARY, TENANTS)
    return TinyStore(root, first, current)

"""The index run end to end on a local store: counts, carry-over, vector reuse, scope."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.blobs import LocalBlobs
from indexer.build import run_index
from indexer.embed import Embedder
from indexer.model import LIBRARY_COLLECTION, tenant_collection
from indexer.store import Store
from tests._playbooks import write_playbook


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    lib, ten = tmp_path / "lib", tmp_path / "ten"
    write_playbook(lib, "aws-rds-stop", description="Stop an RDS database instance safely")
    write_playbook(lib, "aws-rds-stop", "1.1.0", description="Stop an RDS instance, snapshot first")
    write_playbook(
        lib,
        "gcp-gce-start",
        cloud_provider=["gcp"],
        resource_types=["compute::instance"],
        description="Start a GCE VM",
    )
    write_playbook(ten, "weekend-shutdown", tenant="acme", description="Weekend RDS shutdown")
    write_playbook(ten, "ledger-restart", tenant="globex", description="Restart ledger batch")
    bad = write_playbook(ten, "broken-json", tenant="globex")
    (bad / "metadata.json").write_text("{not json")
    return lib, ten


def _run(store: Store, lib: Path, ten: Path, embedder: Embedder, **kw: object):  # type: ignore[no-untyped-def]
    return run_index(
        store=store, library=[LocalBlobs(lib)], tenants=[LocalBlobs(ten)], embedder=embedder, **kw
    )  # type: ignore[arg-type]


def test_full_run_counts_and_commits(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder
) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    report = _run(store, *sources, embedder)
    assert report.committed and report.manifest_id
    assert store.current().manifest_id == report.manifest_id
    d = report.to_dict()
    assert (d["seen"], d["indexed"], d["rejected"]) == (6, 5, 1)
    assert d["collections"]["tenant_globex_playbooks"]["rejected"][0]["field"].startswith(
        "metadata.json"
    )
    manifest = store.read_manifest(report.manifest_id)
    assert set(manifest.collections) == {
        LIBRARY_COLLECTION,
        tenant_collection("acme"),
        tenant_collection("globex"),
    }
    assert manifest.model == embedder.identity
    data = store.load_snapshot(manifest.collections[LIBRARY_COLLECTION])
    assert data.table.column("playbook_id").to_pylist() == [
        "aws-rds-stop",
        "aws-rds-stop",
        "gcp-gce-start",
    ]
    vecs = np.stack(data.table.column("vector").to_numpy(zero_copy_only=False))
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    # The validation report lives in the snapshot's self-description.
    desc = store.read_description(manifest.collections[tenant_collection("globex")])
    assert desc["validation"]["rejected"][0]["folder"].endswith("broken-json/v1.0.0/metadata.json")


def test_second_run_with_nothing_changed_keeps_current(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder
) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    first = _run(store, *sources, embedder)
    second = _run(store, *sources, embedder)
    assert second.unchanged and second.manifest_id == first.manifest_id
    assert {c.action for c in second.collections.values()} == {"carried"}
    assert store.manifest_ids() == [first.manifest_id]


def test_status_change_reuses_vector_and_rebuilds_only_that_collection(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder
) -> None:
    lib, ten = sources
    store = Store(LocalBlobs(tmp_path / "store"))
    first = _run(store, lib, ten, embedder)
    meta = ten / "tenants/acme/playbooks/weekend-shutdown/v1.0.0/metadata.json"
    doc = json.loads(meta.read_text())
    doc["status"] = "deprecated"
    meta.write_text(json.dumps(doc))
    second = _run(store, lib, ten, embedder)
    acme = second.collections[tenant_collection("acme")]
    assert (acme.action, acme.reused, acme.embedded) == ("built", 1, 0)
    assert second.collections[LIBRARY_COLLECTION].action == "carried"
    old = store.read_manifest(first.manifest_id).collections
    new = store.read_manifest(second.manifest_id).collections
    assert new[LIBRARY_COLLECTION] == old[LIBRARY_COLLECTION]
    assert new[tenant_collection("acme")] != old[tenant_collection("acme")]
    table = store.load_snapshot(new[tenant_collection("acme")]).table
    assert table.column("status").to_pylist() == ["deprecated"]


def test_on_publish_run_of_one_tenant_keeps_every_other_collection(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder
) -> None:
    lib, ten = sources
    store = Store(LocalBlobs(tmp_path / "store"))
    first = _run(store, lib, ten, embedder)
    write_playbook(ten, "new-one", tenant="acme", description="Resize an EC2 fleet")
    report = _run(store, lib, ten, embedder, include_library=False, only_tenants=["acme"])
    assert report.collections[tenant_collection("acme")].action == "built"
    assert report.collections[tenant_collection("acme")].indexed == 2
    old = store.read_manifest(first.manifest_id).collections
    new = store.read_manifest(report.manifest_id).collections
    for name in (LIBRARY_COLLECTION, tenant_collection("globex")):
        assert new[name] == old[name]


def test_a_tenant_whose_prefix_disappears_is_removed_by_a_full_run(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder
) -> None:
    lib, ten = sources
    store = Store(LocalBlobs(tmp_path / "store"))
    _run(store, lib, ten, embedder)
    for f in sorted((ten / "tenants/acme").rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    (ten / "tenants/acme").rmdir()
    report = _run(store, lib, ten, embedder)
    assert report.collections[tenant_collection("acme")].action == "removed"
    assert tenant_collection("acme") not in store.read_manifest(report.manifest_id).collections


def test_a_crash_before_the_pointer_moves_leaves_the_old_manifest_live(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder
) -> None:
    lib, ten = sources
    store = Store(LocalBlobs(tmp_path / "store"))
    first = _run(store, lib, ten, embedder)
    write_playbook(lib, "aws-ec2-stop", description="Stop EC2 instances")

    def crash(step: str) -> None:
        if step == "manifest-written":
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        _run(store, lib, ten, embedder, fault=crash)
    assert store.current().manifest_id == first.manifest_id
    for ref in store.read_manifest(first.manifest_id).collections.values():
        store.load_snapshot(ref)  # still complete and verified
    assert _run(store, lib, ten, embedder).committed


class CountingBlobs(LocalBlobs):
    """A local source that counts file reads, to see what a run really reads."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []

    def read(self, key: str) -> bytes:
        self.reads.append(key)
        return super().read(key)


def test_a_rebuild_reads_only_the_folders_that_changed(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder
) -> None:
    lib, ten = sources
    store = Store(LocalBlobs(tmp_path / "store"))
    _run(store, lib, ten, embedder)
    write_playbook(
        lib,
        "gcp-gce-start",
        cloud_provider=["gcp"],
        resource_types=["compute::instance"],
        description="Start a GCE VM now",
    )
    counting = CountingBlobs(lib)
    report = run_index(
        store=store, library=[counting], tenants=[LocalBlobs(ten)], embedder=embedder
    )
    library = report.collections[LIBRARY_COLLECTION]
    assert (library.action, library.indexed, library.embedded) == ("built", 3, 1)
    assert counting.reads and all(k.startswith("playbooks/gcp-gce-start/") for k in counting.reads)
    table = store.load_snapshot(
        store.read_manifest(report.manifest_id).collections[LIBRARY_COLLECTION]
    ).table
    assert table.column("description").to_pylist()[2] == "Start a GCE VM now"
    assert all(len(s["sha256"]) == 64 for row in table.column("scripts").to_pylist() for s in row)

"""Committing is safe: racing writers lose nothing, a crash at any step leaves no half state.

Both on a local folder and on moto's S3 server. The model is not the subject here: index
runs use :class:`HashEmbedder` (deterministic unit vectors from a hash of the text).
"""

from __future__ import annotations

import builtins
import hashlib
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pytest

from indexer.blobs import BlobInfo, Blobs, LocalBlobs, S3Blobs
from indexer.build import RunReport, run_index
from indexer.errors import CommitConflict
from indexer.model import LIBRARY_COLLECTION, tenant_collection
from indexer.store import Manifest, ModelIdentity, Store
from tests._playbooks import write_playbook
from tests.indexer.test_snapshots import MODEL, commit, row, snapshot

if TYPE_CHECKING:
    from indexer.embed import Embedder

REPO = Path(__file__).resolve().parents[2]
ACME, GLOBEX = tenant_collection("acme"), tenant_collection("globex")


class HashEmbedder:
    """Stands in for :class:`indexer.embed.Embedder`: unit vectors seeded by the text."""

    identity = ModelIdentity("test/hash-embedder", "e" * 64, 16)

    def __init__(self, *_args: Any) -> None:  # accepts Embedder's (model_path, batch_size)
        pass

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.identity.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=self.identity.dimension)
            out[i] = v / np.linalg.norm(v)
        return out


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    blobs: Blobs
    if request.param == "local":
        blobs = LocalBlobs(tmp_path / "store")
    else:
        request.getfixturevalue("make_bucket")("index-store")
        blobs = S3Blobs("index-store", "store", request.getfixturevalue("s3"))
    return Store(blobs)


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    lib, ten = tmp_path / "lib", tmp_path / "ten"
    write_playbook(lib, "rds-stop", description="Stop an RDS instance")
    write_playbook(lib, "vm-start", description="Start a VM")
    write_playbook(ten, "weekend", tenant="acme", description="Weekend shutdown")
    write_playbook(ten, "ledger", tenant="globex", description="Restart the ledger batch")
    return lib, ten


def index(store: Store, sources: tuple[Path, Path], **kw: Any) -> RunReport:
    lib, ten = sources
    return run_index(
        store=store,
        library=[LocalBlobs(lib)],
        tenants=[LocalBlobs(ten)],
        embedder=cast("Embedder", HashEmbedder()),
        **kw,
    )


def assert_serves(store: Store, manifest_id: str | None) -> Manifest:
    """CURRENT names ``manifest_id``, which reads back, and every snapshot it names verifies."""
    assert store.current().manifest_id == manifest_id
    assert manifest_id is not None
    manifest = store.read_manifest(manifest_id)
    for ref in manifest.collections.values():
        assert store.load_snapshot(ref).table.num_rows == ref.rows
    return manifest


# ----- the compare-and-swap, driven directly ----------------------------------------------
def test_two_committers_from_the_same_parent_lose_nothing(store: Store) -> None:
    base = commit(store, {LIBRARY_COLLECTION: snapshot(store, LIBRARY_COLLECTION, [row("a")])})
    seen = store.current()  # both committers read CURRENT here
    mine = snapshot(store, ACME, [row("weekend")])
    theirs = snapshot(store, GLOBEX, [row("ledger")])
    m_a = Manifest.create(
        parent=seen.manifest_id,
        created_by={},
        model=MODEL,
        collections={**base.collections, ACME: mine},
    )
    m_b = Manifest.create(
        parent=seen.manifest_id,
        created_by={},
        model=MODEL,
        collections={**base.collections, GLOBEX: theirs},
    )
    store.write_manifest(m_a)
    store.write_manifest(m_b)
    store.swap_current(m_a.manifest_id, seen)
    with pytest.raises(CommitConflict):
        store.swap_current(m_b.manifest_id, seen)  # the stale writer is refused...
    assert store.current().manifest_id == m_a.manifest_id
    again = store.current()  # ...re-reads, rebases onto the winner and retries
    live = store.read_manifest(again.manifest_id or "")
    m_b2 = Manifest.create(
        parent=again.manifest_id,
        created_by={},
        model=MODEL,
        collections={**live.collections, GLOBEX: theirs},
    )
    store.write_manifest(m_b2)
    store.swap_current(m_b2.manifest_id, again)
    final = assert_serves(store, m_b2.manifest_id)
    assert dict(final.collections) == {**base.collections, ACME: mine, GLOBEX: theirs}


def test_many_racing_committers_each_land_exactly_once(store: Store) -> None:
    writers = 6
    commit(store, {})
    refs = {
        f"tenant_t{i}_playbooks": snapshot(store, f"tenant_t{i}_playbooks", [row(f"p{i}")])
        for i in range(writers)
    }
    start = threading.Barrier(writers)
    conflicts = []

    def committer(name: str) -> str:
        first = True
        while True:
            pointer = store.current()
            if first:
                start.wait(timeout=30)  # everyone has read the same CURRENT
                first = False
            live = store.read_manifest(pointer.manifest_id or "")
            m = Manifest.create(
                parent=pointer.manifest_id,
                created_by={},
                model=MODEL,
                collections={**live.collections, name: refs[name]},
            )
            store.write_manifest(m)
            try:
                store.swap_current(m.manifest_id, pointer)
                return m.manifest_id
            except CommitConflict:
                conflicts.append(name)

    with ThreadPoolExecutor(writers) as pool:
        committed = list(pool.map(committer, refs))
    final = assert_serves(store, store.current().manifest_id)
    assert dict(final.collections) == refs
    assert len(conflicts) >= writers - 1  # all but one lost the first round
    chain: list[str] = []  # history is linear: each commit exactly once
    mid: str | None = final.manifest_id
    while mid is not None and len(chain) <= writers:
        chain.append(mid)
        mid = store.read_manifest(mid).parent
    assert sorted(chain[:writers]) == sorted(committed)


# ----- run_index racing itself ------------------------------------------------------------
def test_two_index_runs_on_different_tenants_both_land(
    store: Store, sources: tuple[Path, Path]
) -> None:
    _lib, ten = sources
    index(store, sources)
    for round_ in range(3):
        for tenant in ("acme", "globex"):
            write_playbook(ten, f"new-{round_}", tenant=tenant, description=f"Round {round_}")
        both_read = threading.Barrier(2)

        def one(tenant: str, barrier: threading.Barrier = both_read) -> RunReport:
            def fault(step: str) -> None:
                if step == "snapshots-written":  # both have read CURRENT; neither committed
                    barrier.wait(timeout=60)

            return index(store, sources, include_library=False, only_tenants=[tenant], fault=fault)

        with ThreadPoolExecutor(2) as pool:
            reports = list(pool.map(one, ["acme", "globex"]))
        final = assert_serves(store, store.current().manifest_id)
        assert set(final.collections) == {LIBRARY_COLLECTION, ACME, GLOBEX}
        for tenant, report in zip(("acme", "globex"), reports, strict=True):
            name = tenant_collection(tenant)
            assert report.committed
            assert final.collections[name].snapshot_id == report.collections[name].snapshot_id
            assert final.collections[name].rows == round_ + 2
        assert sorted(len(r.rebased_onto) for r in reports) == [0, 1]


def test_index_runs_racing_freely_never_lose_a_collection(tmp_path: Path) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    ten = tmp_path / "ten"
    tenants = [f"t{i}" for i in range(4)]
    for t in tenants:
        write_playbook(ten, "first", tenant=t)
    for round_ in range(3):
        for t in tenants:
            write_playbook(ten, f"pb-{round_}", tenant=t)
        with ThreadPoolExecutor(len(tenants)) as pool:
            reports = list(
                pool.map(
                    lambda t: index(
                        store, (tmp_path / "no-lib", ten), include_library=False, only_tenants=[t]
                    ),
                    tenants,
                )
            )
        final = assert_serves(store, store.current().manifest_id)
        assert set(final.collections) == {tenant_collection(t) for t in tenants}
        assert all(r.committed for r in reports)
        assert {final.collections[tenant_collection(t)].rows for t in tenants} == {round_ + 2}


# ----- crashes ------------------------------------------------------------------------------
class SimulatedCrash(BaseException):
    """Not an Exception: nothing in the run may catch it, as nothing catches a power cut."""


class CrashingBlobs:
    """Delegates to ``inner`` but dies just before write number ``crash_at`` (from 0)."""

    def __init__(self, inner: Blobs, crash_at: int | None) -> None:
        self.inner, self.crash_at, self.writes = inner, crash_at, 0
        self.uri = inner.uri

    def _count(self) -> None:
        if self.crash_at is not None and self.writes == self.crash_at:
            raise SimulatedCrash(f"crash before write #{self.writes}")
        self.writes += 1

    def write(self, key: str, data: bytes) -> None:
        self._count()
        self.inner.write(key, data)

    def write_if(self, key: str, data: bytes, expected_tag: str | None) -> str:
        self._count()
        return self.inner.write_if(key, data, expected_tag)

    def read(self, key: str) -> bytes:
        return self.inner.read(key)

    def tag(self, key: str) -> str | None:
        return self.inner.tag(key)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        return self.inner.list(prefix)

    def list_dirs(self, prefix: str = "") -> builtins.list[str]:
        return self.inner.list_dirs(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def uri_for(self, key: str) -> str:
        return self.inner.uri_for(key)

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)


def _change_sources(sources: tuple[Path, Path], n: int) -> None:
    lib, ten = sources
    write_playbook(lib, f"lib-{n}")
    write_playbook(ten, f"acme-{n}", tenant="acme")


@pytest.mark.parametrize("step", ["snapshots-written", "manifest-written", "committed"])
def test_a_failure_at_each_commit_step_leaves_no_half_state(
    store: Store, sources: tuple[Path, Path], step: str
) -> None:
    before = index(store, sources).manifest_id
    _change_sources(sources, 1)

    def fault(at: str) -> None:
        if at == step:
            raise SimulatedCrash(at)

    with pytest.raises(SimulatedCrash):
        index(store, sources, fault=fault)
    live = store.current().manifest_id
    if step == "committed":  # the swap happened: the new manifest is whole and verified
        assert live != before and store.read_manifest(live or "").parent == before
    else:
        assert live == before
    assert_serves(store, live)
    after = index(store, sources)
    assert after.committed or after.unchanged
    served = assert_serves(store, after.manifest_id)
    assert served.collections[LIBRARY_COLLECTION].rows == 3


def test_a_crash_before_any_single_write_leaves_no_half_state(
    store: Store, sources: tuple[Path, Path]
) -> None:
    before = index(store, sources).manifest_id
    probe = CrashingBlobs(store.blobs, None)
    _change_sources(sources, 1)
    index(Store(probe), sources)  # a normal run, to count its writes
    writes = probe.writes
    assert writes >= 2 * 3 + 2  # two snapshots of three files, the manifest, CURRENT
    before = store.current().manifest_id
    for crash_at in range(writes):
        _change_sources(sources, 2 + crash_at)
        with pytest.raises(SimulatedCrash):
            index(Store(CrashingBlobs(store.blobs, crash_at)), sources)
        assert_serves(store, before)
    after = index(store, sources)
    assert after.committed and after.parent == before
    assert assert_serves(store, after.manifest_id).collections[ACME].rows == writes + 2


_KILLED_RUN = textwrap.dedent("""
    import hashlib, os, sys
    import numpy as np
    from indexer.blobs import open_blobs
    from indexer.build import run_index
    from indexer.store import ModelIdentity, Store

    class HashEmbedder:
        identity = ModelIdentity("test/hash-embedder", "e" * 64, 16)
        def embed(self, texts):
            out = np.zeros((len(texts), 16), dtype=np.float32)
            for i, t in enumerate(texts):
                seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
                v = np.random.default_rng(seed).normal(size=16)
                out[i] = v / np.linalg.norm(v)
            return out

    step, where, lib, ten, endpoint = sys.argv[1:6]
    def fault(at):
        if at == step:
            os._exit(17)  # no cleanup, no finally blocks: as if the machine died
    run_index(store=Store(open_blobs(where, endpoint or None)), library=[open_blobs(lib)],
              tenants=[open_blobs(ten)], embedder=HashEmbedder(), fault=fault)
    sys.exit(0)
""")


@pytest.mark.parametrize("step", ["snapshots-written", "manifest-written", "committed"])
def test_a_process_killed_at_each_commit_step_leaves_no_half_state(
    store: Store, sources: tuple[Path, Path], step: str, request: pytest.FixtureRequest
) -> None:
    before = index(store, sources).manifest_id
    _change_sources(sources, 1)
    endpoint = request.getfixturevalue("moto_server") if store.uri.startswith("s3://") else ""
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, step, store.uri, *map(str, sources), endpoint],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 17, proc.stderr
    live = store.current().manifest_id
    assert (live != before) if step == "committed" else (live == before)
    assert_serves(store, live)
    after = index(store, sources)
    assert (after.committed or after.unchanged) and after.manifest_id
    assert assert_serves(store, after.manifest_id).collections[ACME].rows == 2

"""Promotion gates: a run that rejects or drops too much is refused and CURRENT stays put."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from indexer import cli_snapshots
from indexer.blobs import LocalBlobs
from indexer.build import CollectionOutcome
from indexer.errors import ConfigError
from indexer.gates import GatePolicy, PromotionRefused, check_gates
from indexer.model import LIBRARY_COLLECTION, tenant_collection
from indexer.report import Rejection
from indexer.store import Manifest, SnapshotRef, Store
from tests._playbooks import write_playbook
from tests.indexer.test_commit import HashEmbedder, index
from tests.indexer.test_snapshots import MODEL

ACME = tenant_collection("acme")


def _ref(collection: str, rows: int) -> SnapshotRef:
    return SnapshotRef(collection, f"s-20250101T000000000000Z-{rows:012d}", rows, {}, "fp")


def _built(
    collection: str, seen: int, bad_folders: int, problems_each: int = 1
) -> CollectionOutcome:
    rejected = [
        Rejection(f"/src/{collection}/pb-{i}/v1.0.0", f"field-{j}", "wrong")
        for i in range(bad_folders)
        for j in range(problems_each)
    ]
    return CollectionOutcome(collection, "built", seen=seen, rejected=rejected)


# ----- the rules ----------------------------------------------------------------------------
def test_rejections_above_the_share_fail_and_count_folders_not_problems() -> None:
    at_limit = {ACME: _built(ACME, seen=10, bad_folders=2, problems_each=4)}
    assert check_gates(None, {ACME: _ref(ACME, 8)}, at_limit) == []  # 20% is not above 20%
    over = {ACME: _built(ACME, seen=10, bad_folders=3)}
    [failure] = check_gates(None, {ACME: _ref(ACME, 7)}, over)
    assert (failure.collection, failure.gate, failure.count, failure.total) == (
        ACME,
        "rejected_share",
        3,
        10,
    )
    assert failure.message == (
        f"{ACME}: validation rejected 3 of 10 version folders (30%); the limit is 20%"
    )
    assert check_gates(None, {}, over, max_rejected_share=0.3) == []


def test_collections_carried_over_are_not_judged_again() -> None:
    carried = CollectionOutcome(
        ACME, "carried", seen=10, rejected=[Rejection(f"/f{i}", "x", "y") for i in range(9)]
    )
    assert check_gates(None, {ACME: _ref(ACME, 1)}, {ACME: carried}) == []


def test_dropping_more_than_the_share_of_a_collection_fails() -> None:
    parent = Manifest.create(
        parent=None,
        created_by={},
        model=MODEL,
        collections={LIBRARY_COLLECTION: _ref(LIBRARY_COLLECTION, 10), ACME: _ref(ACME, 4)},
    )
    ok = {LIBRARY_COLLECTION: _ref(LIBRARY_COLLECTION, 7), ACME: _ref(ACME, 4)}
    assert check_gates(parent, ok, {}) == []  # 30% is not above 30%
    failures = check_gates(parent, {LIBRARY_COLLECTION: _ref(LIBRARY_COLLECTION, 6)}, {})
    assert [(f.collection, f.gate, f.count, f.total, f.removed) for f in failures] == [
        (LIBRARY_COLLECTION, "drop_share", 4, 10, False),
        (ACME, "drop_share", 4, 4, True),
    ]
    assert failures[1].message == (
        f"{ACME}: the collection (4 playbook versions) would be removed; the drop limit is 30%"
    )
    assert check_gates(parent, {}, {}, max_drop_share=1.0) == []
    assert check_gates(None, {}, {}) == []


def test_shares_outside_zero_to_one_are_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="max_drop_share must be a share from 0 to 1"):
        GatePolicy(max_drop_share=1.5)
    parser = argparse.ArgumentParser()
    cli_snapshots.add_gate_flags(parser)
    assert cli_snapshots.gate_policy(parser.parse_args([])) == GatePolicy()
    assert cli_snapshots.gate_policy(parser.parse_args(["--no-gates"])) is None
    assert cli_snapshots.gate_policy(parser.parse_args(["--max-drop-share", "0.5"])) == (
        GatePolicy(max_drop_share=0.5)
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-rejected-share", "2"])


# ----- the hook in run_index ----------------------------------------------------------------
@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    lib, ten = tmp_path / "lib", tmp_path / "ten"
    for i in range(10):
        write_playbook(lib, f"lib-{i}")
    for i in range(4):
        write_playbook(ten, f"acme-{i}", tenant="acme")
    return lib, ten


def _break(ten: Path, n: int) -> None:
    for i in range(n):
        write_playbook(ten, f"acme-bad-{i}", tenant="acme", status="bogus", author="nobody")


def test_a_run_rejecting_too_much_is_refused_and_current_stays(
    tmp_path: Path, sources: tuple[Path, Path]
) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    good = index(store, sources, gates=GatePolicy()).manifest_id
    _break(sources[1], 2)  # 2 of 6 acme folders rejected: 33% > 20%
    with pytest.raises(PromotionRefused) as refused:
        index(store, sources, gates=GatePolicy())
    exc = refused.value
    assert (exc.status, exc.code, exc.current) == (409, "promotion_refused", good)
    assert [(f.collection, f.gate, f.count, f.total) for f in exc.failures] == [
        (ACME, "rejected_share", 2, 6)
    ]
    assert store.current().manifest_id == good and store.manifest_ids() == [good]
    assert exc.diff is not None and exc.diff.summary()["collections"][ACME]["added"] == 0
    json.dumps(exc.to_dict())  # the one JSON error shape can carry it
    assert "validation rejected 2 of 6 version folders (33%)" in exc.message

    let_through = index(store, sources, gates=None)
    assert let_through.committed and store.current().manifest_id == let_through.manifest_id
    assert index(store, sources, gates=GatePolicy(max_rejected_share=0.5)).unchanged


def test_a_run_dropping_too_many_playbooks_is_refused(
    tmp_path: Path, sources: tuple[Path, Path]
) -> None:
    lib, ten = sources
    store = Store(LocalBlobs(tmp_path / "store"))
    good = index(store, sources).manifest_id
    for i in range(4):  # 4 of 10 library playbooks disappear (a half-finished upload)
        shutil.rmtree(lib / "playbooks" / f"lib-{i}")
    with pytest.raises(PromotionRefused) as refused:
        index(store, sources, gates=GatePolicy())
    [failure] = refused.value.failures
    assert (failure.collection, failure.gate, failure.count) == (
        LIBRARY_COLLECTION,
        "drop_share",
        4,
    )
    assert refused.value.diff is not None
    [lib_diff] = refused.value.diff.collections
    assert len(lib_diff.removed) == 4
    assert store.current().manifest_id == good

    shutil.rmtree(ten / "tenants" / "acme")  # a whole tenant gone in a full run
    with pytest.raises(PromotionRefused) as refused:
        index(store, sources, gates=GatePolicy(max_drop_share=0.5))
    assert [(f.collection, f.removed) for f in refused.value.failures] == [(ACME, True)]
    assert store.current().manifest_id == good
    assert index(store, sources, gates=GatePolicy(max_drop_share=1.0)).committed


def test_the_refusal_prints_why_and_the_diff(tmp_path: Path, sources: tuple[Path, Path]) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    good = index(store, sources).manifest_id
    _break(sources[1], 3)
    with pytest.raises(PromotionRefused) as refused:
        index(store, sources, gates=GatePolicy())
    text = cli_snapshots.render_refusal(refused.value).splitlines()
    assert text[0] == (
        f"promotion refused: CURRENT stays at {good}; manifest "
        f"{refused.value.proposed} was not written"
    )
    assert text[2] == (
        f"  ✗ {ACME}: validation rejected 3 of 7 version folders (43%); the limit is 20%"
    )
    assert text[4] == f"diff {good} -> {refused.value.proposed} (proposed)"
    assert text[-1].startswith("fix the sources, or rerun with --no-gates")


# ----- the CLI --------------------------------------------------------------------------------
def _cli_has_gate_flags() -> bool:
    from indexer import cli

    try:
        cli._parser().parse_args(["index", "--no-gates"])
    except SystemExit:
        return False
    return True


def test_playbooks_index_exits_non_zero_when_refused_and_no_gates_lets_it_through(
    tmp_path: Path,
    sources: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not _cli_has_gate_flags():
        pytest.skip("indexer.cli does not wire cli_snapshots.add_gate_flags yet")
    from indexer import cli, embed

    monkeypatch.setattr(embed, "Embedder", HashEmbedder)
    lib, ten = sources
    root = tmp_path / "store"
    argv = ["index", "--store", str(root), "--library", str(lib), "--tenants", str(ten), "--quiet"]
    assert cli.main(argv) == 0
    good = Store(LocalBlobs(root)).current().manifest_id
    _break(ten, 3)
    capsys.readouterr()
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "promotion refused" in err and f"CURRENT stays at {good}" in err
    assert Store(LocalBlobs(root)).current().manifest_id == good
    assert cli.main([*argv, "--no-gates"]) == 0
    assert Store(LocalBlobs(root)).current().manifest_id != good

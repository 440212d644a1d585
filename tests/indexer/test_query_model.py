"""The ONNX query model an index run publishes: stored before the manifest, recorded in it,
carried over by later runs, refused when it is not the index's model, kept by gc while named.

The export is real (``blockwise-int8`` of the packaged model), done once per session into
the ``model_cache`` folder; S3 stores are moto's server over HTTP.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from indexer.blobs import open_blobs
from indexer.build import RunReport, run_index
from indexer.embed import Embedder
from indexer.errors import ConfigError
from indexer.onnx_export import INFO_FILE
from indexer.query_model import EXPORTS_DIR, QueryModelPlan, ensure_query_model
from indexer.snapshots import gc, rollback
from indexer.store import (
    MODELS,
    Manifest,
    ModelIdentity,
    Store,
    content_key_of,
    query_model_key,
    sha256_hex,
    utc_now,
)
from tests._playbooks import write_playbook

SCHEME = "blockwise-int8"


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    library, tenants = tmp_path / "library", tmp_path / "tenants"
    write_playbook(library, "escher-aws-rds-stop", name="Stop RDS instance")
    write_playbook(tenants, "acme-ec2-stop", tenant="acme", name="Stop EC2 instances")
    return library, tenants


def index(
    store: Store,
    sources: tuple[Path, Path],
    embedder: Embedder,
    plan: QueryModelPlan | None,
    **kw: Any,
) -> RunReport:
    library, tenants = sources
    return run_index(
        store=store,
        library=[open_blobs(str(library))],
        tenants=[open_blobs(str(tenants))],
        embedder=embedder,
        query_model=plan,
        **kw,
    )


def plan_for(model_cache: Path, scheme: str = SCHEME) -> QueryModelPlan:
    return QueryModelPlan(scheme, model_cache)


def current(store: Store) -> Manifest:
    manifest_id = store.current().manifest_id
    assert manifest_id is not None
    return store.read_manifest(manifest_id)


def test_the_manifest_records_the_query_model_written_before_it(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder, model_cache: Path
) -> None:
    store = Store(open_blobs(str(tmp_path / "store")))
    report = index(store, sources, embedder, plan_for(model_cache))
    manifest = current(store)
    ref = manifest.query_model
    assert report.committed and ref is not None
    assert ref.source == embedder.identity == manifest.model
    assert ref.scheme == SCHEME and ref.onnx_file == "model.int8.onnx"
    assert ref.key.startswith("q-") and content_key_of(ref.key).endswith(ref.onnx_sha256[:12])
    # Every file it names is in the store, with the recorded checksum and size.
    folder = tmp_path / "store" / MODELS / ref.key
    assert sorted(p.name for p in folder.iterdir()) == sorted(ref.files)
    for name, expected in ref.files.items():
        data = (folder / name).read_bytes()
        assert (sha256_hex(data), len(data)) == (expected.sha256, expected.bytes)
    info = json.loads((folder / INFO_FILE).read_text())
    assert info["source"] == manifest.model.to_dict()
    # The manifest file says so, and its id still verifies with the field in its body.
    manifest_file = tmp_path / "store" / "manifests" / f"{manifest.manifest_id}.json"
    doc = json.loads(manifest_file.read_text())
    assert doc["query_model"]["key"] == ref.key
    assert doc["query_model"]["onnx_sha256"] == ref.onnx_sha256
    assert store.read_manifest(manifest.manifest_id) == manifest


def test_a_manifest_without_a_query_model_keeps_its_old_shape_and_id(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder
) -> None:
    store = Store(open_blobs(str(tmp_path / "store")))
    index(store, sources, embedder, QueryModelPlan("none", tmp_path / "unused-cache"))
    manifest = current(store)
    assert manifest.query_model is None
    assert "query_model" not in manifest.body()
    assert not (tmp_path / "store" / MODELS).exists()
    assert not (tmp_path / "unused-cache").exists()  # nothing was exported


def test_later_runs_carry_the_parent_query_model_over(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder, model_cache: Path
) -> None:
    store = Store(open_blobs(str(tmp_path / "store")))
    index(store, sources, embedder, plan_for(model_cache))
    first = current(store)
    write_playbook(sources[0], "escher-aws-rds-stop", "1.1.0", name="Stop RDS instance v2")
    index(store, sources, embedder, plan_for(model_cache))
    second = current(store)
    assert second.manifest_id != first.manifest_id
    assert second.query_model == first.query_model
    # No plan (the write path's in-process reindex): carried over too.
    write_playbook(sources[1], "acme-ec2-stop", "1.1.0", tenant="acme")
    index(store, sources, embedder, None, include_library=False, only_tenants=["acme"])
    assert current(store).query_model == first.query_model
    assert store.query_model_keys() == [first.query_model.key]  # type: ignore[union-attr]


def test_turning_the_query_model_on_publishes_a_manifest_even_when_nothing_else_changed(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder, model_cache: Path
) -> None:
    store = Store(open_blobs(str(tmp_path / "store")))
    index(store, sources, embedder, QueryModelPlan("none", model_cache))
    before = current(store)
    report = index(store, sources, embedder, plan_for(model_cache))
    after = current(store)
    assert not report.unchanged and after.manifest_id != before.manifest_id
    assert after.collections == before.collections and after.query_model is not None
    # ... and off again: the next manifest records none.
    index(store, sources, embedder, QueryModelPlan("none", model_cache))
    assert current(store).query_model is None


def test_an_export_of_another_model_is_refused(tmp_path: Path, model_cache: Path) -> None:
    store = Store(open_blobs(str(tmp_path / "store")))
    other = ModelIdentity("hash-embedder", "0" * 64, 384)
    with pytest.raises(ConfigError, match="PLAYBOOKS_MODEL_PATH") as err:
        ensure_query_model(store, other, None, plan_for(model_cache))
    assert "0000000000" in err.value.message
    assert store.query_model_keys() == []


def test_a_recent_upload_of_the_same_export_is_reused_an_old_one_is_not(
    tmp_path: Path, embedder: Embedder, model_cache: Path
) -> None:
    store = Store(open_blobs(str(tmp_path / "store")))
    first = ensure_query_model(store, embedder.identity, None, plan_for(model_cache))
    assert first is not None
    again = ensure_query_model(store, embedder.identity, None, plan_for(model_cache))
    assert again == first
    later = utc_now() + timedelta(hours=2)
    fresh = ensure_query_model(store, embedder.identity, None, plan_for(model_cache), now=later)
    assert fresh is not None and fresh.key != first.key
    assert content_key_of(fresh.key) == content_key_of(first.key)


def test_the_export_is_cached_and_a_damaged_cache_is_exported_again(
    tmp_path: Path, embedder: Embedder, model_cache: Path
) -> None:
    ensure_query_model(
        Store(open_blobs(str(tmp_path / "a"))), embedder.identity, None, plan_for(model_cache)
    )
    (cached,) = (model_cache / EXPORTS_DIR).iterdir()
    assert cached.name == f"{embedder.identity.weights_sha256[:16]}-{SCHEME}"
    # A copy of the cache with a damaged tokenizer: exported again, then intact.
    copy = tmp_path / "cache-copy"
    shutil.copytree(model_cache, copy)
    tokenizer = copy / EXPORTS_DIR / cached.name / "tokenizer.json"
    tokenizer.write_text("{}")
    ref = ensure_query_model(
        Store(open_blobs(str(tmp_path / "b"))), embedder.identity, None, plan_for(copy)
    )
    assert ref is not None
    assert sha256_hex(tokenizer.read_bytes()) == ref.files["tokenizer.json"].sha256


def test_an_s3_store_gets_the_query_model_before_the_manifest(
    s3: Any,
    make_bucket: Callable[[str], str],
    moto_server: str,
    sources: tuple[Path, Path],
    embedder: Embedder,
    model_cache: Path,
) -> None:
    make_bucket("index")
    store = Store(open_blobs("s3://index/prod", moto_server))
    steps: list[str] = []

    def fault(step: str) -> None:
        steps.append(step)
        if step == "snapshots-written":
            assert store.query_model_keys() == []  # not before the collections

    index(store, sources, embedder, plan_for(model_cache), fault=fault)
    ref = current(store).query_model
    assert ref is not None
    keys = {
        o["Key"] for o in s3.list_objects_v2(Bucket="index", Prefix=f"prod/{MODELS}/")["Contents"]
    }
    assert keys == {f"prod/{ref.path}/{name}" for name in ref.files}
    head = s3.head_object(Bucket="index", Key=f"prod/{ref.path}/{ref.onnx_file}")
    assert head["ContentLength"] == ref.files[ref.onnx_file].bytes


def test_gc_keeps_named_query_models_and_deletes_abandoned_ones(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder, model_cache: Path
) -> None:
    root = tmp_path / "store"
    store = Store(open_blobs(str(root)))
    index(store, sources, embedder, plan_for(model_cache))
    named = current(store).query_model
    assert named is not None
    long_ago = utc_now() - timedelta(days=400)
    abandoned = query_model_key(content_key_of(named.key), long_ago)
    recent = query_model_key(content_key_of(named.key), utc_now() - timedelta(minutes=5))
    for key in (abandoned, recent):
        shutil.copytree(root / named.path, root / MODELS / key)

    dry = gc(store, dry_run=True)
    assert dry.deleted_models == [abandoned] and (root / MODELS / abandoned).is_dir()
    report = gc(store)
    assert report.deleted_models == [abandoned]
    assert report.kept_models == 1 and report.recent_models == [recent]
    assert sorted(store.query_model_keys()) == sorted([named.key, recent])
    assert report.to_dict()["deleted_models"] == [abandoned]


def test_gc_keeps_a_model_only_an_old_retained_manifest_names(
    tmp_path: Path, sources: tuple[Path, Path], embedder: Embedder, model_cache: Path
) -> None:
    store = Store(open_blobs(str(tmp_path / "store")))
    index(store, sources, embedder, plan_for(model_cache))
    named = current(store).query_model
    assert named is not None
    index(store, sources, embedder, QueryModelPlan("none", model_cache))
    assert current(store).query_model is None
    # The first manifest is still retained (history): its model stays.
    report = gc(store, now=utc_now() + timedelta(days=2))
    assert report.deleted_models == [] and store.query_model_keys() == [named.key]
    # Rolling back to it brings the query model back with the model.
    first = store.manifest_ids()[0]
    rollback(store, first)
    assert current(store).query_model == named

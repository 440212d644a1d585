"""An index run embeds through Embedder.embed_all: the raw model's batching, each distinct
text once per run (across collections), with the report counting rows as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexer.blobs import LocalBlobs
from indexer.build import run_index
from indexer.model import LIBRARY_COLLECTION, tenant_collection
from indexer.store import Store
from tests._playbooks import write_playbook
from tests.indexer.test_embed import RecordingEmbedder


def test_a_run_embeds_each_distinct_text_once_with_the_raw_model_settings(
    tmp_path: Path,
) -> None:
    lib, ten = tmp_path / "lib", tmp_path / "ten"
    same = "Stop an RDS database instance safely"
    write_playbook(lib, "aws-rds-stop", description=same)
    write_playbook(lib, "aws-rds-stop", "1.1.0", description=same)  # scripts changed only
    write_playbook(lib, "gcp-gce-start", description="Start a GCE VM")
    write_playbook(ten, "aws-rds-stop", tenant="acme", description=same)  # a library copy
    write_playbook(ten, "ledger-restart", tenant="acme", description="Restart ledger batch")
    embedder = RecordingEmbedder(batch_size=2, chunk_texts=2)
    store = Store(LocalBlobs(tmp_path / "store"))

    report = run_index(
        store=store, library=[LocalBlobs(lib)], tenants=[LocalBlobs(ten)], embedder=embedder
    )

    texts = [t for call in embedder.calls for t in call]
    assert len(texts) == len(set(texts)) == 3  # rds-stop, gce-start, ledger-restart
    assert all(len(call) <= embedder.chunk_size for call in embedder.calls)
    d = report.to_dict()["collections"]
    assert (d[LIBRARY_COLLECTION]["indexed"], d[LIBRARY_COLLECTION]["embedded"]) == (3, 3)
    assert (d[tenant_collection("acme")]["indexed"], d[tenant_collection("acme")]["embedded"]) == (
        2,
        2,
    )
    manifest = store.read_manifest(str(report.manifest_id))
    rows = {}
    for name in (LIBRARY_COLLECTION, tenant_collection("acme")):
        table = store.load_snapshot(manifest.collections[name]).table
        for row in table.select(["playbook_id", "version", "embed_text", "vector"]).to_pylist():
            rows[(name, row["playbook_id"], row["version"])] = row
    raw = {t: v for t, v in zip(texts, embedder.embed(texts), strict=True)}
    for row in rows.values():
        vec = np.asarray(row["vector"], dtype=np.float32)
        np.testing.assert_allclose(vec, raw[row["embed_text"]], atol=1e-5)
    copies = [r for k, r in rows.items() if k[1] == "aws-rds-stop"]
    assert len(copies) == 3
    assert all(np.array_equal(c["vector"], copies[0]["vector"]) for c in copies)

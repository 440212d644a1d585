"""The ONNX query embedder against the torch one it replaces when serving.

The export is real (the packaged model, the default int8 scheme, into a temporary folder,
once per module)
and every comparison is with :class:`indexer.embed.Embedder`, the model the index is built
with. No test here times anything; ``bench/embed_bench.py`` does.
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from indexer.embed import Embedder, model_identity
from indexer.errors import ConfigError, StoreError
from indexer.onnx_export import INFO_FILE, export_query_model
from indexer.store import ModelIdentity
from serve.query_embed import OnnxQueryEmbedder, QueryModelMismatch, normalise_query

LONG_QUERY = (
    "we have a production postgres cluster on rds in eu-west-1 that keeps running out of "
    "storage every few weeks because the application writes large audit tables and nobody "
    "prunes them, and the on-call engineer has to wake up at night to increase the "
    "allocated storage by hand, which also triggers an optimisation period during which "
    "performance is degraded; we want a runbook that checks free storage space, enables "
    "storage autoscaling with a sensible maximum, creates a manual snapshot first, tags the "
    "instance with the change ticket, and notifies the team channel when it is done. "
) * 3  # well past 256 tokens: truncation must match sentence-transformers'

QUERIES = [
    "stop production rds for the weekend",
    "rotate key vault secret",
    "shut down our staging mysql rds db until monday",
    "power off two ec2 boxes in the dev account",
    "add two more instances to the web autoscaling group",
    "capture a machine image from a configured ec2 server",
    "back up the efs file system before tonight's release",
    "restore dynamodb table to a point in time",
    "delete unattached ebs volumes",
    "enable s3 bucket versioning",
    "block public access on all s3 buckets",
    "encrypt sqs queue with kms",
    "resize an azure vm to a bigger sku",
    "restart app service",
    "scale aks node pool to zero at night",
    "gke cluster upgrade node version",
    "reboot the gce instance that hangs",
    "create a snapshot of a persistent disk",
    "rotate iam access keys older than 90 days",
    "enforce mfa for console users",
    "set a password policy on the aws account",
    "disable ssh from 0.0.0.0/0 in security groups",
    "close port 3389 to the internet",
    "turn on cloudtrail in every region",
    "enable guardduty",
    "enable vpc flow logs",
    "patch windows servers with ssm",
    "run a shell command on a fleet of linux instances",
    "collect logs from an ec2 instance for support",
    "troubleshoot ssm agent not connecting",
    "ec2 instance unreachable after reboot",
    "why is my lambda timing out",
    "lambda throttling errors spike",
    "increase lambda concurrency",
    "redis cache failover test",
    "failover aurora cluster to the replica",
    "promote rds read replica",
    "reboot rds instance with failover",
    "take a final snapshot and delete the old database",
    "restore rds from snapshot into a new instance",
    "cosmos db throughput autoscale",
    "azure sql database geo replication",
    "storage account allow only https",
    "turn off anonymous blob access",
    "function app minimum tls 1.2",
    "key vault soft delete and purge protection",
    "detach an ebs volume and attach it to another instance",
    "attach an instance profile to the ec2",
    "remove an instance from the load balancer",
    "take an instance out of standby in its auto scaling group",
    "cpu stress test on an ec2 instance",
    "simulate az outage",
    "inject network latency into ecs tasks",
    "kill proc see if it comes back",
    "memory leak on the api hosts, restart them one by one",
    "disk full on the jenkins box",
    "cloudfront cache invalidation",
    "renew acm certificate",
    "route53 health check failing",
    "change the dns record ttl",
    "nat gateway costs too high",
    "cut the bill for idle load balancers",
    "find and stop idle dev instances",
    "schedule start and stop of vms during business hours",
    "tag every untagged resource with the cost center",
    "ecs service rolling restart",
    "scale out the ecs service",
    "kubernetes pod crashloopbackoff",
    "gke imagepullbakoff",
    "ebs snapshot privte",
    "reszie pd disk gcp",
    "iam pasword polcy",
    "delte unused elastc ips",
    "stpo the rds instnce",
    "enabel encription on s3",
    "aws",
    "vm",
    "rds",
    "backup",
    "s3",
    "ec2 stop",
    "key rotation",
    "kms",
    "why did this node disappear",
    "shrink our exposure from old long-lived iam access keys",
    "stop leaving data unencrypted in our queues and topics",
    "run a full antivirus scan on the machine named in a defender alert",
    "isolate a compromised ec2 instance for forensics",
    "revoke a leaked github token in secrets manager",
    "quarantine an infected azure vm",
    "bigquery dataset public access",
    "cloud sql instance require ssl",
    "pubsub subscription backlog growing",
    "gcs bucket uniform bucket level access",
    "Stop   Production    RDS   for the weekend",
    "  rotate KEY VAULT secret  ",
    "🔥 prod is down, restart the web tier",
    "redémarrer la machine virtuelle",
    "EC2->stop (i-0abc123def456)",
    "rds:StopDBInstance",
    LONG_QUERY,
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("query-model")
    info = export_query_model(None, out)
    assert info.scheme == "blockwise-int8" and info.onnx_file == "model.int8.onnx"
    return out


@pytest.fixture(scope="module")
def onnx_embedder(model_dir: Path) -> OnnxQueryEmbedder:
    e = OnnxQueryEmbedder(model_dir)
    e.warm()
    return e


@pytest.fixture(scope="module")
def torch_vectors(embedder: Embedder) -> np.ndarray:
    return embedder.embed([normalise_query(q) for q in QUERIES])


def test_int8_query_vectors_match_torch_for_every_query(
    onnx_embedder: OnnxQueryEmbedder,
    torch_vectors: np.ndarray,
) -> None:
    assert len(QUERIES) >= 100
    for query, expected in zip(QUERIES, torch_vectors, strict=True):
        got = onnx_embedder.embed_one(query)
        assert got.shape == (384,) and got.dtype == np.float32
        cosine = float(got @ expected)
        assert cosine >= 0.99, f"{query[:60]!r}: cosine {cosine:.4f}"


def test_batched_vectors_match_torch_and_keep_the_input_order(
    onnx_embedder: OnnxQueryEmbedder,
    torch_vectors: np.ndarray,
) -> None:
    got = onnx_embedder.embed([normalise_query(q) for q in QUERIES])
    assert got.shape == (len(QUERIES), 384) and got.dtype == np.float32
    cosines = np.sum(got * torch_vectors, axis=1)
    assert cosines.min() >= 0.99, QUERIES[int(np.argmin(cosines))][:60]


def test_vectors_are_unit_length(onnx_embedder: OnnxQueryEmbedder) -> None:
    single = np.vstack([onnx_embedder.embed_one(q) for q in QUERIES[:20]])
    batch = onnx_embedder.embed(QUERIES[:20])
    np.testing.assert_allclose(np.linalg.norm(single, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert onnx_embedder.embed([]).shape == (0, 384)


def test_lru_returns_the_identical_vector_and_counts_a_hit(model_dir: Path) -> None:
    e = OnnxQueryEmbedder(model_dir, cache_size=2)
    first = e.embed_one("stop production rds for the weekend")
    assert e.cache_stats().to_dict() == {"hits": 0, "misses": 1, "size": 1, "capacity": 2}
    again = e.embed_one("  stop   production rds for the\tweekend ")
    assert again is first
    assert e.cache_stats().hits == 1
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared between callers: read-only
    e.embed_one("rotate key vault secret")
    e.embed_one("scale aks node pool")  # evicts the least recently used entry
    assert e.cache_stats().size == 2
    assert e.embed_one("stop production rds for the weekend") is not first
    assert e.cache_stats().to_dict() == {"hits": 1, "misses": 4, "size": 2, "capacity": 2}


def test_a_cache_hit_equals_an_uncached_embedding(model_dir: Path) -> None:
    cached = OnnxQueryEmbedder(model_dir)
    uncached = OnnxQueryEmbedder(model_dir, cache_size=0)
    query = " Rotate  key vault secret "
    cached.embed_one(query)
    np.testing.assert_array_equal(cached.embed_one(query), uncached.embed_one(query))
    assert uncached.cache_stats().size == 0


def test_concurrent_queries_get_the_same_vectors(model_dir: Path) -> None:
    queries = QUERIES[:12]
    uncached = OnnxQueryEmbedder(model_dir, cache_size=0)
    expected = [uncached.embed_one(q) for q in queries]
    fresh = OnnxQueryEmbedder(model_dir, cache_size=4)  # evictions race with hits
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = fresh.embed_one(queries[i % len(queries)])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(36)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 36
    for i, vec in results.items():
        np.testing.assert_array_equal(vec, expected[i % len(queries)])


def test_identity_is_the_source_model_from_query_model_json(
    onnx_embedder: OnnxQueryEmbedder,
) -> None:
    assert onnx_embedder.identity == model_identity()
    onnx_embedder.verify(model_identity())
    onnx_embedder.verify(model_identity(), onnx_embedder.info.onnx_sha256)


def test_verify_refuses_another_source_model(onnx_embedder: OnnxQueryEmbedder) -> None:
    other = replace(model_identity(), weights_sha256="0" * 64)
    with pytest.raises(QueryModelMismatch, match="re-export the query model") as caught:
        onnx_embedder.verify(other)
    assert caught.value.status == 500 and caught.value.code == "query_model_mismatch"
    with pytest.raises(QueryModelMismatch):
        onnx_embedder.verify(ModelIdentity("intfloat/e5-small-v2", "1" * 64, 384))


def test_verify_refuses_an_onnx_file_the_manifest_does_not_pin(
    onnx_embedder: OnnxQueryEmbedder,
) -> None:
    with pytest.raises(QueryModelMismatch, match="the manifest pins ffffffffffff"):
        onnx_embedder.verify(model_identity(), "f" * 64)


def test_a_tampered_onnx_file_is_refused_at_load(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    with open(copy / "model.int8.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(StoreError, match=r"model\.int8\.onnx: sha256 .* expects"):
        OnnxQueryEmbedder(copy)


def test_a_missing_tokenizer_is_refused_at_load(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(StoreError, match=r"tokenizer\.json is missing"):
        OnnxQueryEmbedder(copy)


def test_a_folder_with_another_pooling_is_refused(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    doc = json.loads((copy / INFO_FILE).read_text())
    doc["pooling"] = "cls"
    (copy / INFO_FILE).write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="only normalised mean pooling"):
        OnnxQueryEmbedder(copy)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"threads": 0}, "threads must be >= 1"), ({"cache_size": -1}, "cache size must be")],
)
def test_bad_settings_are_refused(model_dir: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OnnxQueryEmbedder(model_dir, **kwargs)


def test_normalise_query_strips_and_collapses_whitespace() -> None:
    assert normalise_query("  stop \t prod\n\nrds  ") == "stop prod rds"
    assert normalise_query("") == ""

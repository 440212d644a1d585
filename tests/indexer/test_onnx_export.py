"""The ONNX export of the packaged model: what it writes and what its identity says.

Both int8 schemes are exported for real (seconds each, once per module); accuracy against
the torch embedder is tested in ``tests/serve/test_query_embed.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import onnx
import pytest

from indexer.embed import model_identity
from indexer.errors import ConfigError, StoreError
from indexer.onnx_export import (
    INFO_FILE,
    INPUT_NAMES,
    OUTPUT_NAME,
    QueryModelInfo,
    export_query_model,
    read_query_model_info,
)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module", params=["blockwise-int8", "dynamic-int8"])
def exported(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, QueryModelInfo]:
    out = tmp_path_factory.mktemp(request.param)
    return out, export_query_model(None, out, scheme=request.param)


def test_export_writes_the_int8_model_tokenizer_and_identity(
    exported: tuple[Path, QueryModelInfo],
) -> None:
    out, info = exported
    assert info.onnx_file == "model.int8.onnx"
    assert {"model.int8.onnx", "tokenizer.json", INFO_FILE} <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".export-")]  # no temp left


def test_identity_names_the_packaged_model_weights(
    exported: tuple[Path, QueryModelInfo],
) -> None:
    out, info = exported
    packaged = model_identity()
    assert info.source == packaged
    doc = json.loads((out / INFO_FILE).read_text())
    assert doc["source"]["weights_sha256"] == packaged.weights_sha256
    assert doc["source"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert doc["max_seq_length"] == 256
    assert doc["quantisation"]["scheme"] == info.scheme
    if info.scheme == "dynamic-int8":
        assert doc["quantisation"]["weight_type"] == "QInt8"
        assert doc["quantisation"]["per_channel"] is True
        assert len(doc["quantisation"]["fp32_nodes"]) == 6  # one FFN output per layer
    else:
        assert doc["quantisation"]["bits"] == 8
        assert doc["quantisation"]["block_size"] == 128
    assert doc["quantisation"]["graph_fusions"]["Attention"] == 6
    assert doc["opset"] == 17
    assert {"torch", "transformers", "onnx", "onnxruntime", "tokenizers"} <= set(doc["libraries"])


def test_recorded_sha256_is_that_of_the_files_written(
    exported: tuple[Path, QueryModelInfo],
) -> None:
    out, info = exported
    assert info.onnx_sha256 == sha256_of(out / "model.int8.onnx")
    for name, digest in info.files.items():
        assert sha256_of(out / name) == digest, name
    assert read_query_model_info(out) == info
    assert info.key.startswith(model_identity().weights_sha256[:16])
    assert info.key.endswith(info.onnx_sha256[:12])


def test_graph_has_dynamic_batch_and_sequence_axes_and_int8_weights(
    exported: tuple[Path, QueryModelInfo],
) -> None:
    out, info = exported
    model = onnx.load(str(out / "model.int8.onnx"))
    inputs = {i.name: i for i in model.graph.input}
    assert set(inputs) == set(INPUT_NAMES)
    for value in (*inputs.values(), *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims[:2]] == ["batch", "sequence"], value.name
    assert [o.name for o in model.graph.output] == [OUTPUT_NAME]
    ops = {n.op_type for n in model.graph.node}
    if info.scheme == "dynamic-int8":
        assert {"QAttention", "MatMulInteger"} <= ops and "MatMul" in ops  # FFN outputs
    else:
        assert "MatMulNBits" in ops and "MatMul" not in ops


def test_unknown_scheme_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown quantisation scheme 'int4'"):
        export_query_model(None, tmp_path / "out", scheme="int4")
    assert not (tmp_path / "out").exists()


def test_a_model_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        export_query_model(tmp_path / "no-model", tmp_path / "out")


def test_reading_a_folder_without_identity_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"query_model\.json does not exist"):
        read_query_model_info(tmp_path)


def test_a_malformed_identity_names_the_problem(
    exported: tuple[Path, QueryModelInfo],
    tmp_path: Path,
) -> None:
    _, info = exported
    doc = info.to_dict()
    doc["onnx"]["file"] = "other.onnx"
    (tmp_path / INFO_FILE).write_text(json.dumps(doc))
    with pytest.raises(StoreError, match=r"'other\.onnx' is not listed in files"):
        read_query_model_info(tmp_path)

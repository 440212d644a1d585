"""Export the packaged sentence model to ONNX for the server's query-embedding fast path.

:func:`export_query_model` turns the transformer of a sentence-transformers model folder
(a BERT encoder: all-MiniLM-L6-v2 here) into one ONNX file, quantised to int8 by default,
beside the tokenizer files and ``query_model.json``, which names the source model (its
:class:`~indexer.store.ModelIdentity`, the same one the manifest records) and the sha256
of every file written. Pooling (mean over the attention mask) and L2 normalisation are not
in the graph: :mod:`serve.query_embed` does them, exactly as sentence-transformers does.

The ONNX file need not be byte-identical across exports; the index records the sha256 of
the file it ships (``query_model.json`` and, through it, the manifest), so the server
always loads the exact file the index was published with.

Schemes (``QueryModelInfo.quantisation["scheme"]``), all on the graph fused by
onnxruntime's BERT optimiser (one Attention op per layer, fused embeddings and layer norms):

``blockwise-int8`` (default)
    Weight-only int8 in blocks of 128 along the input dimension (``MatMulNBits``, accuracy
    level 4: activations are quantised per block at run time, products in int8) for every
    MatMul; the fused attention projections and the embeddings stay fp32. Cosine to the
    torch vectors ≥ 0.999 on every one of 349 real and test queries, one-word ones
    included. Needs ``onnx-ir``.
``dynamic-int8``
    ``onnxruntime.quantization.quantize_dynamic``: QInt8 weights per output channel,
    activations quantised per tensor at run time (QAttention, QEmbedLayerNormalization,
    MatMulInteger). The feed-forward output projections stay fp32: their inputs (after
    GELU) carry the outlier activations whose per-tensor quantisation costs the most.
    About 1 ms faster per query, but one-word queries ("backup") fall to cosine 0.988,
    under the 0.99 the server needs.
``fp32``
    The fused graph unquantised (benchmarks, and a reference for the other two).

Heavy imports (torch, transformers, onnx, onnxruntime) happen inside the export, so the
server can import :class:`QueryModelInfo` from here without loading torch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexer.embed import default_model_path, model_identity
from indexer.errors import ConfigError, StoreError
from indexer.store import ModelIdentity, file_sum

FORMAT_VERSION = 1
INFO_FILE = "query_model.json"
TOKENIZER_FILE = "tokenizer.json"
# tokenizer.json is the one the server reads; the rest make the folder a complete tokenizer.
TOKENIZER_FILES = (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "last_hidden_state"
OPSET = 17
SCHEMES = ("blockwise-int8", "dynamic-int8", "fp32")
DEFAULT_SCHEME = "blockwise-int8"
BLOCK_SIZE = 128
# Feed-forward output projections (after GELU): kept fp32 by the dynamic-int8 scheme.
_FFN_OUTPUT = re.compile(r"/encoder/layer\.(\d+)/output/dense/MatMul$")


@dataclass(frozen=True)
class QueryModelInfo:
    """The contents of ``query_model.json``: what the ONNX query model is and came from.

    ``source`` is the identity of the model it was exported from (compare it with the
    manifest's ``model``); ``files`` maps every file of the folder but this one to its
    sha256, ``onnx_file`` names the model among them.
    """

    source: ModelIdentity
    onnx_file: str
    files: Mapping[str, str]
    quantisation: Mapping[str, Any]
    opset: int
    max_seq_length: int
    libraries: Mapping[str, str]
    exported_at: str = ""
    pooling: str = "mean"
    normalize: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def onnx_sha256(self) -> str:
        return self.files[self.onnx_file]

    @property
    def scheme(self) -> str:
        return str(self.quantisation.get("scheme", ""))

    @property
    def key(self) -> str:
        """A store-friendly name for this export: source weights + scheme + file hash."""
        return f"{self.source.weights_sha256[:16]}-{self.scheme}-{self.onnx_sha256[:12]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "source": self.source.to_dict(),
            "onnx": {
                "file": self.onnx_file,
                "sha256": self.onnx_sha256,
                "inputs": list(INPUT_NAMES),
                "output": OUTPUT_NAME,
            },
            "files": dict(sorted(self.files.items())),
            "quantisation": dict(self.quantisation),
            "opset": self.opset,
            "max_seq_length": self.max_seq_length,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "libraries": dict(sorted(self.libraries.items())),
            "exported_at": self.exported_at,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = INFO_FILE) -> QueryModelInfo:
        """Parse ``query_model.json``; raises :class:`StoreError` naming the bad field."""
        try:
            if d.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {d.get('format')!r}, expected {FORMAT_VERSION}")
            files = {str(k): str(v) for k, v in d["files"].items()}
            onnx_file = str(d["onnx"]["file"])
            if onnx_file not in files:
                raise ValueError(f"onnx.file {onnx_file!r} is not listed in files")
            if str(d["onnx"].get("sha256", files[onnx_file])) != files[onnx_file]:
                raise ValueError("onnx.sha256 differs from files[onnx.file]")
            if TOKENIZER_FILE not in files:
                raise ValueError(f"files does not list {TOKENIZER_FILE}")
            return cls(
                source=ModelIdentity.from_dict(d["source"]),
                onnx_file=onnx_file,
                files=files,
                quantisation=dict(d["quantisation"]),
                opset=int(d["opset"]),
                max_seq_length=int(d["max_seq_length"]),
                libraries={str(k): str(v) for k, v in d.get("libraries", {}).items()},
                exported_at=str(d.get("exported_at", "")),
                pooling=str(d.get("pooling", "mean")),
                normalize=bool(d.get("normalize", True)),
                extra=dict(d.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(
                f"{where}: not a valid query model description ({exc!r})", file=where
            ) from None


def read_query_model_info(model_dir: str | os.PathLike[str]) -> QueryModelInfo:
    """Read ``<model_dir>/query_model.json``; StoreError if it is missing or malformed."""
    path = Path(model_dir) / INFO_FILE
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(
            f"{path} does not exist: {model_dir} is not an exported query "
            "model (see indexer.onnx_export)",
            file=str(path),
        ) from None
    except ValueError as exc:
        raise StoreError(f"{path}: not JSON ({exc})", file=str(path)) from None
    if not isinstance(doc, dict):
        raise StoreError(f"{path}: expected a JSON object", file=str(path))
    return QueryModelInfo.from_dict(doc, str(path))


def _max_seq_length(model_path: Path) -> int:
    """sentence-transformers' truncation length (``sentence_bert_config.json``)."""
    cfg = model_path / "sentence_bert_config.json"
    try:
        return int(json.loads(cfg.read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{cfg}: cannot read max_seq_length ({exc!r})", file=str(cfg)) from None


def _check_pooling(model_path: Path) -> None:
    """Refuse a model whose pooling is not the mean pooling the server implements."""
    cfg = model_path / "1_Pooling" / "config.json"
    if not cfg.is_file():
        return
    doc = json.loads(cfg.read_text())
    if not doc.get("pooling_mode_mean_tokens") or any(
        doc.get(k)
        for k in (
            "pooling_mode_cls_token",
            "pooling_mode_max_tokens",
            "pooling_mode_mean_sqrt_len_tokens",
        )
    ):
        raise ConfigError(
            f"{cfg}: only mean-token pooling is supported for the ONNX query model, found {doc}",
            file=str(cfg),
        )


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the tracer's known notes: shape checks in transformers' mask code become
    constants, which is right for an encoder (key length == query length, always)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # The TorchScript exporter is deliberate (see _export_fp32), and its note on
        # advanced indexing concerns negative indices, which BERT's position ids never are.
        warnings.filterwarnings(
            "ignore", "You are using the legacy TorchScript", DeprecationWarning
        )
        warnings.filterwarnings("ignore", "Exporting aten::index operator", UserWarning)
        # torch's exporter calls its own deprecated helpers; nothing for a caller to change.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        yield


class _DropNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _quiet_quantiser() -> Iterator[None]:
    """Keep the quantisers' per-node progress and their advice to run onnxruntime's
    pre-processing (the BERT optimiser has already done what it would) out of the log."""
    root, nbits = (
        logging.getLogger(),
        logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer"),
    )
    note, level = _DropNote(), nbits.level
    root.addFilter(note)
    nbits.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeFilter(note)
        nbits.setLevel(level)


def _export_fp32(model_path: Path, dest: Path) -> dict[str, int]:
    """torch.onnx (TorchScript exporter) of the BERT encoder; returns its config numbers."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    # The new (dynamo) exporter needs onnxscript; the TorchScript one exports this encoder
    # in seconds, with no extra dependency. Eager attention exports as plain
    # MatMul/Softmax, which onnxruntime's BERT optimiser fuses into one Attention op per
    # layer (SDPA's export does not fuse).
    bert = AutoModel.from_pretrained(
        str(model_path), attn_implementation="eager", local_files_only=True
    )
    bert.eval()

    class Encoder(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.bert = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            out = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            hidden: torch.Tensor = out.last_hidden_state
            return hidden

    # Two rows, one padded: the traced graph must not specialise on "no padding".
    ids = torch.tensor([[101, 7592, 2088, 2005, 102], [101, 7592, 102, 0, 0]])
    mask = (ids != 0).to(torch.int64)
    axes = {"0": "batch", "1": "sequence"}
    dynamic = {n: {int(k): v for k, v in axes.items()} for n in (*INPUT_NAMES, OUTPUT_NAME)}
    with _quiet_export(), torch.no_grad():
        torch.onnx.export(
            Encoder(bert),
            (ids, mask, torch.zeros_like(ids)),
            str(dest),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    cfg = bert.config
    return {
        "num_heads": int(cfg.num_attention_heads),
        "hidden_size": int(cfg.hidden_size),
        "num_layers": int(cfg.num_hidden_layers),
    }


def _optimise(src: Path, dest: Path, shape: Mapping[str, int]) -> dict[str, int]:
    """onnxruntime's offline BERT fusions; returns the fused-operator counts."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(
        str(src),
        model_type="bert",
        num_heads=shape["num_heads"],
        hidden_size=shape["hidden_size"],
        opt_level=0,
        use_gpu=False,
    )
    stats = {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}
    if stats.get("Attention", 0) != shape["num_layers"]:
        raise ConfigError(
            f"{src}: fused {stats.get('Attention', 0)} attention layers of "
            f"{shape['num_layers']}; is this a BERT encoder?"
        )
    model.save_model_to_file(str(dest), use_external_data_format=False)
    return stats


def _ffn_output_nodes(path: Path, num_layers: int) -> list[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = [n.name for n in graph.node if n.op_type == "MatMul" and _FFN_OUTPUT.search(n.name)]
    if len(names) != num_layers:
        raise ConfigError(
            f"{path}: found {len(names)} feed-forward output projections, "
            f"expected {num_layers} (one per layer)"
        )
    return sorted(names)


def _quantise_dynamic(src: Path, dest: Path, num_layers: int) -> dict[str, Any]:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep_fp32 = _ffn_output_nodes(src, num_layers)
    quantize_dynamic(
        str(src),
        str(dest),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=False,
        nodes_to_exclude=keep_fp32,
        # The fused contrib ops defeat ONNX shape inference; their tensors are float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return {
        "method": "onnxruntime.quantization.quantize_dynamic",
        "weight_type": "QInt8",
        "activation_type": "QUInt8 (dynamic, per tensor)",
        "per_channel": True,
        "reduce_range": False,
        "fp32_nodes": keep_fp32,
    }


def _quantise_blockwise(src: Path, dest: Path) -> dict[str, Any]:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantiser = MatMulNBitsQuantizer(
        str(src),
        bits=8,
        block_size=BLOCK_SIZE,
        is_symmetric=True,
        accuracy_level=4,
        op_types_to_quantize=("MatMul",),
    )
    quantiser.process()
    quantiser.model.save_model_to_file(str(dest), use_external_data_format=False)
    return {
        "method": "onnxruntime.quantization.MatMulNBitsQuantizer (MatMulNBits)",
        "weight_type": "int8",
        "bits": 8,
        "block_size": BLOCK_SIZE,
        "symmetric": True,
        "accuracy_level": 4,
        "op_types": ["MatMul"],
    }


def _libraries(scheme: str) -> dict[str, str]:
    import onnx
    import onnxruntime
    import tokenizers
    import torch
    import transformers

    libs = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "tokenizers": tokenizers.__version__,
    }
    if scheme == "blockwise-int8":
        import onnx_ir

        libs["onnx_ir"] = onnx_ir.__version__
    return libs


def onnx_file_name(scheme: str) -> str:
    return "model.fp32.onnx" if scheme == "fp32" else "model.int8.onnx"


def export_query_model(
    model_path: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    scheme: str = DEFAULT_SCHEME,
) -> QueryModelInfo:
    """Export the model at ``model_path`` (default: the packaged one) into ``out_dir``.

    Writes ``model.int8.onnx`` (``model.fp32.onnx`` for ``scheme="fp32"``), the tokenizer
    files and, last, ``query_model.json``; returns what that file says. Files are built in
    a temporary folder and moved in when complete, so ``out_dir`` never holds a
    half-written model (an earlier export there is replaced file by file).
    Raises :class:`ConfigError` for a missing or unsupported model folder or scheme.
    Takes seconds and downloads nothing.
    """
    if scheme not in SCHEMES:
        raise ConfigError(
            f"unknown quantisation scheme {scheme!r}; expected one of {', '.join(SCHEMES)}",
            scheme=scheme,
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source_path = Path(model_path) if model_path else default_model_path()
    source = model_identity(source_path)
    _check_pooling(source_path)
    max_len = _max_seq_length(source_path)
    if not (source_path / TOKENIZER_FILE).is_file():
        raise ConfigError(
            f"{source_path} has no {TOKENIZER_FILE} (a fast tokenizer is "
            "needed for the ONNX query model)",
            file=str(source_path),
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_name = onnx_file_name(scheme)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out) as tmp_name:
        tmp = Path(tmp_name)
        shape = _export_fp32(source_path, tmp / "raw.onnx")
        fused = _optimise(tmp / "raw.onnx", tmp / "fused.onnx", shape)
        quantisation: dict[str, Any] = {"scheme": scheme, "graph_fusions": fused}
        if scheme == "dynamic-int8":
            with _quiet_quantiser():
                quantisation |= _quantise_dynamic(
                    tmp / "fused.onnx", tmp / onnx_name, shape["num_layers"]
                )
        elif scheme == "blockwise-int8":
            with _quiet_quantiser():
                quantisation |= _quantise_blockwise(tmp / "fused.onnx", tmp / onnx_name)
        else:
            (tmp / "fused.onnx").rename(tmp / onnx_name)
        files = {onnx_name: file_sum(tmp / onnx_name).sha256}
        for name in TOKENIZER_FILES:
            if (source_path / name).is_file():
                shutil.copyfile(source_path / name, tmp / name)
                files[name] = file_sum(tmp / name).sha256
        info = QueryModelInfo(
            source=source,
            onnx_file=onnx_name,
            files=files,
            quantisation=quantisation,
            opset=OPSET,
            max_seq_length=max_len,
            libraries=_libraries(scheme),
            exported_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            extra={"exporter": "torch.onnx.export (TorchScript, dynamo=False)"},
        )
        (tmp / INFO_FILE).write_text(json.dumps(info.to_dict(), indent=2) + "\n")
        for name in files:
            os.replace(tmp / name, out / name)
        os.replace(tmp / INFO_FILE, out / INFO_FILE)
    return info

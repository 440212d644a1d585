"""The ONNX query model an index run publishes beside its manifest (the serving fast path).

:func:`ensure_query_model` is what :func:`indexer.build.run_index` calls after the
collections are written and before the manifest: it returns the
:class:`~indexer.store.QueryModelRef` the new manifest records, its files already in the
store, so a server never embeds queries with another model than the index's:

1. the parent manifest's, when it was exported from the same model with the same scheme
   and its files are still in the store;
2. else a folder already in the store holding the same export, uploaded less than
   :data:`REUSE_WINDOW` ago (older unnamed ones may be garbage-collected at any moment)
   and intact;
3. else the machine's export cache (``<model_cache_dir>/query-models/<weights>-<scheme>/``:
   :func:`cached_export` exports once per machine and scheme), uploaded as a new
   ``models/q-<now>-<content key>/``.

With no plan (callers that do not choose, such as the write path's in-process reindex) the
parent's query model is carried over when it matches the model, and nothing is exported.
Fails with :class:`~indexer.errors.ConfigError` when the model to export is not the one
the index embeds with, or the scheme is unknown.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from indexer.embed import default_model_path, model_identity
from indexer.errors import ConfigError, PlaybookError
from indexer.onnx_export import (
    INFO_FILE,
    SCHEMES,
    QueryModelInfo,
    export_query_model,
    read_query_model_info,
)
from indexer.snapshots import id_time
from indexer.store import (
    FileSum,
    Manifest,
    ModelIdentity,
    QueryModelRef,
    Store,
    content_key_of,
    query_model_key,
    sha256_hex,
    utc_now,
)

NONE = "none"
CHOICES = (*SCHEMES, NONE)
EXPORTS_DIR = "query-models"  # under model_cache_dir: one export per model and scheme
DOWNLOADS_DIR = "store-models"  # under model_cache_dir: query models fetched from S3
# Below indexer.snapshots.DEFAULT_GRACE: gc leaves an unnamed model at least that long.
REUSE_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class QueryModelPlan:
    """What the index run should publish: ``scheme`` (or ``none``), exported from
    ``model_path`` (None: the packaged model), cached under ``cache_dir``."""

    scheme: str
    cache_dir: Path
    model_path: Path | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> QueryModelPlan:
        return cls(
            settings.query_model,
            Path(settings.model_cache_dir),
            Path(settings.model_path) if settings.model_path else None,
        )


def _describe(model: ModelIdentity) -> str:
    return f"{model.name} (weights sha256 {model.weights_sha256[:12]}…)"


def _intact_export(folder: Path, source: ModelIdentity, scheme: str) -> bool:
    try:
        info = read_query_model_info(folder)
    except PlaybookError:
        return False
    if info.source != source or info.scheme != scheme:
        return False
    for name, expected in info.files.items():
        path = folder / name
        if not path.is_file() or sha256_hex(path.read_bytes()) != expected:
            return False
    return True


def cached_export(
    expected: ModelIdentity, scheme: str, cache: Path, model_path: Path | None = None
) -> Path:
    """A local folder holding ``scheme``'s export of the model ``expected`` names.

    Exported (seconds) into the cache the first time, reused while intact. Raises
    :class:`ConfigError` when the model at ``model_path`` is not ``expected``.
    """
    source_path = model_path or default_model_path()
    identity = model_identity(source_path)
    if identity != expected:
        raise ConfigError(
            f"cannot export the query model: {source_path} is {_describe(identity)}, but the "
            f"index is embedded with {_describe(expected)}; point PLAYBOOKS_MODEL_PATH at that "
            "model or set PLAYBOOKS_QUERY_MODEL=none",
            model_path=str(source_path),
        )
    folder = cache / EXPORTS_DIR / f"{identity.weights_sha256[:16]}-{scheme}"
    if _intact_export(folder, identity, scheme):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        export_query_model(source_path, tmp, scheme=scheme)
        if folder.exists():
            shutil.rmtree(folder)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same export first
            if not _intact_export(folder, identity, scheme):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _ref_from_files(key: str, files: dict[str, bytes], where: str) -> QueryModelRef:
    """The ref of a store folder's files; StoreError/ValueError when they disagree."""
    info = QueryModelInfo.from_dict(json.loads(files[INFO_FILE]), where)
    for name, expected in info.files.items():
        if name not in files or sha256_hex(files[name]) != expected:
            raise ValueError(f"{where}: {name} is missing or altered")
    sums = {
        name: FileSum(sha256_hex(data), len(data))
        for name, data in files.items()
        if name in info.files or name == INFO_FILE
    }
    return QueryModelRef(key, info.scheme, info.onnx_file, info.source, sums)


def _recent_upload(store: Store, info: QueryModelInfo, now: datetime) -> QueryModelRef | None:
    """An intact folder of the same export uploaded within :data:`REUSE_WINDOW`."""
    for key in sorted(store.query_model_keys(), reverse=True):
        stamped = id_time(key)
        if content_key_of(key) != info.key or stamped is None or now - stamped > REUSE_WINDOW:
            continue
        files = store.read_query_model(key)
        if INFO_FILE not in files:
            continue  # an upload that did not finish
        try:
            ref = _ref_from_files(key, files, store.blobs.uri_for(f"models/{key}/{INFO_FILE}"))
        except (PlaybookError, ValueError):
            continue
        if ref.source == info.source and ref.onnx_sha256 == info.onnx_sha256:
            return ref
    return None


def ensure_query_model(
    store: Store,
    model: ModelIdentity,
    parent: Manifest | None,
    plan: QueryModelPlan | None,
    say: Callable[[str], None] = lambda _msg: None,
    now: datetime | None = None,
) -> QueryModelRef | None:
    """The query model the next manifest records (None: it records none); see the module
    docstring. Its files are in the store when this returns."""
    inherited = parent.query_model if parent is not None else None
    if inherited is not None and (
        inherited.source != model or not store.has_query_model(inherited)
    ):
        inherited = None
    if plan is None:
        return inherited
    if plan.scheme == NONE:
        return None
    if plan.scheme not in SCHEMES:
        raise ConfigError(
            f"unknown query model scheme {plan.scheme!r}; expected one of {', '.join(CHOICES)}"
        )
    if inherited is not None and inherited.scheme == plan.scheme:
        return inherited
    folder = cached_export(model, plan.scheme, plan.cache_dir, plan.model_path)
    info = read_query_model_info(folder)
    now = now or utc_now()
    recent = _recent_upload(store, info, now)
    if recent is not None:
        say(f"query model: reusing {recent.path} ({recent.scheme})")
        return recent
    files = {name: (folder / name).read_bytes() for name in (*info.files, INFO_FILE)}
    key = query_model_key(info.key, now)
    size_mb = sum(len(b) for b in files.values()) / 1e6
    say(f"query model: uploading models/{key} ({plan.scheme}, {size_mb:.1f} MB)")
    sums = store.write_query_model(key, files)
    return QueryModelRef(key, info.scheme, info.onnx_file, info.source, sums)

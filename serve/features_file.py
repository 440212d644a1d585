"""The features file: a collection's ranking features as arrays, written at index time.

A small binary container, read without copying the arrays (``np.frombuffer``)::

    b"PBFEATS\n"            magic (8 bytes)
    header length           uint64, little-endian
    header                  UTF-8 JSON: format, fingerprint, rows, terms, surface forms,
                            names, distinct normalised names, label lists, and for each
                            array its [dtype, byte offset, length]; padded to 8 bytes
    arrays                  little-endian, each at an 8-byte-aligned offset:
      kw_offsets       int64   CSR postings: term i -> kw_row_ids/kw_weights[o[i]:o[i+1]]
      kw_row_ids       int32   ascending within a term
      kw_weights       float32 BM25 term-frequency part (IDF is applied per query)
      name_codes       int32   row -> index into the distinct normalised names
      <labels>_offsets int64   for providers, resource_types, verbs: label i ->
      <labels>_rows    int32   <labels>_rows[o[i]:o[i+1]], ascending row ids

The arrays returned by :func:`decode` are read-only views into the file's bytes.

:func:`encode` and :func:`decode` only move :class:`FeatureParts` in and out of bytes;
what the parts mean, and the ``fingerprint`` that says which tokenisation made them, is
:mod:`serve.features`' business. :func:`decode` raises :class:`FeaturesFileError` for a
file of another format or fingerprint, or one whose arrays do not fit together.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serve.keyword import KeywordArrays

FORMAT = 1  # the layout above; serve.features.FEATURES_VERSION covers what is in it
MAGIC = b"PBFEATS\n"
_DTYPES: dict[str, np.dtype[Any]] = {
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
    "float32": np.dtype("<f4"),
}
LABELS = ("providers", "resource_types", "verbs")


class FeaturesFileError(ValueError):
    """The bytes are not a usable features file (the message says why)."""


@dataclass(frozen=True)
class Labels:
    """label -> ascending row ids holding it, as CSR (``rows[offsets[i]:offsets[i+1]]``)."""

    labels: Sequence[str]
    offsets: np.ndarray  # int64, len(labels) + 1
    rows: np.ndarray  # int32

    @classmethod
    def from_mapping(cls, by_label: Mapping[str, Sequence[int]]) -> Labels:
        """From label -> ascending row ids (labels keep the mapping's order)."""
        offsets = np.zeros(len(by_label) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in by_label.values()], out=offsets[1:])
        rows = np.fromiter(
            (r for rs in by_label.values() for r in rs), dtype=np.int32, count=int(offsets[-1])
        )
        return cls(list(by_label), offsets, rows)

    def as_mapping(self) -> dict[str, np.ndarray]:
        """label -> its row ids (views into :attr:`rows`)."""
        o = self.offsets.tolist()
        return {label: self.rows[o[i] : o[i + 1]] for i, label in enumerate(self.labels)}


@dataclass(frozen=True)
class FeatureParts:
    """Everything :class:`serve.features.CollectionFeatures` holds but the vectors."""

    rows: int
    keyword: KeywordArrays
    providers: Labels
    resource_types: Labels
    verbs: Labels
    names: Sequence[str]  # lowercase name per row
    distinct_names: Sequence[str]  # normalised names, first-seen order
    name_codes: np.ndarray  # int32 per row, index into distinct_names


def encode(parts: FeatureParts, fingerprint: str) -> bytes:
    """The features file for ``parts``, stamped with ``fingerprint``."""
    kw = parts.keyword
    meta = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "rows": parts.rows,
        "terms": list(kw.terms),
        "surface": dict(kw.surface),
        "names": list(parts.names),
        "distinct_names": list(parts.distinct_names),
        **{name: list(getattr(parts, name).labels) for name in LABELS},
    }
    arrays: dict[str, np.ndarray] = {
        "kw_offsets": np.asarray(kw.offsets, dtype=np.int64),
        "kw_row_ids": np.asarray(kw.row_ids, dtype=np.int32),
        "kw_weights": np.asarray(kw.weights, dtype=np.float32),
        "name_codes": np.asarray(parts.name_codes, dtype=np.int32),
    }
    for name in LABELS:
        labels: Labels = getattr(parts, name)
        arrays[f"{name}_offsets"] = np.asarray(labels.offsets, dtype=np.int64)
        arrays[f"{name}_rows"] = np.asarray(labels.rows, dtype=np.int32)
    layout: dict[str, list[Any]] = {}
    at = 0
    for name, a in arrays.items():
        layout[name] = [str(a.dtype), at, len(a)]
        at += _padded(a.nbytes)
    meta["arrays"] = layout
    header = json.dumps(meta, ensure_ascii=False).encode()
    header += b" " * (_padded(len(header)) - len(header))
    chunks = [MAGIC, struct.pack("<Q", len(header)), header]
    for a in arrays.values():
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        chunks.append(raw + b"\0" * (_padded(len(raw)) - len(raw)))
    return b"".join(chunks)


def _padded(n: int) -> int:
    return (n + 7) // 8 * 8


def read_fingerprint(data: bytes) -> str | None:
    """The fingerprint a features file was stamped with (None when unreadable)."""
    try:
        return str(_open(data)[0]["fingerprint"])
    except (FeaturesFileError, KeyError):
        return None


def decode(data: bytes, fingerprint: str, rows: int) -> FeatureParts:
    """The parts in ``data``; raises :class:`FeaturesFileError` unless it is a features
    file of this :data:`FORMAT`, stamped with ``fingerprint``, for ``rows`` rows."""
    meta, arrays = _open(data)
    if meta.get("format") != FORMAT:
        raise FeaturesFileError(f"format {meta.get('format')!r}, this server reads {FORMAT}")
    if meta.get("fingerprint") != fingerprint:
        raise FeaturesFileError(
            f"written for features {meta.get('fingerprint')!r}, this server computes "
            f"{fingerprint!r}"
        )
    if meta.get("rows") != rows:
        raise FeaturesFileError(f"made for {meta.get('rows')!r} rows, the table has {rows}")
    try:
        terms = _strings(meta["terms"])
        keyword = KeywordArrays(
            rows,
            terms,
            _array(arrays, "kw_offsets", np.int64, len(terms) + 1),
            _array(arrays, "kw_row_ids", np.int32),
            _array(arrays, "kw_weights", np.float32),
            dict(meta["surface"]),
        )
        _check_csr("kw", keyword.offsets, keyword.row_ids, rows)
        if len(keyword.weights) != len(keyword.row_ids):
            raise FeaturesFileError("kw_weights and kw_row_ids differ in length")
        labels = {}
        for name in LABELS:
            label_names = _strings(meta[name])
            offsets = _array(arrays, f"{name}_offsets", np.int64, len(label_names) + 1)
            row_ids = _array(arrays, f"{name}_rows", np.int32)
            _check_csr(name, offsets, row_ids, rows)
            labels[name] = Labels(label_names, offsets, row_ids)
        names = _strings(meta["names"])
        distinct = _strings(meta["distinct_names"])
        codes = _array(arrays, "name_codes", np.int32, rows)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise FeaturesFileError(f"missing or malformed part {exc}") from None
    if len(names) != rows:
        raise FeaturesFileError(f"{len(names)} names for {rows} rows")
    if rows and (codes.min() < 0 or codes.max() >= len(distinct)):
        raise FeaturesFileError("name_codes outside the distinct names")
    return FeatureParts(
        rows,
        keyword,
        labels["providers"],
        labels["resource_types"],
        labels["verbs"],
        names,
        distinct,
        codes,
    )


def _open(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and every array (views into ``data``, not copies)."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise FeaturesFileError("not a features file (no PBFEATS header)")
    (size,) = struct.unpack_from("<Q", data, len(MAGIC))
    start = len(MAGIC) + 8
    try:
        meta = json.loads(data[start : start + size].decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeaturesFileError(f"unreadable header ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("arrays"), dict):
        raise FeaturesFileError("the header is not a JSON object with an arrays table")
    body = start + size
    arrays = {}
    for name, spec in meta["arrays"].items():
        try:
            dtype, offset, count = _DTYPES[spec[0]], int(spec[1]), int(spec[2])
            arrays[name] = np.frombuffer(data, dtype, count, body + offset)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise FeaturesFileError(f"array {name} does not fit the file ({exc})") from None
    return meta, arrays


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of strings, got {type(value).__name__}")
    return value


def _array(
    arrays: Mapping[str, np.ndarray], name: str, dtype: type, length: int | None = None
) -> np.ndarray:
    a = arrays.get(name)
    if a is None:
        raise FeaturesFileError(f"no {name} array")
    if a.dtype != dtype or (length is not None and len(a) != length):
        want = f"{np.dtype(dtype)}[{'' if length is None else length}]"
        raise FeaturesFileError(f"{name} is {a.dtype}[{len(a)}], expected {want}")
    return a


def _check_csr(name: str, offsets: np.ndarray, row_ids: np.ndarray, rows: int) -> None:
    if offsets[0] != 0 or offsets[-1] != len(row_ids) or np.any(np.diff(offsets) < 0):
        raise FeaturesFileError(f"{name} offsets do not index its {len(row_ids)} row ids")
    if len(row_ids) and (row_ids.min() < 0 or row_ids.max() >= rows):
        raise FeaturesFileError(f"{name} row ids outside 0..{rows - 1}")

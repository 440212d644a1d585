"""Pre-signed S3 URLs for uploads (PUT, under one version prefix) and downloads (GET).

The server never streams playbook files itself: clients PUT to and GET from S3 with URLs
the server signs with its own credentials (boto3 ``generate_presigned_url``). A URL names
exactly one object and expires (uploads: ``upload_url_seconds``, 15 minutes by default;
downloads: ``download_url_seconds``, 1 hour).

- :func:`check_upload_paths` is the gate for upload names: each must be a relative path
  inside the version folder (``metadata.json``, ``shell/main.sh``...) — no empty, ``.`` or
  ``..`` segment, no leading ``/``, no backslash or control character, a safe script
  folder name, at most :data:`MAX_UPLOAD_FILES` files. One bad name refuses the request.
- Only S3 sources can sign; a local-folder deployment gets :class:`S3SourceRequired` (501).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from indexer.blobs import Blobs, S3Blobs
from indexer.errors import InvalidParameter, PlaybookError
from indexer.model import DOCUMENT_FILES, is_safe_id
from indexer.validate import MAX_FILES

MAX_UPLOAD_FILES: Final = MAX_FILES
MAX_PATH_CHARS: Final = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class S3SourceRequired(PlaybookError):
    """The source is a local folder: nothing to pre-sign."""

    status = 501
    code = "s3_source_required"


def _bad(path: Any, why: str) -> InvalidParameter:
    shown = path if isinstance(path, str) and len(path) <= 80 else repr(path)[:80]
    return InvalidParameter(f"files: {shown!r} {why}", field="files", path=shown)


def check_upload_paths(files: Any) -> list[str]:
    """The validated, de-duplicated file names; :class:`InvalidParameter` (422) otherwise."""
    if not isinstance(files, list) or not files:
        raise InvalidParameter("files: expected a non-empty list of file names", field="files")
    if len(files) > MAX_UPLOAD_FILES:
        raise InvalidParameter(
            f"files: {len(files)} names; at most {MAX_UPLOAD_FILES} allowed",
            field="files",
            max_items=MAX_UPLOAD_FILES,
        )
    out: list[str] = []
    for path in files:
        if not isinstance(path, str) or not path:
            raise _bad(path, "is not a non-empty string")
        if len(path) > MAX_PATH_CHARS:
            raise _bad(path, f"is longer than {MAX_PATH_CHARS} characters")
        if path.startswith("/") or "\\" in path or _CONTROL.search(path):
            raise _bad(
                path, "must be a relative path with '/' separators and no control characters"
            )
        segments = path.split("/")
        if any(s in ("", ".", "..") for s in segments):
            raise _bad(
                path, "has an empty, '.' or '..' segment; names must stay inside the version folder"
            )
        if len(segments) == 1:
            if path not in DOCUMENT_FILES:
                raise _bad(
                    path,
                    f"top-level files must be one of {', '.join(DOCUMENT_FILES)}; "
                    "scripts go in a folder such as shell/",
                )
        elif not is_safe_id(segments[0]):
            raise _bad(path, "script folder is not a safe id (letters, digits, '.', '_', '-')")
        if path not in out:
            out.append(path)
    return out


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: int


def _s3(blobs: Blobs) -> S3Blobs:
    if not isinstance(blobs, S3Blobs):
        raise S3SourceRequired(
            f"pre-signed URLs need an S3 source; {blobs.uri} is a local folder "
            "(set PLAYBOOKS_TENANTS / PLAYBOOKS_LIBRARY to s3://...)",
            source=blobs.uri,
        )
    return blobs


def _object_key(blobs: S3Blobs, key: str) -> str:
    return f"{blobs.prefix}/{key}" if blobs.prefix else key


def presign_put(blobs: Blobs, keys: Sequence[str], ttl: int) -> dict[str, SignedUrl]:
    """``key`` (relative to the source root, already checked) -> a PUT URL."""
    s3 = _s3(blobs)
    expires = int(time.time()) + ttl
    return {
        key: SignedUrl(
            s3.client.generate_presigned_url(
                "put_object",
                Params={"Bucket": s3.bucket, "Key": _object_key(s3, key)},
                ExpiresIn=ttl,
            ),
            expires,
        )
        for key in keys
    }


def presign_get_uri(sources: Sequence[Blobs], uri: str, ttl: int) -> SignedUrl:
    """A GET URL for ``uri`` (``s3://bucket/key``), which must lie under one of ``sources``."""
    for blobs in sources:
        if isinstance(blobs, S3Blobs) and uri.startswith(f"{blobs.uri}/"):
            key = uri[len(f"s3://{blobs.bucket}/") :]
            url = blobs.client.generate_presigned_url(
                "get_object", Params={"Bucket": blobs.bucket, "Key": key}, ExpiresIn=ttl
            )
            return SignedUrl(url, int(time.time()) + ttl)
    raise S3SourceRequired(
        "this script is not stored on an S3 source the server can sign for", uri=uri
    )

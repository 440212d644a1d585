"""Object storage behind one small interface: a local folder or an S3 prefix.

``open_blobs("s3://bucket/prefix")`` or ``open_blobs("/some/folder")`` returns a
:class:`Blobs` whose keys are ``/``-separated paths relative to that root. Both the crawl
(reading playbook sources) and the store (snapshots, manifests, CURRENT) go through it, so
the local folder and S3 behave the same way:

- ``write`` is atomic per object (local: temp file + rename; S3: a single PUT);
- ``write_if`` is a compare-and-swap on an object's tag (local: under a file lock;
  S3: a conditional PUT with ``If-Match`` / ``If-None-Match``);
- ``tag`` is cheap (local: stat; S3: HEAD) and changes whenever the object is replaced.

S3 calls go through boto3 with botocore's ``standard`` retry mode: throttling (SlowDown,
503) and 5xx answers are retried with exponential backoff and jitter.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from indexer.errors import CommitConflict, SourceError, StoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class BlobNotFound(StoreError):
    code = "not_found"
    status = 404


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    tag: str


class Blobs(Protocol):
    """A root of objects. Keys never start with '/' and never contain '..'."""

    uri: str

    def read(self, key: str) -> bytes: ...
    def tag(self, key: str) -> str | None: ...
    def write(self, key: str, data: bytes) -> None: ...
    def write_if(self, key: str, data: bytes, expected_tag: str | None) -> str: ...
    def list(self, prefix: str = "") -> Iterator[BlobInfo]: ...
    def list_dirs(self, prefix: str = "") -> builtins.list[str]: ...
    def delete(self, key: str) -> None: ...
    def uri_for(self, key: str) -> str: ...
    def local_path(self, key: str) -> Path | None: ...


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/") or "\x00" in key:
        raise StoreError(f"invalid object key {key!r}", key=key)
    return key


class LocalBlobs:
    """A folder on the local file system."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"{self.uri_for(key)} does not exist", key=key) from None
        except IsADirectoryError:
            raise BlobNotFound(f"{self.uri_for(key)} is a folder, not a file", key=key) from None

    def tag(self, key: str) -> str | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        return f"{st.st_mtime_ns}-{st.st_size}-{st.st_ino}"

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            previous_mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            previous_mtime = -1
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                # The tag is (mtime, size, inode), and a replaced file's inode is reused
                # by the next write. On a file system with coarse timestamps a later
                # version could then carry an earlier version's tag (ABA) and a stale
                # write_if would win. A strictly increasing mtime per key prevents it.
                stamp = max(time.time_ns(), previous_mtime + 1)
                os.utime(fh.fileno(), ns=(stamp, stamp))
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def write_if(self, key: str, data: bytes, expected_tag: str | None) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.parent / f".{path.name}.lock"
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                current = self.tag(key)
                if current != expected_tag:
                    raise CommitConflict(
                        f"{self.uri_for(key)} changed: expected tag {expected_tag}, "
                        f"found {current}",
                        key=key,
                    )
                self.write(key, data)
                new_tag = self.tag(key)
                assert new_tag is not None
                return new_tag
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".") and (name.endswith(".tmp") or name.endswith(".lock")):
                    continue
                full = Path(dirpath) / name
                st = full.stat()
                key = full.relative_to(self.root).as_posix()
                yield BlobInfo(key, st.st_size, f"{st.st_mtime_ns}-{st.st_size}-{st.st_ino}")

    def list_dirs(self, prefix: str = "") -> builtins.list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # As on S3, a folder whose last object is gone no longer exists (list_dirs agrees).
        for parent in path.parents:
            if parent == self.root:
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (or already gone): stop here
                break

    def uri_for(self, key: str) -> str:
        return str(self.root / key)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


def s3_client(endpoint_url: str | None = None, max_attempts: int = 8) -> S3Client:
    """A boto3 S3 client with backoff on throttling and 5xx (botocore ``standard`` mode)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=5,
        max_pool_connections=32,
        read_timeout=30,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


class S3Blobs:
    """``s3://bucket/prefix`` through boto3."""

    def __init__(self, bucket: str, prefix: str, client: S3Client) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, exc: Exception, key: str) -> StoreError:
        return StoreError(f"S3 error on {self.uri_for(key)}: {exc}", key=key)

    def read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return obj["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
                raise BlobNotFound(f"{self.uri_for(key)} does not exist", key=key) from None
            raise self._fail(exc, key) from exc
        except BotoCoreError as exc:
            raise self._fail(exc, key) from exc

    def tag(self, key: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise self._fail(exc, key) from exc
        except BotoCoreError as exc:
            raise self._fail(exc, key) from exc
        return str(head["ETag"])

    def write(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, key) from exc

    def write_if(self, key: str, data: bytes, expected_tag: str | None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data}
        if expected_tag is None:
            kwargs["IfNoneMatch"] = "*"
        else:
            kwargs["IfMatch"] = expected_tag
        try:
            out = self.client.put_object(**kwargs)
        except ClientError as exc:
            if _error_code(exc) in {
                "PreconditionFailed",
                "412",
                "ConditionalRequestConflict",
                "NoSuchKey",
            }:
                raise CommitConflict(
                    f"{self.uri_for(key)} changed under us (expected tag {expected_tag})",
                    key=key,
                ) from None
            raise self._fail(exc, key) from exc
        except BotoCoreError as exc:
            raise self._fail(exc, key) from exc
        return str(out["ETag"])

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        if prefix and not full.endswith("/"):
            full += "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith("/"):
                        continue  # a folder marker (S3 console "Create folder"), not a file
                    yield BlobInfo(obj["Key"][strip:], int(obj["Size"]), str(obj["ETag"]))
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"cannot list {self.uri_for(prefix)}: {exc}") from exc

    def list_dirs(self, prefix: str = "") -> builtins.list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        if full and not full.endswith("/"):
            full += "/"
        out: builtins.list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, Delimiter="/"
            ):
                for cp in page.get("CommonPrefixes", []):
                    out.append(cp["Prefix"][len(full) :].rstrip("/"))
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"cannot list {self.uri_for(prefix)}: {exc}") from exc
        return sorted(out)

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, key) from exc

    def uri_for(self, key: str) -> str:
        # Only names the object (for messages, rejections): like LocalBlobs.uri_for it must
        # not refuse a bad key, or reporting an unsafe name would itself raise.
        root = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return f"{root}/{key}"

    def local_path(self, key: str) -> Path | None:
        return None


def _error_code(exc: Any) -> str:
    err = getattr(exc, "response", {}).get("Error", {})
    return str(err.get("Code", ""))


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise SourceError(f"S3 location {uri!r} names no bucket; expected s3://bucket/prefix")
    return bucket, prefix.strip("/")


def open_blobs(location: str, endpoint_url: str | None = None) -> Blobs:
    """A :class:`Blobs` for a local folder or an ``s3://bucket/prefix`` location."""
    if location.startswith("s3://"):
        bucket, prefix = parse_s3_uri(location)
        return S3Blobs(bucket, prefix, s3_client(endpoint_url))
    return LocalBlobs(location)

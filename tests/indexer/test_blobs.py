"""Blobs: the same contract on a local folder and on S3 (moto over HTTP), plus S3 retries."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from indexer.blobs import BlobNotFound, Blobs, LocalBlobs, S3Blobs, open_blobs, s3_client
from indexer.errors import CommitConflict, SourceError, StoreError
from tests._s3_proxy import FlakyS3Proxy


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    if request.param == "local":
        return LocalBlobs(tmp_path / "root")
    client = request.getfixturevalue("s3")
    request.getfixturevalue("make_bucket")("blobs")
    return S3Blobs("blobs", "some/prefix", client)


# ----- the contract, on both backends ---------------------------------------------------


def test_write_then_read_returns_the_same_bytes(blobs: Blobs) -> None:
    payload = bytes(range(256)) * 3
    blobs.write("a/b/c.bin", payload)
    blobs.write("empty.json", b"")
    assert blobs.read("a/b/c.bin") == payload
    assert blobs.read("empty.json") == b""


def test_reading_a_missing_key_raises_blob_not_found_naming_it(blobs: Blobs) -> None:
    blobs.write("present.json", b"{}")
    with pytest.raises(BlobNotFound) as err:
        blobs.read("absent.json")
    assert blobs.uri_for("absent.json") in str(err.value)
    assert err.value.status == 404
    assert blobs.tag("absent.json") is None


def test_tag_changes_whenever_the_object_is_replaced(blobs: Blobs) -> None:
    # Same size every time: the tag must not depend on the size alone.
    tags = []
    for i in range(6):
        blobs.write("CURRENT", f"version-{i}".encode())
        tag = blobs.tag("CURRENT")
        assert tag is not None
        tags.append(tag)
    assert len(set(tags)) == len(tags), tags
    # A tag from two versions ago (ABA) is stale: write_if must refuse it.
    with pytest.raises(CommitConflict):
        blobs.write_if("CURRENT", b"stale writer", tags[-3])
    assert blobs.read("CURRENT") == b"version-5"


def test_tag_is_stable_while_the_object_is_unchanged(blobs: Blobs) -> None:
    blobs.write("k.json", b"{}")
    assert blobs.tag("k.json") == blobs.tag("k.json")
    [info] = list(blobs.list())
    assert info.tag == blobs.tag("k.json")


def test_write_if_absent_creates_only_once(blobs: Blobs) -> None:
    tag = blobs.write_if("manifests/m-1.json", b"first", None)
    assert tag == blobs.tag("manifests/m-1.json")
    with pytest.raises(CommitConflict) as err:
        blobs.write_if("manifests/m-1.json", b"second", None)
    assert blobs.uri_for("manifests/m-1.json") in str(err.value)
    assert blobs.read("manifests/m-1.json") == b"first"


def test_write_if_with_the_current_tag_replaces(blobs: Blobs) -> None:
    first = blobs.write_if("CURRENT", b"m-1", None)
    second = blobs.write_if("CURRENT", b"m-2", first)
    assert second != first
    assert second == blobs.tag("CURRENT")
    assert blobs.read("CURRENT") == b"m-2"


def test_write_if_with_a_stale_tag_conflicts_and_leaves_content(blobs: Blobs) -> None:
    stale = blobs.write_if("CURRENT", b"m-1", None)
    blobs.write_if("CURRENT", b"m-2", stale)
    with pytest.raises(CommitConflict):
        blobs.write_if("CURRENT", b"m-3", stale)
    assert blobs.read("CURRENT") == b"m-2"


def test_write_if_with_a_tag_on_a_missing_key_conflicts(blobs: Blobs) -> None:
    blobs.write("other", b"x")
    tag = blobs.tag("other")
    with pytest.raises(CommitConflict):
        blobs.write_if("CURRENT", b"m-1", tag)
    assert blobs.tag("CURRENT") is None


def test_list_is_recursive_and_respects_folder_boundaries(blobs: Blobs) -> None:
    files = {
        "a/1.json": b"1",
        "a/b/2.json": b"22",
        "a/b/c/3.json": b"333",
        "ab/4.json": b"4444",  # shares the prefix "a" but is not under "a/"
        "top.json": b"55555",
    }
    for key, data in files.items():
        blobs.write(key, data)
    under_a = {info.key: info.size for info in blobs.list("a")}
    assert under_a == {"a/1.json": 1, "a/b/2.json": 2, "a/b/c/3.json": 3}
    assert {info.key for info in blobs.list()} == set(files)
    assert {info.key for info in blobs.list("a/b/")} == {"a/b/2.json", "a/b/c/3.json"}
    assert list(blobs.list("missing")) == []


def test_list_returns_every_key_past_one_page(blobs: Blobs) -> None:
    # S3 returns at most 1000 keys per ListObjectsV2 page.
    keys = {f"many/{i // 100:02d}/{i:05d}.json" for i in range(1100)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: blobs.write(key, b"{}"), keys))
    blobs.write("elsewhere/x.json", b"{}")
    listed = [info.key for info in blobs.list("many")]
    assert len(listed) == len(keys)
    assert set(listed) == keys


def test_list_dirs_names_the_immediate_subfolders(blobs: Blobs) -> None:
    for key in ("t/acme/x.json", "t/globex/y/z.json", "t/globex/w.json", "t/file.json"):
        blobs.write(key, b"{}")
    assert blobs.list_dirs("t") == ["acme", "globex"]
    assert blobs.list_dirs("t/globex") == ["y"]
    assert blobs.list_dirs() == ["t"]
    assert blobs.list_dirs("missing") == []


def test_delete_removes_the_object(blobs: Blobs) -> None:
    blobs.write("a/x.json", b"x")
    blobs.write("a/y.json", b"y")
    blobs.delete("a/x.json")
    with pytest.raises(BlobNotFound):
        blobs.read("a/x.json")
    assert blobs.tag("a/x.json") is None
    assert [info.key for info in blobs.list("a")] == ["a/y.json"]
    blobs.delete("a/x.json")  # deleting what is gone is not an error


def test_a_folder_emptied_by_delete_is_no_longer_listed(blobs: Blobs) -> None:
    blobs.write("snapshots/c/s-1/a.parquet", b"1")
    blobs.write("snapshots/c/s-1/deep/b.faiss", b"2")
    blobs.write("snapshots/c/s-2/a.parquet", b"3")
    blobs.delete("snapshots/c/s-1/deep/b.faiss")
    assert blobs.list_dirs("snapshots/c/s-1") == []
    assert blobs.list_dirs("snapshots/c") == ["s-1", "s-2"]
    blobs.delete("snapshots/c/s-1/a.parquet")
    assert blobs.list_dirs("snapshots/c") == ["s-2"]
    blobs.delete("snapshots/c/s-2/a.parquet")
    assert blobs.list_dirs("snapshots") == []
    assert list(blobs.list()) == []
    blobs.write("snapshots/c/s-3/a.parquet", b"4")  # the emptied folders can be reused
    assert blobs.read("snapshots/c/s-3/a.parquet") == b"4"


BAD_KEYS = ["../escape.json", "a/../../escape.json", "a/..", "/etc/passwd", "/abs/key"]
OPERATIONS: dict[str, Callable[[Blobs, str], Any]] = {
    "read": lambda b, k: b.read(k),
    "tag": lambda b, k: b.tag(k),
    "write": lambda b, k: b.write(k, b"x"),
    "write_if": lambda b, k: b.write_if(k, b"x", None),
    "delete": lambda b, k: b.delete(k),
    "list": lambda b, k: list(b.list(k)),
    "list_dirs": lambda b, k: b.list_dirs(k),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_keys_that_could_escape_the_root_are_refused(
    blobs: Blobs, operation: str, tmp_path: Path
) -> None:
    (tmp_path / "escape.json").write_text("outside the root")
    for key in BAD_KEYS:
        with pytest.raises(StoreError) as err:
            OPERATIONS[operation](blobs, key)
        assert repr(key) in str(err.value)
    assert (tmp_path / "escape.json").read_text() == "outside the root"
    assert list(blobs.list()) == []


def race_write_if(blobs: Blobs, key: str, tag: str | None) -> tuple[list[int], list[int]]:
    """Two threads released together call write_if(key, ..., tag); returns (won, lost)."""
    barrier = threading.Barrier(2)
    won: list[int] = []
    lost: list[int] = []

    def commit(writer: int) -> None:
        barrier.wait()
        try:
            blobs.write_if(key, f"writer-{writer}".encode(), tag)
            won.append(writer)
        except CommitConflict:
            lost.append(writer)

    threads = [threading.Thread(target=commit, args=(w,)) for w in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return won, lost


@pytest.mark.parametrize("expected", ["existing", "absent"])
def test_racing_write_if_has_exactly_one_winner(blobs: Blobs, expected: str) -> None:
    for round_no in range(5):
        key = f"race/{round_no}/CURRENT"
        tag = blobs.write_if(key, b"start", None) if expected == "existing" else None
        won, lost = race_write_if(blobs, key, tag)
        assert len(won) == 1 and len(lost) == 1, (round_no, won, lost)
        assert blobs.read(key) == f"writer-{won[0]}".encode()


def test_open_blobs_picks_the_backend_from_the_location(tmp_path: Path, moto_server: str) -> None:
    local = open_blobs(str(tmp_path))
    assert isinstance(local, LocalBlobs)
    remote = open_blobs("s3://bucket/some/prefix/", endpoint_url=moto_server)
    assert isinstance(remote, S3Blobs)
    assert (remote.bucket, remote.prefix) == ("bucket", "some/prefix")
    assert remote.uri_for("x.json") == "s3://bucket/some/prefix/x.json"
    with pytest.raises(SourceError):
        open_blobs("s3:///prefix-without-bucket")


# ----- retries through a flaky S3 ------------------------------------------------------

KEY = "dir/object.json"
PATH = f"/flaky/root/{KEY}"


def _is_read(method: str, path: str, query: str) -> bool:
    return method == "GET" and path == PATH


def _is_list(method: str, path: str, query: str) -> bool:
    return method == "GET" and "list-type=2" in query


def _is_write(method: str, path: str, query: str) -> bool:
    return method == "PUT" and path == PATH


@pytest.fixture
def flaky_bucket(s3: Any, make_bucket: Callable[[str], str]) -> Any:
    """Bucket ``flaky`` holding ``root/dir/object.json``, seeded directly (not via the proxy)."""
    make_bucket("flaky")
    s3.put_object(Bucket="flaky", Key=f"root/{KEY}", Body=b"seeded")
    return s3


def _through(proxy: FlakyS3Proxy, max_attempts: int = 8) -> S3Blobs:
    return S3Blobs("flaky", "root", s3_client(proxy.endpoint, max_attempts=max_attempts))


OPS: dict[str, tuple[Callable[[str, str, str], bool], Callable[[S3Blobs], Any], Any]] = {
    "read": (_is_read, lambda b: b.read(KEY), b"seeded"),
    "list": (_is_list, lambda b: [i.key for i in b.list("dir")], [KEY]),
    "write": (_is_write, lambda b: b.write(KEY, b"rewritten"), None),
    "write_if": (_is_write, lambda b: b.write_if(KEY, b"rewritten", b.tag(KEY)) and None, None),
}


@pytest.mark.parametrize("status", [503, 500])
@pytest.mark.parametrize("op", OPS)
def test_s3_calls_retry_with_backoff_through_transient_errors(
    flaky_s3: FlakyS3Proxy,
    flaky_bucket: Any,
    retry_sleeps: list[float],
    op: str,
    status: int,
) -> None:
    matches, call, expected = OPS[op]
    blobs = _through(flaky_s3)
    flaky_s3.fail_next(2, status=status, when=matches)

    assert call(blobs) == expected

    attempts = [r for r in flaky_s3.seen if matches(r.method, r.path, r.query)]
    assert [r.injected for r in attempts] == [status, status, None]
    assert len({(r.method, r.path) for r in attempts}) == 1  # the same request, retried
    assert len(retry_sleeps) == 2 and all(delay >= 0 for delay in retry_sleeps)
    if op.startswith("write"):
        body = flaky_bucket.get_object(Bucket="flaky", Key=f"root/{KEY}")["Body"].read()
        assert body == b"rewritten"


@pytest.mark.parametrize(
    ("op", "error"),
    [("read", StoreError), ("list", SourceError), ("write", StoreError), ("write_if", StoreError)],
)
def test_s3_gives_up_after_max_attempts_with_an_error_naming_the_uri(
    flaky_s3: FlakyS3Proxy,
    flaky_bucket: Any,
    retry_sleeps: list[float],
    op: str,
    error: type[Exception],
) -> None:
    matches, call, _ = OPS[op]
    blobs = _through(flaky_s3, max_attempts=2)
    flaky_s3.fail_next(10, status=503, when=matches)

    with pytest.raises(error) as err:
        call(blobs)

    where = blobs.uri_for("dir") if op == "list" else blobs.uri_for(KEY)
    assert where in str(err.value)
    assert "SlowDown" in str(err.value)
    # botocore's retries.max_attempts counts retries: one request plus two retries.
    attempts = [r for r in flaky_s3.seen if matches(r.method, r.path, r.query)]
    assert len(attempts) == 3 and all(r.injected == 503 for r in attempts)
    assert len(retry_sleeps) == 2
    assert flaky_bucket.get_object(Bucket="flaky", Key=f"root/{KEY}")["Body"].read() == b"seeded"


def test_s3_unreachable_endpoint_raises_store_error_naming_the_uri(
    moto_server: str, retry_sleeps: list[float]
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    blobs = S3Blobs("bucket", "root", s3_client(f"http://127.0.0.1:{port}", max_attempts=2))
    with pytest.raises(StoreError) as err:
        blobs.read("x.json")
    assert "s3://bucket/root/x.json" in str(err.value)
    with pytest.raises(SourceError) as list_err:
        list(blobs.list("dir"))
    assert "s3://bucket/root/dir" in str(list_err.value)

"""Shared fixtures: fake AWS credentials, moto's S3 server over HTTP, a flaky S3 proxy.

S3 is always exercised through boto3 against moto's real HTTP server on loopback (never
moto's in-process decorators), so requests, retries and conditional writes go over the
wire as they would against AWS.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from indexer.blobs import s3_client
from indexer.embed import Embedder
from tests._s3_proxy import FlakyS3Proxy

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "HF_HUB_OFFLINE": "1",
}
# Anything that could point boto3 at a real account or another endpoint.
REAL_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
)
# Index runs (the CLI reads the environment) publish no ONNX query model unless a test
# asks for one: the export takes seconds (tests/indexer/test_query_model.py does it once).
os.environ.setdefault("PLAYBOOKS_QUERY_MODEL", "none")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials for this test; no profile, config file or token can leak in."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in REAL_AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 and a free port; yields ``http://127.0.0.1:PORT``.

    The fake AWS environment is set for the whole session (boto3 reads it when a client
    is made) and restored afterwards.
    """
    saved = {name: os.environ.get(name) for name in (*FAKE_AWS_ENV, *REAL_AWS_VARS)}
    os.environ.update(FAKE_AWS_ENV)
    for name in REAL_AWS_VARS:
        os.environ.pop(name, None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3(moto_server: str) -> Any:
    """A boto3 S3 client on moto; moto's state is wiped first, so every test starts empty."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return s3_client(moto_server)


@pytest.fixture
def make_bucket(s3: Any) -> Callable[[str], str]:
    """``make_bucket(name)`` creates an S3 bucket on moto and returns its name."""

    def make(name: str) -> str:
        s3.create_bucket(Bucket=name)
        return name

    return make


@pytest.fixture
def upload_tree(s3: Any) -> Callable[..., list[str]]:
    """``upload_tree(local_dir, bucket, prefix="")`` copies a folder tree to S3.

    Keys are ``<prefix>/<path relative to local_dir>``; returns them, sorted.
    """

    def upload(local_dir: Path | str, bucket: str, prefix: str = "") -> list[str]:
        root = Path(local_dir)
        keys = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            key = f"{prefix.strip('/')}/{rel}" if prefix.strip("/") else rel
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            keys.append(key)
        return keys

    return upload


@pytest.fixture
def flaky_s3(s3: Any, moto_server: str) -> Iterator[FlakyS3Proxy]:
    """A fault-injecting proxy in front of moto (see ``tests/_s3_proxy.py``).

    Point a client at ``flaky_s3.endpoint``; ``flaky_s3.fail_next(2, status=503)`` makes
    the next two requests fail with SlowDown; ``flaky_s3.seen`` lists what arrived.
    """
    proxy = FlakyS3Proxy(moto_server).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records each backoff delay botocore asks for between attempts, without waiting.

    Only botocore's retry loop is affected (its module-level ``time``), so retry tests
    stay fast while still showing that a delay preceded every retry.
    """
    delays: list[float] = []
    clock = SimpleNamespace(
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    )
    clock.sleep = delays.append
    monkeypatch.setattr("botocore.endpoint.time", clock)
    return delays


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real packaged all-MiniLM-L6-v2, loaded once per test session."""
    e = Embedder()
    e.warm()
    return e


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``model_cache_dir`` for the whole session: index runs that publish an ONNX query
    model (``blockwise-int8``) export it into this folder once, then reuse it."""
    return tmp_path_factory.mktemp("model-cache")

"""DuckDB connections with extensions from PyPI packages, and S3 access for httpfs.

The extensions beyond DuckDB's built-ins (parquet, json, icu) come from the pinned PyPI
packages ``duckdb-extension-<name>`` (``httpfs``, ``fts``): each holds
``duckdb_extension_<name>/extensions/v<duckdb version>/<name>.duckdb_extension``, which is
loaded with ``LOAD '<that path>'``. Connections made by :func:`connect` switch automatic
install and autoload off, so an extension is never downloaded at run time: a missing or
mismatched package is a :class:`~indexer.errors.ConfigError` naming the package instead.

S3 access for httpfs (:func:`configure_s3`) is resolved the way the indexer's boto3 client
resolves it (:func:`indexer.blobs.s3_client`): the same endpoint URL setting, region and
credential chain (environment, shared files, instance role ...), handed to DuckDB as a
``CREATE SECRET (TYPE s3, ...)``. DuckDB redacts the secret in ``duckdb_secrets()``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import duckdb

from indexer.errors import ConfigError
from indexer.settings import Secret

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SECRET_NAME = "playbooks_s3"


def sql_literal(value: str) -> str:
    """``value`` as a single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory connection that never installs or autoloads an extension by itself."""
    return duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )


def extension_path(name: str) -> Path:
    """The extension file shipped by ``duckdb-extension-<name>`` for this DuckDB version.

    Raises :class:`ConfigError` when the package is not installed or holds no build for
    the running DuckDB version.
    """
    package = f"duckdb-extension-{name}=={duckdb.__version__}"
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        raise ConfigError(
            f"DuckDB extension {name!r} needs the package {package}, which is not installed"
        ) from None
    base = Path(module.__file__ or "").parent / "extensions"
    path = base / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        found = sorted(p.name for p in base.iterdir()) if base.is_dir() else []
        raise ConfigError(
            f"{path} does not exist: DuckDB {duckdb.__version__} needs {package} "
            f"(the installed package holds {', '.join(found) or 'no extension builds'})"
        )
    return path


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load ``name`` from its PyPI package into ``con`` (a no-op when already loaded)."""
    loaded = con.execute(
        "SELECT count(*) FROM duckdb_extensions() WHERE extension_name = ? AND loaded", [name]
    ).fetchone()
    if loaded and loaded[0]:
        return
    path = extension_path(name)
    try:
        con.execute(f"LOAD {sql_literal(str(path))}")
    except duckdb.Error as exc:
        raise ConfigError(f"cannot load DuckDB extension {path}: {exc}") from None


@dataclass(frozen=True)
class S3Access:
    """What httpfs needs to reach the store: where, how, and as whom."""

    region: str
    endpoint: str | None = None  # host[:port][/path] without scheme; None means AWS
    use_ssl: bool = True
    url_style: str = "vhost"  # "path" for S3-compatible servers (MinIO, moto)
    key_id: str | None = None
    secret: Secret | None = None
    session_token: Secret | None = None


def s3_access(endpoint_url: str | None, bucket: str | None = None) -> S3Access:
    """Resolve endpoint, region and credentials as the indexer's boto3 client does.

    ``endpoint_url`` (setting ``endpoint_url``) wins; otherwise boto3's own endpoint
    configuration (e.g. ``AWS_ENDPOINT_URL_S3``) applies. Credentials come from
    ``boto3.Session().get_credentials()``; with none, requests are unsigned. On AWS the
    bucket's own region is looked up (best effort) so a bucket outside the configured
    region still works.
    """
    import boto3

    from indexer.blobs import s3_client

    client = s3_client(endpoint_url, max_attempts=2)
    resolved = endpoint_url or client.meta.endpoint_url
    region = client.meta.region_name or "us-east-1"
    parts = urlsplit(resolved)
    custom = bool(endpoint_url) or not (parts.hostname or "").endswith("amazonaws.com")
    if not custom and bucket:
        region = _bucket_region(client, bucket) or region
    creds = boto3.Session().get_credentials()
    frozen = creds.get_frozen_credentials() if creds is not None else None
    return S3Access(
        region=region,
        endpoint=(parts.netloc + parts.path.rstrip("/")) if custom else None,
        use_ssl=parts.scheme != "http",
        url_style="path" if custom else "vhost",
        key_id=frozen.access_key if frozen else None,
        secret=Secret(frozen.secret_key) if frozen and frozen.secret_key else None,
        session_token=Secret(frozen.token) if frozen and frozen.token else None,
    )


def _bucket_region(client: S3Client, bucket: str) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        head: Any = client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        head = getattr(exc, "response", {})
    except BotoCoreError:
        return None
    headers = head.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    region = headers.get("x-amz-bucket-region")
    return str(region) if region else None


def s3_secret_sql(access: S3Access, name: str = SECRET_NAME) -> str:
    """The ``CREATE OR REPLACE SECRET`` statement for ``access`` (holds the secret key)."""
    opts = [
        ("TYPE", "s3"),
        ("REGION", sql_literal(access.region)),
        ("URL_STYLE", sql_literal(access.url_style)),
        ("USE_SSL", "true" if access.use_ssl else "false"),
    ]
    if access.endpoint:
        opts.append(("ENDPOINT", sql_literal(access.endpoint)))
    if access.key_id and access.secret:
        opts += [
            ("KEY_ID", sql_literal(access.key_id)),
            ("SECRET", sql_literal(access.secret.reveal())),
        ]
    if access.session_token:
        opts.append(("SESSION_TOKEN", sql_literal(access.session_token.reveal())))
    body = ", ".join(f"{k} {v}" for k, v in opts)
    return f"CREATE OR REPLACE SECRET {name} ({body})"


def configure_s3(
    con: duckdb.DuckDBPyConnection, endpoint_url: str | None, bucket: str | None = None
) -> S3Access:
    """Load httpfs from its package and give ``con`` the store's S3 endpoint and credentials."""
    load_extension(con, "httpfs")
    access = s3_access(endpoint_url, bucket)
    try:
        con.execute(s3_secret_sql(access))
    except duckdb.Error as exc:
        # The statement holds the secret key: report DuckDB's first line only.
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot configure S3 access for DuckDB: {first}") from None
    return access

"""Helpers for the write-path tests: a source tree + store, an app with the write routes.

``write_app`` adds :data:`serve.write_api.WRITE_ROUTES` and calls ``setup_write_path``
unless ``serve.app.create_app`` already does (once it is wired there), so the tests run
against exactly what production serves either way.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from indexer.blobs import Blobs, open_blobs
from indexer.build import run_index
from indexer.embed import Embedder
from indexer.settings import Settings, load_settings
from indexer.store import Store
from serve.app import create_app
from serve.tokens import TokenKeys, mint
from serve.write_api import WRITE_ROUTES, setup_write_path
from tests._playbooks import write_playbook

SECRET_1 = base64.b64encode(hashlib.sha256(b"test-key-1").digest()).decode()
SECRET_2 = base64.b64encode(hashlib.sha256(b"test-key-2").digest()).decode()
TOKEN_KEYS = f"k1={SECRET_1},k2={SECRET_2}"
# Plain API keys (scope search only) and scoped ones.
API_KEYS = {
    "acme-search-key-000001": "acme",
    "globex-search-key-0001": "globex",
    "acme-publish-key-00001": "acme:search+publish",
}
ALL_SCOPES = ("search", "publish", "review", "admin")


def token_keys() -> TokenKeys:
    return TokenKeys.parse(TOKEN_KEYS)


def token(
    tenant: str,
    scopes: tuple[str, ...] = ALL_SCOPES,
    ttl: int = 3600,
    sub: str | None = None,
    **kw: Any,
) -> str:
    return mint(
        token_keys(),
        sub=sub or f"user@{tenant}",
        tenant=tenant,
        scopes=scopes,
        ttl_seconds=ttl,
        **kw,
    )


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def as_tenant(tenant: str, scopes: tuple[str, ...] = ALL_SCOPES) -> dict[str, str]:
    return bearer(token(tenant, scopes))


def write_sources(root: Path) -> tuple[Path, Path]:
    """A small library and two tenants (acme, globex) with the same playbook id."""
    library, tenants = root / "library", root / "tenants"
    write_playbook(
        library,
        "escher-aws-rds-stop",
        "1.0.0",
        name="Stop RDS instance",
        description="Stop an Amazon RDS database instance",
        resource_types=["rds::instance"],
    )
    write_playbook(
        library,
        "escher-aws-ec2-start",
        "1.0.0",
        name="Start EC2 instances",
        description="Start stopped EC2 instances",
    )
    for tenant in ("acme", "globex"):
        write_playbook(
            tenants,
            "team-shutdown",
            "1.0.0",
            tenant=tenant,
            name=f"{tenant.title()} weekend shutdown",
            description=f"Stop the {tenant} reporting databases every weekend",
            resource_types=["rds::instance"],
        )
    return library, tenants


def make_settings(store: str, library: str, tenants: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store": store,
        "library": library,
        "tenants": tenants,
        "api_keys": ",".join(f"{k}={v}" for k, v in API_KEYS.items()),
        "token_keys": TOKEN_KEYS,
        "poll_seconds": "0",
        "querylog": "false",
        "log_json": "true",
        "stats_debounce_seconds": "0.2",
        **overrides,
    }
    return load_settings({k: str(v) for k, v in values.items()}, environ={})


def index(settings: Settings, embedder: Embedder) -> str:
    ep = settings.endpoint_url
    report = run_index(
        store=Store(open_blobs(settings.store, ep)),
        library=[open_blobs(x, ep) for x in settings.library],
        tenants=[open_blobs(x, ep) for x in settings.tenants],
        embedder=embedder,
    )
    assert report.committed and report.manifest_id
    return report.manifest_id


def write_app(settings: Settings, embedder: Embedder) -> Starlette:
    app = create_app(settings, embedder=embedder)
    if getattr(app.state, "write", None) is None:
        app.router.routes.extend(WRITE_ROUTES)
        setup_write_path(app, settings)
    return app


def snapshot_tree(blobs: Blobs, prefix: str = "") -> Mapping[str, str]:
    """key -> tag of every object under ``prefix`` (to assert that nothing was written)."""
    return {i.key: i.tag for i in blobs.list(prefix)}


def result_ids(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for r in body["results"]:
        out.append((r["collection"], r["playbook_id"], r["version"]))
        for older in r.get("older_versions") or []:
            out.append((r["collection"], r["playbook_id"], older.get("version", "")))
    return out

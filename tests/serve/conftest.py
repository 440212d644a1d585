"""Serve fixtures: the real embedder, a tiny real store, apps and in-process clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from indexer.embed import Embedder
from indexer.settings import Settings
from serve.app import create_app
from tests.serve._helpers import make_settings
from tests.serve._tiny_store import TinyStore, build_standard


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> TinyStore:
    return build_standard(tmp_path_factory.mktemp("store"), embedder)


@pytest.fixture(scope="session")
def settings(tiny_store: TinyStore) -> Settings:
    return make_settings(tiny_store.root)


@pytest.fixture(scope="session")
def client(settings: Settings, embedder: Embedder) -> Iterator[TestClient]:
    """A started app over the standard tiny store (session-wide: treat it as read-only)."""
    with TestClient(create_app(settings, embedder=embedder)) as c:
        yield c


@pytest.fixture(scope="session")
def empty_client(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[TestClient]:
    """A started app over a store with no CURRENT: live but not ready."""
    settings = make_settings(tmp_path_factory.mktemp("empty-store"))
    with TestClient(create_app(settings, embedder=embedder)) as c:
        yield c


@pytest.fixture(scope="session")
def indexed_store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A store written by the real indexer (``indexer.build.run_index``) from source folders:
    the contract between the two sides, exercised end to end."""
    from indexer.blobs import open_blobs
    from indexer.build import run_index
    from indexer.store import Store
    from tests._playbooks import write_playbook

    root = tmp_path_factory.mktemp("indexed")
    library, tenants = root / "library", root / "tenants"
    write_playbook(
        library,
        "escher-aws-rds-stop",
        "1.2.0",
        name="Stop RDS instance safely",
        description="Safely stop an Amazon RDS database instance after a snapshot",
        resource_types=["rds::instance"],
        execution_count=1547,
        success_count=1516,
    )
    write_playbook(
        library,
        "escher-aws-rds-stop",
        "1.0.0",
        name="Stop RDS instance",
        description="Stop an RDS database instance",
        status="deprecated",
        resource_types=["rds::instance"],
    )
    write_playbook(
        library,
        "escher-azure-vm-deallocate",
        "1.0.0",
        name="Deallocate Azure VMs",
        description="Deallocate idle Azure virtual machines overnight",
        cloud_provider=["azure"],
        resource_types=["compute::virtual-machine"],
    )
    write_playbook(
        tenants,
        "team-weekend-shutdown",
        "1.0.0",
        tenant="acme",
        name="Acme weekend shutdown",
        description="Stop the acme reporting RDS databases every weekend",
        resource_types=["rds::instance"],
        tags={"team": "acme", "approved": True},
        execution_count=12,
        success_count=12,
    )
    write_playbook(
        tenants,
        "acme-broken",
        "1.0.0",
        tenant="acme",
        name="Broken thing",
        description="Stop the acme reporting RDS databases, broken",
        status="broken",
    )
    write_playbook(
        tenants,
        "team-weekend-shutdown",
        "1.0.0",
        tenant="umbrella",
        name="Umbrella weekend shutdown",
        description="Stop the umbrella lab RDS databases every weekend",
        resource_types=["rds::instance"],
    )
    store_dir = root / "store"
    report = run_index(
        store=Store(open_blobs(str(store_dir))),
        library=[open_blobs(str(library))],
        tenants=[open_blobs(str(tenants))],
        embedder=embedder,
    )
    assert report.manifest_id, report
    return store_dir

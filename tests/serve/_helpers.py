"""Helpers shared by the serve tests: settings, auth headers, a checked search call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from indexer.settings import Settings, load_settings
from tests.serve._tiny_store import KEYS

API_KEYS = ",".join(f"{key}={tenant}" for tenant, key in KEYS.items())


def make_settings(store: Path | str, **overrides: Any) -> Settings:
    """Settings from defaults + ``overrides`` only (the caller's environment is ignored)."""
    values = {"store": str(store), "api_keys": API_KEYS, "log_json": "true", **overrides}
    return load_settings({k: str(v) for k, v in values.items()}, environ={})


def auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


def search(client: TestClient, tenant: str, body: dict[str, Any]) -> Any:
    """POST a search as ``tenant``; asserts 200 and returns the JSON body."""
    response = client.post("/api/playbook/search", json=body, headers=auth(tenant))
    assert response.status_code == 200, response.text
    return response.json()

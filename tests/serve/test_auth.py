"""Bearer keys -> tenant; 401 with WWW-Authenticate; 403 on a forged tenant_id."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from indexer.errors import Forbidden, Unauthorized
from serve.auth import ApiKeys, authenticate, bearer_token, check_tenant_claim
from tests.serve._helpers import auth
from tests.serve._tiny_store import KEYS

KEYS_MAP = ApiKeys({"k" * 20: "alpha", "j" * 20: "beta"})


def headers(value: str | None) -> Headers:
    return Headers({"authorization": value} if value is not None else {})


def test_key_maps_to_its_tenant() -> None:
    assert authenticate(headers("Bearer " + "k" * 20), KEYS_MAP) == "alpha"
    assert authenticate(headers("bearer " + "j" * 20), KEYS_MAP) == "beta"
    assert len(KEYS_MAP) == 2


@pytest.mark.parametrize(
    "value", [None, "", "Bearer", "Bearer ", "Basic abc", "Token x", "Bearer a b", "k" * 20]
)
def test_missing_or_malformed_header_is_401_with_challenge(value: str | None) -> None:
    with pytest.raises(Unauthorized) as info:
        bearer_token(headers(value))
    assert info.value.status == 401
    assert getattr(info.value, "headers", {})["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["k" * 19, "k" * 21, "K" * 20, "unknown-key-000000000"])
def test_unknown_key_is_401(token: str) -> None:
    with pytest.raises(Unauthorized) as info:
        authenticate(headers(f"Bearer {token}"), KEYS_MAP)
    assert info.value.message == "invalid API key"
    assert "invalid_token" in getattr(info.value, "headers", {})["WWW-Authenticate"]


def test_no_keys_configured_refuses_everyone() -> None:
    with pytest.raises(Unauthorized):
        authenticate(headers("Bearer " + "k" * 20), ApiKeys({}))


def test_tenant_claim_must_match_the_key() -> None:
    check_tenant_claim(None, "alpha")
    check_tenant_claim("alpha", "alpha")
    with pytest.raises(Forbidden) as info:
        check_tenant_claim("beta", "alpha")
    assert info.value.status == 403
    assert info.value.details == {"field": "tenant_id"}


def test_matching_tenant_id_in_body_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/api/playbook/search",
        headers=auth("alpha"),
        json={"query": "stop rds", "tenant_id": "alpha"},
    )
    assert response.status_code == 200
    assert response.json()["tenant"] == "alpha"


def test_the_key_alone_decides_the_tenant(client: TestClient) -> None:
    for tenant in KEYS:
        response = client.post(
            "/api/playbook/search", headers=auth(tenant), json={"query": "stop rds"}
        )
        assert response.json()["tenant"] == tenant


def test_401_over_http_carries_the_challenge(client: TestClient) -> None:
    response = client.post("/api/playbook/search", json={"query": "x"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = client.post(
        "/api/playbook/search",
        json={"query": "x"},
        headers={"Authorization": "Bearer not-a-key-000000000"},
    )
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]


def test_health_and_docs_need_no_key(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert client.get(path).status_code == 200

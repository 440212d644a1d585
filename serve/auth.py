"""Who is asking: ``Authorization: Bearer <api key>`` -> tenant id.

The tenant comes only from the key (``settings.api_key_map()``: key -> tenant). A request
body may repeat the tenant as ``tenant_id`` (the spec's clients send it); the same value is
accepted and ignored, another value is refused with 403 — a caller cannot pick a tenant.

Errors: no header, another scheme or an empty token -> 401 :class:`MissingCredentials`;
an unknown key -> 401 :class:`InvalidCredentials` (both with ``WWW-Authenticate: Bearer``);
a body ``tenant_id`` naming another tenant -> 403 ``Forbidden``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from starlette.datastructures import Headers

from indexer.errors import Forbidden
from serve.errors import InvalidCredentials, MissingCredentials


class ApiKeys:
    """The configured keys; lookups compare every key in constant time."""

    def __init__(self, key_to_tenant: Mapping[str, str]) -> None:
        self._keys = [(k.encode("utf-8"), t) for k, t in key_to_tenant.items()]

    def __len__(self) -> int:
        return len(self._keys)

    def tenant_for(self, token: str) -> str | None:
        given = token.encode("utf-8")
        found: str | None = None
        for key, tenant in self._keys:
            # No early exit: the time taken does not say which key (or prefix) matched.
            if hmac.compare_digest(key, given):
                found = tenant
        return found


def bearer_token(headers: Headers) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; 401 when there is none."""
    value = headers.get("authorization")
    if value is None:
        raise MissingCredentials("missing Authorization header; expected 'Bearer <api key>'")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise MissingCredentials("malformed Authorization header; expected 'Bearer <api key>'")
    return token


def authenticate(headers: Headers, keys: ApiKeys) -> str:
    """The caller's tenant id, from its bearer key."""
    tenant = keys.tenant_for(bearer_token(headers))
    if tenant is None:
        raise InvalidCredentials("invalid API key")
    return tenant


def check_tenant_claim(claimed: str | None, tenant: str) -> None:
    """A body ``tenant_id`` must be the key's tenant (or absent)."""
    if claimed is not None and claimed != tenant:
        raise Forbidden(
            "tenant_id in the request body does not match the tenant of the API key",
            field="tenant_id",
        )

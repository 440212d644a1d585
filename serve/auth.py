"""Who is asking and what they may do: ``Authorization: Bearer <token or API key>``.

Two kinds of credential, one :class:`~serve.tokens.Principal` (tenant, scopes, subject):

- signed tokens (:mod:`serve.tokens`: HS256 JWT with tenant, scopes, expiry, key id);
- configured API keys (``PLAYBOOKS_API_KEYS``: ``key=tenant`` has scope ``search``,
  ``key=tenant:search+publish`` lists its scopes). Only their SHA-256 digests are kept in
  memory, and a lookup compares against every digest in constant time.

Scopes: ``search`` (search, download, read history), ``publish`` (upload, publish,
status changes other than review decisions, stats, delete), ``review`` (approve/reject;
publish straight to active), ``admin`` (reindex, rollback). Scopes do not imply each other.

The tenant comes only from the credential. A request body or path may repeat the tenant
(``tenant_id``); the same value is accepted, another is refused with 403 — a caller can
neither pick another tenant nor write under another tenant's path.

Errors: no header, another scheme or an empty credential -> 401 :class:`MissingCredentials`;
an unknown key or a bad/expired token -> 401 :class:`InvalidCredentials` (both with
``WWW-Authenticate: Bearer``); a missing scope or another tenant -> 403 ``Forbidden``;
over the credential's rate -> 429 (:mod:`serve.ratelimit`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from starlette.datastructures import Headers

from indexer.errors import Forbidden
from serve.errors import InvalidCredentials, MissingCredentials
from serve.ratelimit import RateLimiter
from serve.tokens import Principal, TokenKeys, looks_like_token, verify

DEFAULT_SCOPES = frozenset({"search"})


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


class ApiKeys:
    """The configured credentials: hashed API keys (+ scopes), token keys, rate limiter.

    ``ApiKeys(key_to_tenant)`` (every key has scope ``search``) keeps working;
    ``scopes`` (key -> scopes), ``tokens`` and ``limiter`` add the rest.
    """

    def __init__(
        self,
        key_to_tenant: Mapping[str, str],
        scopes: Mapping[str, frozenset[str]] | None = None,
        *,
        tokens: TokenKeys | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        scopes = scopes or {}
        # Keyed by the key's sha256: finding the entry takes the same time whichever key
        # (or prefix of one) was sent, as the digest says nothing about the key's bytes,
        # and it costs the same with two keys or two thousand.
        self._keys = {
            _digest(k): (t, frozenset(scopes.get(k, DEFAULT_SCOPES)), _digest(k).hex()[:12])
            for k, t in key_to_tenant.items()
        }
        self.tokens = tokens
        self.limiter = limiter

    def __len__(self) -> int:
        return len(self._keys) + (len(self.tokens) if self.tokens is not None else 0)

    def _match(self, credential: str) -> Principal | None:
        entry = self._keys.get(_digest(credential))
        if entry is None:
            return None
        tenant, scopes, key_id = entry
        return Principal(f"api-key:{key_id}", tenant, scopes, "api_key")

    def tenant_for(self, token: str) -> str | None:
        principal = self._match(token)
        return principal.tenant if principal is not None else None

    def principal_for(self, credential: str) -> Principal:
        """The caller behind ``credential``; 401 when it is unknown, bad or expired."""
        principal = self._match(credential)
        if principal is not None:
            return principal
        if self.tokens is not None and len(self.tokens):
            if looks_like_token(credential):
                return verify(credential, self.tokens)
            raise InvalidCredentials("invalid API key or token")
        raise InvalidCredentials("invalid API key")


def bearer_token(headers: Headers) -> str:
    """The credential of an ``Authorization: Bearer <credential>`` header; 401 when none."""
    value = headers.get("authorization")
    if value is None:
        raise MissingCredentials("missing Authorization header; expected 'Bearer <api key>'")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise MissingCredentials("malformed Authorization header; expected 'Bearer <api key>'")
    return token


def identify(headers: Headers, keys: ApiKeys) -> Principal:
    """The verified caller, counted against its rate limit (401 / 429)."""
    principal = keys.principal_for(bearer_token(headers))
    if keys.limiter is not None:
        keys.limiter.check(principal.rate_key)
    return principal


def require_scope(principal: Principal, scope: str) -> None:
    if not principal.has(scope):
        raise Forbidden(
            f"this credential lacks the {scope!r} scope (it has: "
            f"{', '.join(sorted(principal.scopes))})",
            required_scope=scope,
        )


def authorize(headers: Headers, keys: ApiKeys, scope: str) -> Principal:
    """The caller, who must hold ``scope`` (401 / 429 / 403)."""
    principal = identify(headers, keys)
    require_scope(principal, scope)
    return principal


def authenticate(headers: Headers, keys: ApiKeys, scope: str = "search") -> str:
    """The caller's tenant id (the search route's entry point: needs ``search``)."""
    return authorize(headers, keys, scope).tenant


def check_tenant_claim(claimed: str | None, tenant: str) -> None:
    """A body ``tenant_id`` must be the credential's tenant (or absent)."""
    if claimed is not None and claimed != tenant:
        raise Forbidden(
            "tenant_id in the request body does not match the tenant of the API key",
            field="tenant_id",
        )


def check_path_tenant(path_tenant: str, principal: Principal) -> None:
    """A write under ``tenants/<path_tenant>/`` must be the credential's own tenant."""
    if path_tenant != principal.tenant:
        raise Forbidden(
            "the tenant in the path is not the tenant of this credential",
            field="tenant_id",
        )

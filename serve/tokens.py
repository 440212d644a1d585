"""Signed bearer tokens: HS256 JWTs that carry a tenant and scopes, with key rotation.

A token is ``base64url(header).base64url(claims).base64url(HMAC-SHA256)`` (RFC 7519):

- header ``{"alg": "HS256", "typ": "JWT", "kid": "<key id>"}`` — any other ``alg``
  (``none``, RS256, ...) is refused, so the algorithm cannot be downgraded;
- claims ``{"sub": "<who>", "tenant": "<tenant id>", "scopes": ["search", ...],
  "iat": <unix s>, "exp": <unix s>}`` — all required; unknown scopes are refused.

Keys come from ``PLAYBOOKS_TOKEN_KEYS`` (``kid1=<base64 secret>,kid2=...``); a token is
verified with the key its ``kid`` names, so a new key is rolled out by adding it (old
tokens keep verifying), making it the signing key (``PLAYBOOKS_TOKEN_ACTIVE_KID``), and
removing the old one once its tokens have expired. Only the standard library is used.

Errors are :class:`serve.errors.InvalidCredentials` (401) whose message says what was
wrong (malformed, unknown key id, bad signature, expired) but never echoes the token.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from indexer.errors import ConfigError
from indexer.model import is_valid_tenant
from indexer.settings import SCOPES, Settings
from serve.errors import InvalidCredentials

ALGORITHM: Final = "HS256"
MAX_TOKEN_CHARS: Final = 4096
MIN_SECRET_BYTES: Final = 32
LEEWAY_SECONDS: Final = 30  # clock skew tolerated on exp / iat
MAX_TTL_SECONDS: Final = 90 * 24 * 3600
_KID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: from a verified token or a configured API key."""

    sub: str
    tenant: str
    scopes: frozenset[str]
    kind: str  # "token" | "api_key"
    expires_at: int | None = None

    @property
    def rate_key(self) -> str:
        """The bucket the rate limit counts this caller in (one per credential)."""
        return f"{self.kind}:{self.tenant}:{self.sub}"

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenKeys:
    """The configured signing keys (kid -> secret) and the one that signs new tokens."""

    def __init__(self, keys: Mapping[str, bytes], active_kid: str | None = None) -> None:
        self._keys = dict(keys)
        if active_kid is not None and active_kid not in self._keys:
            raise ConfigError(
                f"PLAYBOOKS_TOKEN_ACTIVE_KID {active_kid!r} is not one of the "
                f"configured key ids ({', '.join(sorted(self._keys)) or 'none'})"
            )
        self.active_kid = active_kid or next(iter(self._keys), None)

    def __len__(self) -> int:
        return len(self._keys)

    def secret(self, kid: str) -> bytes | None:
        return self._keys.get(kid)

    @classmethod
    def parse(cls, spec: str, active_kid: str | None = None) -> TokenKeys:
        """``"kid1=<base64>,kid2=<base64>"``; raises :class:`ConfigError` naming the kid."""
        keys: dict[str, bytes] = {}
        for item in (x.strip() for x in spec.split(",")):
            if not item:
                continue
            kid, sep, encoded = item.partition("=")
            kid = kid.strip()
            if not sep or not _KID.match(kid):
                raise ConfigError(
                    "PLAYBOOKS_TOKEN_KEYS: expected 'kid=<base64 secret>' with kid "
                    f"matching [A-Za-z0-9._-]{{1,64}}; got an entry for {kid!r}"
                )
            text = encoded.strip().rstrip("=").replace("-", "+").replace("_", "/")
            try:  # standard or URL-safe alphabet, padding optional
                secret = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(
                    f"PLAYBOOKS_TOKEN_KEYS: the secret of key {kid!r} is not base64"
                ) from None
            if len(secret) < MIN_SECRET_BYTES:
                raise ConfigError(
                    f"PLAYBOOKS_TOKEN_KEYS: the secret of key {kid!r} has "
                    f"{len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed"
                )
            if kid in keys:
                raise ConfigError(f"PLAYBOOKS_TOKEN_KEYS: key id {kid!r} is listed twice")
            keys[kid] = secret
        return cls(keys, active_kid)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenKeys:
        return cls.parse(settings.token_keys.reveal(), settings.token_active_kid)


def _sign(secret: bytes, signing_input: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def mint(
    keys: TokenKeys,
    *,
    sub: str,
    tenant: str,
    scopes: Sequence[str],
    ttl_seconds: int,
    now: float | None = None,
    kid: str | None = None,
) -> str:
    """A signed token; raises :class:`ConfigError` for a bad tenant, scope, ttl or key."""
    kid = kid or keys.active_kid
    secret = keys.secret(kid) if kid else None
    if kid is None or secret is None:
        raise ConfigError("no token signing key: set PLAYBOOKS_TOKEN_KEYS")
    if not is_valid_tenant(tenant):
        raise ConfigError(f"tenant {tenant!r} must match [a-z0-9][a-z0-9-]{{0,62}}")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ConfigError(
            f"unknown scope(s) {', '.join(unknown) or '(none)'}; expected "
            f"some of {', '.join(SCOPES)}"
        )
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ConfigError(f"ttl must be 1..{MAX_TTL_SECONDS} seconds, got {ttl_seconds}")
    if not sub or len(sub) > 200:
        raise ConfigError("sub must be 1..200 characters")
    issued = int(time.time() if now is None else now)
    header = {"alg": ALGORITHM, "typ": "JWT", "kid": kid}
    claims = {
        "sub": sub,
        "tenant": tenant,
        "scopes": sorted(set(scopes)),
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    head = _b64encode(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    body = _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{_b64encode(_sign(secret, signing_input))}"


def looks_like_token(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("eyJ")


def _invalid(reason: str) -> InvalidCredentials:
    return InvalidCredentials(f"invalid bearer token: {reason}")


def _json_object(part: str, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(_b64decode(part))
    except (ValueError, UnicodeDecodeError):
        raise _invalid(f"the {what} is not base64url JSON") from None
    if not isinstance(doc, dict):
        raise _invalid(f"the {what} is not a JSON object")
    return doc


def verify(token: str, keys: TokenKeys, now: float | None = None) -> Principal:
    """The token's principal; raises :class:`InvalidCredentials` (401) saying why not."""
    if len(token) > MAX_TOKEN_CHARS:
        raise _invalid(f"longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise _invalid("expected three dot-separated parts")
    head, body, signature = parts
    header = _json_object(head, "header")
    if header.get("alg") != ALGORITHM:
        raise _invalid(f"algorithm must be {ALGORITHM}")
    kid = header.get("kid")
    secret = keys.secret(kid) if isinstance(kid, str) else None
    if secret is None:
        raise _invalid("unknown key id")
    try:
        given = _b64decode(signature)
    except ValueError:
        raise _invalid("the signature is not base64url") from None
    if not hmac.compare_digest(_sign(secret, f"{head}.{body}".encode("ascii")), given):
        raise _invalid("the signature does not match")
    claims = _json_object(body, "claims")
    moment = time.time() if now is None else now
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int) or not _is_int(exp) or not _is_int(iat):
        raise _invalid("exp and iat must be integers (unix seconds)")
    if exp + LEEWAY_SECONDS <= moment:
        raise _invalid("expired")
    if iat - LEEWAY_SECONDS > moment:
        raise _invalid("issued in the future")
    sub, tenant, scopes = claims.get("sub"), claims.get("tenant"), claims.get("scopes")
    if not isinstance(sub, str) or not sub or len(sub) > 200:
        raise _invalid("sub must be a non-empty string")
    if not isinstance(tenant, str) or not is_valid_tenant(tenant):
        raise _invalid("tenant is not a valid tenant id")
    if (
        not isinstance(scopes, list)
        or not scopes
        or not all(isinstance(s, str) and s in SCOPES for s in scopes)
    ):
        raise _invalid(f"scopes must be a non-empty list of {', '.join(SCOPES)}")
    return Principal(sub, tenant, frozenset(scopes), "token", int(exp))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ----- CLI: playbooks token mint ---------------------------------------------------------
def register_cli(sub: Any) -> None:
    """Adds ``playbooks token mint`` to the ``playbooks`` subparsers ``sub``."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "token",
        help="mint signed bearer tokens",
        formatter_class=fmt,
        description="Bearer tokens for the API (HS256, PLAYBOOKS_TOKEN_KEYS).",
    )
    tsub = p.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    m = tsub.add_parser(
        "mint",
        help="print a signed token for a tenant and scopes",
        formatter_class=fmt,
        epilog="example:\n  PLAYBOOKS_TOKEN_KEYS=k1=$(openssl rand -base64 32) \\\n"
        "    playbooks token mint --tenant acme --scopes search,publish --ttl 3600",
    )
    m.add_argument("--tenant", required=True, help="tenant id the token acts for")
    m.add_argument(
        "--scopes", default="search", help=f"comma-separated: {', '.join(SCOPES)} (default: search)"
    )
    m.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    m.add_argument("--sub", default=None, help="who the token is for (default: cli:<tenant>)")
    m.add_argument("--kid", default=None, help="sign with this key id (default: the active)")


def run_cli(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """``playbooks token mint``: prints the token on stdout; ConfigError for bad input."""
    from indexer.settings import load_settings

    keys = TokenKeys.from_settings(settings or load_settings())
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    token = mint(
        keys,
        sub=args.sub or f"cli:{args.tenant}",
        tenant=args.tenant,
        scopes=scopes,
        ttl_seconds=args.ttl,
        kid=args.kid,
    )
    print(token, file=sys.stdout)
    return 0

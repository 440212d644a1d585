"""Signed tokens, key rotation, hashed API keys with scopes, the rate limiter, the CLI."""

from __future__ import annotations

import argparse
import base64
import json
import time

import pytest

from indexer.errors import ConfigError, Forbidden
from indexer.settings import load_settings
from serve.auth import ApiKeys, require_scope
from serve.errors import InvalidCredentials
from serve.ratelimit import RateLimited, RateLimiter
from serve.tokens import TokenKeys, mint, register_cli, run_cli, verify
from tests.serve._writes import SECRET_1, SECRET_2, TOKEN_KEYS, token_keys

NOW = 1_800_000_000


def _mint(**kw: object) -> str:
    args: dict[str, object] = {
        "sub": "ann",
        "tenant": "acme",
        "scopes": ["search"],
        "ttl_seconds": 600,
        "now": NOW,
        **kw,
    }
    return mint(token_keys(), **args)  # type: ignore[arg-type]


def _refused(token: str, keys: TokenKeys | None = None, now: float = NOW) -> str:
    with pytest.raises(InvalidCredentials) as info:
        verify(token, keys or token_keys(), now=now)
    return info.value.message


def _b64(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_a_minted_token_verifies_to_its_tenant_scopes_and_subject() -> None:
    p = verify(_mint(scopes=["search", "publish"]), token_keys(), now=NOW + 10)
    assert (p.sub, p.tenant, p.scopes, p.kind) == (
        "ann",
        "acme",
        frozenset({"search", "publish"}),
        "token",
    )
    assert p.expires_at == NOW + 600


def test_expired_and_future_tokens_are_refused() -> None:
    assert _refused(_mint(), now=NOW + 600 + 31) == "invalid bearer token: expired"
    assert "future" in _refused(_mint(now=NOW + 3600))


def test_tampered_claims_break_the_signature() -> None:
    head, body, sig = _mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    for change in ({"tenant": "globex"}, {"scopes": ["admin"]}, {"exp": NOW + 10**6}):
        forged = f"{head}.{_b64({**claims, **change})}.{sig}"
        assert _refused(forged) == "invalid bearer token: the signature does not match"


def test_algorithm_none_and_other_algorithms_are_refused() -> None:
    _head, body, _sig = _mint().split(".")
    for alg in ("none", "HS512", "RS256"):
        forged = f"{_b64({'alg': alg, 'kid': 'k1'})}.{body}."
        assert _refused(forged) == "invalid bearer token: algorithm must be HS256"


def test_rotation_any_configured_kid_verifies_and_removed_keys_stop() -> None:
    old = _mint(kid="k1")
    new = _mint(kid="k2")
    both = TokenKeys.parse(TOKEN_KEYS, "k2")
    assert verify(old, both, now=NOW).tenant == verify(new, both, now=NOW).tenant == "acme"
    assert both.active_kid == "k2"
    only_new = TokenKeys.parse(f"k2={SECRET_2}")
    assert _refused(old, only_new) == "invalid bearer token: unknown key id"
    # Same kid, another secret: the signature fails.
    impostor = TokenKeys.parse(f"k1={SECRET_2}")
    assert "signature" in _refused(old, impostor)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("k1=c2hvcnQ=", "at least 32 are needed"),
        ("k1=***", "is not base64"),
        ("bad kid=" + SECRET_1, "expected 'kid=<base64 secret>'"),
        (f"k1={SECRET_1},k1={SECRET_2}", "listed twice"),
    ],
)
def test_bad_token_keys_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TokenKeys.parse(spec)
    with pytest.raises(ConfigError, match="not one of the configured"):
        TokenKeys.parse(TOKEN_KEYS, "k9")


def test_malformed_tokens_are_refused_without_echoing_them() -> None:
    for bad in ("a.b", "a.b.c.d", "eyJ!.x.y", "x" * 5000):
        message = _refused(bad)
        assert message.startswith("invalid bearer token:") and bad[:20] not in message[22:]


def test_api_keys_are_kept_hashed_with_scopes() -> None:
    settings = load_settings(
        {"api_keys": "plain-key-0000000001=acme,scoped-key-000000001=acme:search+publish"},
        environ={},
    )
    scoped = settings.api_key_scopes()
    keys = ApiKeys(settings.api_key_map(), {k: s for k, (_t, s) in scoped.items()})
    assert "plain-key-0000000001" not in repr(vars(keys))
    plain = keys.principal_for("plain-key-0000000001")
    assert plain.scopes == frozenset({"search"}) and plain.kind == "api_key"
    assert keys.principal_for("scoped-key-000000001").has("publish")
    with pytest.raises(Forbidden):
        require_scope(plain, "publish")
    with pytest.raises(InvalidCredentials):
        keys.principal_for("plain-key-0000000002")
    with pytest.raises(ConfigError, match="unknown scope"):
        load_settings(
            {"api_keys": "plain-key-0000000001=acme:search+root"}, environ={}
        ).api_key_scopes()


def test_the_rate_limiter_is_a_token_bucket_per_credential() -> None:
    clock = [0.0]
    limiter = RateLimiter(3, clock=lambda: clock[0])
    for _ in range(3):
        limiter.check("a")
    with pytest.raises(RateLimited) as info:
        limiter.check("a")
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "20"
    limiter.check("b")  # another credential has its own bucket
    clock[0] = 20.0
    limiter.check("a")
    RateLimiter(0).check("a")  # 0 disables


def test_cli_mint_prints_a_token_that_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="playbooks")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["token", "mint", "--tenant", "acme", "--scopes", "search,publish", "--ttl", "60"]
    )
    settings = load_settings({"token_keys": TOKEN_KEYS}, environ={})
    assert run_cli(args, settings) == 0
    printed = capsys.readouterr().out.strip()
    principal = verify(printed, token_keys(), now=time.time())
    assert principal.scopes == frozenset({"search", "publish"}) and principal.sub == "cli:acme"
    bad = parser.parse_args(["token", "mint", "--tenant", "acme", "--scopes", "root"])
    with pytest.raises(ConfigError, match="unknown scope"):
        run_cli(bad, settings)

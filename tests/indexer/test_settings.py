"""Settings: declared once, documented in the README, validated with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import ConfigError
from indexer.settings import SETTINGS, Secret, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_every_setting_is_in_the_readme_configuration_table(setting) -> None:  # type: ignore[no-untyped-def]
    assert f"| `{setting.env}` |" in README.read_text()


def test_flags_beat_environment_beat_defaults() -> None:
    env = {"PLAYBOOKS_PORT": "9000", "PLAYBOOKS_HOST": "0.0.0.0"}
    s = load_settings({"port": "9100"}, environ=env)
    assert (s.port, s.host, s.default_limit) == (9100, "0.0.0.0", 5)


def test_a_bad_value_names_the_environment_variable() -> None:
    with pytest.raises(ConfigError, match="PLAYBOOKS_MAX_LIMIT: expected a positive integer"):
        load_settings(environ={"PLAYBOOKS_MAX_LIMIT": "-3"})


def test_api_keys_are_secret_and_mapped_to_tenants(tmp_path: Path) -> None:
    keyfile = tmp_path / "keys"
    keyfile.write_text("# team keys\nkey-for-globex-000001=globex\n")
    s = load_settings(
        environ={
            "PLAYBOOKS_API_KEYS": "key-for-acme-0000001=acme",
            "PLAYBOOKS_API_KEYS_FILE": str(keyfile),
        }
    )
    assert s.api_key_map() == {"key-for-acme-0000001": "acme", "key-for-globex-000001": "globex"}
    assert isinstance(s.api_keys, Secret)
    assert "key-for-acme" not in repr(s.api_keys) and "key-for-acme" not in repr(s)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tiny-key=acme", "shorter than 16"),
        ("no-tenant-separator-here", "expected 'key=tenant'"),
        ("key-for-bad-tenant-01=Bad/Tenant", "expected 'key=tenant'"),
    ],
)
def test_malformed_api_keys_are_refused_without_echoing_the_key(value: str, message: str) -> None:
    s = load_settings(environ={"PLAYBOOKS_API_KEYS": value})
    with pytest.raises(ConfigError, match=message) as err:
        s.api_key_map()
    if "=" in value:
        assert value.split("=")[0] not in str(err.value)


def test_settings_survive_the_trip_through_the_environment() -> None:
    """How server workers get the parent's settings (indexer.settings.to_environ)."""
    from indexer.settings import SETTINGS, Secret, load_settings, to_environ

    given = load_settings(
        {"store": "/tmp/s", "port": "9001", "workers": "2", "api_keys": "k" * 16 + "=acme"},
        environ={"PLAYBOOKS_QUERYLOG": "false", "PLAYBOOKS_MANIFEST": ""},
    )
    again = load_settings(environ=to_environ(given))
    for s in SETTINGS:
        a, b = given.values[s.name], again.values[s.name]
        if isinstance(a, Secret):
            assert isinstance(b, Secret) and a.reveal() == b.reveal(), s.name
        else:
            assert a == b, s.name
    assert again.workers == 2 and again.querylog is False and again.manifest is None

"""Configuration: off by default, read from PLAYBOOKS_LLM_*, and the key never shows."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from indexer.errors import ConfigError
from indexer.settings import SETTINGS_BY_NAME, Secret, load_settings
from serve.llm import (
    NOT_CONFIGURED,
    PROMPT_VERSION,
    Candidate,
    LLMConfig,
    LLMPass,
    PassOutcome,
    apply_rerank,
)
from tests.serve.llm._fake_provider import Answer, Drop, Fail, FakeProvider, Raw, Slow
from tests.serve.llm.conftest import API_KEY, MODEL, PATHS, STOP, USER, ranking, run

LLM_SETTINGS = {
    "llm_provider": "",
    "llm_base_url": "",
    "llm_model": "",
    "llm_api_key": "",
    "llm_timeout_seconds": "1.5",
    "llm_budget_seconds": "2.0",
    "llm_rerank_top_n": "10",
    "llm_breaker_failures": "5",
    "llm_breaker_reset_seconds": "30",
    "llm_cache_size": "1024",
    "llm_cache_ttl_seconds": "600",
}


def test_every_llm_setting_is_declared_once_with_its_default_and_help() -> None:
    for name, default in LLM_SETTINGS.items():
        setting = SETTINGS_BY_NAME[name]
        assert setting.default == default
        assert setting.env == "PLAYBOOKS_" + name.upper()
        assert setting.help.strip()
        assert setting.secret == (name == "llm_api_key")


def test_the_pass_is_off_by_default_and_reports_skipped(candidates: list[Candidate]) -> None:
    settings = load_settings(environ={})
    assert LLMConfig.from_settings(settings) is None
    assert LLMPass.from_settings(settings) is None
    outcome = PassOutcome.not_configured()
    assert (outcome.status, outcome.detail, outcome.model) == ("skipped", NOT_CONFIGURED, None)
    assert outcome.prompt_version == PROMPT_VERSION
    assert apply_rerank(candidates, outcome) == [
        (c, c.cheap_score, c.cheap_reason) for c in candidates
    ]


def test_a_pass_configured_from_the_environment_talks_to_the_provider(
    fake: FakeProvider, provider: str, candidates: list[Candidate]
) -> None:
    environ = {
        "PLAYBOOKS_LLM_PROVIDER": provider.upper(),
        "PLAYBOOKS_LLM_MODEL": MODEL,
        "PLAYBOOKS_LLM_BASE_URL": fake.base_url,
        "PLAYBOOKS_LLM_API_KEY": API_KEY,
        "PLAYBOOKS_LLM_BUDGET_SECONDS": "1.0",
        "PLAYBOOKS_LLM_RERANK_TOP_N": "3",
    }
    settings = load_settings(environ=environ)
    assert isinstance(settings.llm_api_key, Secret)
    config = LLMConfig.from_settings(settings)
    assert config is not None
    assert (config.provider, config.budget_s, config.rerank_top_n) == (provider, 1.0, 3)
    assert config.timeout_s == 1.5 and config.breaker_failures == 5
    fake.script(Answer(ranking(STOP, USER)))

    async def go() -> PassOutcome:
        llm = LLMPass.from_settings(settings)
        assert llm is not None
        async with llm:
            return await llm.rerank("q", {}, candidates, cache_key_extra=())

    assert run(go).status == "applied"
    assert fake.requests[0].path == PATHS[provider]


def test_public_apis_are_the_defaults_when_no_base_url_is_given() -> None:
    assert LLMConfig("openai", "m").resolved_base_url == "https://api.openai.com"
    assert LLMConfig("anthropic", "m").resolved_base_url == "https://api.anthropic.com"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"PLAYBOOKS_LLM_PROVIDER": "gpt"}, "PLAYBOOKS_LLM_PROVIDER: expected one of openai"),
        ({"PLAYBOOKS_LLM_MODEL": ""}, "PLAYBOOKS_LLM_MODEL is required"),
        ({"PLAYBOOKS_LLM_BASE_URL": "ftp://x"}, "PLAYBOOKS_LLM_BASE_URL: expected an http"),
        ({"PLAYBOOKS_LLM_BUDGET_SECONDS": "0"}, "PLAYBOOKS_LLM_BUDGET_SECONDS: expected"),
        ({"PLAYBOOKS_LLM_RERANK_TOP_N": "0"}, "PLAYBOOKS_LLM_RERANK_TOP_N: expected a positive"),
    ],
)
def test_bad_settings_are_refused_at_start_up(changes: dict[str, str], message: str) -> None:
    environ = {"PLAYBOOKS_LLM_PROVIDER": "openai", "PLAYBOOKS_LLM_MODEL": "m", **changes}
    with pytest.raises(ConfigError) as raised:
        LLMConfig.from_settings(load_settings(environ=environ))
    assert str(raised.value).startswith(message)


def test_a_malformed_key_is_refused_without_showing_it() -> None:
    key = "sk-ключ-секрет-0123456789"
    with pytest.raises(ConfigError) as raised:
        LLMConfig("openai", "m", api_key=key)
    assert str(raised.value) == "PLAYBOOKS_LLM_API_KEY: must be printable ASCII"
    assert "ключ" not in repr(raised.value.details)


def test_the_key_never_appears_in_logs_details_or_reprs(
    fake: FakeProvider,
    config: LLMConfig,
    candidates: list[Candidate],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.script(
        Answer(ranking(STOP)),
        Answer("not json"),
        Fail(500),
        Fail(503, retry_after="1000"),
        Raw(b"garbage"),
        Drop(),
        Drop(),
        Slow(5.0, Answer(ranking(STOP))),
    )

    async def go() -> list[PassOutcome]:
        async with LLMPass(replace(config, breaker_failures=10)) as llm:
            outcomes = [
                await llm.rerank(f"q{n}", {}, candidates, cache_key_extra=(), budget_s=0.6)
                for n in range(6)
            ]
            outcomes.append(await llm.rerank("q0", {}, candidates, cache_key_extra=()))
            assert API_KEY not in repr(llm) and API_KEY not in repr(llm.provider)
            return outcomes

    outcomes = run(go)
    assert [o.status for o in outcomes] == [
        "applied",
        "invalid_output",
        "error",
        "error",
        "error",
        "timeout",
        "cached",
    ]
    # The double got the key (so it was really in play) ...
    assert fake.requests and all(API_KEY in str(r.headers) for r in fake.requests)
    # ... and nothing we log, report or print shows it.
    assert caplog.records, "the pass logs each outcome"
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(vars(record))
    assert API_KEY not in caplog.text
    for outcome in outcomes:
        assert API_KEY not in repr(outcome)
    assert API_KEY not in repr(config)
    wrong = LLMConfig(config.provider, MODEL, fake.base_url, api_key="sk-not-the-key-0000")
    refused = run(lambda: _one(wrong, candidates))
    assert refused.detail == "refused (HTTP 401) (1 attempt)"
    assert "sk-not-the-key-0000" not in caplog.text


async def _one(config: LLMConfig, candidates: list[Candidate]) -> PassOutcome:
    async with LLMPass(config) as llm:
        return await llm.rerank("q", {}, candidates, cache_key_extra=())

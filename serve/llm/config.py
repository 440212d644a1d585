"""The LLM pass's configuration, read from the ``llm_*`` settings (``PLAYBOOKS_LLM_*``).

The pass is off unless ``llm_provider`` names a provider; then ``llm_model`` is required and
``llm_base_url`` defaults to the provider's public API. The key is optional (local
OpenAI-compatible servers need none) and is held out of every repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from indexer.errors import ConfigError
from serve.llm.budget import DEFAULT_BUDGET_S
from serve.llm.providers import DEFAULT_BASE_URLS, PROVIDERS

PROVIDER_NAMES: Final = tuple(PROVIDERS)


@dataclass(frozen=True)
class LLMConfig:
    provider: str  # "openai" | "anthropic"
    model: str
    base_url: str = ""  # empty: the provider's public API
    api_key: str = field(default="", repr=False)
    timeout_s: float = 1.5  # one call
    budget_s: float = DEFAULT_BUDGET_S  # one pass, retries included
    rerank_top_n: int = 10
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    cache_size: int = 1024
    cache_ttl_s: float = 600.0

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigError(
                f"PLAYBOOKS_LLM_PROVIDER: expected one of {', '.join(PROVIDER_NAMES)} "
                f"(or empty to turn the LLM pass off), got {self.provider!r}",
                setting="PLAYBOOKS_LLM_PROVIDER",
            )
        if not self.model.strip():
            raise ConfigError(
                f"PLAYBOOKS_LLM_MODEL is required when PLAYBOOKS_LLM_PROVIDER={self.provider}",
                setting="PLAYBOOKS_LLM_MODEL",
            )
        base = self.resolved_base_url
        if not base.startswith(("http://", "https://")):
            raise ConfigError(
                f"PLAYBOOKS_LLM_BASE_URL: expected an http:// or https:// URL, got {base!r}",
                setting="PLAYBOOKS_LLM_BASE_URL",
            )
        if self.api_key and not (self.api_key.isascii() and self.api_key.isprintable()):
            # Named but never shown: the message must not carry any part of the key.
            raise ConfigError(
                "PLAYBOOKS_LLM_API_KEY: must be printable ASCII",
                setting="PLAYBOOKS_LLM_API_KEY",
            )
        for name, value in (("TIMEOUT_SECONDS", self.timeout_s), ("BUDGET_SECONDS", self.budget_s)):
            if not value > 0:
                raise ConfigError(
                    f"PLAYBOOKS_LLM_{name}: expected a number > 0, got {value}",
                    setting=f"PLAYBOOKS_LLM_{name}",
                )

    @property
    def resolved_base_url(self) -> str:
        return (self.base_url or DEFAULT_BASE_URLS[self.provider]).rstrip("/")

    @classmethod
    def from_settings(cls, settings: Any) -> LLMConfig | None:
        """The configuration in ``settings`` (:class:`indexer.settings.Settings`), or None
        when ``llm_provider`` is empty (the pass is off by default)."""
        provider = (settings.llm_provider or "").strip().lower()
        if not provider:
            return None
        key = settings.llm_api_key
        return cls(
            provider=provider,
            model=(settings.llm_model or "").strip(),
            base_url=settings.llm_base_url or "",
            api_key=key.reveal() if hasattr(key, "reveal") else (key or ""),
            timeout_s=float(settings.llm_timeout_seconds),
            budget_s=float(settings.llm_budget_seconds),
            rerank_top_n=int(settings.llm_rerank_top_n),
            breaker_failures=int(settings.llm_breaker_failures),
            breaker_reset_s=float(settings.llm_breaker_reset_seconds),
            cache_size=int(settings.llm_cache_size),
            cache_ttl_s=float(settings.llm_cache_ttl_seconds),
        )

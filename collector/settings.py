"""The one settings object: every ``SPENDSCOPE_*`` variable is declared (and documented) here
or, for the storage and response-cache groups, in ``collector._settings_storage`` and
``collector._settings_cache``, which ``Settings`` inherits.

Read it through :func:`get_settings` (cached) so tests can override it with
``get_settings.cache_clear()`` plus environment variables, or pass a ``Settings`` explicitly.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict
from pydantic_settings import SettingsError as EnvParseError

from collector._settings_cache import CacheSettings
from collector._settings_storage import StorageSettings
from collector.errors import SettingsError


class Settings(CacheSettings, StorageSettings):
    """Configuration for every spendscope process (gateway, recorder, dashboard, CLI)."""

    model_config = SettingsConfigDict(
        env_prefix="SPENDSCOPE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- recorder ------------------------------------------------------------------------
    record_requests: bool = Field(
        True, description="Record every request (turn off only to measure the recording cost)."
    )
    recorder_process: bool = Field(
        True,
        description=(
            "The gateway writes its batches from a child process (off the event loop's GIL);"
            " false writes them from a thread of the gateway's own process."
        ),
    )
    recorder_sqlite_cache_mib: int = Field(
        2,
        ge=1,
        le=4096,
        description=(
            "SQLite page cache of the recorder's writer process, in MiB. It appends at the"
            " right edge of each index, so a bigger cache mostly holds pages it will not read"
            " again (2, 8 and 64 MiB wrote equally fast at 10 M stored requests; 2 MiB keeps the"
            " writer ~8 MB smaller)."
        ),
    )
    recorder_queue_size: int = Field(
        50_000, ge=1, description="Events held in memory before spilling to the spool."
    )
    recorder_batch_size: int = Field(1000, ge=1, description="Most events written per batch.")
    recorder_flush_interval_ms: int = Field(
        200, ge=1, description="Longest an event waits in memory before its batch is written."
    )
    recorder_shutdown_timeout_s: float = Field(
        10.0, gt=0, description="On shutdown, drain for this long, then spool the rest."
    )
    spool_replay_interval_s: float = Field(
        5.0, gt=0, description="How often a spool is retried while the database is down."
    )
    recorder_durability: Literal["process", "fsync"] = Field(
        "process",
        description=(
            "'process': every answered request is in the journal before its last byte (a killed"
            " process loses none; a machine crash at most one flush interval). 'fsync': the"
            " response also waits for the journal's fsync (group commit), so a crash loses none."
        ),
    )
    recorder_lag_bound_s: float = Field(
        30.0, gt=0, description="An event unwritten for longer makes /healthz say degraded."
    )
    spool_min_free_mib: int = Field(
        64, ge=0, description="Free disk under the spool below this makes /healthz say degraded."
    )

    # --- gateway -------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8787, ge=1, le=65535, description="Port the gateway listens on.")
    upstream_base_url: str = Field(
        "https://api.openai.com/v1", description="Default upstream (OpenAI-compatible) base URL."
    )
    upstream_api_key: str | None = Field(
        None,
        description="Upstream API key, held only by the server. Falls back to OPENAI_API_KEY.",
    )
    max_attempts: int = Field(3, ge=1, le=10, description="Upstream tries per model.")
    connect_timeout_s: float = Field(5.0, gt=0, description="Upstream connect timeout.")
    read_timeout_s: float = Field(120.0, gt=0, description="Upstream read timeout.")
    total_timeout_s: float = Field(600.0, gt=0, description="Upstream total timeout per try.")
    backoff_base_ms: int = Field(250, ge=0, description="Base of exponential backoff.")
    backoff_max_ms: int = Field(8000, ge=0, description="Cap of one backoff sleep.")
    max_body_bytes: int = Field(
        25 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    key_cache_ttl_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="How long a gateway trusts a cached virtual key: a key revoked by another "
        "process (the CLI, another gateway) stops working within this bound.",
    )
    max_body_bytes_in_flight: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Most request-body bytes one gateway process holds at once (503 above).",
    )
    ingest_max_events: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Most events one POST /api/ingest call may carry (400 above).",
    )
    ingest_max_body_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="Largest body of POST /api/ingest and POST /v1/traces (413 above).",
    )
    upstreams: dict[str, str] = Field(
        default_factory=dict,
        description="Extra named upstreams, JSON {name: base URL}; 'default' is upstream_base_url.",
    )
    upstream_keys: dict[str, str | list[Any]] = Field(
        default_factory=dict,
        description="API keys of named upstreams ('default' included), JSON {name: key}, "
        '{name: [key, ...]} (used in turn) or {name: [{"key": key, "weight": N}, ...]}; '
        "missing ones use upstream_api_key. Reloaded on SIGHUP.",
    )
    upstream_routes: dict[str, str] = Field(
        default_factory=dict,
        description="Upstream per model, JSON {glob: upstream}; first match wins, else default.",
    )
    regional_upstreams: list[str] = Field(
        default_factory=list,
        description="Named upstreams that are regional-processing (data residency) endpoints, "
        "JSON [name, ...] ('default' included); their requests are priced with the model's "
        "regional uplift (+10 % for gpt-5.4 and later), now and when repriced.",
    )
    upstream_providers: dict[str, str] = Field(
        default_factory=dict,
        description="Provider of each named upstream, JSON {name: provider} (openai, anthropic, "
        "google or other); unset: inferred from the base URL's host (api.anthropic.com: anthropic, "
        "generativelanguage.googleapis.com: google, any other: openai). Recorded on each "
        "request and attempt; a model is priced with its provider's catalog entries only.",
    )
    fallback_models: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Models tried in order once a model's tries fail, JSON {model: [models]}.",
    )
    upstream_max_connections: int = Field(
        512, ge=1, description="Size of the pooled upstream connection pool (all upstreams)."
    )

    # --- limits, alerts ------------------------------------------------------------------
    redis_url: str | None = Field(
        None, description="Redis URL for rate limits shared across gateway processes."
    )
    timezone: str = Field("UTC", description="Timezone of calendar budget periods.")
    db_failure_policy: Literal["fail_open", "fail_closed"] = Field(
        "fail_open",
        description="When the database is unreachable: let traffic flow, or block hard budgets.",
    )
    redis_key_prefix: str = Field(
        "spendscope", description="Prefix of every Redis key spendscope writes (rate limits)."
    )
    rate_limit_lease_requests: int = Field(
        128,
        ge=0,
        description="Redis rate limits: a gateway takes headroom for this many requests (at "
        "most 1/32 of the limit) with one Redis call and admits from it locally; 0 asks Redis "
        "for every request.",
    )
    budget_cache_ttl_s: float = Field(
        5.0, gt=0, description="How long a gateway caches budget definitions and project limits."
    )
    budget_hold_ttl_s: float = Field(
        900.0, gt=0, description="An unsettled hard-budget reservation is released after this."
    )
    budget_default_output_cap: int = Field(
        32768,
        ge=1,
        description="Output tokens a hard budget reserves for a model of unknown output cap "
        "when the request sets no max_tokens.",
    )
    budget_lease_requests: int = Field(
        1024,
        ge=0,
        description="Quota leasing: a gateway reserves headroom for this many requests' worst "
        "case in one transaction (at most 1/32 of the budget) and admits from it locally; "
        "0 reserves every request on its own.",
    )
    budget_lease_max_age_s: float = Field(
        1.0,
        gt=0,
        description="A hard-budget lease is returned (its spend booked, unused headroom freed) "
        "after this many seconds.",
    )
    alert_interval_s: float = Field(60.0, gt=0, description="How often alert rules are evaluated.")
    batch_poll_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often the gateway asks upstream about the Batch API jobs and "
        "background responses it relayed (a job's lines, a response's usage, are recorded "
        "once it ends).",
    )
    batch_lease_s: float = Field(
        120.0,
        gt=0,
        description="How long one gateway process holds a Batch API job (or background "
        "response) it polls or records; another process takes it over only after this (e.g. "
        "when the first was killed).",
    )
    alert_webhook_secret: str | None = Field(
        None, description="HMAC-SHA256 key signing generic alert webhooks (X-Spendscope-Signature)."
    )
    alert_http_timeout_s: float = Field(
        5.0, gt=0, description="Timeout of one Slack/webhook alert delivery try."
    )
    alert_http_retries: int = Field(
        3, ge=0, le=10, description="Retries of a Slack/webhook delivery on 429/5xx/network errors."
    )
    alert_http_backoff_ms: int = Field(
        200, ge=0, description="Base of the exponential backoff between webhook retries."
    )
    smtp_host: str | None = Field(None, description="SMTP server for email alerts.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    smtp_username: str | None = Field(None, description="SMTP login (optional).")
    smtp_password: str | None = Field(None, description="SMTP password (optional).")
    smtp_from: str = Field("spendscope@localhost", description="Sender address of email alerts.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_timeout_s: float = Field(10.0, gt=0, description="Timeout of one SMTP delivery.")

    # --- reconciliation with OpenAI's bill ----------------------------------------------
    openai_admin_key: SecretStr | None = Field(
        None,
        description="OpenAI admin key (sk-admin-…) read by `spendscope reconcile` and the daily "
        "reconciliation job for the organization's Costs and Usage APIs (masked everywhere).",
    )
    openai_admin_base_url: str = Field(
        "https://api.openai.com/v1",
        description="Base URL of OpenAI's organization (admin) APIs; the reconciliation talks to "
        "it directly, never through the gateway.",
    )
    openai_key_ids: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="OpenAI API key ids (key_…) of the gateway's upstream keys, JSON {upstream: "
        "key id} or {upstream: [key id, ...]} for an upstream with several keys "
        "(upstream_keys) ('default' is upstream_base_url). Spend under any other key is "
        "unmetered.",
    )
    openai_project_ids: list[str] = Field(
        default_factory=list,
        description="OpenAI project ids (proj_…) the gateway's keys belong to, JSON list; used "
        "when openai_key_ids is empty: spend in other projects is unmetered.",
    )
    reconcile_days: int = Field(
        3,
        ge=1,
        le=31,
        description="The gateway's daily reconciliation re-fetches this many finished UTC days "
        "(OpenAI finalises a day's costs within about a day).",
    )

    # --- access --------------------------------------------------------------------------
    admin_token: str | None = Field(
        None, description="Bearer token for the admin and report APIs (full rights)."
    )
    viewer_tokens: str = Field(
        "",
        description="Bearer tokens for read-only access to the admin and report APIs, "
        "comma-separated.",
    )
    metrics_token: str | None = Field(
        None,
        description="Bearer token Prometheus must send to the gateway's /metrics "
        "(unset: /metrics is open, like /healthz).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of every process."
    )

    # --- OpenTelemetry export ------------------------------------------------------------
    otel_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP endpoint of `spendscope otel export`, e.g. http://collector:4318 "
        "(/v1/traces is added unless the URL has a path).",
    )
    otel_headers: SecretStr | None = Field(
        None,
        description="Headers sent with each OTLP export, comma-separated 'name=value' "
        "(e.g. an API key; masked in `config show`).",
    )
    otel_cursor_path: Path = Field(
        Path("./.spendscope/otel-cursor.json"),
        description="File in which `spendscope otel export` keeps which requests it exported.",
    )
    otel_timeout_s: float = Field(
        10.0, gt=0, description="Longest one OTLP export (with its retries) may take."
    )

    # --- dashboard -----------------------------------------------------------------------
    dashboard_host: str = Field("127.0.0.1", description="Address the dashboard listens on.")
    dashboard_port: int = Field(8050, ge=1, le=65535, description="Port the dashboard listens on.")
    dashboard_users: str = Field(
        "",
        description=(
            "Dashboard logins: comma-separated 'name:role:hash' (role admin or viewer; hash "
            "from `spendscope dashboard hash-password`). Single-quote it in a shell ($ signs)."
        ),
    )
    dashboard_secret_key: SecretStr | None = Field(
        None,
        description="Signs the dashboard's session cookie (≥ 32 random characters); "
        "required when dashboard_users is set.",
    )
    dashboard_allow_anonymous: bool = Field(
        False,
        description="Serve the dashboard without login, read-only as a viewer (trusted networks).",
    )
    dashboard_secure_cookies: bool = Field(
        False,
        description="Mark the dashboard's session cookie Secure (sent over HTTPS only): turn on "
        "when the dashboard is served behind HTTPS. The cookie is always HttpOnly, SameSite=Lax.",
    )

    @property
    def effective_upstream_api_key(self) -> str | None:
        """The key sent upstream: ours, else the standard OPENAI_API_KEY."""
        return self.upstream_api_key or os.environ.get("OPENAI_API_KEY")


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning a validation failure into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except EnvParseError as exc:
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"SPENDSCOPE_{field.group(1).upper()}" if field else "a SPENDSCOPE_* variable"
        raise SettingsError(f"invalid setting {name}: not valid JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SPENDSCOPE_" + "_".join(str(p) for p in first["loc"]).upper()
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; ``get_settings.cache_clear()`` in tests)."""
    return load_settings()

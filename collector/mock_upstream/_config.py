"""The mock upstream's one configuration object, shared by the CLI, tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from collector.mock_upstream._scenario import Scenario


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


@dataclass(frozen=True, slots=True)
class MockConfig:
    """How the fake OpenAI behaves (latency, pace and output length also have per-request
    ``x-mock-*`` header overrides, see the package docstring).

    Validated on construction so that a bad CLI flag fails before a socket is bound.
    """

    host: str = "127.0.0.1"
    port: int = 0
    latency_ms: float = 0.0
    tokens_per_s: float = 0.0
    seed: int = 0
    scenario: Scenario | None = None
    require_key: str | None = None
    accept_keys: tuple[str, ...] = ()  # with require_key: the keys accepted (401 for others)
    timeout_fault_s: float = 30.0
    retry_after_s: float = 0.1
    output_tokens: int | None = None
    rpm_limit: int = 10_000
    tpm_limit: int = 30_000_000
    # the Costs and Usage APIs (``_admin_api``): auth, faults, and scripted drift
    admin_key: str | None = None
    admin_faults: tuple[str, ...] = ()
    project_id: str = "proj_mock"
    bypass_tokens: int = 0  # a day's extra traffic on a key the gateway never used
    price_drift: tuple[str, str] | None = None  # (model prefix, factor) billed at another price
    missing_days: tuple[str, ...] = ()  # ISO days the bill leaves out
    batch_step_s: float = 2.0  # a batch spends this long validating, in progress, finalizing
    background_s: float = 1.0  # a background response runs this long before it ends
    # "anthropic": chat completions as Anthropic's OpenAI-compatible layer answers (_anthropic)
    provider: str = "openai"

    def __post_init__(self) -> None:
        checks = {
            "port must be 0..65535": 0 <= self.port <= 65535,
            "latency_ms must be >= 0": self.latency_ms >= 0,
            "tokens_per_s must be >= 0": self.tokens_per_s >= 0,
            "timeout_fault_s must be > 0": self.timeout_fault_s > 0,
            "retry_after_s must be >= 0": self.retry_after_s >= 0,
            "output_tokens must be >= 0": self.output_tokens is None or self.output_tokens >= 0,
            "rpm_limit must be >= 1": self.rpm_limit >= 1,
            "tpm_limit must be >= 1": self.tpm_limit >= 1,
            "batch_step_s must be >= 0": self.batch_step_s >= 0,
            "background_s must be >= 0": self.background_s >= 0,
            "require_key must be non-empty": self.require_key is None or bool(self.require_key),
            "accept_keys must be non-empty": all(self.accept_keys),
            "admin_faults must be ok, 429, 500, 503, 401 or malformed": all(
                f in ("ok", "429", "500", "503", "401", "malformed") for f in self.admin_faults
            ),
            "bypass_tokens must be >= 0": self.bypass_tokens >= 0,
            "missing_days must be YYYY-MM-DD": all(_is_day(d) for d in self.missing_days),
            "provider must be openai or anthropic": self.provider in ("openai", "anthropic"),
        }
        for message, ok in checks.items():
            if not ok:
                raise ValueError(message)

    @property
    def keys(self) -> frozenset[str] | None:
        """The API keys accepted (None: any non-empty bearer)."""
        wanted = (*self.accept_keys, *([self.require_key] if self.require_key else []))
        return frozenset(wanted) if wanted else None

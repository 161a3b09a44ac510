"""Every error spendscope raises, drawn once.

    SpendscopeError
    ├── SettingsError          invalid configuration (one line, naming the variable)
    ├── StorageError           the database refused or is unreachable (recorder spools)
    ├── PricingError           bad price data or a bad cost query
    ├── ReconcileError         OpenAI's Costs/Usage APIs refused, failed or answered nonsense
    └── GatewayError           an error with an OpenAI-shaped HTTP answer
        ├── InvalidRequest     400 invalid_request_error
        ├── AuthenticationFailed 401 invalid_api_key
        ├── PayloadTooLarge    413
        ├── NotFound           404
        ├── PolicyRefusal      our own policy said no (recorded ``blocked``: no error budget)
        │   ├── RateLimited    429 rate_limit_exceeded
        │   ├── BudgetExceeded 429 insufficient_quota (a hard budget is spent)
        │   ├── BudgetStoreUnavailable 503 (hard budgets cannot be checked; fail_closed)
        │   └── ServerBusy     503 (too many request bytes held at once; retried)
        ├── UpstreamUnavailable 502
        ├── UpstreamAuthFailed 502 (upstream refused the server's own key)
        └── UpstreamTimeout    504

Gateway errors render as ``{"error": {"message", "type", "param", "code"}}`` in one place
(:meth:`GatewayError.body`), so the official SDKs raise their usual exception classes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SpendscopeError(Exception):
    """Base of every error raised on purpose by spendscope."""


class SettingsError(SpendscopeError):
    """Configuration is invalid; the message is one line naming the variable."""


class StorageError(SpendscopeError):
    """The database refused a write or is unreachable."""


class PricingError(SpendscopeError):
    """Price data or a cost question is malformed."""


class ReconcileError(SpendscopeError):
    """Fetching OpenAI's bill failed; the message is one line saying why (nothing was stored)."""


class GatewayError(SpendscopeError):
    """An error the gateway answers with an OpenAI-shaped JSON body."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = None
    should_retry: ClassVar[bool | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.instance_code = code if code is not None else self.code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.instance_code,
            }
        }

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.should_retry is not None:
            headers["x-should-retry"] = "true" if self.should_retry else "false"
        return headers


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    should_retry = False


class AuthenticationFailed(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"
    should_retry = False


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"
    should_retry = False


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"
    should_retry = False


class PolicyRefusal(GatewayError):
    """Our own policy refused the request (limits, budgets, load shedding): the gateway records
    it with outcome ``blocked``, which does not spend the error budget."""


class RateLimited(PolicyRefusal):
    status = 429
    type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"
    should_retry = False


class BudgetExceeded(PolicyRefusal):
    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"
    should_retry = False


class BudgetStoreUnavailable(PolicyRefusal):
    """503: the database holding hard-budget counters is unreachable and the policy is
    fail_closed. Retryable, unlike a spent budget: the condition is transient."""

    status = 503
    type = "server_error"
    code = "budget_store_unavailable"
    should_retry = True


class ServerBusy(PolicyRefusal):
    """Our own load shedding: the SDK retries it after ``Retry-After``."""

    status = 503
    type = "server_error"
    code = "server_busy"
    should_retry = True


class UpstreamUnavailable(GatewayError):
    status = 502
    type = "server_error"
    code = "upstream_unavailable"


class UpstreamAuthFailed(GatewayError):
    """The upstream refused the server's key: a gateway misconfiguration, not the client's."""

    status = 502
    type = "server_error"
    code = "upstream_auth_failed"
    should_retry = False


class UpstreamTimeout(GatewayError):
    status = 504
    type = "server_error"
    code = "upstream_timeout"

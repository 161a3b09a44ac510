"""Errors of the budgets domain (configuration) and of admission when the store is down."""

from __future__ import annotations

from typing import ClassVar

from collector.errors import BudgetExceeded, SpendscopeError


class BudgetConfigError(SpendscopeError, ValueError):
    """A budget definition is invalid; the message is one line naming the problem."""


class BudgetStoreUnavailable(BudgetExceeded):
    """503: the database holding hard-budget counters is unreachable and policy is fail_closed.

    Retryable on purpose: the condition is transient, unlike a spent budget. A subclass of
    :class:`BudgetExceeded` because it is our own spend policy refusing, not a failure: the
    gateway records it with outcome ``blocked``, which does not burn the error budget.
    """

    status: ClassVar[int] = 503
    type: ClassVar[str] = "server_error"
    code: ClassVar[str] = "budget_store_unavailable"
    should_retry: ClassVar[bool] = True

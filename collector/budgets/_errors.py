"""Errors of the budgets domain (configuration); admission's refusals live in
:mod:`collector.errors` (``BudgetExceeded``, ``BudgetStoreUnavailable``, both ``PolicyRefusal``)."""

from __future__ import annotations

from collector.errors import BudgetStoreUnavailable, SpendscopeError

__all__ = ["BudgetConfigError", "BudgetStoreUnavailable"]


class BudgetConfigError(SpendscopeError, ValueError):
    """A budget definition is invalid; the message is one line naming the problem."""

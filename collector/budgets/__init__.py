"""Budgets: pure definitions and math (scope, period, thresholds, forecast) and the shell that
enforces hard budgets with atomic reservations in the database.

The gateway uses :class:`Admitter` (``admit`` → ``settle``/``release``) through
:class:`GatewayAdmission`; its reserves and settles are group-committed by a :class:`Ledger`
(``apply_batch``). The CLI and the alert evaluator use the store and :func:`budget_statuses`.
"""

from collector.budgets._admission import AdmissionContext, AdmissionTicket, usd
from collector.budgets._admitter import Admitter
from collector.budgets._batch import (
    BatchResult,
    ReserveAsk,
    SettleAsk,
    apply_batch,
    release,
    release_expired,
    reserve,
    settle,
    sweep_expired,
)
from collector.budgets._bookings import (
    JobCost,
    JobTicket,
    ended_ingest_bookings,
    job_key,
    job_ticket,
    replace_booked,
    start_job_ticket,
)
from collector.budgets._cost import TokenPrices, catalog_prices, output_cap, worst_case_cost
from collector.budgets._counters import Hold, Refusal, Reservation, SettledCounter
from collector.budgets._errors import BudgetConfigError, BudgetStoreUnavailable
from collector.budgets._evaluate import (
    BudgetStatus,
    Forecast,
    evaluate,
    exhaustion_at,
    forecast,
)
from collector.budgets._gateway import GatewayAdmission, context_for
from collector.budgets._lease import Lease, LeasePool
from collector.budgets._ledger import Ledger
from collector.budgets._measure import recorded_spend, rollup_scope_filter
from collector.budgets._period import (
    Period,
    PeriodKind,
    Window,
    counter_window,
    parse_period,
    parse_timezone,
    period_window,
    reset_time,
)
from collector.budgets._reconcile import reconcile_spent
from collector.budgets._scope import Scope, ScopeKind, Subject, matches, parse_scope
from collector.budgets._spec import (
    DEFAULT_THRESHOLDS,
    BudgetSpec,
    Mode,
    check_no_overlap,
    parse_amount,
    parse_thresholds,
)
from collector.budgets._status import budget_statuses
from collector.budgets._store import create_budget, delete_budget, load_budgets, update_budget

__all__ = [
    "DEFAULT_THRESHOLDS",
    "AdmissionContext",
    "AdmissionTicket",
    "Admitter",
    "BatchResult",
    "BudgetConfigError",
    "BudgetSpec",
    "BudgetStatus",
    "BudgetStoreUnavailable",
    "Forecast",
    "GatewayAdmission",
    "Hold",
    "JobCost",
    "JobTicket",
    "Lease",
    "LeasePool",
    "Ledger",
    "Mode",
    "Period",
    "PeriodKind",
    "Refusal",
    "Reservation",
    "ReserveAsk",
    "Scope",
    "ScopeKind",
    "SettleAsk",
    "SettledCounter",
    "Subject",
    "TokenPrices",
    "Window",
    "apply_batch",
    "budget_statuses",
    "catalog_prices",
    "check_no_overlap",
    "context_for",
    "counter_window",
    "create_budget",
    "delete_budget",
    "ended_ingest_bookings",
    "evaluate",
    "exhaustion_at",
    "forecast",
    "job_key",
    "job_ticket",
    "load_budgets",
    "matches",
    "output_cap",
    "parse_amount",
    "parse_period",
    "parse_scope",
    "parse_thresholds",
    "parse_timezone",
    "period_window",
    "reconcile_spent",
    "recorded_spend",
    "release",
    "release_expired",
    "replace_booked",
    "reserve",
    "reset_time",
    "rollup_scope_filter",
    "settle",
    "start_job_ticket",
    "sweep_expired",
    "update_budget",
    "usd",
    "worst_case_cost",
]

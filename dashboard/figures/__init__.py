"""DataFrames from the query layer → Plotly figures (pure: no I/O, no Dash).

Every figure shares one look (``_style``), colours series with ``palette.colour_for`` so a
model keeps its colour across pages, pre-formats money for hover text with ``format.money``
(floats would print $0.00 for sub-cent requests), and says what to do when there is no data.
"""

from dashboard.figures._base import (
    LINE_SERIES,
    NO_DATA_HINT,
    empty,
    fold_groups,
    money_axis_format,
    warm_up,
)
from dashboard.figures._health import (
    attempts_per_success,
    burn_rate_over_time,
    error_budget,
    errors_by,
    retry_success_over_time,
)
from dashboard.figures._reconcile import billed_vs_metered
from dashboard.figures._savings import (
    KIND_LABELS,
    SAVINGS_HINT,
    priced_savings,
    savings_over_time,
)
from dashboard.figures._usage import (
    budget_burn,
    budget_burndown,
    latency_over_time,
    spend_over_time,
    tokens_per_second,
    top_spenders,
)

__all__ = [
    "KIND_LABELS",
    "LINE_SERIES",
    "NO_DATA_HINT",
    "SAVINGS_HINT",
    "attempts_per_success",
    "billed_vs_metered",
    "budget_burn",
    "budget_burndown",
    "burn_rate_over_time",
    "empty",
    "error_budget",
    "errors_by",
    "fold_groups",
    "latency_over_time",
    "money_axis_format",
    "priced_savings",
    "retry_success_over_time",
    "savings_over_time",
    "spend_over_time",
    "tokens_per_second",
    "top_spenders",
    "warm_up",
]

"""The query layer: every number the dashboard and the report API show, as values.

Aggregates read only the rollups — ``hourly_rollups`` / ``hourly_tag_rollups`` for partial
days and hourly buckets, their daily copies (written with them) for whole UTC days, and the
project rollups (the same without key and user) whenever neither filter nor grouping needs
key or user — so a range is widened to whole UTC hours (see ``Filters``); detail reads
``requests``. Money is
always ``Decimal`` (object dtype in DataFrames), never float; ratios are floats of exact
fractions (``collector.analytics.slo``). Percentiles come from summed histogram buckets.
Filters the rollups cannot answer raise ``UnsupportedFilterError`` (a ``ValueError``):
tags combined with key/user filters, and tags on latency / reliability / error budgets.
No Dash here: the dashboard formats.

DataFrame columns, per function:

- ``spend_over_time``: ts, group, cost_usd, requests, prompt_tokens, completion_tokens
- ``top_spenders``: group, cost_usd, requests, prompt_tokens, completion_tokens
- ``latency_over_time``: ts, model, requests, p50_ms, p95_ms, p99_ms, ttft_p50_ms,
  ttft_p95_ms, tokens_per_s (failed requests as ``FAILED_SERIES``; with ``top``, models
  beyond the busiest as ``OTHER_SERIES``)
- ``reliability``: ts, project, requests, eligible, bad, error_budget_remaining, burn_rate,
  retried, rescued, retry_success_rate, attempts_per_success, failed_attempt_cost_usd
- ``error_budget_by_project``: project, slo_target, window_days, eligible, bad, remaining,
  burn_rate
- ``errors_breakdown``: outcome, error_type, http_status, model, requests
- ``requests_page`` (and ``requests_seek``'s pages): id, started_at, project, key,
  end_user, model, outcome, http_status, error_type, duration_ms, ttft_ms, attempt_count,
  prompt_tokens, completion_tokens, cost_usd, cost_source, stream
- ``savings``: ts, kind (cache / batch / flex /
  response_cache), model, requests, tokens, list_usd,
  paid_usd, saved_usd
- ``alert_history``: id, fired_at, state, resolved_at, rule, kind, scope, period,
  threshold, message, delivery (and the total count)
- ``recording_issues``: what firing recorder-health alerts say (a list of lines)
- ``reconciliation``: a ``collector.reconcile.Reconciliation`` (totals, days, lines,
  unmetered spend) of the stored bill against ``requests``
- ``reconciliation_days`` / ``largest_differences`` / ``unmetered_spend`` /
  ``reconciliation_lines``: a reconciliation's per-day figures, its largest differences
  with their explanation, spend under keys the gateway never used, and every line
- ``batches_frame``: id, status, project, key, end_user, endpoint, model, request_total,
  request_completed, request_failed, lines_recorded, cost_usd, unpriced_lines, created_at,
  completed_at, recorded_at (``batch_jobs`` / ``batch_job`` give ``BatchSummary`` values)
- ``budget_burndown``: ts, spent_usd, cumulative_usd
- ``budget_status``: budget_id, name, scope_kind, scope_value, period, mode, period_start,
  period_end, amount_usd, spent_usd, forecast_usd, remaining_usd, used_pct
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.analytics._alerts import alert_history, recording_issues
    from collector.analytics._batches import BatchSummary, batch_job, batch_jobs, batches_frame
    from collector.analytics._budgets import budget_burndown, budget_status, period_window
    from collector.analytics._latency import latency_over_time
    from collector.analytics._model import (
        BUCKETS,
        FAILED_SERIES,
        GROUP_BYS,
        NONE_LABEL,
        OTHER_SERIES,
        SORTABLE,
        Bucket,
        FilterOptions,
        Filters,
        GroupBy,
        OverviewStats,
        RequestDetail,
        SortBy,
        UnsupportedFilterError,
    )
    from collector.analytics._overview import overview
    from collector.analytics._reconcile_frames import (
        largest_differences,
        reconciliation_days,
        reconciliation_lines,
        unmetered_spend,
    )
    from collector.analytics._reconciliation import metered_lines, reconciliation, stored_bill
    from collector.analytics._reliability import (
        error_budget_by_project,
        errors_breakdown,
        reliability,
    )
    from collector.analytics._request_detail import filter_options, request_detail
    from collector.analytics._requests import requests_page
    from collector.analytics._savings import savings
    from collector.analytics._seek import Cursor, SeekPage, requests_seek
    from collector.analytics._spend import spend_over_time, top_spenders

# Names load on first use: the gateway imports ``slo``/``_model``/``_sql`` only, and must not
# pay for pandas (~45 MB of RSS) that only the DataFrame queries need.
_LAZY = {
    "alert_history": "collector.analytics._alerts",
    "recording_issues": "collector.analytics._alerts",
    "BatchSummary": "collector.analytics._batches",
    "batch_job": "collector.analytics._batches",
    "batch_jobs": "collector.analytics._batches",
    "batches_frame": "collector.analytics._batches",
    "budget_burndown": "collector.analytics._budgets",
    "budget_status": "collector.analytics._budgets",
    "period_window": "collector.analytics._budgets",
    "latency_over_time": "collector.analytics._latency",
    "BUCKETS": "collector.analytics._model",
    "FAILED_SERIES": "collector.analytics._model",
    "OTHER_SERIES": "collector.analytics._model",
    "GROUP_BYS": "collector.analytics._model",
    "NONE_LABEL": "collector.analytics._model",
    "SORTABLE": "collector.analytics._model",
    "Bucket": "collector.analytics._model",
    "FilterOptions": "collector.analytics._model",
    "Filters": "collector.analytics._model",
    "GroupBy": "collector.analytics._model",
    "OverviewStats": "collector.analytics._model",
    "RequestDetail": "collector.analytics._model",
    "SortBy": "collector.analytics._model",
    "UnsupportedFilterError": "collector.analytics._model",
    "overview": "collector.analytics._overview",
    "metered_lines": "collector.analytics._reconciliation",
    "largest_differences": "collector.analytics._reconcile_frames",
    "reconciliation_days": "collector.analytics._reconcile_frames",
    "reconciliation_lines": "collector.analytics._reconcile_frames",
    "unmetered_spend": "collector.analytics._reconcile_frames",
    "reconciliation": "collector.analytics._reconciliation",
    "stored_bill": "collector.analytics._reconciliation",
    "error_budget_by_project": "collector.analytics._reliability",
    "errors_breakdown": "collector.analytics._reliability",
    "reliability": "collector.analytics._reliability",
    "filter_options": "collector.analytics._request_detail",
    "request_detail": "collector.analytics._request_detail",
    "requests_page": "collector.analytics._requests",
    "savings": "collector.analytics._savings",
    "Cursor": "collector.analytics._seek",
    "SeekPage": "collector.analytics._seek",
    "requests_seek": "collector.analytics._seek",
    "spend_over_time": "collector.analytics._spend",
    "top_spenders": "collector.analytics._spend",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BUCKETS",
    "FAILED_SERIES",
    "GROUP_BYS",
    "NONE_LABEL",
    "OTHER_SERIES",
    "SORTABLE",
    "BatchSummary",
    "Bucket",
    "Cursor",
    "FilterOptions",
    "Filters",
    "GroupBy",
    "OverviewStats",
    "RequestDetail",
    "SeekPage",
    "SortBy",
    "UnsupportedFilterError",
    "alert_history",
    "batch_job",
    "batch_jobs",
    "batches_frame",
    "budget_burndown",
    "budget_status",
    "error_budget_by_project",
    "errors_breakdown",
    "filter_options",
    "largest_differences",
    "latency_over_time",
    "metered_lines",
    "overview",
    "period_window",
    "reconciliation",
    "reconciliation_days",
    "reconciliation_lines",
    "recording_issues",
    "reliability",
    "request_detail",
    "requests_page",
    "requests_seek",
    "savings",
    "spend_over_time",
    "stored_bill",
    "top_spenders",
    "unmetered_spend",
]

"""The spendscope dashboard: a Dash app over ``collector.analytics`` (read-only)."""

from dashboard.app import create_dash_app

__all__ = ["create_dash_app"]

"""spendscope collector: gateway, recorder, pricing, budgets and alerts for OpenAI traffic."""

__version__ = "0.1.0"

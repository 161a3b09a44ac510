"""Exact money's one constant, shared by the schema and the writer (no imports: the writer
process loads this without SQLAlchemy)."""

from decimal import Decimal

MONEY_SCALE = 10  # amounts are exact to 1e-10 USD
MONEY_UNIT = Decimal(10) ** -MONEY_SCALE

"""Human formatting of money, counts, ratios and durations (pure; every figure and card uses it).

Money keeps its meaning at every size: whole dollars get cents, and sub-cent amounts keep
three significant digits (a $0.000027 request must not read as "$0.00").
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MISSING = "—"
_MAX_MONEY_DECIMALS = 10  # the database stores money at 1e-10 USD
_SIGNIFICANT = 3
_MONEY_STEPS = (
    (Decimal(10) ** 9, Decimal(10) ** 9, "B"),
    (Decimal(10) ** 6, Decimal(10) ** 6, "M"),
    (Decimal(10) ** 4, Decimal(10) ** 3, "k"),
)


def _as_decimal(value: Decimal | float | int) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def money_decimals(value: Decimal | float | int) -> int:
    """Decimal places that show ``value`` faithfully: 2 from a cent up, else 3 significant."""
    amount = abs(_as_decimal(value))
    if amount == 0 or amount >= Decimal("0.01"):
        return 2
    exponent = amount.adjusted()  # 0.000027 -> -5
    return min(_MAX_MONEY_DECIMALS, -exponent + _SIGNIFICANT - 1)


def money(value: Decimal | float | int | None) -> str:
    """``$1,234.57``, ``$0.42``, ``$0.000027``; None (unpriced) as an em dash."""
    if value is None:
        return MISSING
    amount = _as_decimal(value)
    places = money_decimals(amount)
    quantum = Decimal(1).scaleb(-places)
    rounded = amount.quantize(quantum, rounding=ROUND_HALF_UP)
    if places > 2:
        rounded = rounded.normalize()
        if -rounded.as_tuple().exponent < 2:  # type: ignore[operator]
            rounded = rounded.quantize(Decimal("0.01"))
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,f}"


def money_compact(value: Decimal | float | int | None) -> str:
    """Short money for cards and axes: ``$1.2k``, ``$3.40M``; small amounts as :func:`money`."""
    if value is None:
        return MISSING
    amount = _as_decimal(value)
    for threshold, divisor, suffix in _MONEY_STEPS:
        if abs(amount) >= threshold:
            scaled = (amount / divisor).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            sign = "-" if scaled < 0 else ""
            return f"{sign}${abs(scaled):,f}{suffix}"
    return money(amount)


def count(value: int | float | None) -> str:
    """``12,345``."""
    if value is None:
        return MISSING
    return f"{round(value):,d}"


def count_compact(value: int | float | None) -> str:
    """``950``, ``12.3k``, ``10.4M``."""
    if value is None:
        return MISSING
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:.1f}{suffix}"
    return count(value)


def percent(ratio: float | Decimal | None, digits: int = 1) -> str:
    """A ratio as a percentage; tiny non-zero ratios keep a significant digit (``0.004%``)."""
    if ratio is None:
        return MISSING
    pct = float(ratio) * 100
    if pct != 0 and abs(pct) < 10 ** (-digits):
        return f"{pct:.{_SIGNIFICANT - 1}g}%" if abs(pct) >= 1e-4 else "<0.0001%"
    return f"{pct:.{digits}f}%"


def duration_ms(value: float | None) -> str:
    """``850 ms``, ``1.25 s``, ``2 min 05 s``."""
    if value is None:
        return MISSING
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def rate(value: float | None, unit: str) -> str:
    """``42.0 tok/s``."""
    if value is None:
        return MISSING
    return f"{value:,.1f} {unit}"

"""Unusual spend, decided from values alone: a window's spend against the same window of the
week in earlier weeks. Pure and exact (Decimal money; no clock, no I/O).

With ``history`` the spend of the same hours in each earlier week, newest first (0 where
nothing was spent), less the oldest weeks that spent nothing (they may predate the scope, and
a scope two weeks old should be judged on those two weeks, not on six more zeros):

    m      = median(history)                      (0 when there is no history)
    MAD    = median(|h − m| for h in history)
    spread = max(1.4826 × MAD, floor_pct % × m, floor_usd)
    band   = [max(0, m − k × spread), m + k × spread]        k = sensitivity

The window is unusual when its spend is above the band *and* at least ``min_usd`` above m.
1.4826 × MAD estimates a standard deviation without letting a past spike widen the band; the
floors keep the band open where the history is short or flat (MAD 0), and ``min_usd`` keeps
cents from paging anyone. ``factor`` = spend ÷ m, or None when m is 0 (new spend).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

from collector.units import MONEY_UNIT

MAD_SCALE = Decimal("1.4826")  # MAD → standard deviation for normally distributed values
_FACTOR_UNIT = Decimal("0.01")
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_N = TypeVar("_N", Decimal, int)


@dataclass(frozen=True, slots=True)
class AnomalyParams:
    """How far above its usual spend a window must be to be unusual (see the module doc)."""

    sensitivity: Decimal = Decimal(6)
    min_usd: Decimal = Decimal(1)
    floor_pct: Decimal = Decimal(40)
    floor_usd: Decimal = Decimal("0.25")


@dataclass(frozen=True, slots=True)
class Band:
    """The expected spend of a window: its median, spread and the band k spreads around it."""

    median: Decimal
    spread: Decimal
    low: Decimal
    high: Decimal
    weeks: int  # how many earlier weeks it was computed from (since the first that spent)


@dataclass(frozen=True, slots=True)
class Verdict:
    observed: Decimal
    band: Band
    factor: Decimal | None  # observed ÷ median, two decimals; None when the median is 0
    unusual: bool


def _money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_UNIT, ROUND_HALF_EVEN)


def median(values: Sequence[Decimal]) -> Decimal:
    """The middle value (the mean of the two middle ones for an even count); 0 when empty."""
    if not values:
        return _ZERO
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def since_first_spend(history: Sequence[_N]) -> list[_N]:
    """``history`` (newest first) without the oldest weeks that spent nothing."""
    kept = list(history)
    while kept and kept[-1] == 0:
        kept.pop()
    return kept


def expected_band(history: Sequence[Decimal], params: AnomalyParams) -> Band:
    """The band a window's spend is expected in, from the same window in earlier weeks
    (newest first)."""
    history = since_first_spend(history)
    m = median(history)
    mad = median([abs(h - m) for h in history])
    spread = _money(max(MAD_SCALE * mad, m * params.floor_pct / _HUNDRED, params.floor_usd))
    reach = params.sensitivity * spread
    return Band(
        median=_money(m),
        spread=spread,
        low=_money(max(_ZERO, m - reach)),
        high=_money(m + reach),
        weeks=len(history),
    )


def assess(observed: Decimal, history: Sequence[Decimal], params: AnomalyParams) -> Verdict:
    """Whether ``observed`` is unusual against ``history``, with its band and factor."""
    band = expected_band(history, params)
    unusual = observed > band.high and observed - band.median >= params.min_usd
    factor = None
    if band.median > 0:
        factor = (observed / band.median).quantize(_FACTOR_UNIT, ROUND_HALF_EVEN)
    return Verdict(observed=observed, band=band, factor=factor, unusual=unusual)


def could_be_unusual(
    observed: _N, history: Sequence[_N], min_amount: _N, params: AnomalyParams
) -> bool:
    """False only where :func:`assess` cannot find ``observed`` unusual; exact on amounts in
    any one unit (USD, or the 1e-10 USD integers SQLite stores), so most of thousands of
    members are cleared without a conversion. ``min_amount`` is ``min_usd`` in that unit.

    Unusual needs observed − m ≥ min_usd with m ≥ 0, and observed > m + k × s ≥
    m × (1 + k × floor_pct / 100) with m ≥ the smallest kept week.
    """
    if observed < min_amount:
        return False
    kept = since_first_spend(history)
    if not kept:
        return True
    return observed * _HUNDRED > (_HUNDRED + params.sensitivity * params.floor_pct) * min(kept)

"""Unusual spend, decided from values alone: a window's spend against the same window of the
week in earlier weeks. Pure and exact (Decimal money; no clock, no I/O).

With ``history`` the spend of the same hours in each earlier week, newest first (0 where
nothing was spent), less the oldest weeks that spent nothing (they may predate the scope, and
a scope two weeks old should be judged on those two weeks, not on six more zeros):

    u      = the usual spend: the mean of history without its highest and lowest week
             (``center="trimmed"``; all of it for one or two weeks), or its median
    m      = median(history)                      (both 0 when there is no history)
    MAD    = median(|h − m| for h in history
                    + |g − m'| for g in neighbour)  (``scale="pooled"``; m' = median(neighbour))
           or median(|h − m| for h in history)     (``scale="mad"``)
    spread = max(1.4826 × MAD, floor_pct % × u, floor_usd)
    band   = [max(0, u − k × spread), u + k × spread]        k = sensitivity

The window is unusual when its spend is above the band *and* at least ``min_usd`` above u.
1.4826 × MAD estimates a standard deviation without letting a past spike widen the band; the
floors keep the band open where the history is short or flat (MAD 0), and ``min_usd`` keeps
cents from paging anyone. Like the median, the trimmed mean ignores one past spike (its week
is the highest, and dropped); but hourly spend made of few, costly requests is skewed (most
hours cheap, some dear) and its median sits below what such an hour usually costs, so a band
around the median pages on the dear hours (bench/README.md has the measurements).
``factor`` = spend ÷ u, or None when u is 0 (new spend).

``neighbour`` is the spend of the window one hour later (or earlier) in the same earlier weeks
(as many weeks as ``history`` keeps). A MAD of a dozen weeks is itself noisy: where the hour's
spend is a few dear requests, it can be well off the spread those weeks really have (1.2-1.5×
too wide on spikes the bench missed), and the band misses spikes or pages on ordinary hours.
The neighbouring window has nearly the same spread (its level may differ: each window's
deviations are taken from its own median), so pooling both windows' deviations doubles the
values the MAD is taken from without mixing levels. A past spike in either window is one
deviation of 24, which the median ignores. The evaluator reads both windows anyway (the last
complete hours and the hours ending now, one hour apart); bench/README.md has the measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal, TypeVar

from collector.units import MONEY_UNIT

MAD_SCALE = Decimal("1.4826")  # MAD → standard deviation for normally distributed values
_FACTOR_UNIT = Decimal("0.01")
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_N = TypeVar("_N", Decimal, int)
Center = Literal["trimmed", "median"]
CENTERS: tuple[Center, ...] = ("trimmed", "median")
Scale = Literal["pooled", "mad"]
SCALES: tuple[Scale, ...] = ("pooled", "mad")
DEFAULT_WEEKS = 12  # earlier weeks a rule compares with, unless it says otherwise


@dataclass(frozen=True, slots=True)
class AnomalyParams:
    """How far above its usual spend a window must be to be unusual (see the module doc).

    The defaults meet the issue's targets on bench/bench_anomaly.py's generated year."""

    sensitivity: Decimal = Decimal("4.5")
    min_usd: Decimal = Decimal(1)
    floor_pct: Decimal = Decimal(46)
    floor_usd: Decimal = Decimal("0.34")
    center: Center = "trimmed"
    scale: Scale = "pooled"


@dataclass(frozen=True, slots=True)
class Band:
    """The expected spend of a window: its usual spend, spread and the band k spreads around
    the usual spend; the median is kept for the alert's text."""

    usual: Decimal
    median: Decimal
    spread: Decimal
    low: Decimal
    high: Decimal
    weeks: int  # how many earlier weeks it was computed from (since the first that spent)


@dataclass(frozen=True, slots=True)
class Verdict:
    observed: Decimal
    band: Band
    factor: Decimal | None  # observed ÷ usual, two decimals; None when the usual is 0
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


def trimmed_mean(values: Sequence[Decimal]) -> Decimal:
    """The mean without the highest and the lowest value (of all of them when fewer than
    three); 0 when empty."""
    if not values:
        return _ZERO
    ordered = sorted(values)
    kept = ordered[1:-1] if len(ordered) >= 3 else ordered
    return sum(kept, _ZERO) / len(kept)


def since_first_spend(history: Sequence[_N]) -> list[_N]:
    """``history`` (newest first) without the oldest weeks that spent nothing."""
    kept = list(history)
    while kept and kept[-1] == 0:
        kept.pop()
    return kept


def _mad(history: list[Decimal], neighbour: Sequence[Decimal], params: AnomalyParams) -> Decimal:
    """The MAD of ``history``, pooled with the neighbouring window's (same weeks) if asked."""
    m = median(history)
    deviations = [abs(h - m) for h in history]
    near = list(neighbour[: len(history)]) if params.scale == "pooled" else []
    if near:
        m_near = median(near)
        deviations += [abs(g - m_near) for g in near]
    return median(deviations)


def expected_band(
    history: Sequence[Decimal], params: AnomalyParams, neighbour: Sequence[Decimal] = ()
) -> Band:
    """The band a window's spend is expected in, from the same window in earlier weeks
    (newest first) and, with ``scale="pooled"``, the neighbouring window in those weeks."""
    history = since_first_spend(history)
    m = median(history)
    u = trimmed_mean(history) if params.center == "trimmed" else m
    mad = _mad(history, neighbour, params)
    spread = _money(max(MAD_SCALE * mad, u * params.floor_pct / _HUNDRED, params.floor_usd))
    reach = params.sensitivity * spread
    return Band(
        usual=_money(u),
        median=_money(m),
        spread=spread,
        low=_money(max(_ZERO, u - reach)),
        high=_money(u + reach),
        weeks=len(history),
    )


def assess(
    observed: Decimal,
    history: Sequence[Decimal],
    params: AnomalyParams,
    neighbour: Sequence[Decimal] = (),
) -> Verdict:
    """Whether ``observed`` is unusual against ``history`` (and the neighbouring window's
    earlier weeks, see the module doc), with its band and factor."""
    band = expected_band(history, params, neighbour)
    unusual = observed > band.high and observed - band.usual >= params.min_usd
    factor = None
    if band.usual > 0:
        factor = (observed / band.usual).quantize(_FACTOR_UNIT, ROUND_HALF_EVEN)
    return Verdict(observed=observed, band=band, factor=factor, unusual=unusual)


def could_be_unusual(
    observed: _N, history: Sequence[_N], min_amount: _N, params: AnomalyParams
) -> bool:
    """False only where :func:`assess` cannot find ``observed`` unusual; exact on amounts in
    any one unit (USD, or the 1e-10 USD integers SQLite stores), so most of thousands of
    members are cleared without a conversion. ``min_amount`` is ``min_usd`` in that unit.

    Unusual needs observed − u ≥ min_usd with u ≥ 0, and observed > u + k × s ≥
    u × (1 + k × floor_pct / 100) with u (median or trimmed mean) ≥ the smallest kept week.
    """
    if observed < min_amount:
        return False
    kept = since_first_spend(history)
    if not kept:
        return True
    return observed * _HUNDRED > (_HUNDRED + params.sensitivity * params.floor_pct) * min(kept)

"""The detection math on fixed fixtures whose answers were worked out by hand, to the cent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from collector.anomaly import (
    AnomalyParams,
    assess,
    could_be_unusual,
    expected_band,
    median,
    trimmed_mean,
    windows,
)

D = Decimal
# k = 6, min_usd 1, floor 40 % of the usual spend or $0.25: round numbers to work by hand
DEFAULT = AnomalyParams(D(6), D(1), D(40), D("0.25"))
P20 = AnomalyParams(D(6), D(1), D(20), D("0.25"))


def usd(*values: str) -> list[Decimal]:
    return [D(v) for v in values]


def test_median_of_odd_even_and_empty() -> None:
    assert median(usd("3", "1", "2")) == D(2)
    assert median(usd("10", "30", "11", "12")) == D("11.5")
    assert median([]) == D(0)


def test_percentage_floor_sets_the_band_when_history_is_steady() -> None:
    # median 11.5; MAD = median(1.5, .5, .5, 18.5) = 1.0 → 1.4826; 20 % of 11.5 = 2.30 wins
    band = expected_band(usd("10", "12", "11", "30"), P20)
    assert (band.median, band.spread, band.low, band.high) == (D("11.5"), D("2.3"), D(0), D("25.3"))
    assert band.weeks == 4
    assert not assess(D("25.30"), usd("10", "12", "11", "30"), P20).unusual  # on the edge
    verdict = assess(D("25.31"), usd("10", "12", "11", "30"), P20)
    assert verdict.unusual and verdict.factor == D("2.20")  # 25.31 / 11.5 = 2.2008…


def test_trimmed_mean_leaves_out_the_highest_and_lowest() -> None:
    assert trimmed_mean(usd("3", "1", "2", "30")) == D("2.5")
    assert trimmed_mean(usd("4", "80", "4", "4", "4")) == D(4)  # one past spike: no effect
    assert trimmed_mean(usd("1", "2")) == D("1.5")  # too few to leave any out
    assert trimmed_mean([]) == D(0)


def test_the_tuned_defaults() -> None:
    p = AnomalyParams()
    assert (p.sensitivity, p.min_usd, p.floor_pct, p.floor_usd, p.center, p.scale) == (
        D("4.5"), D(1), D(46), D("0.34"), "trimmed", "pooled"
    )  # fmt: skip
    # no history: unusual above 4.5 × $0.34 = $1.53
    assert not assess(D("1.53"), [], p).unusual and assess(D("1.54"), [], p).unusual


def test_a_dear_hour_that_recurs_pages_only_around_the_median() -> None:
    # few, costly requests: most weeks cheap, three dear ones. Median 0.30, MAD 0.10.
    history = usd("0.2", "0.3", "2.0", "0.3", "0.2", "2.2", "0.3", "2.4")
    by_median = AnomalyParams(center="median")
    band = expected_band(history, by_median)
    assert (band.usual, band.spread, band.high) == (D("0.3"), D("0.34"), D("1.83"))
    assert assess(D("2.30"), history, by_median).unusual  # as dear as three earlier weeks
    # trimmed: the mean of 0.2, 0.3, 0.3, 0.3, 2.0, 2.2 = 0.88333…; spread 46 % of it
    trimmed = expected_band(history, AnomalyParams())
    assert (trimmed.usual, trimmed.median) == (D("0.8833333333"), D("0.3"))
    assert trimmed.spread == D("0.4063333333")
    assert trimmed.high == D("2.7118333332")  # 0.8833333333 + 4.5 × 0.4063333333
    assert not assess(D("2.30"), history, AnomalyParams()).unusual
    verdict = assess(D("2.72"), history, AnomalyParams())
    assert verdict.unusual and verdict.factor == D("3.08")  # 2.72 / 0.88333…


def test_mad_sets_the_band_when_history_varies() -> None:
    params = AnomalyParams(D(6), D(1), D(5), D("0.25"))
    # median 100; MAD = median(0, 20, 20, 5, 5) = 5 → spread 7.413; 6 × 7.413 = 44.478
    history = usd("100", "80", "120", "95", "105")
    band = expected_band(history, params)
    assert (band.spread, band.low, band.high) == (D("7.413"), D("55.522"), D("144.478"))
    assert not assess(D("144.47"), history, params).unusual
    hit = assess(D("144.48"), history, params)
    assert hit.unusual and hit.factor == D("1.44")


def test_the_pooled_mad_takes_the_neighbouring_hours_deviations_from_their_own_median() -> None:
    pooled = AnomalyParams(D(6), D(1), D(5), D("0.25"), "median", "pooled")
    alone = AnomalyParams(D(6), D(1), D(5), D("0.25"), "median", "mad")
    history = usd("10", "12", "8", "10", "14")  # median 10; deviations 0, 2, 2, 0, 4: MAD 2
    neighbour = usd("20", "26", "14", "20", "20")  # its own median 20: deviations 0, 6, 6, 0, 0
    # pooled: median(0, 0, 0, 0, 0, 2, 2, 4, 6, 6) = 1 → spread 1.4826; 10 + 6 × 1.4826
    band = expected_band(history, pooled, neighbour)
    assert (band.usual, band.spread, band.high) == (D(10), D("1.4826"), D("18.8956"))
    # the same hours alone: MAD 2 → spread 2.9652; 10 + 6 × 2.9652
    assert expected_band(history, alone, neighbour).high == D("27.7912")
    assert expected_band(history, pooled).high == D("27.7912")  # no neighbour: the same
    assert assess(D("18.90"), history, pooled, neighbour).unusual
    assert not assess(D("18.90"), history, alone, neighbour).unusual


def test_the_neighbour_counts_only_the_weeks_since_the_first_spend() -> None:
    pooled = AnomalyParams(D(6), D(1), D(5), D("0.25"), "median", "pooled")
    # two weeks old: history 10, 12 (median 11, deviations 1, 1); of the neighbour only
    # 20, 26 count (median 23, deviations 3, 3): median(1, 1, 3, 3) = 2 → spread 2.9652
    band = expected_band(usd("10", "12", "0", "0"), pooled, usd("20", "26", "5", "90"))
    assert (band.weeks, band.spread) == (2, D("2.9652"))


def test_one_past_spike_does_not_widen_the_band() -> None:
    steady = expected_band(usd("4", "4", "4", "4", "4"), P20)
    spiked = expected_band(usd("4", "4", "80", "4", "4"), P20)  # one week 20×
    assert steady.high == spiked.high == D("8.8")  # 4 + 6 × 0.80 (20 % floor)
    assert expected_band(usd("4", "4", "80", "4", "4"), DEFAULT).high == D("13.6")  # 40 %


def test_weeks_before_the_first_spend_do_not_count() -> None:
    young = expected_band(usd("3", "3", "0", "0", "0"), DEFAULT)  # newest first: 2 weeks old
    assert (young.median, young.weeks, young.high) == (D(3), 2, D("10.2"))  # 3 + 6 × 1.20
    gappy = expected_band(usd("0", "3", "0", "0"), DEFAULT)  # a quiet week since it began
    assert (gappy.median, gappy.weeks) == (D("1.5"), 2)
    assert expected_band(usd("0", "0", "0"), DEFAULT).weeks == 0


def test_a_scope_without_history_gets_the_usd_floor() -> None:
    for history in ([], usd("0", "0", "0", "0")):
        band = expected_band(history, DEFAULT)
        assert (band.median, band.spread, band.high) == (D(0), D("0.25"), D("1.5"))
        assert not assess(D("1.50"), history, DEFAULT).unusual
        fresh = assess(D("1.51"), history, DEFAULT)
        assert fresh.unusual and fresh.factor is None  # nothing is usually spent here


def test_cents_do_not_page_anyone() -> None:
    tight = AnomalyParams(D(6), D(1), D(40), D("0.01"))
    history = usd("0.01", "0.02", "0.01", "0.01")
    # median 0.01, MAD 0, floors 0.002 and 0.01 → band up to 0.07: 50× the usual spend …
    assert expected_band(history, tight).high == D("0.07")
    verdict = assess(D("0.50"), history, tight)
    assert verdict.factor == D("50.00") and not verdict.unusual  # … but only $0.49 over
    assert assess(D("1.01"), history, tight).unusual  # $1.00 over: reported
    stricter = AnomalyParams(D(6), D(2), D(40), D("0.25"))
    assert not assess(D("1.51"), [], stricter).unusual
    assert assess(D("2.00"), [], stricter).unusual


def test_sensitivity_scales_the_band() -> None:
    history = usd("10", "10", "10")
    assert expected_band(history, AnomalyParams(D(3), D(1), D(20), D("0.25"))).high == D(16)
    assert expected_band(history, AnomalyParams(D("1.5"), D(1), D(40), D("0.25"))).low == D(4)


NOW = datetime(2026, 11, 10, 3, 10, tzinfo=UTC)  # a Tuesday, ten minutes into 03:00
H = timedelta(hours=1)
W = timedelta(days=7)


def test_windows_are_the_last_complete_hours_and_the_running_ones() -> None:
    three = NOW.replace(minute=0)
    wins = windows(NOW, hours=2, weeks=2)
    assert wins.complete == (three - 2 * H, three - H)
    assert wins.current == (three - H, three)
    first = three - 2 * H
    assert wins.spans() == [(first, three), (first - W, three - W), (first - 2 * W, three - 2 * W)]


def test_bounds_are_each_weeks_first_and_last_hour() -> None:
    three = NOW.replace(minute=0)
    wins = windows(NOW, hours=3, weeks=1)
    assert wins.bounds(wins.current) == [(three - 2 * H, three), (three - 2 * H - W, three - W)]


def test_the_cheap_check_never_clears_an_unusual_window() -> None:
    rng = random.Random(20)
    params = [DEFAULT, P20, AnomalyParams(D(2), D(0), D(0), D("0.25")), AnomalyParams(),
              AnomalyParams(center="median"), AnomalyParams(scale="mad")]  # fmt: skip
    for _ in range(3000):
        history = [D(rng.choice([0, 1, 2, 5, 40])) * D(rng.random()).quantize(D("0.01"))
                   for _ in range(rng.randint(0, 6))]  # fmt: skip
        neighbour = [D(rng.choice([0, 1, 2, 5, 40])) * D(rng.random()).quantize(D("0.01"))
                     for _ in history]  # fmt: skip
        observed = D(rng.uniform(0, 60)).quantize(D("0.0001"))
        for p in params:
            possible = could_be_unusual(observed, history, p.min_usd, p)
            assert possible or not assess(observed, history, p, neighbour).unusual
            units = [int(h * 10**10) for h in history]  # the integers SQLite stores
            same = could_be_unusual(int(observed * 10**10), units, int(p.min_usd * 10**10), p)
            assert same == possible
    # a usual window is cleared; a small one too; 3.4 × the smallest week is not
    assert not could_be_unusual(D(10), usd("9", "10", "11"), D(1), DEFAULT)
    assert not could_be_unusual(D("0.99"), [], D(1), DEFAULT)
    assert could_be_unusual(D("30.61"), usd("9", "10", "11"), D(1), DEFAULT)


def test_spend_below_the_band_is_not_unusual() -> None:
    assert not assess(D(0), usd("50", "50", "50"), DEFAULT).unusual

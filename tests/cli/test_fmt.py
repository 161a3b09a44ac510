"""The CLI's money, id and column rules."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

from collector.cli.fmt import Col, money, short_id, table


def test_money_to_the_cent_or_exact() -> None:
    assert money(Decimal("1234.5678901234")) == "1,234.57"
    assert money(Decimal("0.004")) == "<0.01" and money(Decimal("-0.004")) == "-<0.01"
    assert money(Decimal("0.005")) == "0.01" and money(Decimal(0)) == "0.00"
    assert money(Decimal("0.000027"), exact=True) == "0.0000270000"
    assert money(None) == ""


def test_short_ids_keep_the_random_tail() -> None:
    rid = "01M94ZK3Q8E5G2W7X1Y9ABCDEF"
    assert short_id(rid) == "…" + rid[-8:]
    assert short_id(rid, wide=True) == rid


def test_fixed_columns_stay_whole_and_flex_columns_share_the_rest() -> None:
    columns = [Col("fixed"), Col("a", flex=1), Col("b", flex=3)]
    rows = [["0123456789", "x" * 40, "y" * 40]]
    console = Console(width=40, record=True)
    console.print(table(columns, rows, width=40))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 40
    assert lines[1].startswith("0123456789 ")
    a, b = lines[1].split()[1:]
    assert a.endswith("…") and b.endswith("…") and len(b) > 2 * len(a)
    wide = Console(width=200, record=True)
    wide.print(table(columns, rows, width=None))
    text = wide.export_text()
    assert "x" * 40 in text and "y" * 40 in text

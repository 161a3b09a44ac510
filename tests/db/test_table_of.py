"""Core statements reach a model's table through ``collector.db.table_of``, one typed accessor,
instead of ``Model.__table__`` with a ``type: ignore`` in every module that needs it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Table

from collector.db import AlertEvent, Request, table_of
from collector.db.bills import BillDay

ROOT = Path(__file__).resolve().parents[2]


def test_table_of_is_the_models_own_table() -> None:
    for model in (Request, AlertEvent, BillDay):
        table = table_of(model)
        assert isinstance(table, Table) and table is model.__table__
    assert table_of(Request).name == "requests"


def test_no_module_silences_the_type_of_a_models_table() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("collector", "dashboard")
        for path in (ROOT / package).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "__table__" in line and "type: ignore" in line
    ]
    assert not found, "use collector.db.table_of: " + ", ".join(found)

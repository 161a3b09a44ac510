"""How the CLI shows money, ids and tables: to the cent within 80 columns by default, every
digit and every column with ``--exact`` / ``--wide``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from collector.units import MONEY_UNIT

CENT = Decimal("0.01")
SHORT_ID = 8  # a ULID's last characters are random: 8 of them tell a screenful apart
WIDE_CONSOLE = 1000  # --wide: never cut a cell (a pager or a wide terminal shows the rest)


def money(value: Decimal | None, *, exact: bool = False) -> str:
    """``12.50``; a non-zero amount under half a cent reads ``<0.01``; exact: all 10 places."""
    if value is None:
        return ""
    if exact:
        return format(value.quantize(MONEY_UNIT), "f")
    if value and abs(value) < CENT / 2:
        return "<0.01" if value > 0 else "-<0.01"
    return format(value.quantize(CENT, rounding=ROUND_HALF_UP), ",f")


def short_id(request_id: str, *, wide: bool = False) -> str:
    """The whole id with --wide, else ``…`` and its last characters (its random part)."""
    if wide or len(request_id) <= SHORT_ID + 1:
        return request_id
    return "…" + request_id[-SHORT_ID:]


@dataclass(frozen=True, slots=True)
class Col:
    """One table column: ``flex`` columns share what the fixed ones leave (cut with …)."""

    header: str
    justify: Literal["left", "right"] = "left"
    flex: int = 0  # the column's share of the room left; 0: always as wide as its cells


Cell = str | Text


def table(columns: Sequence[Col], rows: Sequence[Sequence[Cell]], *, width: int | None,
          header: bool = True) -> Table:  # fmt: skip
    """A borderless table, one space between columns, no wider than ``width`` (None: unlimited).

    Fixed columns keep their cells whole; the flex columns share the rest in proportion to
    their weight, each never wider than its longest cell.
    """
    natural = [
        max([cell_len(c.header) if header else 0, *(_len(row[i]) for row in rows)])
        for i, c in enumerate(columns)
    ]
    limits = _flex_limits(columns, natural, width)
    t = Table(show_header=header, box=None, pad_edge=False, padding=(0, 1, 0, 0))
    for c, limit in zip(columns, limits, strict=True):
        t.add_column(c.header, justify=c.justify, no_wrap=True, overflow="ellipsis",
                     max_width=limit, min_width=limit)  # fmt: skip
    for row in rows:
        t.add_row(*row)
    return t


def _len(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def _flex_limits(columns: Sequence[Col], natural: list[int], width: int | None) -> list[int | None]:
    """Water-filling: each flex column gets its weighted share, capped at its natural width."""
    flex = [i for i, c in enumerate(columns) if c.flex]
    if width is None or not flex:
        return [None] * len(columns)
    fixed = sum(n for i, n in enumerate(natural) if i not in flex)
    room = max(width - fixed - (len(columns) - 1), 0)
    limits: list[int | None] = [None] * len(columns)
    pending = list(flex)
    while pending:
        weight = sum(columns[i].flex for i in pending)
        share = {i: room * columns[i].flex // weight for i in pending}
        done = [i for i in pending if natural[i] <= share[i]]
        if not done:
            for i in pending:
                limits[i] = max(share[i], 1)
            break
        for i in done:
            limits[i] = natural[i]
            room -= natural[i]
            pending.remove(i)
    return limits


def console(*, wide: bool) -> Console:
    """The terminal's width (``COLUMNS`` when set), or room for every cell with --wide."""
    return Console(soft_wrap=False, width=WIDE_CONSOLE if wide else None, highlight=False)


def table_width(out: Console, *, wide: bool) -> int | None:
    """The width a table may take on ``out``: the terminal's, or unlimited with --wide."""
    return None if wide else out.width

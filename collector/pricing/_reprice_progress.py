"""What a reprice run covers and how far it got: its window, its running summary, and the
checkpoint file that lets an interrupted run resume (``collector.pricing.reprice`` does the work).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from collector.errors import PricingError
from collector.pricing._types import require_aware

_CHECKPOINT_VERSION = 1


@dataclass(frozen=True, slots=True)
class RepriceWindow:
    """Which rows to reprice: ``started_at`` in [start, end), optionally one model's rows.

    ``model`` matches a row's served *or* requested model, exactly.
    """

    start: datetime
    end: datetime
    model: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        require_aware(self.end, "end")
        if self.end <= self.start:
            raise PricingError("end must be after start")


@dataclass(slots=True)
class RepriceSummary:
    """Counts and exact totals of a run (cumulative across resumed runs)."""

    scanned: int = 0
    changed: int = 0
    newly_priced: int = 0
    newly_unpriced: int = 0
    skipped_no_usage: int = 0
    skipped_per_image: int = 0
    invalid: int = 0
    old_cost_usd: Decimal = Decimal(0)
    new_cost_usd: Decimal = Decimal(0)
    rollup_rows_missing: int = 0
    batches: int = 0
    last_id: str | None = None
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; money as exact decimal strings."""
        data = asdict(self)
        for key in ("old_cost_usd", "new_cost_usd"):
            data[key] = format(data[key], "f")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RepriceSummary:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("old_cost_usd", "new_cost_usd"):
            values[key] = Decimal(str(values.get(key, "0")))
        return cls(**values)

    def lines(self) -> list[str]:
        """A human summary, a few lines."""
        diff = self.new_cost_usd - self.old_cost_usd
        sign = "+" if diff >= 0 else "-"
        return [
            f"rows scanned: {self.scanned}, changed: {self.changed}, "
            f"newly priced: {self.newly_priced}, newly unpriced: {self.newly_unpriced}",
            f"left as recorded: {self.skipped_no_usage} without usage, "
            f"{self.skipped_per_image} billed per image, {self.invalid} with invalid usage",
            f"total cost: ${self.old_cost_usd:f} -> ${self.new_cost_usd:f} ({sign}${abs(diff):f})",
        ]


class Checkpoint:
    """The last committed id of a run, in a small JSON file, so a rerun can resume."""

    def __init__(self, path: Path, key: dict[str, Any]) -> None:
        self.path = path
        self.key = key

    def load(self) -> RepriceSummary | None:
        """The saved progress, or None when there is none for these arguments."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise PricingError(f"checkpoint {self.path} is unreadable ({exc}); delete it") from None
        if data.get("version") != _CHECKPOINT_VERSION or data.get("key") != self.key:
            return None
        return RepriceSummary.from_dict(data["summary"])

    def save(self, summary: RepriceSummary) -> None:
        """Write atomically (temp file + rename), so a crash never leaves half a file."""
        payload = {"version": _CHECKPOINT_VERSION, "key": self.key, "summary": summary.to_dict()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def checkpoint_for(directory: Path, window: RepriceWindow, database_url: str) -> Checkpoint:
    """The checkpoint of these arguments on this database: ``reprice-<hash>.json``."""
    url = make_url(database_url).render_as_string(hide_password=True)
    key = {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "model": window.model,
        "database": url,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Checkpoint(directory / f"reprice-{digest}.json", key)

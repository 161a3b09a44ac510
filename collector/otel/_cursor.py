"""The exporter's durable position: a small JSON file, replaced atomically after each batch.

Ids are ULIDs (start-time order) but rows are written when a request *ends*, so a request
can be recorded after later-starting ones. The cursor therefore keeps ``after`` (every id at
or below it is done) plus the ids exported above it; ``after`` only moves up to the settle
horizon (now − settle seconds), so a slow request recorded late is still picked up.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


class CursorError(Exception):
    """The cursor file exists but cannot be read."""


@dataclass
class Cursor:
    after: str = ""
    exported: set[str] = field(default_factory=set)
    endpoint: str | None = None

    @classmethod
    def load(cls, path: Path) -> Cursor:
        """The saved cursor, or a fresh one when the file does not exist yet."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise CursorError(f"cannot read the cursor file {path}: {exc}") from None
        ok = (
            isinstance(data, dict)
            and isinstance(data.get("after"), str)
            and isinstance(data.get("exported"), list)
            and all(isinstance(i, str) for i in data["exported"])
        )
        if not ok:
            raise CursorError(f"the cursor file {path} is not a spendscope OTel cursor")
        endpoint = data.get("endpoint")
        return cls(
            data["after"], set(data["exported"]), endpoint if isinstance(endpoint, str) else None
        )

    def done(self, request_id: str) -> bool:
        return request_id <= self.after or request_id in self.exported

    def advance(self, exported: list[str], horizon: str) -> None:
        """Mark ``exported`` as sent; move ``after`` up to ``horizon`` at most."""
        self.exported.update(exported)
        self.after = max(self.after, horizon)
        self.exported = {i for i in self.exported if i > self.after}

    def save(self, path: Path) -> None:
        """Write to a temporary file, fsync, rename: a crash leaves the old or the new file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": 1,
            "endpoint": self.endpoint,
            "after": self.after,
            "exported": sorted(self.exported),
        }
        fd, tmp = tempfile.mkstemp(prefix=".otel-cursor-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

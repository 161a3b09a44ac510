"""Taking an event in: its one encoded line, repaired first only when it must be.

Most events fit their columns as sent, which a quick test on the line shows
(``storable.fits``); the rest go through ``storable.make_storable``. Whatever fails, the
request's money is kept: at worst its metadata and tags are dropped, and that is noted.
"""

from __future__ import annotations

import logging

from collector.recorder import codec
from collector.recorder.events import UsageEvent
from collector.recorder.storable import CHANGED_KEY, fits, make_storable

log = logging.getLogger(__name__)


def take_in(event: UsageEvent) -> tuple[bytes | None, int]:
    """(the event's line, 1 if a value was repaired else 0); the line is None only when the
    event cannot be encoded at all (logged: the caller counts it as dropped)."""
    line = _as_sent(event)
    if line is not None:
        return line, 0
    try:
        repaired = 1 if make_storable(event) else 0
        return codec.encode(event), repaired
    except Exception as exc:
        log.exception("recorder: request %s could not be taken in as sent", event.id)
        event.tags = {}
        event.metadata = {CHANGED_KEY: [f"metadata and tags dropped: {exc!r}"[:300]]}
    try:
        return codec.encode(event), 1
    except Exception:
        log.exception("recorder: request %s DROPPED: it cannot be encoded", event.id)
        return None, 0


def _as_sent(event: UsageEvent) -> bytes | None:
    """The event's line when every value fits as sent; None when it needs the repair
    (a value JSON cannot carry makes the encoding fail: that needs it too)."""
    try:
        line = codec.encode(event)
        return line if fits()(event, line) else None
    except Exception:  # anything odd goes to the full repair, which logs what it cannot do
        return None

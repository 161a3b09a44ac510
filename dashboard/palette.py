"""Stable colours: the same model (or project, key, user, tag) has the same colour on every chart.

Well-known model families get fixed hues; any other name is hashed (crc32, not Python's
salted ``hash``) into a 20-colour palette, so a colour survives restarts and processes.
"""

from __future__ import annotations

import re
import zlib

PALETTE: tuple[str, ...] = (
    "#2c7fb8",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#d62728",
    "#17becf",
    "#bcbd22",
    "#8c564b",
    "#e377c2",
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#66a61e",
    "#e7298a",
    "#a6761d",
    "#0868ac",
    "#fd8d3c",
    "#74c476",
    "#9e9ac8",
    "#636363",
)
NONE_COLOUR = "#b0b7bf"

# Exact family names; a dated snapshot ("gpt-4o-mini-2024-07-18") gets a shade of its
# family's hue, so related models look related yet stay apart on one chart.
_FAMILIES: dict[str, str] = {
    "gpt-4o-mini": "#18bc9c",
    "gpt-4o": "#2c3e50",
    "gpt-4.1-nano": "#76d7c4",
    "gpt-4.1-mini": "#1abc9c",
    "gpt-4.1": "#3498db",
    "gpt-5-nano": "#f4d03f",
    "gpt-5-mini": "#f39c12",
    "gpt-5": "#d35400",
    "o4-mini": "#af7ac5",
    "o3-mini": "#c39bd3",
    "o3": "#8e44ad",
    "o1": "#6c3483",
    "gpt-3.5-turbo": "#7f8c8d",
    "text-embedding-3-small": "#5dade2",
    "text-embedding-3-large": "#2874a6",
}
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")

OUTCOME_COLOURS: dict[str, str] = {
    "success": "#18bc9c",
    "client_error": "#f39c12",
    "upstream_error": "#e74c3c",
    "timeout": "#8e44ad",
    "cancelled": "#95a5a6",
    "blocked": "#34495e",
    "cache_hit": "#f1c40f",
}


def _shade(colour: str, seed: str) -> str:
    """A lighter or darker variant of ``colour``, chosen by ``seed`` (for dated snapshots)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    step = zlib.crc32(seed.encode()) % 4
    target, weight = (255, 0.25 + 0.1 * step) if step % 2 else (0, 0.2 + 0.08 * step)
    mixed = (round(c + (target - c) * weight) for c in (r, g, b))
    return "#" + "".join(f"{c:02x}" for c in mixed)


def colour_for(name: str | None) -> str:
    """The colour of a series named ``name`` (a model, project, key, user or tag)."""
    if not name or name == "(none)":
        return NONE_COLOUR
    family = _SNAPSHOT.sub("", name)
    fixed = _FAMILIES.get(family)
    if fixed is not None:
        return fixed if family == name else _shade(fixed, name)
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def colour_map(names: list[str]) -> dict[str, str]:
    """Colours for the names of one chart."""
    return {name: colour_for(name) for name in names}

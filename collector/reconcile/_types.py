"""Values of reconciliation: OpenAI's bill lines, what spendscope metered, and the comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

COSTS = "costs"  # the ``source`` of a Costs API line (the others are usage endpoints)
ZERO = Decimal("0E-10")


class GroupBy(StrEnum):
    """What a reconciliation line is, besides its day."""

    MODEL = "model"
    PROJECT = "project"
    API_KEY = "api_key"


class LineKind(StrEnum):
    """What a line's difference means (docs/finance.md, "Reading the reconciliation")."""

    MATCH = "match"  # tokens and dollars agree
    PRICE = "price"  # tokens agree, dollars differ: a price in the catalog is wrong
    TOKENS = "tokens"  # tokens differ: requests missing on one side
    UNMATCHED = "unmatched"  # billed without usage figures (e.g. a line item with no model)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token totals as both sides count them (input includes cached, as OpenAI's)."""

    input: int = 0
    cached: int = 0
    output: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            self.input + other.input, self.cached + other.cached, self.output + other.output
        )

    @property
    def total(self) -> int:
        return self.input + self.output


@dataclass(frozen=True, slots=True)
class BillItem:
    """One result of the Costs API (``billed_usd`` set) or of a Usage API (counts set)."""

    day: date
    source: str
    line_item: str = ""
    model: str = ""
    project_id: str = ""
    api_key_id: str = ""
    batch: bool = False
    billed_usd: Decimal | None = None
    input_tokens: int = 0
    input_cached_tokens: int = 0
    output_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    requests: int = 0
    images: int = 0
    seconds: int = 0
    characters: int = 0

    @property
    def tokens(self) -> Tokens:
        return Tokens(self.input_tokens, self.input_cached_tokens, self.output_tokens)


@dataclass(frozen=True, slots=True)
class MeteredLine:
    """What spendscope recorded for one UTC day, served model and upstream."""

    day: date
    model: str
    upstream: str
    cost_usd: Decimal
    tokens: Tokens
    requests: int
    unpriced_requests: int = 0
    estimated_requests: int = 0  # priced from spendscope's own count (cut streams, lost tries)


@dataclass(frozen=True, slots=True)
class Ownership:
    """Which OpenAI keys and projects are the gateway's own (the rest is unmetered spend).

    ``key_ids`` maps the gateway's upstream names to OpenAI API key ids: one, or several when the
    upstream rotates keys (every one listed is the gateway's). With neither keys nor projects
    known, every bill line counts as the gateway's and nothing is called unmetered.
    """

    key_ids: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    project_ids: frozenset[str] = frozenset()

    @property
    def known(self) -> bool:
        return bool(self.key_ids) or bool(self.project_ids)

    def ids(self, upstream: str) -> tuple[str, ...]:
        """The OpenAI key ids of one upstream (none when it is not configured)."""
        ids = self.key_ids.get(upstream, ())
        return (ids,) if isinstance(ids, str) else tuple(ids)

    def label(self, upstream: str) -> str:
        """An upstream's group when grouping by key: its key id, or its ids joined by ``+``
        (the metered record cannot tell an upstream's rotated keys apart)."""
        return "+".join(self.ids(upstream))

    def key_label(self, api_key_id: str) -> str:
        """The group of a bill line's key: its upstream's label, or the key id itself."""
        for upstream in self.key_ids:
            if api_key_id in self.ids(upstream):
                return self.label(upstream)
        return api_key_id

    def owns(self, api_key_id: str, project_id: str) -> bool:
        if self.key_ids:
            return any(api_key_id in self.ids(u) for u in self.key_ids)
        if self.project_ids:
            return project_id in self.project_ids
        return True


@dataclass(frozen=True, slots=True)
class Figures:
    """Money of one day or of the whole range.

    ``billed_usd`` is the whole bill; ``unmetered_usd`` its part under keys or projects the
    gateway never used; ``difference_usd`` = billed − unmetered − metered (what the gateway's
    own traffic does not explain); ``coverage`` = metered ÷ (billed − unmetered), None when
    OpenAI billed the gateway's keys nothing.
    """

    billed_usd: Decimal = ZERO
    metered_usd: Decimal = ZERO
    unmetered_usd: Decimal = ZERO

    @property
    def own_billed_usd(self) -> Decimal:
        return self.billed_usd - self.unmetered_usd

    @property
    def difference_usd(self) -> Decimal:
        return self.own_billed_usd - self.metered_usd

    @property
    def coverage(self) -> Decimal | None:
        own = self.own_billed_usd
        return None if own == 0 else self.metered_usd / own


@dataclass(frozen=True, slots=True)
class Line:
    """One day × group (model, project or key) of the gateway's own traffic, both sides."""

    day: date
    group: str
    billed_usd: Decimal
    metered_usd: Decimal
    billed_tokens: Tokens
    metered_tokens: Tokens
    billed_requests: int
    metered_requests: int
    kind: LineKind
    explanation: str

    @property
    def difference_usd(self) -> Decimal:
        return self.billed_usd - self.metered_usd


@dataclass(frozen=True, slots=True)
class Unmetered:
    """Spend under one OpenAI key / project the gateway never used, over the range."""

    api_key_id: str
    project_id: str
    billed_usd: Decimal
    tokens: Tokens
    requests: int
    days: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The whole comparison for ``start``..``end`` (UTC days, both included)."""

    start: date
    end: date
    group_by: GroupBy
    totals: Figures
    days: tuple[tuple[date, Figures], ...]
    lines: tuple[Line, ...]
    unmetered: tuple[Unmetered, ...]
    notes: tuple[str, ...] = ()
    fetched_days: frozenset[date] = frozenset()

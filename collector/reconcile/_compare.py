"""OpenAI's bill against what spendscope metered: a pure function of values.

Per UTC day and group (model, project or key) of the gateway's own traffic:

- tokens equal, dollars equal → ``match``;
- tokens equal, dollars differ → ``price``: a catalog price is wrong or out of date; the
  implied rate is billed ÷ tokens against the catalog's metered ÷ tokens (per 1M tokens);
- tokens differ → ``tokens``: requests are missing on one side (which side has more says
  which: OpenAI billed traffic spendscope did not record, or the reverse);
- billed money with no usage figures on either side → ``unmatched`` (a line item spendscope
  does not meter).

Images, speech, transcriptions and code interpreter sessions are billed per image, character,
second or session, and their Usage APIs report no tokens: where the bill's usage of a line
comes from those alone, dollars are compared (and requests, to tell a wrong price from
missing requests), not tokens. The Usage API of sessions names no key: it is the gateway's
when its project is.

Bill lines under keys or projects the gateway does not own are *unmetered* spend, reported
per key and project instead of being compared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from collector.reconcile._types import (
    COSTS,
    ZERO,
    BillItem,
    Figures,
    GroupBy,
    Line,
    LineKind,
    MeteredLine,
    Ownership,
    Reconciliation,
    Tokens,
    Unmetered,
)

_MILLION = Decimal(1_000_000)
# Usage APIs that count images, characters, seconds or sessions, never tokens
UNIT_SOURCES = frozenset({"images", "audio_speeches", "audio_transcriptions",
                          "code_interpreter_sessions"})  # fmt: skip
_RATE = Decimal("0.0001")


@dataclass(slots=True)
class _Side:
    usd: Decimal = ZERO
    tokens: Tokens = field(default_factory=Tokens)
    requests: int = 0
    unpriced: int = 0
    estimated: int = 0
    units: bool = False  # usage from a Usage API that reports no tokens (``UNIT_SOURCES``)

    def add(
        self, usd: Decimal | None, tokens: Tokens, requests: int, unpriced: int = 0,
        estimated: int = 0,
    ) -> None:  # fmt: skip
        self.usd += usd or ZERO
        self.tokens = self.tokens + tokens
        self.requests += requests
        self.unpriced += unpriced
        self.estimated += estimated


def days_of(start: date, end: date) -> list[date]:
    """Every UTC day from ``start`` to ``end``, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _bill_group(item: BillItem, group_by: GroupBy, owners: Ownership) -> str:
    if group_by is GroupBy.PROJECT:
        return item.project_id
    if group_by is GroupBy.API_KEY:
        return owners.key_label(item.api_key_id)
    return item.model


def key_projects(items: Iterable[BillItem]) -> dict[str, str]:
    """OpenAI key id → its project, learned from the usage lines (keys live in one project)."""
    return {i.api_key_id: i.project_id for i in items if i.api_key_id and i.project_id}


def _metered_group(
    line: MeteredLine, group_by: GroupBy, owners: Ownership, projects: Mapping[str, str]
) -> str:
    if group_by is GroupBy.MODEL:
        return line.model
    if group_by is GroupBy.API_KEY:
        return owners.label(line.upstream)
    for key in owners.ids(line.upstream):
        if key in projects:
            return projects[key]
    only = sorted(owners.project_ids)
    return only[0] if len(only) == 1 else ""


def _rate(usd: Decimal, tokens: int) -> Decimal:
    return (usd * _MILLION / tokens).quantize(_RATE)


def _caveats(meter: _Side) -> str:
    """What on the metered side is not OpenAI's own figure, as a suffix of the explanation."""
    text = f"; {meter.unpriced} request(s) unpriced in spendscope" if meter.unpriced else ""
    if meter.estimated:
        text += (
            f"; {meter.estimated} request(s) estimated in spendscope (its own token count: "
            "streams cut before their usage, tries that timed out or were cut)"
        )
    return text


def _explain(day: date, group: str, by: GroupBy, bill: _Side, meter: _Side) -> tuple[LineKind, str]:
    name = f"{by.value} '{group}'" if group else f"no {by.value}"
    diff = bill.usd - meter.usd
    unpriced = _caveats(meter)
    if bill.units and bill.tokens.total == 0:
        return _explain_units(day, name, bill, meter, unpriced)
    if bill.tokens == meter.tokens:
        if bill.tokens.total == 0 and diff:
            text = f"{day}: {name} billed ${bill.usd} with no usage figures on either side."
            return LineKind.UNMATCHED, text
        if not diff:
            return LineKind.MATCH, ""
        total = bill.tokens.total
        text = (
            f"{day}: {name} has the same tokens on both sides ({total}) but OpenAI billed "
            f"${bill.usd} and spendscope metered ${meter.usd}: implied rate "
            f"${_rate(bill.usd, total)} per 1M tokens against the catalog's "
            f"${_rate(meter.usd, total)} (blended). The catalog price is wrong or out of date"
            f"{unpriced}."
        )
        return LineKind.PRICE, text
    more = bill.tokens.total - meter.tokens.total
    if more > 0:
        side = (
            f"OpenAI billed {more} more tokens ({bill.requests} vs {meter.requests} requests) "
            "than spendscope recorded: requests are missing from spendscope"
        )
    else:
        side = (
            f"spendscope recorded {-more} more tokens ({meter.requests} vs {bill.requests} "
            "requests) than OpenAI billed: requests are missing from OpenAI's bill (the day "
            "may not be final)"
        )
    return LineKind.TOKENS, f"{day}: {name}: {side}{unpriced}."


def _explain_units(
    day: date, name: str, bill: _Side, meter: _Side, unpriced: str
) -> tuple[LineKind, str]:
    """A line OpenAI bills per image, character, second or session: dollars and requests."""
    if bill.usd == meter.usd:
        return LineKind.MATCH, ""
    money = f"OpenAI billed ${bill.usd} and spendscope metered ${meter.usd}"
    if bill.requests == meter.requests:
        text = (
            f"{day}: {name} (billed per image, character, second or session) has the same "
            f"requests on both sides ({bill.requests}) but {money}. The catalog price is "
            f"wrong or out of date{unpriced}."
        )
        return LineKind.PRICE, text
    text = (
        f"{day}: {name} (billed per image, character, second or session): {money} for "
        f"{bill.requests} vs {meter.requests} requests: requests are missing on one side"
        f"{unpriced}."
    )
    return LineKind.TOKENS, text


def _lines(
    own: list[BillItem], metered: list[MeteredLine], by: GroupBy, owners: Ownership
) -> list[Line]:
    bill: dict[tuple[date, str], _Side] = defaultdict(_Side)
    meter: dict[tuple[date, str], _Side] = defaultdict(_Side)
    for i in own:
        usage = i.source != COSTS
        tokens, requests = (i.tokens, i.requests) if usage else (Tokens(), 0)
        side = bill[(i.day, _bill_group(i, by, owners))]
        side.add(i.billed_usd, tokens, requests)
        side.units = side.units or i.source in UNIT_SOURCES
    projects = key_projects(own)
    for ml in metered:
        key = (ml.day, _metered_group(ml, by, owners, projects))
        meter[key].add(
            ml.cost_usd, ml.tokens, ml.requests, ml.unpriced_requests, ml.estimated_requests
        )
    out = []
    for day, group in sorted(bill.keys() | meter.keys()):
        b, m = bill[(day, group)], meter[(day, group)]
        if not (b.usd or m.usd or b.tokens.total or m.tokens.total):
            continue  # nothing billed and nothing metered (e.g. requests refused upstream)
        kind, text = _explain(day, group, by, b, m)
        out.append(Line(day, group, b.usd, m.usd, b.tokens, m.tokens, b.requests, m.requests,
                        kind, text))  # fmt: skip
    return out


def _unmetered(foreign: list[BillItem]) -> list[Unmetered]:
    sides: dict[tuple[str, str], _Side] = defaultdict(_Side)
    days: dict[tuple[str, str], set[date]] = defaultdict(set)
    for i in foreign:
        key = (i.api_key_id, i.project_id)
        usage = i.source != COSTS
        sides[key].add(i.billed_usd, i.tokens if usage else Tokens(), i.requests if usage else 0)
        days[key].add(i.day)
    rows = [
        Unmetered(k, p, s.usd, s.tokens, s.requests, tuple(sorted(days[(k, p)])))
        for (k, p), s in sides.items()
    ]
    return sorted(rows, key=lambda u: (-u.billed_usd, u.api_key_id, u.project_id))


def reconcile(
    start: date,
    end: date,
    bill: Iterable[BillItem],
    metered: Iterable[MeteredLine],
    owners: Ownership,
    group_by: GroupBy = GroupBy.MODEL,
    fetched: Iterable[date] | None = None,
) -> Reconciliation:
    """Compare the bill with the metered record over ``start``..``end`` (both included)."""
    wanted = days_of(start, end)
    in_range = set(wanted)
    items = [i for i in bill if i.day in in_range]
    meter = [m for m in metered if m.day in in_range]
    ours = _owned(owners, items)
    own = [i for i in items if ours(i)]
    foreign = [i for i in items if not ours(i)]
    per_day = {d: Figures() for d in wanted}
    for i in items:
        if i.source == COSTS and i.billed_usd is not None:
            f = per_day[i.day]
            extra = i.billed_usd if not owners.owns(i.api_key_id, i.project_id) else ZERO
            per_day[i.day] = Figures(f.billed_usd + i.billed_usd, f.metered_usd,
                                     f.unmetered_usd + extra)  # fmt: skip
    for m in meter:
        f = per_day[m.day]
        per_day[m.day] = Figures(f.billed_usd, f.metered_usd + m.cost_usd, f.unmetered_usd)
    totals = Figures(
        sum((f.billed_usd for f in per_day.values()), ZERO),
        sum((f.metered_usd for f in per_day.values()), ZERO),
        sum((f.unmetered_usd for f in per_day.values()), ZERO),
    )
    notes = _notes(owners, wanted, None if fetched is None else set(fetched))
    return Reconciliation(
        start, end, group_by, totals, tuple(sorted(per_day.items())),
        tuple(_lines(own, meter, group_by, owners)), tuple(_unmetered(foreign)), notes,
        frozenset(fetched or ()),
    )  # fmt: skip


def _owned(owners: Ownership, items: list[BillItem]) -> Callable[[BillItem], bool]:
    """Whether a bill line is the gateway's; a usage line that names no key (sessions) is
    when its project is one of the gateway's keys' projects, or a configured one."""
    projects = set(
        key_projects(i for i in items if owners.owns(i.api_key_id, i.project_id)).values()
    )

    def ours(i: BillItem) -> bool:
        if i.api_key_id or i.source == COSTS or not owners.key_ids:
            return owners.owns(i.api_key_id, i.project_id)
        return i.project_id in projects or i.project_id in owners.project_ids

    return ours


def _notes(owners: Ownership, wanted: list[date], fetched: set[date] | None) -> tuple[str, ...]:
    notes = []
    if not owners.known:
        notes.append(
            "the gateway's OpenAI keys are not configured (SPENDSCOPE_OPENAI_KEY_IDS or "
            "SPENDSCOPE_OPENAI_PROJECT_IDS): every bill line counts as metered traffic, and "
            "spend that bypassed the gateway cannot be told apart"
        )
    if fetched is not None:
        missing = [d for d in wanted if d not in fetched]
        if missing:
            shown = ", ".join(str(d) for d in missing[:5]) + (" …" if len(missing) > 5 else "")
            notes.append(f"no bill fetched for {len(missing)} day(s): {shown}")
    return tuple(notes)

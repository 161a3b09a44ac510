"""Whole-number money for the common request: a plan's token rates and simple tool fees as
integers, so pricing one request is a few integer products and one rounding.

Every catalog rate is a decimal with few places. Scaled by 10^S (S: the most places any of
the plan's rates has) each becomes an exact integer, so Σ count × rate is an exact integer in
units of 10^-(S+6) USD (rates are per 1M tokens; a simple tool fee per call is per-1M × 1M).
Rounded once, half to even, to 1e-10 USD, it is the very amount the Decimal path books. What
this path does not cover — an assumed snapshot price, tool fees by image variant or with a
token block, units without a rate, a total that rounds to $0 — it declines (None), and the
Decimal path prices the request; discounts, the regional uplift and the long-context tier
it covers as exact integer factors and rates. Pure: values in, values out.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from decimal import Decimal

from collector.pricing._parts import ToolRates
from collector.pricing._tools import TOOL_FIELDS
from collector.pricing._types import RateCard
from collector.usage import Usage

_QUANTUM_PLACES = 10  # money is exact to 1e-10 USD (collector.units.MONEY_SCALE)
_PER_MILLION_PLACES = 6
_MAX_DIGITS = 28  # Decimal's default precision: the result is built without rounding


_MISSING = -1  # a rate that is not published (any units at it: the Decimal path decides)
# The order of ``_parts.tool_rates`` (``_tools.TOOL_FIELDS``), read below field by field.
_TOOL_ORDER = (
    "web_search_calls", "web_search_preview_calls", "file_search_calls",
    "code_interpreter_sessions", "image_generation_calls", "computer_calls",
)  # fmt: skip
assert tuple(TOOL_FIELDS.values()) == _TOOL_ORDER  # noqa: S101 - kept in step at import


@dataclass(frozen=True, slots=True)
class FastRates:
    """A plan's rates as integers of 10^-(shift + 10) USD per 1M units (-1: not published);
    a ``*_missing`` flag says whether any rate of its group is -1 (tools: which ones are)."""

    input: int
    cached_input: int
    output: int
    text_missing: bool
    cache_write: int  # -1 also when the card has no cache-write rate (the Decimal path notes it)
    audio_input: int
    cached_audio_input: int
    audio_output: int
    image_input: int
    image_output: int
    modal_missing: bool
    tool_fees: tuple[int, ...]  # per call × 1M, in ``_TOOL_ORDER``
    tools_missing: tuple[int, ...]  # tools without a simple per-call fee (none, or by variant)
    shift: int  # decimal places of the integer total beyond the 10 of the booked amount


def fast_rates(card: RateCard, tools: ToolRates) -> FastRates:
    """The integer form of ``card`` (the fallbacks of ``_parts.token_parts`` applied)."""
    cached = card.cached_input if card.cached_input is not None else card.input
    image_in = card.image_input if card.image_input is not None else card.input
    image_out = card.image_output if card.image_output is not None else card.output
    text = (card.input, cached, card.output)
    modal = (card.audio_input, card.cached_audio_input, card.audio_output, image_in, image_out)
    rates = (*text, *modal, card.cache_write)
    places = max((_places(r) for r in rates if r is not None), default=0)
    scale = 10**places
    ti, tc, to = (_MISSING if r is None else int(r * scale) for r in text)
    cw = _MISSING if card.cache_write is None else int(card.cache_write * scale)
    ai, ac, ao, ii, io = (_MISSING if r is None else int(r * scale) for r in modal)
    fees = tuple(_MISSING if micro is None else micro * scale for _, _, micro in tools)
    return FastRates(
        input=ti, cached_input=tc, output=to, text_missing=None in text, cache_write=cw,
        audio_input=ai, cached_audio_input=ac, audio_output=ao, image_input=ii,
        image_output=io, modal_missing=None in modal,
        tool_fees=fees, tools_missing=tuple(i for i, f in enumerate(fees) if f == _MISSING),
        shift=places + _PER_MILLION_PLACES - _QUANTUM_PLACES,
    )  # fmt: skip


def fast_amount(
    u: Usage, r: FastRates, uplift: Uplift | None = None, discounts: tuple[Uplift, ...] = ()
) -> Decimal | None:
    """The cost of ``u`` rounded to 1e-10 USD, or None when the Decimal path must decide;
    ``uplift`` (a regional-processing endpoint's) scales the tokens, not the tool fees;
    ``discounts`` (negative percentages, in order) scale the whole. Cache-write tokens
    without a cache-write rate are left to the Decimal path, which books them estimated."""
    writes = u.cache_write_tokens
    if writes and r.cache_write == _MISSING:
        return None
    cached_audio = u.cached_audio_tokens
    audio_in = u.audio_prompt_tokens - cached_audio
    image_in = u.image_prompt_tokens
    text_in = u.prompt_tokens - u.cached_tokens - writes - audio_in - image_in
    audio_out = u.audio_completion_tokens
    image_out = u.image_completion_tokens
    text_out = u.completion_tokens - audio_out - image_out
    cached = u.cached_tokens - cached_audio
    if text_in < 0 or text_out < 0:
        return None
    if r.text_missing and _lacks(
        (text_in, r.input), (cached, r.cached_input), (text_out, r.output)
    ):
        return None
    total = text_in * r.input + cached * r.cached_input + text_out * r.output
    if writes:
        total += writes * r.cache_write
    if audio_in or cached_audio or audio_out or image_in or image_out:
        if r.modal_missing and _lacks(
            (audio_in, r.audio_input), (cached_audio, r.cached_audio_input),
            (audio_out, r.audio_output), (image_in, r.image_input), (image_out, r.image_output),
        ):  # fmt: skip
            return None
        total += (
            audio_in * r.audio_input + cached_audio * r.cached_audio_input
            + audio_out * r.audio_output + image_in * r.image_input + image_out * r.image_output
        )  # fmt: skip
    shift = r.shift
    if uplift is not None:
        total *= uplift.factor
        shift += uplift.places
    fees = _tool_fees(u, r)
    if fees is None:
        return None
    if fees:
        total += fees if uplift is None else fees * 10**uplift.places
    for discount in discounts:
        total *= discount.factor
        shift += discount.places
    if not total or type(total) is not int:  # $0, or a count that is not an integer
        return None
    return _booked(total, shift)


def _tool_fees(u: Usage, r: FastRates) -> int | None:
    """The built-in tool calls' fees (None: a tool without a simple per-call fee was used)."""
    calls = (
        u.web_search_calls, u.web_search_preview_calls, u.file_search_calls,
        u.code_interpreter_sessions, u.image_generation_calls, u.computer_calls,
    )  # fmt: skip
    if not any(calls):
        return 0
    for index in r.tools_missing:
        if calls[index]:
            return None
    fees: int = sum(map(operator.mul, calls, r.tool_fees))
    return fees


@dataclass(frozen=True, slots=True)
class Uplift:
    """A percentage added to an amount (taken off, when negative), as ``× factor ÷
    10^places`` in integers."""

    factor: int  # (100 + pct) × 10^(places - 2)
    places: int


def uplift_of(pct: Decimal) -> Uplift:
    """``pct`` % more, exactly: e.g. 10 → × 110 ÷ 10^2; -7.5 → × 925 ÷ 10^3."""
    extra = _places(pct)
    return Uplift(int((100 + pct) * 10**extra), 2 + extra)


def _lacks(*parts: tuple[int, int]) -> bool:
    """Some units are billed at a rate that is not published."""
    return any(count and rate == _MISSING for count, rate in parts)


def _booked(total: int, shift: int) -> Decimal | None:
    """``total`` × 10^-(10 + shift) USD rounded half to even to 1e-10 USD, exactly."""
    if shift <= 0:
        units = total * 10**-shift
    else:
        units, rest = divmod(total, 10**shift)
        half = 5 * 10 ** (shift - 1)
        if rest > half or (rest == half and units & 1):
            units += 1
    if not units or units >= 10**_MAX_DIGITS:
        return None
    return Decimal(f"{units}E-{_QUANTUM_PLACES}")


def _places(rate: Decimal) -> int:
    exponent = rate.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # noqa: S101 - a finite catalog price
    return max(0, -exponent)

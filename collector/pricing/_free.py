"""Endpoints OpenAI does not charge for: a known $0 with a named price, never ``unpriced``.

Listing or reading models and classifying text with the moderation API are free of charge
(https://platform.openai.com/docs/pricing). Their responses carry no usage, so without this
rule they would be recorded ``unpriced`` — alerted on and counted as unknown spend.
"""

from __future__ import annotations

from decimal import Decimal

from collector.usage import Cost, CostSource

_ZERO = Decimal("0E-10")  # quantized like every other cost (Numeric(20, 10))
_MODELS = Cost(_ZERO, CostSource.COMPUTED, "free:models")
_MODERATIONS = Cost(_ZERO, CostSource.COMPUTED, "free:moderations")


def free_endpoint_cost(method: str, path: str) -> Cost | None:
    """The $0 cost of a free endpoint (``price_id`` ``free:<name>``); None for any other."""
    if method == "GET" and (path == "/v1/models" or _one_model(path)):
        return _MODELS
    if method == "POST" and path == "/v1/moderations":
        return _MODERATIONS
    return None


_JOBS = Cost(
    None,
    CostSource.UNPRICED,
    None,
    "Files/Batch API call: no usage of its own; a batch's lines are metered as their own "
    "requests at batch rates",
)


BACKGROUND_NOTE = (
    "background response: no usage yet; its usage is recorded as a request of its own when it ends"
)
RETRIEVE_NOTE = (
    "Responses API retrieve/cancel: no usage of its own; a background response's usage is "
    "recorded once, when it ends"
)
# Notes of calls whose spend is recorded on another row: ``unpriced`` but no unknown spend.
DEFERRED_NOTES = frozenset({BACKGROUND_NOTE, RETRIEVE_NOTE})
_BACKGROUND = Cost(None, CostSource.UNPRICED, None, BACKGROUND_NOTE)
_RETRIEVE = Cost(None, CostSource.UNPRICED, None, RETRIEVE_NOTE)


def job_endpoint_cost(path: str) -> Cost | None:
    """The booking of a Files or Batch API call, or of reading or cancelling a stored
    response: ``unpriced`` with a note saying why (the call itself reports no usage of its
    own; what a job consumes is recorded line by line, what a background response consumes
    when it ends), never a silent $0. None for any other path."""
    if path == "/v1/files" or path.startswith(("/v1/files/", "/v1/batches")):
        return _JOBS
    if path.startswith("/v1/responses/"):
        return _RETRIEVE
    return None


def background_cost() -> Cost:
    """The booking of a ``POST /v1/responses`` answered ``queued``/``in_progress`` (a background
    response): ``unpriced`` with :data:`BACKGROUND_NOTE`; its usage is its own row later."""
    return _BACKGROUND


def _one_model(path: str) -> bool:
    """``/v1/models/{id}`` — one non-empty segment (fine-tuned ids contain ``:``, not ``/``)."""
    rest = path.removeprefix("/v1/models/")
    return rest != path and bool(rest) and "/" not in rest

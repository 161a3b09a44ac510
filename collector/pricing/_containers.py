"""A code interpreter container created through ``/v1/containers``: one session fee.

OpenAI bills code interpreter per container session (catalog ``tools``, ``code_interpreter``:
$0.03 for the default 1 GB container). The catalog prices that size only, so a container
created with a larger ``memory_limit`` is booked ``unpriced`` with the reason, never at the
1 GB rate.
"""

from __future__ import annotations

from datetime import datetime

from collector.pricing._catalog import Catalog, load_catalog
from collector.usage import Cost, CostSource

DEFAULT_MEMORY = "1g"  # OpenAI's default container size, the one the catalog prices


def container_cost(memory_limit: object, at: datetime, catalog: Catalog | None = None) -> Cost:
    """The session fee of one container of ``memory_limit`` (None: the default) at ``at``."""
    price = (catalog or load_catalog()).tools.rates("*", at).get("code_interpreter")
    if price is None:
        return Cost(None, CostSource.UNPRICED, None, "no code interpreter price in force")
    memory = DEFAULT_MEMORY if memory_limit is None else memory_limit
    if memory != DEFAULT_MEMORY:
        note = f"no catalog rate for a {str(memory)[:20]} container (only {DEFAULT_MEMORY})"
        return Cost(None, CostSource.UNPRICED, price.id, note)
    return Cost(price.per_call, CostSource.COMPUTED, price.id)

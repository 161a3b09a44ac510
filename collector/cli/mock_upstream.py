"""``spendscope mock-upstream``: run the fake OpenAI used by the demo, tests and benchmarks."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from collector.cli.common import fail

if TYPE_CHECKING:
    from collector.mock_upstream import MockConfig


def mock_upstream(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any free port).")] = 8799,
    latency_ms: Annotated[float, typer.Option(help="Delay before the first byte.")] = 0.0,
    tokens_per_s: Annotated[
        float, typer.Option(help="Streaming pace in tokens/s (0 = as fast as possible).")
    ] = 0.0,
    scenario: Annotated[
        Path | None, typer.Option(help="YAML/JSON file of seeded random faults per path/model.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for generated text and random faults.")] = 0,
    require_key: Annotated[
        str | None, typer.Option(help="Only accept this exact API key (401 otherwise).")
    ] = None,
    timeout_fault_s: Annotated[
        float, typer.Option(help="How long the 'timeout' fault stalls before answering.")
    ] = 30.0,
    output_tokens: Annotated[
        int | None, typer.Option(help="Fixed visible output tokens per choice.")
    ] = None,
    admin_key: Annotated[
        str | None, typer.Option(help="The admin key its Costs/Usage APIs accept (default any).")
    ] = None,
    bill_bypass_tokens: Annotated[
        int, typer.Option(help="Bill this many tokens a day on a key the gateway never used.")
    ] = 0,
    bill_price_drift: Annotated[
        str | None, typer.Option(help="MODEL=FACTOR: bill that model prefix at another price.")
    ] = None,
    bill_missing_day: Annotated[
        list[str] | None, typer.Option(help="A UTC day (YYYY-MM-DD) the bill leaves out.")
    ] = None,
    batch_step_s: Annotated[
        float,
        typer.Option(help="Seconds a Batch API job spends validating, in progress, finalizing."),
    ] = 2.0,
    background_s: Annotated[
        float,
        typer.Option(help="Seconds a background Responses API response runs before it ends."),
    ] = 1.0,
    provider: Annotated[
        str,
        typer.Option(
            help="'anthropic': answer chat completions as Anthropic's OpenAI-compatible "
            "endpoint does (Claude model ids, its usage shape)."
        ),
    ] = "openai",
) -> None:
    """Serve a realistic fake OpenAI API with scripted faults until Ctrl-C."""
    from collector.mock_upstream import serve

    config = _config_or_exit(
        host=host,
        port=port,
        latency_ms=latency_ms,
        tokens_per_s=tokens_per_s,
        scenario=scenario,
        seed=seed,
        require_key=require_key,
        timeout_fault_s=timeout_fault_s,
        output_tokens=output_tokens,
        admin_key=admin_key,
        bypass_tokens=bill_bypass_tokens,
        price_drift=_drift_or_exit(bill_price_drift),
        missing_days=tuple(bill_missing_day or ()),
        batch_step_s=batch_step_s,
        background_s=background_s,
        provider=provider,
    )
    try:
        serve(config, lambda line: typer.echo(line, err=True))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _drift_or_exit(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    model, _, factor = text.partition("=")
    try:
        ok = bool(model) and Decimal(factor) > 0
    except InvalidOperation:
        ok = False
    if not ok:
        fail(f"--bill-price-drift must be MODEL=FACTOR (a positive number), got {text!r}")
    return model, factor


def _config_or_exit(scenario: Path | None, **options: Any) -> MockConfig:
    """Validate flags and the scenario file before binding, so mistakes exit 2 in one line."""
    from collector.mock_upstream import MockConfig, ScenarioError, load_scenario

    try:
        parsed = load_scenario(scenario) if scenario is not None else None
        return MockConfig(scenario=parsed, **options)
    except (ScenarioError, ValueError) as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    """Add the ``mock-upstream`` command to the ``spendscope`` CLI."""
    app.command("mock-upstream")(mock_upstream)

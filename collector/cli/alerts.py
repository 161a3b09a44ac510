"""``spendscope alerts …``: alert rules, alert history, and running the evaluator."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from collector.cli.common import (
    database_errors,
    engine_or_exit,
    fail,
    read_engine_or_exit,
    settings_or_exit,
)

__all__ = ["register"]

alerts_app = typer.Typer(help="Alert rules, history and evaluation.", no_args_is_help=True)
rules_app = typer.Typer(help="Alert rules: what to watch and where to send.", no_args_is_help=True)
alerts_app.add_typer(rules_app, name="rules")


def _param(text: str) -> tuple[str, Any]:
    """``key=value``; the value is JSON when it parses (numbers, lists), else a string."""
    from collector.alerts import AlertConfigError

    key, eq, raw = text.partition("=")
    if not eq or not key.strip():
        raise AlertConfigError(f"bad --param {text!r}; expected KEY=VALUE")
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


_KIND_HELP = (
    "budget_threshold | forecast_overrun | slo_burn_rate | error_rate | latency_p95 | "
    "unpriced_traffic | recorder_health | spend_anomaly | budget_exhaustion | "
    "upstream_key_revoked"
)
_SCOPE_HELP = "global | project:NAME | key:PREFIX | user:ID | model:NAME | tag:K=V"


@rules_app.command("add")
def add(
    name: Annotated[str, typer.Option(help="Unique rule name.")],
    kind: Annotated[str, typer.Option(help=_KIND_HELP)],
    scope: Annotated[str, typer.Option(help=_SCOPE_HELP)] = "global",
    param: Annotated[list[str] | None, typer.Option(help="KEY=VALUE (repeatable).")] = None,
    slack: Annotated[list[str] | None, typer.Option(help="Slack incoming-webhook URL.")] = None,
    webhook: Annotated[list[str] | None, typer.Option(help="Webhook URL (signed).")] = None,
    email: Annotated[list[str] | None, typer.Option(help="Email address(es).")] = None,
    file: Annotated[list[str] | None, typer.Option(help="JSONL file to append to.")] = None,
) -> None:
    """Add an alert rule; channels and parameters are checked now, not when it fires."""
    from collector.alerts import AlertConfigError, add_rule, parse_channel
    from collector.budgets import BudgetConfigError

    settings = settings_or_exit()
    given = {"slack": slack, "webhook": webhook, "email": email, "file": file}
    try:
        params = dict(_param(p) for p in param or [])
        channels = tuple(
            parse_channel(k, t, settings) for k, targets in given.items() for t in targets or []
        )
        if not channels:
            raise AlertConfigError(
                "a rule needs at least one channel (--slack/--webhook/--email/--file)"
            )
        add_rule(engine_or_exit(settings), name, kind, scope, params, channels, datetime.now(UTC))
    except (AlertConfigError, BudgetConfigError) as exc:
        fail(str(exc))
    typer.echo(f"added alert rule {name!r} ({kind}, {scope}, {len(channels)} channel(s))")


@rules_app.command("list")
def rules_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every alert rule with its parameters and channels."""
    from collector.alerts import load_rules

    with database_errors():
        rules = load_rules(engine_or_exit(), enabled_only=False)
    rows = [
        {"name": r.name, "kind": r.kind.value, "scope": str(r.scope), "params": dict(r.params),
         "channels": [c.label for c in r.channels]}
        for r in rules
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif not rows:
        typer.echo("no alert rules")
    for r in [] if as_json else rows:
        params = json.dumps(r["params"], sort_keys=True)
        typer.echo(
            f"{r['name']}  {r['kind']}  {r['scope']}  {params}  → {', '.join(r['channels'])}"
        )


@rules_app.command("delete")
def rules_delete(name: str) -> None:
    """Delete a rule (its alert history goes with it)."""
    from collector.alerts import delete_rule

    if not delete_rule(engine_or_exit(), name):
        fail(f"no alert rule named {name!r}")
    typer.echo(f"deleted alert rule {name!r}")


@alerts_app.command("list")
def history(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
) -> None:
    """Alert history, newest first: state, message and per-channel delivery results."""
    from collector.alerts import list_events

    with database_errors():
        events = list_events(engine_or_exit(), limit)
    rows = [
        {"id": e.id, "state": e.state, "fired_at": e.fired_at.isoformat(),
         "resolved_at": e.resolved_at.isoformat() if e.resolved_at else None,
         "dedup_key": e.dedup_key, "message": e.message, "deliveries": e.deliveries}
        for e in events
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("no alerts yet")
    for r in rows:
        typer.echo(f"{r['fired_at']}  {r['state']:<8}  {r['message']}")


@alerts_app.command("evaluate")
def evaluate(
    watch: Annotated[bool, typer.Option("--watch", help="Keep evaluating every interval.")] = False,
    interval: Annotated[float | None, typer.Option(min=0.1)] = None,
) -> None:
    """Evaluate every rule once (or forever with --watch) and send what fires."""
    from collector.alerts import AlertEvaluator

    settings = settings_or_exit()
    read = read_engine_or_exit(settings) if settings.reads_from_replica else None
    evaluator = AlertEvaluator(engine_or_exit(settings), settings, read_engine=read)
    if watch:
        asyncio.run(evaluator.run_forever(interval))
        return
    report = asyncio.run(evaluator.evaluate_once(datetime.now(UTC)))
    typer.echo(f"fired {len(report.fired)}, resolved {len(report.resolved)}")
    for error in report.errors:
        typer.echo(f"warning: {error}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")

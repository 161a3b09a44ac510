"""``spendscope cost`` and ``spendscope prices``: exact answers, one-line errors, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from collector.cli.pricing import register
from collector.db import make_engine
from collector.pricing import load_overrides
from collector.settings import get_settings

FIXTURE = Path(__file__).with_name("litellm_prices_small.json")


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cost_json(app: typer.Typer) -> None:
    # o3 after the cut, flex: 600 × 1.00 + 400 × 0.25 + 2000 × 4.00 = 8,700 → $0.0087
    code, out, _ = run(
        app,
        *("cost", "--model", "o3", "--prompt-tokens", "1000", "--cached-tokens", "400"),
        *("--completion-tokens", "2000", "--reasoning-tokens", "1500"),
        *("--service-tier", "flex", "--at", "2025-07-01T12:00:00Z", "--json"),
    )
    assert code == 0
    assert json.loads(out) == {
        "model": "o3",
        "cost_usd": "0.0087000000",
        "cost_source": "computed",
        "price_id": "o3-2025-04-16@2025-06-10",
        "breakdown": [
            {"part": "input_tokens", "units": "600", "rate": "1.00", "per": "1M tokens",
             "amount": "0.0006000000"},
            {"part": "cached_input_tokens", "units": "400", "rate": "0.25", "per": "1M tokens",
             "amount": "0.0001000000"},
            {"part": "output_tokens", "units": "2000", "rate": "4.00", "per": "1M tokens",
             "amount": "0.0080000000"},
        ],
    }  # fmt: skip


def test_cost_batch_text_output(app: typer.Typer) -> None:
    # gpt-4o batch: 1000 × 1.25 + 1000 × 5 = 6,250 → $0.00625
    code, out, _ = run(
        app,
        *("cost", "--model", "gpt-4o", "--prompt-tokens", "1000", "--completion-tokens", "1000"),
        *("--batch", "--at", "2025-01-01"),
    )
    assert code == 0
    assert out.strip() == "gpt-4o: $0.0062500000 (computed, price gpt-4o@2024-10-02)"


def test_cost_unknown_model_is_unpriced_exit_3(app: typer.Typer) -> None:
    code, out, _ = run(
        app,
        *("cost", "--model", "gpt-99-ultra", "--prompt-tokens", "1", "--completion-tokens", "1"),
        "--json",
    )
    assert code == 3
    assert json.loads(out) == {
        "model": "gpt-99-ultra",
        "cost_usd": None,
        "cost_source": "unpriced",
        "price_id": None,
        "breakdown": [],
    }


BASE = ("cost", "--model", "gpt-4o", "--prompt-tokens", "10", "--completion-tokens", "10")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cost", "--prompt-tokens", "1", "--completion-tokens", "1"), "--model is required"),
        (("cost", "--model", "gpt-4o", "--completion-tokens", "1"), "--prompt-tokens is required"),
        ((*BASE, "--cached-tokens", "-5"), "--cached-tokens must be a non-negative integer"),
        ((*BASE[:4], "1.5", *BASE[5:]), "--prompt-tokens must be a non-negative integer"),
        ((*BASE[:6], "ten"), "--completion-tokens must be a non-negative integer"),
        ((*BASE, "--cached-tokens", "11"), "--cached-tokens cannot exceed --prompt-tokens"),
        ((*BASE, "--reasoning-tokens", "11"), "--reasoning-tokens cannot exceed"),
        ((*BASE, "--at", "last tuesday"), "--at must be an ISO-8601"),
        ((*BASE, "--service-tier", "turbo"), "unknown service tier 'turbo'"),
        ((*BASE, "--batch", "--service-tier", "priority"), "batch requests have no service tier"),
    ],
)
def test_cost_bad_input_is_one_line_exit_2(
    app: typer.Typer, args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(app, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_prices_list_json_filters_by_family(app: typer.Typer) -> None:
    code, out, _ = run(app, "prices", "list", "--family", "o3", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["family"] for r in rows} == {"o3"}
    o3 = [r for r in rows if r["model"] == "o3-2025-04-16"]
    assert [(r["effective_from"][:10], r["prices"]["input"]) for r in o3] == [
        ("2025-04-16", "10.00"),
        ("2025-06-10", "2.00"),
    ]
    assert all(r["source"] for r in rows)


def test_prices_list_table(app: typer.Typer) -> None:
    code, out, _ = run(app, "prices", "list", "--family", "dall-e")
    assert code == 0
    assert "dall-e-3" in out and "6 sizes" in out
    code, _, err = run(app, "prices", "list", "--family", "nope")
    assert code == 2 and err.startswith("error: unknown family 'nope'")


def test_prices_show_at_a_date(app: typer.Typer) -> None:
    code, out, _ = run(app, "prices", "show", "o3", "--at", "2025-05-01", "--json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["requested"], shown["id"]) == ("o3", "o3-2025-04-16@2025-04-16")
    assert shown["prices"]["flex"] == {"input": "5.00", "cached_input": "1.25", "output": "20.00"}
    code, out, _ = run(app, "prices", "show", "ft:gpt-4.1-2025-04-14:acme::x")
    assert code == 0 and "ft:gpt-4.1-2025-04-14@2025-04-14" in out and "source" in out


def test_prices_show_gives_the_cache_write_factor(app: typer.Typer) -> None:
    code, out, _ = run(app, "prices", "show", "gpt-6-sol", "--at", "2026-12-07", "--json")
    assert code == 0
    assert json.loads(out)["prices"]["cache_write_factor"] == "1.25"
    code, out, _ = run(app, "prices", "show", "gpt-5.5", "--at", "2026-12-07", "--json")
    assert code == 0 and "cache_write_factor" not in json.loads(out)["prices"]


def test_prices_show_unknown_exit_3(app: typer.Typer) -> None:
    code, _, err = run(app, "prices", "show", "gpt-5", "--at", "2024-01-01")
    assert code == 3 and "no price known for 'gpt-5'" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ('{"gpt-4o": {', "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
    ],
)
def test_prices_import_bad_file_exit_2(
    app: typer.Typer, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "prices.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, _, err = run(app, "prices", "import", str(path))
    assert code == 2
    assert err.count("\n") == 1 and message in err


def test_prices_import_dry_run_summarises(app: typer.Typer) -> None:
    code, out, _ = run(app, "prices", "import", str(FIXTURE), "--dry-run")
    assert code == 0
    lines = out.splitlines()
    # gpt-4o, gpt-3.5-turbo-instruct, text-embedding-3-small and the ft: base are catalogued.
    assert lines[0] == "imported 1 OpenAI model prices"
    assert "skipped 4 keys: already priced by the catalog (use --all to override)" in lines
    assert not any(line.startswith("wrote") for line in lines)


def test_prices_import_writes_overrides(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.templates import migrate

    url = f"sqlite:///{tmp_path / 'import.db'}"
    migrate(url)
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", url)
    get_settings.cache_clear()
    args = ("prices", "import", str(FIXTURE), "--effective-from", "2026-01-01")
    code, out, _ = run(app, *args)
    assert code == 0, out
    assert (
        out.splitlines()[-1] == "wrote 1 price overrides (in force from 2026-01-01T00:00:00+00:00)"
    )
    code, out, _ = run(app, *args, "--all")
    assert out.splitlines()[-1].startswith("wrote 5 price overrides")
    engine = make_engine(url)
    with Session(engine) as session:
        stored = load_overrides(session)
    engine.dispose()
    assert [o.model for o in stored].count("my-new-model") == 2
    new = next(o for o in stored if o.model == "my-new-model")
    assert (new.input_per_1m, new.output_per_1m) == (Decimal("1.65"), Decimal("6.6"))
    assert new.effective_from == datetime(2026, 1, 1, tzinfo=UTC)


def _database_with_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from collector.db import session_scope
    from collector.pricing import PriceOverride, add_override
    from tests.support.templates import migrate

    url = f"sqlite:///{tmp_path / 'overrides.db'}"
    migrate(url)
    engine = make_engine(url)
    deal = PriceOverride(
        "acme-llm", datetime(2025, 1, 1, tzinfo=UTC), input_per_1m=Decimal(2),
        output_per_1m=Decimal(8), note="negotiated",
    )  # fmt: skip
    with session_scope(engine) as session:
        add_override(session, deal)
    engine.dispose()
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", url)
    get_settings.cache_clear()


def test_cost_show_and_list_apply_stored_overrides(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _database_with_override(tmp_path, monkeypatch)
    tokens = ("--prompt-tokens", "1000", "--completion-tokens", "1000")
    code, out, err = run(app, "cost", "--model", "acme-llm", *tokens, "--json")
    assert code == 0, err
    # 1000 × 2.00 + 1000 × 8.00 = 10,000 per 1M → $0.01
    result = json.loads(out)
    assert {k: result[k] for k in ("model", "cost_usd", "cost_source", "price_id")} == {
        "model": "acme-llm", "cost_usd": "0.0100000000", "cost_source": "computed",
        "price_id": "override:1",
    }  # fmt: skip
    assert [(p["part"], p["amount"]) for p in result["breakdown"]] == [
        ("input_tokens", "0.0020000000"), ("output_tokens", "0.0080000000"),
    ]  # fmt: skip
    code, out, err = run(app, "prices", "show", "acme-llm", "--json")
    assert code == 0, err
    [shown] = json.loads(out)["overrides"]
    assert shown["id"] == "override:1" and shown["prices"] == {
        "input": "2.0000000000",
        "output": "8.0000000000",
    }
    code, out, _ = run(app, "prices", "list", "--json")
    assert code == 0 and json.loads(out)[-1]["id"] == "override:1"
    assert "acme-llm" in run(app, "prices", "list")[1]  # the table wraps long names


@pytest.mark.parametrize("exists", [False, True])
def test_cost_without_a_usable_database_uses_the_catalog(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exists: bool
) -> None:
    db = tmp_path / "none.db"
    if exists:
        db.touch()  # there, but never migrated
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", f"sqlite:///{db}")
    get_settings.cache_clear()
    tokens = ("--prompt-tokens", "1000", "--completion-tokens", "1000")
    assert run(app, "cost", "--model", "acme-llm", *tokens)[0] == 3
    code, out, err = run(app, "cost", "--model", "gpt-4o", *tokens)
    assert code == 0 and out.startswith("gpt-4o: $"), err
    assert err == ""
    assert run(app, "prices", "show", "acme-llm")[0] == 3
    assert db.exists() is exists  # a missing database file is not created

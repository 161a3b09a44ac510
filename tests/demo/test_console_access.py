"""The demo's access panel names every URL a user needs, the Prometheus metrics among them."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from collector.demo._console import Access, access_panel


def test_access_panel_shows_the_metrics_url() -> None:
    access = Access(
        dashboard_url="http://127.0.0.1:1/", gateway_url="http://127.0.0.1:2/v1",
        metrics_url="http://127.0.0.1:2/metrics", mock_url="http://127.0.0.1:3/v1",
        user="demo", password="pw", sample_key="sk-ss-x", alerts_file=Path("a.jsonl"),
        logs_dir=Path("logs"), db_path=Path("demo.db"),
    )  # fmt: skip
    console = Console(width=200, record=True)
    console.print(access_panel(access))
    lines = [line for line in console.export_text().splitlines() if "Metrics" in line]
    assert len(lines) == 1 and "http://127.0.0.1:2/metrics" in lines[0]

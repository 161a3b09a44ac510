"""``spendscope demo``: the whole product on one machine, no OpenAI key needed.

A fresh SQLite database gets demo projects, keys, ~30 days of realistic history (through the
recorder's own ``write_batch``), budgets and alert rules; the mock upstream, the gateway and
the dashboard run as child processes; live traffic flows through the gateway with the official
``openai`` SDK until Ctrl-C, SIGTERM or ``--duration``. See ``_run`` for the sequence.
"""

from collector.demo._backfill import BackfillReport, backfill
from collector.demo._history import DemoKey, generate_history
from collector.demo._procs import DemoError
from collector.demo._run import DemoOptions, run_demo
from collector.demo._world import KEYS, PROJECTS, UNPRICED_MODEL, KeyProfile

__all__ = [
    "KEYS",
    "PROJECTS",
    "UNPRICED_MODEL",
    "BackfillReport",
    "DemoError",
    "DemoKey",
    "DemoOptions",
    "KeyProfile",
    "backfill",
    "generate_history",
    "run_demo",
]

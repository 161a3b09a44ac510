"""Run Alembic programmatically (``spendscope db upgrade``; ``serve`` and ``demo`` on start).

Alembic is imported on call: importing ``collector.db`` (as every gateway does) stays ~11 MB
lighter.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from collector.db.engine import normalize_url

if TYPE_CHECKING:
    from alembic.config import Config

_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    """A Config pointing at the project's migrations with the URL from the caller."""
    from alembic.config import Config

    ini = _ROOT / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    cfg.set_main_option("script_location", str(_ROOT / "migrations"))
    cfg.attributes["database_url"] = normalize_url(database_url)
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_head(database_url: str) -> None:
    """Bring the database to the newest schema (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


def downgrade_base(database_url: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), "base")


def check(database_url: str) -> None:
    """Raise ``alembic.util.CommandError`` when the models drift from the migrations."""
    from alembic import command

    command.check(alembic_config(database_url))

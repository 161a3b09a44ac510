"""Run Alembic programmatically (``spendscope db upgrade``; ``serve`` and ``demo`` on start).

Alembic is imported on call: importing ``collector.db`` (as every gateway does) stays ~11 MB
lighter.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from collector.db.engine import make_engine, normalize_url

if TYPE_CHECKING:
    from alembic.config import Config

_ROOT = Path(__file__).resolve().parents[2]
# The newest migration's revision (migrations/versions); tests/db/test_migrate_head.py keeps the
# two equal, so a database that carries it needs no Alembic at all.
HEAD_REVISION = "0033"


def alembic_config(database_url: str) -> Config:
    """A Config pointing at the project's migrations with the URL from the caller."""
    from alembic.config import Config

    ini = _ROOT / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    cfg.set_main_option("script_location", str(_ROOT / "migrations"))
    cfg.attributes["database_url"] = normalize_url(database_url)
    cfg.attributes["configure_logger"] = False
    return cfg


def at_head(database_url: str) -> bool:
    """Whether the database already carries the newest schema: its ``alembic_version`` row is
    :data:`HEAD_REVISION`. False whenever that cannot be read (no file, no table, no server):
    Alembic then decides, and says what is wrong."""
    try:
        url = make_url(normalize_url(database_url))
        if url.get_backend_name() == "sqlite" and not Path(str(url.database or "")).is_file():
            return False  # never create the file here; a memory database has no schema yet
        engine = make_engine(database_url)
    except Exception:  # a URL or driver that cannot be used: Alembic says why, in one line
        return False
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()
    return [row[0] for row in rows] == [HEAD_REVISION]


def upgrade_head(database_url: str) -> None:
    """Bring the database to the newest schema (idempotent: nothing runs when it is there)."""
    if at_head(database_url):
        return
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


def downgrade_base(database_url: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), "base")


def check(database_url: str) -> None:
    """Raise ``alembic.util.CommandError`` when the models drift from the migrations."""
    from alembic import command

    command.check(alembic_config(database_url))

"""Alembic environment: the URL comes from spendscope's settings (or the caller's config)."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine, event

from collector.db.engine import make_engine, normalize_url
from collector.db.models import Base
from collector.db.partitions import is_month_table, is_partitioned
from collector.db.repartition import PARENT_KEY
from collector.db.search import is_search_object
from collector.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or get_settings().database_url
    return normalize_url(str(url))


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    if engine.dialect.name == "sqlite":
        _transactional_ddl(engine)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _transactional_ddl(engine: Engine) -> None:
    """SQLite can undo DDL, but Python's sqlite3 commits before each DDL statement: a process
    killed inside a migration left its first statements applied and the revision unchanged,
    and every later upgrade then failed ("duplicate column name"). The driver's own
    transaction handling is turned off and SQLAlchemy's begin sends BEGIN, so each migration
    is one transaction with its revision (``transactional_ddl`` in ``_run``)."""

    def autocommit_driver(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None

    def begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")  # deferred: a check or `current` takes no write lock

    event.listen(engine, "connect", autocommit_driver)
    event.listen(engine, "begin", begin)


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave out the search index's objects and the monthly partitions (and what they hold,
    and the tables a retention cut makes beside them), which the models do not declare."""
    if type_ == "table" and is_month_table(name):
        return False
    return not (type_ in ("table", "index") and is_search_object(name))


def _run(connection: Connection) -> None:
    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        """On partitioned tables, each month's attempts refer to that month's requests in
        place of the models' one key between the parents (``collector.db.partitions``).
        Asked while comparing, inside the migration's transaction."""
        if type_ != "foreign_key_constraint" or name != PARENT_KEY:
            return True
        return not is_partitioned(connection)

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite's DDL is transactional once the driver lets it be (_transactional_ddl): one
        # transaction a migration, so a kill leaves the database at a revision it fully has
        transactional_ddl=True,
        transaction_per_migration=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

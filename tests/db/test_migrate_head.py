"""A database at the newest schema is recognised without Alembic; anything else goes to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

from collector.db import make_engine, upgrade_head
from collector.db.migrate import HEAD_REVISION, alembic_config, at_head


def test_the_head_constant_is_the_newest_migration(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(alembic_config(f"sqlite:///{tmp_path / 'x.db'}"))
    assert script.get_heads() == [HEAD_REVISION]


def test_at_head_only_for_a_database_that_carries_the_newest_revision(tmp_path: Path) -> None:
    path = tmp_path / "spendscope.db"
    url = f"sqlite:///{path}"
    assert not at_head(url)
    assert not path.exists()  # asking never creates the file
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE other (x INTEGER)"))
        assert not at_head(url)  # no alembic_version table
        upgrade_head(url)
        assert at_head(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0030'"))
        assert not at_head(url)
    finally:
        engine.dispose()
    assert not at_head("sqlite://")
    assert not at_head("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_upgrading_a_database_at_head_never_loads_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'spendscope.db'}"
    upgrade_head(url)
    program = (
        "import sys; from collector.db import upgrade_head; "
        f"upgrade_head({url!r}); print('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

"""docs/schema.md is the public description of the schema: every column must be on it."""

from __future__ import annotations

import re
from pathlib import Path

from collector.db.models import Base

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


def test_every_table_and_column_is_documented() -> None:
    text = DOC.read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    missing = []
    for table in Base.metadata.sorted_tables:
        section = sections.get(table.name)
        if section is None:
            missing.append(table.name)
            continue
        documented = set(re.findall(r"^\| (\w+)", section, flags=re.M))
        for column in table.columns:
            name = re.sub(r"_b\d\d$", "_b00", column.name)
            if name not in documented:
                missing.append(f"{table.name}.{column.name}")
    assert not missing, f"undocumented in docs/schema.md: {missing}"

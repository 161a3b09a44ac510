"""``python -m collector.db.upgrade_child``: bring the database named on standard input to the
newest schema, in a process of its own.

``spendscope serve`` runs it before it becomes the gateway, so Alembic and the migration
modules never enter the gateway's memory. The URL comes on standard input, not in the argument
list: it may hold a password, and a process's arguments are public. A failure ends the program
with one line, ``<ErrorClass>: <first line of the message>``, and status 1.
"""

from __future__ import annotations

import sys


def main() -> int:
    from collector.db import upgrade_head

    try:
        upgrade_head(sys.stdin.read().strip())
    except Exception as exc:  # one clear line for the CLI instead of a traceback
        first = (str(exc).splitlines() or [""])[0]
        print(f"{exc.__class__.__name__}: {first}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

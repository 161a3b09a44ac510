"""CSV cells a spreadsheet will not run: OWASP's rule against formula injection.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as
a formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` in a user name sends
the sheet's data away). Such cells get a leading ``'``, which spreadsheets show as text.
Numbers are left alone (``-0.25`` stays a number), so money columns and FOCUS's numeric
columns keep their exact values.
"""

from __future__ import annotations

import re
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def csv_safe(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would evaluate; then ``'`` + it."""
    if not isinstance(value, str) or not value.startswith(_TRIGGERS):
        return value
    if value[0] in "+-" and _NUMBER.fullmatch(value):
        return value
    return "'" + value

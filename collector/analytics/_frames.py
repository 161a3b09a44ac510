"""DataFrame construction that keeps money as Decimal (object dtype) and time as UTC."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd


def frame(
    rows: Iterable[Sequence[Any]], columns: Sequence[str], floats: Sequence[str] = ()
) -> pd.DataFrame:
    """A DataFrame with exactly ``columns``; ``floats`` become float64 (None → NaN)."""
    df = pd.DataFrame(list(rows), columns=list(columns))
    for name in floats:
        df[name] = df[name].astype("float64")
    if "ts" in df.columns:
        df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return df

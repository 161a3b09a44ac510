"""Early warning on unusual spend: each scope's recent spend against the same hours of the
week in earlier weeks (a trimmed mean or the median, and the MAD pooled with the neighbouring
hour's), read from the hourly
rollups in one query.

The math (:func:`assess`) is pure and exact; :func:`find_unusual` is the shell that reads
the rollups, judges every member and fetches the requests and users behind what is unusual.
"""

from collector.anomaly._cache import HistoryCache, read_recent
from collector.anomaly._contrib import Contributors, TopRequest, TopUser, top_contributors
from collector.anomaly._detect import (
    CENTERS,
    DEFAULT_WEEKS,
    MAD_SCALE,
    SCALES,
    AnomalyParams,
    Band,
    Center,
    Scale,
    Verdict,
    assess,
    could_be_unusual,
    expected_band,
    median,
    since_first_spend,
    trimmed_mean,
)
from collector.anomaly._find import Finding, Watch, find_unusual
from collector.anomaly._spend import (
    Split,
    Windows,
    WindowSpend,
    member_scopes,
    money,
    read_spend,
    read_sums,
    windows,
)

__all__ = [
    "CENTERS",
    "DEFAULT_WEEKS",
    "MAD_SCALE",
    "SCALES",
    "AnomalyParams",
    "Band",
    "Center",
    "Contributors",
    "Finding",
    "HistoryCache",
    "Scale",
    "Split",
    "TopRequest",
    "TopUser",
    "Verdict",
    "Watch",
    "WindowSpend",
    "Windows",
    "assess",
    "could_be_unusual",
    "expected_band",
    "find_unusual",
    "median",
    "member_scopes",
    "money",
    "read_recent",
    "read_spend",
    "read_sums",
    "since_first_spend",
    "top_contributors",
    "trimmed_mean",
    "windows",
]

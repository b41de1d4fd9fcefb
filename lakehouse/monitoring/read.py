"""gold.metric_anomalies as delta-rs reads it (no Spark session), for the CLI and the dashboard."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from lakehouse.dashboard.data import Lake

RANK = {"warning": 1, "critical": 2}


def filtered(
    anomalies: pd.DataFrame, since: dt.date | None = None, severity: str | None = None
) -> pd.DataFrame:
    """Anomalies ending after `since` and at least as severe as `severity`, newest first."""
    out = anomalies
    if since is not None:
        out = out[pd.to_datetime(out["period_end"]) > pd.Timestamp(since)]
    if severity is not None:
        out = out[out["severity"].map(RANK) >= RANK[severity]]
    return out.sort_values(["period_start", "metric", "slice"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def read_anomalies(
    root: str, since: dt.date | None = None, severity: str | None = None
) -> pd.DataFrame | None:
    found = Lake(root).read("gold", "metric_anomalies")
    if found is None:
        return None
    for col in ("period_start", "period_end"):  # delta-rs reads UTC-aware timestamps; the lake means UTC
        found[col] = pd.to_datetime(found[col], utc=True).dt.tz_localize(None)
    return filtered(found, since, severity)

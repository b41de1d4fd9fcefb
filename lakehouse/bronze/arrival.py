"""Whether a day's bronze has arrived: what a scheduler's sensor waits for before the day is ingested."""

from __future__ import annotations

import datetime as dt

from lakehouse.bronze.contract import HISTORY_SOURCES, daily_file
from lakehouse.core import storage

DAILY_SOURCES = HISTORY_SOURCES  # the systems that export one CSV a day (and exported the past once)


def missing_for_day(root: str, day: dt.date) -> list[str]:
    """The bronze files `day` needs that are not there yet, relative to bronze/: each daily CSV, and at
    least one clickstream hour (a quiet hour may have none, a day always has some)."""
    bronze = storage.join(root, "bronze")
    missing = [
        path
        for path in (daily_file(source, day.isoformat()) for source in DAILY_SOURCES)
        if not storage.exists(storage.join(bronze, path))
    ]
    clicks = f"clickstream/date={day.isoformat()}/"
    if not storage.list_files(storage.join(bronze, clicks)):
        missing.append(clicks)
    return missing

"""`lakehouse generate --live`: files published as the simulated clock runs, the same bytes as a batch
run once a day is over, and a killed live run simply started again."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from pathlib import Path

from generators.live import generate_live, release_offset
from generators.runner import generate
from tests.conftest import file_hashes, small_settings

SETTINGS = dataclasses.replace(small_settings(), scale=0.02, history_days=7)
DAY_SECONDS = 86_400.0
SECOND = (SETTINGS.start_date + dt.timedelta(days=1)).isoformat()


def test_each_file_is_published_when_its_moment_passes() -> None:
    assert release_offset("clickstream/date=2026-01-03/hour=00/events_2026-01-03T00.jsonl").seconds == 3600
    assert release_offset("clickstream/date=2026-01-03/hour=23/events_2026-01-03T23_part2.jsonl").days == 1
    assert release_offset("orders/orders_2026-01-03.csv").days == 1
    assert release_offset("orders/orders_history_2025-12.csv").total_seconds() == 0


def test_a_live_run_publishes_in_clock_order_and_ends_as_a_batch_run(tmp_path: Path) -> None:
    generate(str(tmp_path / "batch"), SETTINGS, days=2)
    order: list[tuple[float, str]] = []
    started = time.monotonic()
    speed = DAY_SECONDS / 1.5  # a simulated day in 1.5 s
    summary = generate_live(str(tmp_path / "live"), SETTINGS, speed, days=2,
                            on_publish=lambda rel: order.append((time.monotonic() - started, rel)))  # fmt: skip
    assert summary.days == [
        SETTINGS.start_date.isoformat(),
        SECOND,
    ]
    assert file_hashes(tmp_path / "live") == file_hashes(tmp_path / "batch"), "a finished day is a batch day"
    first_day = [rel for _, rel in order if SETTINGS.start_date.isoformat() in rel]
    clicks = [r for r in first_day if r.startswith("clickstream/")]
    exports = [r for r in first_day if r.endswith(".csv")]
    assert clicks and exports and first_day.index(exports[0]) > first_day.index(clicks[-1]), (
        "the day's exports after its last clickstream hour"
    )
    assert order[-1][0] >= 2 * 1.5 * 0.9, "the clock ran at its speed, not as fast as it could"
    first_hour = next(t for t, rel in order if "/hour=00/" in rel)
    noon = next(t for t, rel in order if "/hour=12/" in rel) - first_hour
    assert 0.5 <= noon <= 1.2, (
        f"the hour-12 file came {noon:.2f} s after hour 0's (12 h at 1.5 s a day: 0.75 s)"
    )


def test_a_killed_live_run_is_simply_started_again(tmp_path: Path) -> None:
    generate(str(tmp_path / "batch"), SETTINGS, days=2)
    stop = threading.Event()
    seen: list[str] = []

    def kill_after_five(rel: str) -> None:
        seen.append(rel)
        if len(seen) == 5:
            stop.set()

    live = str(tmp_path / "live")
    first = generate_live(live, SETTINGS, DAY_SECONDS * 50, days=2, stop=stop, on_publish=kill_after_five)
    assert first.days == [] and len(seen) == 5, "stopped in the middle of the first day"
    again = generate_live(live, SETTINGS, DAY_SECONDS * 50, days=1)
    assert again.days == [SECOND]
    assert file_hashes(tmp_path / "live") == file_hashes(tmp_path / "batch")

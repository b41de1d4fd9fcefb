"""`lakehouse run bronze-to-silver --watch` beside `lakehouse generate --live`: files that arrive while
it runs are taken in micro-batch by micro-batch, SIGTERM ends it after the batch in hand (gold
refreshed), and silver equals one batch run over the same files (every row exactly once)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from deltalake import DeltaTable

from generators.live import generate_live
from generators.runner import generate
from lakehouse.cli import main
from tests.compare import RUN_LOGS, differences
from tests.conftest import small_settings

START = dt.date(2026, 1, 3)


def _ledger_paths(root: Path) -> set[str]:
    ledger = root / "silver" / "_ingest_ledger"
    if not (ledger / "_delta_log").exists():
        return set()
    return set(DeltaTable(str(ledger)).to_pandas(columns=["path"])["path"])


def _until(what: str, done: Callable[[], bool], watch: subprocess.Popen[str], seconds: float = 300) -> None:
    """Wait for done(); fail at once, with the watch's last words, if the watch ended meanwhile."""
    deadline = time.monotonic() + seconds
    while not done():
        if watch.poll() is not None:
            _, err = watch.communicate()
            raise AssertionError(f"the watch ended ({watch.returncode}) before {what}:\n{err[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_a_watch_takes_in_a_live_day_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """The shop's first day in batch, then its next day published live (a simulated day in 8 s, an
    hour file every third of a second) while the watch runs; SIGTERM; silver then equals one batch run over the same
    files, and gold was refreshed from all of it."""
    lake = tmp_path / "lake"
    settings = dataclasses.replace(small_settings(), scale=0.02, start_date=START, history_days=7)
    generate(str(lake), settings, days=1)
    cli = Path(sys.executable).parent / "lakehouse"
    command = [
        "run",
        "bronze-to-silver",
        "--root",
        str(lake),
        "--watch",
        "--interval",
        "0.5",
        "--gold-every",
        "4",
    ]
    watch = subprocess.Popen(
        [str(cli), *command, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = {str(p.relative_to(lake / "bronze")) for p in (lake / "bronze").rglob("*") if p.is_file()}
        first = {f for f in first if not f.startswith("_")}
        _until("the first day's files", lambda: first <= _ledger_paths(lake), watch)
        live = generate_live(str(lake), settings, speed=86_400 / 8, days=1)
        assert live.days == [(START + dt.timedelta(days=1)).isoformat()]
        everything = {
            str(p.relative_to(lake / "bronze")) for p in (lake / "bronze").rglob("*") if p.is_file()
        }
        _until(
            "the live day's files",
            lambda: {f for f in everything if not f.startswith("_")} <= _ledger_paths(lake),
            watch,
        )
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=600)
    finally:
        watch.kill()
    assert watch.returncode == 0, err[-3000:]
    assert "SIGTERM: stopping after the micro-batch in hand" in err
    batches = int(out.split("Watch stopped after ")[1].split()[0])
    assert batches >= 3, f"the first day, then the live day in several micro-batches:\n{out[-2000:]}"
    orders = DeltaTable(str(lake / "gold" / "fact_orders")).to_pandas(columns=["order_id"])
    assert len(orders) == len(DeltaTable(str(lake / "silver" / "orders")).to_pandas(columns=["order_id"])), (
        "gold refreshed from all of silver when the watch stopped"
    )

    once = tmp_path / "once"
    shutil.copytree(lake / "bronze", once / "bronze")
    assert main(["run", "all", "--root", str(once), "--quiet"]) == 0
    assert differences(lake, once, skip=RUN_LOGS) == {}, (
        "every bronze row in silver exactly once, and gold refreshed piece by piece equals gold built at once"
    )

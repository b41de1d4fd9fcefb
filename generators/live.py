"""`lakehouse generate --live`: the shop's files arrive as its clock runs, not a day at a time.

Each day is simulated exactly as a batch run simulates it, into a staging copy of bronze under
`<root>/_live/`; its files are then published into bronze when the simulated clock passes the moment a
real system would have written them: each clickstream hour file when its hour ends (at speed 60, one
file a minute), the day's CSV exports, the inventory workbook, the manifest and the world's state at
midnight. So bronze only ever holds what has "happened", and once a day is over it holds the same bytes
a batch run writes. Publishing is a copy under a hidden name and a rename, so a reader never sees half
a file. A killed live run is simply started again: it first publishes what staging holds and bronze
does not, then goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from generators.runner import GeneratorError, generate
from generators.state import load_state
from lakehouse.bronze.contract import HISTORY_MARK
from lakehouse.core import storage
from lakehouse.core.config import GeneratorConfig

log = logging.getLogger(__name__)
STAGING = "_live"
_HOUR = re.compile(r"/hour=(\d{2})/")


@dataclass
class LiveSummary:
    days: list[str] = field(default_factory=list)
    files: int = 0


def _files(base: Path) -> dict[str, str]:
    """Relative path -> content hash of every file below `base`."""
    if not base.exists():
        return {}
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in base.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def publish(source: Path, target: Path, rel: str) -> None:
    """Copy `rel` from one directory to the other as a collector publishes a file: under a hidden name
    (which listings skip), then renamed into place."""
    dest = target / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    hidden = dest.with_name(f".{dest.name}.publishing")
    shutil.copyfile(source / rel, hidden)
    os.replace(hidden, dest)


def release_offset(rel: str) -> dt.timedelta:
    """When, after its day's midnight, a real system writes this file: a clickstream hour file when
    the hour ends, everything else (the daily exports, the workbook, manifest and state) at the next
    midnight."""
    if HISTORY_MARK in rel:  # the one-time export of the past is there before the first live day
        return dt.timedelta(0)
    if rel.startswith("clickstream/") and (m := _HOUR.search(rel)):
        return dt.timedelta(hours=int(m[1]) + 1)
    return dt.timedelta(days=1)


def _drop_pruned_state(bronze: Path, gone: set[str]) -> None:
    """The world's older checkpoints, which the generator prunes as it goes (only those: bronze may hold
    files a person put there)."""
    for rel in gone:
        if rel.startswith("_state/"):
            (bronze / rel).unlink(missing_ok=True)


def generate_live(
    root: str,
    settings: GeneratorConfig,
    speed: float,
    *,
    days: int | None = None,
    start: dt.date | None = None,
    clean: bool | None = None,
    incidents: bool | None = None,
    stop: threading.Event | None = None,
    on_publish: Callable[[str], None] | None = None,
) -> LiveSummary:
    """Simulate day after day (`days` of them, or until `stop` is set) and publish each day's files into
    `root`/bronze as the simulated clock, `speed` times real time, passes their moment."""
    if not storage.is_local(root):
        raise GeneratorError(f"--live writes to a local root only, not {root}")
    if speed <= 0:
        raise GeneratorError(f"--speed must be more than 0, got {speed}")
    stop = stop or threading.Event()
    bronze = storage.local_path(storage.join(root, "bronze"))
    staging = storage.local_path(storage.join(root, STAGING, "bronze"))
    if not staging.exists() and bronze.exists():
        shutil.copytree(bronze, staging)  # the world so far, continued in staging
    summary = LiveSummary()
    published = _files(bronze)
    staged = _files(staging)
    for rel, digest in sorted(staged.items()):  # what a killed run had not published yet
        if published.get(rel) != digest:
            publish(staging, bronze, rel)
            summary.files += 1
    _drop_pruned_state(bronze, set(published) - set(staged))
    clock_start: tuple[float, dt.datetime] | None = None
    while not stop.is_set() and (days is None or len(summary.days) < days):
        before = _files(staging)
        state = load_state(str(staging))
        day = generate(
            str(staging.parent), settings, days=1, start=start if state is None else None,
            clean=clean, incidents=incidents, workers=1,
        ).days[-1]  # fmt: skip
        midnight = dt.datetime.combine(dt.date.fromisoformat(day), dt.time())
        if clock_start is None:
            clock_start = (time.monotonic(), midnight)
        after = _files(staging)
        new = sorted((rel for rel, digest in after.items() if before.get(rel) != digest),
                     key=lambda r: (release_offset(r), r))  # fmt: skip
        for rel in new:
            due = clock_start[0] + (midnight + release_offset(rel) - clock_start[1]).total_seconds() / speed
            if stop.wait(max(0.0, due - time.monotonic())):
                return summary
            publish(staging, bronze, rel)
            summary.files += 1
            if on_publish:
                on_publish(rel)
        _drop_pruned_state(bronze, set(before) - set(after))
        summary.days.append(day)
        log.info("live: %s published (%d files)", day, len(new))
    return summary

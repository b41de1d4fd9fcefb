"""Generate bronze files day by day, continuing the world a previous run left under the same root.

Each day: the business simulation and its CSV/XLSX files in this process; the clickstream (most of the
rows) built in worker processes, several days at once, then completed here in day order. The world
state is checkpointed every few days and at the end, always after the files of the day it describes, so
a killed run is simply run again: it continues from the last checkpoint and rewrites the same bytes.
"""

from __future__ import annotations

import copy
import ctypes
import datetime as dt
import json
import logging
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from generators import writers
from generators.clicklog import ClickDay, build_click_day, write_click_day
from generators.clickstream import COUNTRY_CODE
from generators.dirty import Defect, inject_table
from generators.history import HistoryExport, MonthExport
from generators.incidents import RENAMED, Incident, plan
from generators.pools import Pools, build_pools
from generators.state import TABLES, WorldState, load_state, prune_state, save_state, save_tables
from generators.world import DayOutput, day_number, initial_state, rng_for, simulate_day, to_date
from lakehouse.bronze.contract import SOURCES, daily_file, history_file, inventory_file, warehouse_ids
from lakehouse.core import storage
from lakehouse.core.config import GeneratorConfig

log = logging.getLogger(__name__)
CHECKPOINT_DAYS = 7
EARLY_TABLES = tuple(name for name in TABLES if name != "late_lines")
_MonthWritten = tuple[str, list[dict[str, object]], list[str]]  # a history month: label, files, defect kinds


class GeneratorError(RuntimeError):
    """The requested generation conflicts with what is already under the root."""


@dataclass
class Summary:
    """Files and rows written per source, and defects injected per kind."""

    files: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    days: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)  # months of the one-time export of the past
    incidents: list[Incident] = field(default_factory=list)  # injected, by start

    def add(self, source: str, rows: int) -> None:
        self.files[source] = self.files.get(source, 0) + 1
        self.rows[source] = self.rows.get(source, 0) + rows

    def add_written(self, files: list[dict[str, object]], kinds: list[str]) -> None:
        """The files a day (or a history month) wrote, and the kinds of the defects injected in them."""
        for f in files:
            self.add(str(f["source"]), int(f["rows"]))  # type: ignore[call-overload]
        for kind in kinds:
            self.defects[kind] = self.defects.get(kind, 0) + 1

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def bronze_uri(root: str) -> str:
    return storage.join(root, "bronze")


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


T = TypeVar("T")


class _Done(Generic[T]):
    """A finished result that looks like a Future, for running without worker processes."""

    def __init__(self, value: T) -> None:
        self._value = value

    def result(self) -> T:
        return self._value


@dataclass
class _PendingDay:
    day: int
    checkpoint: WorldState | None  # the world at the end of this day, to save once its clickstream is written
    click: Future[ClickDay] | _Done[ClickDay]
    defects: list[Defect]
    files: list[dict[str, object]]


def generate(
    root: str,
    settings: GeneratorConfig,
    *,
    start: dt.date | None = None,
    days: int | None = None,
    through: dt.date | None = None,
    clean: bool | None = None,
    incidents: bool | None = None,
    workers: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Summary:
    """Write `days` days of bronze files under `root`/bronze, starting at `start` or where the world left off.

    `through` (instead of `days`) writes every day up to and including that date and nothing if the world
    already reaches it, so a scheduler can ask for "the world up to this logical date" as often as it likes;
    with it, `start` names the day the world began (not the day it continues on).

    `workers` processes build clickstream days in parallel (default: up to 2); the files are the same
    bytes whatever the number. `incidents` (default: generator.incidents.enabled) injects the planned
    incidents (generators.incidents); never in a clean world."""
    bronze = bronze_uri(root)
    days = settings.days if days is None else days
    dirty_on = settings.dirty.enabled if clean is None else not clean
    incidents_on = settings.incidents.enabled if incidents is None else incidents
    if incidents_on and clean:
        raise GeneratorError("incidents are never injected into a clean world: drop --clean or --incidents")
    incidents_on = incidents_on and dirty_on
    state = load_state(bronze)
    if state is None:
        first = start or settings.start_date
        state = initial_state(
            settings.seed,
            first,
            settings.scale,
            settings.warehouses,
            build_pools(settings.seed),
            settings.history_days,
        )
        state.meta["dirty"] = dirty_on
        state.meta["rates"] = dict(sorted(settings.dirty.rates.items())) if dirty_on else {}
        state.meta["new_column_from_day"] = settings.dirty.new_column_from_day if dirty_on else None
        state.meta["incidents"] = _incident_settings(settings, dirty_on and incidents_on)
    else:
        _check_continuation(state, settings, start, dirty_on, bronze, incidents, through)
    pools = build_pools(int(state.meta["seed"]))
    first_daily = day_number(dt.date.fromisoformat(state.meta["start_date"]))
    if through is not None:
        if through < to_date(first_daily):
            raise GeneratorError(
                f"--through {through} is before the world's first day {to_date(first_daily)}"
            )
        days = max(0, day_number(through) - max(state.next_day, first_daily) + 1)
    planned = _planned(state.meta, max(state.next_day, first_daily) + days)
    workers = default_workers() if workers is None else workers
    summary = Summary()
    held = state.late_lines
    pending: deque[_PendingDay] = deque()

    def finish(p: _PendingDay) -> None:
        nonlocal held
        click = p.click.result()
        held, late_defects, click_files = write_click_day(bronze, click, held)
        files = p.files + click_files
        kinds = [d.kind for d in p.defects + late_defects] + [
            k for k, n in click.main_kinds.items() for _ in range(n)
        ]
        summary.add_written(files, kinds)
        entries = (
            [d.to_json_text() for d in p.defects]
            + click.main_defects
            + [d.to_json_text() for d in late_defects]
        )
        label = to_date(p.day).isoformat()
        head: dict[str, object] = {
            "day": label,
            "seed": int(state.meta["seed"]),
            "dirty": bool(state.meta.get("dirty")),
        }
        if state.meta.get("incidents"):
            head["incidents"] = [i.to_json() for i in planned if i.touches(p.day)]
            summary.incidents += [i for i in planned if i.start.startswith(label)]
        storage.write_bytes(
            storage.join(bronze, "_manifest", f"manifest_{label}.json"), manifest_bytes(head, files, entries)
        )
        # A checkpoint every few days and at the end: a killed run restarts from the last one and
        # rewrites the days after it with the same bytes.
        if p.checkpoint is not None:
            p.checkpoint.late_lines = held
            save_state(bronze, p.checkpoint, EARLY_TABLES)
            later = (q.checkpoint.next_day for q in pending if q.checkpoint is not None)
            prune_state(bronze, p.checkpoint.next_day, later)
        summary.days.append(label)
        log.info("generated %s", label)
        if progress:
            progress(label, len(summary.days), days)

    history = state.next_day < first_daily
    # One pool for the history's months and the days' clickstream (starting workers is not free).
    pool = _pool(workers) if workers > 1 and (days > 1 or history) else None
    try:
        if history:
            _write_history(bronze, state, pools, summary, progress, pool)
            save_state(bronze, state)
            prune_state(bronze, state.next_day)
        for i in range(days):
            k = state.next_day
            today = tuple(i for i in planned if i.touches(k))
            out = simulate_day(state, pools, state.meta.get("new_column_from_day"), today)
            rates = state.meta["rates"] if state.meta.get("dirty") else {}
            args = (
                bronze,
                int(state.meta["seed"]),
                k,
                _click_customers(state),
                _click_products(state),
                out.new_orders,
                out.order_items,
                rates,
                today,
                out.failed_checkouts,
            )
            click = pool.submit(build_click_day, *args) if pool else _Done(build_click_day(*args))
            # The day's CSVs are written while a worker builds its clickstream (it needs only `out`).
            defects, files = _write_business_files(bronze, state.meta, out, today)
            # Only checkpoint days keep a copy of the world (copying it every day costs more than the day).
            keep = i == days - 1 or i % CHECKPOINT_DAYS == CHECKPOINT_DAYS - 1
            checkpoint = (_snapshot(state) if pool else state) if keep else None
            if checkpoint is not None:
                # Saved while the workers build the clickstream; only the held lines must wait for it.
                save_tables(bronze, checkpoint, EARLY_TABLES)
            pending.append(_PendingDay(k, checkpoint, click, defects, files))
            while len(pending) > (workers if pool else 0):  # days in flight
                done = pending.popleft()
                finish(done)
        while pending:
            done = pending.popleft()
            finish(done)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return summary


def _write_history(
    bronze: str,
    state: WorldState,
    pools: Pools,
    summary: Summary,
    progress: Callable[[str, int, int], None] | None,
    pool: ProcessPoolExecutor | None,
) -> None:
    """Simulate the days from opening to the day before the first daily file and write them as the
    monthly files of a one-time export, each month with its manifest. The days are simulated one after
    another here while a worker process writes the months (a month's files cost about as much as
    simulating half of it)."""
    start = day_number(dt.date.fromisoformat(state.meta["start_date"]))
    export = HistoryExport()
    total = start - state.next_day
    written: deque[Future[_MonthWritten] | _Done[_MonthWritten]] = deque()

    def record(month: _MonthWritten) -> None:
        label, files, kinds = month
        summary.add_written(files, kinds)
        summary.history.append(label)

    while state.next_day < start:
        out = simulate_day(state, pools, None)
        export.add(out)
        done = total - (start - state.next_day)
        for month in export.complete(state.next_day, final=state.next_day == start):
            args = (bronze, dict(state.meta), month)
            written.append(pool.submit(_write_month, *args) if pool else _Done(_write_month(*args)))
            while len(written) > 1:  # one month in a worker, the next one collecting here
                record(written.popleft().result())
        if progress and (done % 7 == 0 or done == total):
            progress(f"history {to_date(out.day):%Y-%m}", done, total)
    while written:
        record(written.popleft().result())
    log.info("generated the history export: %s", ", ".join(summary.history))


def _write_month(bronze: str, meta: dict, month: MonthExport) -> _MonthWritten:  # type: ignore[type-arg]
    seed = int(meta["seed"])
    rates: dict[str, float] = meta["rates"] if meta.get("dirty") else {}
    label = f"{month.year}-{month.month:02d}"
    defects: list[Defect] = []
    files: list[dict[str, object]] = []
    orders, replaced = month.orders_latest()
    frames = {
        # Customers and products are a change log (every version), so no older version is injected.
        "customers": (writers.format_customers(_concat(month.customers)), None),
        "products": (writers.format_products(_concat(month.products)), None),
        "orders": (writers.format_orders(orders, False), writers.format_orders(replaced, False)),
        "order_items": (writers.format_order_items(_concat(month.order_items)), None),
        "shipments": (writers.format_shipments(_concat(month.shipments)), None),
    }
    day = day_number(month.last_day)
    for source, (frame, previous) in frames.items():
        path = history_file(source, month.year, month.month)
        _write_csv(
            bronze,
            source,
            path,
            frame,
            previous,
            rng_for(seed, day, f"dirty-history-{source}"),
            rates,
            defects,
            files,
        )
    head = {
        "day": month.last_day.isoformat(),
        "history": label,
        "seed": seed,
        "dirty": bool(meta.get("dirty")),
    }
    storage.write_bytes(
        storage.join(bronze, "_manifest", f"manifest_history_{label}.json"),
        manifest_bytes(head, files, [d.to_json_text() for d in defects]),
    )
    return label, files, [d.kind for d in defects]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)


def _write_csv(
    bronze: str,
    source: str,
    path: str,
    frame: pd.DataFrame,
    previous: pd.DataFrame | None,
    rng: np.random.Generator,
    rates: dict[str, float],
    defects: list[Defect],
    files: list[dict[str, object]],
) -> None:
    """One CSV file, with defects injected at `rates`; appends what it injected and wrote."""
    frame, found = inject_table(frame, SOURCES[source], path, rng, rates, previous) if rates else (frame, [])
    storage.write_bytes(storage.join(bronze, path), writers.csv_bytes(frame))
    defects.extend(found)
    files.append({"source": source, "file": path, "rows": len(frame)})


def _pool(workers: int) -> ProcessPoolExecutor:
    # fork is fastest, but unsafe once gRPC (a Spark Connect session) has threads in this process.
    method = "fork" if sys.platform == "linux" and "grpc" not in sys.modules else "spawn"
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context(method), initializer=_keep_freed_memory
    )


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def _keep_freed_memory() -> None:
    """A worker allocates and frees arrays of the same sizes every part. By default glibc hands large
    blocks back to the kernel on free (and Arrow's own allocator purges them), so every part touches
    fresh memory again: a page fault per 4 KiB, about a tenth of a worker's CPU time. Kept, the next
    part reuses them; a worker's peak memory is unchanged, it is only held until the pool ends."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: keep its defaults
        return
    libc.mallopt(M_MMAP_THRESHOLD, 256 << 20)
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    pa.set_memory_pool(pa.system_memory_pool())


def _snapshot(state: WorldState) -> WorldState:
    """A copy to save later, while the live state moves on to the next day."""
    tables = {name: getattr(state, name).copy() for name in ("customers", "products", "open_orders", "order_events",
              "open_items", "pending_shipments", "inventory", "late_lines")}  # fmt: skip
    return WorldState(meta=copy.deepcopy(state.meta), **tables)


def _click_customers(state: WorldState) -> pd.DataFrame:
    # Countries as small codes: this frame goes to a worker process every day, and strings pickle slowly.
    c = state.customers
    codes = c["country"].map(COUNTRY_CODE).to_numpy().astype(np.int8)
    return pd.DataFrame(
        {"signup_at": c["signup_at"].to_numpy(), "active": c["active"].to_numpy(), "country_code": codes}
    )


def _click_products(state: WorldState) -> pd.DataFrame:
    return state.products[["launch_day", "popularity", "price", "category"]]


def _incident_settings(s: GeneratorConfig, on: bool) -> dict[str, object] | None:
    i = s.incidents
    return (
        {"per_30_days": i.per_30_days, "warmup_days": i.warmup_days, "kinds": list(i.kinds)} if on else None
    )


def _planned(meta: dict, through_day: int) -> list[Incident]:  # type: ignore[type-arg]
    """The world's incidents up to `through_day`, from the settings it was created with."""
    settings = meta.get("incidents")
    if not settings:
        return []
    return plan(
        int(meta["seed"]),
        dt.date.fromisoformat(meta["start_date"]),
        int(meta["warehouses"]),
        float(settings["per_30_days"]),
        int(settings["warmup_days"]),
        tuple(settings["kinds"]),
        to_date(through_day),
    )


def _check_continuation(
    state: WorldState, s: GeneratorConfig, start: dt.date | None, dirty_on: bool, bronze: str,
    incidents: bool | None, through: dt.date | None = None,
) -> None:  # fmt: skip
    meta = state.meta
    nxt = to_date(state.next_day)
    problems = []
    if int(meta["seed"]) != s.seed:
        problems.append(f"seed {s.seed} (the world was generated with {meta['seed']})")
    if float(meta["scale"]) != s.scale:
        problems.append(f"scale {s.scale} (the world has {meta['scale']})")
    if int(meta["warehouses"]) != s.warehouses:
        problems.append(f"warehouses {s.warehouses} (the world has {meta['warehouses']})")
    if bool(meta.get("dirty")) != dirty_on:
        problems.append(
            f"dirty data {'on' if dirty_on else 'off (--clean)'} (the world has it {'on' if meta.get('dirty') else 'off'})"
        )
    if incidents is not None and bool(meta.get("incidents")) != incidents:  # unsaid: as the world has them
        had = "on" if meta.get("incidents") else "off"
        problems.append(f"incidents {'on' if incidents else 'off'} (the world has them {had})")
    began = dt.date.fromisoformat(meta["start_date"])
    if start is not None and start != (began if through is not None else nxt):
        problems.append(
            f"start {start} (the world began on {began})"
            if through is not None
            else f"start {start} (the world continues on {nxt})"
        )
    if problems:
        raise GeneratorError(
            f"{bronze} already holds a world generated up to {nxt - dt.timedelta(days=1)}; cannot continue it with "
            + "; ".join(problems)
            + ". Use the same settings (or omit --start) to extend it, or choose a new --root."
        )


def _write_business_files(
    bronze: str,
    meta: dict,
    out: DayOutput,
    incidents: tuple[Incident, ...] = (),  # type: ignore[type-arg]
) -> tuple[list[Defect], list[dict[str, object]]]:
    """The day's CSVs (and the weekly XLSX), with defects injected; returns the defects and files written.
    A feed gone silent writes its file empty or not at all; a schema break renames one of its columns
    (no defects are injected into either: their rows never reach silver)."""
    seed = int(meta["seed"])
    rates: dict[str, float] = meta["rates"] if meta.get("dirty") else {}
    k = out.day
    world_day = k - day_number(dt.date.fromisoformat(meta["start_date"])) + 1
    new_col_from = meta.get("new_column_from_day")
    with_coupon = new_col_from is not None and world_day >= int(new_col_from)
    day = to_date(k).isoformat()
    defects: list[Defect] = []
    files: list[dict[str, object]] = []

    broken = {i.target: i for i in incidents if i.kind in ("feed_silent", "schema_break")}

    def write_csv(source: str, frame: pd.DataFrame, previous: pd.DataFrame | None) -> None:
        path = daily_file(source, day)
        rng = rng_for(seed, k, f"dirty-{source}")
        incident = broken.get(source)
        if incident is None:
            _write_csv(bronze, source, path, frame, previous, rng, rates, defects, files)
        elif incident.kind == "feed_silent" and incident.variant == "missing":
            storage.delete(storage.join(bronze, path))  # a rerun must not find an earlier run's file
        else:
            if incident.kind == "feed_silent":
                frame = frame.iloc[0:0]
            else:
                frame = frame.rename(columns=dict([RENAMED[source]]))
            _write_csv(bronze, source, path, frame, None, rng, {}, defects, files)

    write_csv(
        "customers", writers.format_customers(out.customers), writers.format_customers(out.customers_previous)
    )
    write_csv(
        "products", writers.format_products(out.products), writers.format_products(out.products_previous)
    )
    orders_prev = writers.format_orders(out.orders_previous, with_coupon)
    write_csv("orders", writers.format_orders(out.orders, with_coupon), orders_prev)
    if with_coupon and world_day == int(new_col_from):
        defects.append(
            Defect(
                "orders",
                daily_file("orders", day),
                None,
                None,
                "new_column",
                "coupon_code",
                note="first file with this column",
            )
        )
    write_csv("order_items", writers.format_order_items(out.order_items), None)
    write_csv("shipments", writers.format_shipments(out.shipments), None)

    if out.inventory is not None:
        iso = to_date(k).isocalendar()
        path = inventory_file(iso.year, iso.week)
        names = warehouse_ids(int(meta["warehouses"]))
        sheets = writers.inventory_sheet_rows(out.inventory, names)
        rng = rng_for(seed, k, "dirty-inventory")
        cols = list(SOURCES["inventory"].column_names)
        for name in names:
            frame = pd.DataFrame(sheets[name], columns=cols)
            if rates:
                frame, found = inject_table(frame, SOURCES["inventory"], path, rng, rates, None, sheet=name)
                defects.extend(found)
            sheets[name] = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
        stamp = dt.datetime.combine(to_date(k), dt.time(23, 0))
        storage.write_bytes(storage.join(bronze, path), writers.xlsx_bytes(sheets, stamp))
        n_rows = sum(len(r) for r in sheets.values())
        files.append({"source": "inventory", "file": path, "rows": n_rows, "sheets": list(names)})
    return defects, files


def manifest_bytes(head: dict[str, object], files: list[dict[str, object]], defects: list[str]) -> bytes:
    """Valid JSON with one file or defect (given as JSON text) per line, so it reads well and diffs well."""
    lines = [json.dumps(head)[:-1] + ","]
    lines.append(' "files": [\n  ' + ",\n  ".join(json.dumps(f) for f in files) + "\n ],")
    body = ",\n  ".join(defects)
    lines.append(' "defects": [' + ("\n  " + body + "\n ]" if defects else "]") + "\n}\n")
    return "\n".join(lines).encode()


def _cell(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.date()
    return v

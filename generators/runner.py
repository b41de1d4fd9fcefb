"""Generate bronze files day by day, continuing the world a previous run left under the same root."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from generators import writers
from generators.clickstream import encode_json_lines, simulate_sessions
from generators.dirty import Defect, inject_table, mutate_event_line
from generators.pools import build_pools
from generators.state import WorldState, load_state, prune_state, save_state
from generators.world import day_number, initial_state, rng_for, simulate_day, to_date
from lakehouse import storage
from lakehouse.config import GeneratorConfig
from lakehouse.sources import SOURCES, clickstream_file, daily_file, inventory_file, warehouse_ids

log = logging.getLogger(__name__)


class GeneratorError(RuntimeError):
    """The requested generation conflicts with what is already under the root."""


@dataclass
class Summary:
    """Files and rows written per source, and defects injected per kind."""

    files: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    days: list[str] = field(default_factory=list)

    def add(self, source: str, rows: int) -> None:
        self.files[source] = self.files.get(source, 0) + 1
        self.rows[source] = self.rows.get(source, 0) + rows

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def bronze_uri(root: str) -> str:
    return storage.join(root, "bronze")


def generate(
    root: str,
    settings: GeneratorConfig,
    *,
    start: dt.date | None = None,
    days: int | None = None,
    clean: bool | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Summary:
    """Write `days` days of bronze files under `root`/bronze, starting at `start` or where the world left off."""
    bronze = bronze_uri(root)
    days = settings.days if days is None else days
    dirty_on = settings.dirty.enabled if clean is None else not clean
    state = load_state(bronze)
    if state is None:
        first = start or settings.start_date
        state = initial_state(settings.seed, first, settings.scale, settings.warehouses, build_pools(settings.seed))
        state.meta["dirty"] = dirty_on
        state.meta["rates"] = dict(sorted(settings.dirty.rates.items())) if dirty_on else {}
        state.meta["new_column_from_day"] = settings.dirty.new_column_from_day if dirty_on else None
    else:
        _check_continuation(state, settings, start, dirty_on, bronze)
    pools = build_pools(int(state.meta["seed"]))
    summary = Summary()
    for i in range(days):
        k = state.next_day
        label = to_date(k).isoformat()
        if progress:
            progress(label, i, days)
        _write_day(bronze, state, pools, summary)
        save_state(bronze, state)
        prune_state(bronze, state.next_day)
        summary.days.append(label)
        log.info("generated %s", label)
    if progress:
        progress("done", days, days)
    return summary


def _check_continuation(state: WorldState, s: GeneratorConfig, start: dt.date | None, dirty_on: bool, bronze: str) -> None:
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
        problems.append(f"dirty data {'on' if dirty_on else 'off (--clean)'} (the world has it {'on' if meta.get('dirty') else 'off'})")
    if start is not None and start != nxt:
        problems.append(f"start {start} (the world continues on {nxt})")
    if problems:
        raise GeneratorError(
            f"{bronze} already holds a world generated up to {nxt - dt.timedelta(days=1)}; cannot continue it with "
            + "; ".join(problems)
            + ". Use the same settings (or omit --start) to extend it, or choose a new --root."
        )


def _write_day(bronze: str, state: WorldState, pools, summary: Summary) -> None:  # type: ignore[no-untyped-def]
    meta = state.meta
    seed = int(meta["seed"])
    rates: dict[str, float] = meta["rates"] if meta.get("dirty") else {}
    k = state.next_day
    world_day = k - day_number(dt.date.fromisoformat(meta["start_date"])) + 1
    new_col_from = meta.get("new_column_from_day")
    with_coupon = new_col_from is not None and world_day >= int(new_col_from)

    out = simulate_day(state, pools, new_col_from)
    day = to_date(k).isoformat()
    defects: list[Defect] = []
    files: list[dict[str, object]] = []

    def write_csv(source: str, frame: pd.DataFrame, previous: pd.DataFrame | None) -> None:
        path = daily_file(source, day)
        rng = rng_for(seed, k, f"dirty-{source}")
        frame, found = inject_table(frame, SOURCES[source], path, rng, rates, previous) if rates else (frame, [])
        storage.write_bytes(storage.join(bronze, path), writers.csv_bytes(frame))
        defects.extend(found)
        files.append({"source": source, "file": path, "rows": len(frame)})
        summary.add(source, len(frame))

    write_csv("customers", writers.format_customers(out.customers), writers.format_customers(out.customers_previous))
    write_csv("products", writers.format_products(out.products), writers.format_products(out.products_previous))
    orders_prev = writers.format_orders(out.orders_previous, with_coupon)
    write_csv("orders", writers.format_orders(out.orders, with_coupon), orders_prev)
    if with_coupon and world_day == int(new_col_from):
        defects.append(Defect("orders", daily_file("orders", day), None, None, "new_column", "coupon_code", note="first file with this column"))
    write_csv("order_items", writers.format_order_items(out.order_items), None)
    write_csv("shipments", writers.format_shipments(out.shipments), None)

    events = simulate_sessions(rng_for(seed, k, "clickstream"), k, state.customers, state.products, out.new_orders, out.order_items)
    _write_clickstream(bronze, state, events, rates, rng_for(seed, k, "dirty-clickstream"), defects, files, summary)

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
        summary.add("inventory", n_rows)

    for d in defects:
        summary.defects[d.kind] = summary.defects.get(d.kind, 0) + 1
    manifest = {
        "day": day,
        "seed": seed,
        "dirty": bool(meta.get("dirty")),
        "files": files,
        "defects": [d.to_json() for d in defects],
    }
    storage.write_bytes(storage.join(bronze, "_manifest", f"manifest_{day}.json"), json.dumps(manifest, indent=1).encode())


def _cell(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.date()
    return v


def _write_clickstream(bronze, state, events, rates, rng, defects, files, summary) -> None:  # type: ignore[no-untyped-def]
    """Hourly JSON-lines files; late events go to a later hour, or to a later day via the world state."""
    k = state.next_day - 1
    day = to_date(k).isoformat()
    lines = encode_json_lines(events)
    n = len(events)
    text: list[str | None] = [None] * n  # replaced lines, where a defect changed one
    hour = events["hour"].to_numpy().copy()
    target_day = np.full(n, k, dtype=np.int64)
    kinds: dict[int, tuple[str, str | None, object, object]] = {}
    extra: list[tuple[int, int, str, Defect]] = []  # (target day, hour, line, defect) for redelivered copies
    event_ids = events["event_id"].to_numpy()
    if rates:
        order = rng.permutation(n)
        cursor = 0
        for kind in ("null_required", "type_mismatch", "date_format", "out_of_range", "orphan_fk", "whitespace_case", "malformed_json"):
            count = min(int(rng.binomial(n, rates.get(kind, 0.0))), n - cursor)
            for r in order[cursor : cursor + count]:
                new, col, val, orig = mutate_event_line(kind, lines[int(r)].as_py(), rng)
                text[int(r)] = new
                kinds[int(r)] = (kind, col, val, orig)
            cursor += count
        n_late = min(int(rng.binomial(n, rates.get("late_event", 0.0))), n - cursor)
        for r in order[cursor : cursor + n_late]:
            delay = int(rng.integers(1, 30))  # hours
            h = int(hour[r]) + delay
            target_day[r], hour[r] = k + h // 24, h % 24
            kinds[int(r)] = ("late_event", None, None, f"{day}T{int(events['hour'].iat[int(r)]):02d}")
        cursor += n_late
        n_dup = min(int(rng.binomial(n, rates.get("duplicate_row", 0.0))), n - cursor)
        for r in order[cursor : cursor + n_dup]:
            h = int(hour[r]) + (int(rng.integers(1, 6)) if rng.random() < 0.5 else 0)
            extra.append((k + h // 24, h % 24, lines[int(r)].as_py(), Defect("clickstream", "", None, str(event_ids[r]), "duplicate_row", note="redelivered copy")))

    # Lines held from earlier days for today, then today's own lines, grouped by target hour.
    held = state.late_lines
    mine = held[held["target_day"] == k] if len(held) else held
    later: list[dict[str, object]] = [] if not len(held) else held[held["target_day"] > k].to_dict("records")
    late_block: dict[int, list[tuple[int | str, Defect | None]]] = {h: [] for h in range(24)}
    for rec in mine.to_dict("records") if len(mine) else []:
        d = _from_dict(json.loads(rec["defect"])) if rec["defect"] else None
        late_block[int(rec["hour"])].append((str(rec["line"]), d))

    def defect_for(r: int) -> Defect | None:
        if r not in kinds:
            return None
        kind, col, val, orig = kinds[r]
        return Defect("clickstream", "", None, str(event_ids[r]), kind, col, val, orig)

    # Replaced, held and redelivered lines live after the generated ones, addressed by index >= n.
    extra_text: list[str] = []

    def add_text(line: str) -> int:
        extra_text.append(line)
        return n + len(extra_text) - 1

    line_index = np.arange(n, dtype=np.int64)
    for r, t in enumerate(text):
        if t is not None:
            line_index[r] = add_text(t)
    late_rows = np.array([r for r, v in kinds.items() if v[0] == "late_event"], dtype=np.int64)
    is_late = np.zeros(n, dtype=bool)
    is_late[late_rows] = True
    for r in np.flatnonzero(is_late & (target_day == k)):
        late_block[int(hour[r])].append((int(line_index[r]), defect_for(int(r))))  # type: ignore[arg-type]
    for r in np.flatnonzero(target_day > k):
        d = defect_for(int(r))
        later.append({"target_day": int(target_day[r]), "hour": int(hour[r]), "line": text[r] or lines[int(r)].as_py(),
                      "defect": json.dumps(d.to_json() | {"file": "", "row": None}) if d else ""})  # fmt: skip
    for td, h, line, d in extra:
        if td == k:
            late_block[h].append((line, d))
        else:
            later.append({"target_day": td, "hour": h, "line": line, "defect": json.dumps(d.to_json())})
    state.late_lines = pd.DataFrame(later, columns=["target_day", "hour", "line", "defect"]).astype(
        {"target_day": "int64", "hour": "int64", "line": "object", "defect": "object"}
    )

    on_time = np.flatnonzero((target_day == k) & ~is_late)
    by_hour = on_time[np.argsort(hour[on_time], kind="stable")]
    bounds = np.searchsorted(hour[by_hour], np.arange(25))
    defect_rows = {r: defect_for(r) for r in kinds if not is_late[r] and target_day[r] == k}
    all_lines = pa.concat_arrays([lines, pa.array(extra_text, pa.string())]) if extra_text else lines
    for h in range(24):
        main = by_hour[bounds[h] : bounds[h + 1]]
        tail = [(e if isinstance(e, int) else add_text(e), d) for e, d in late_block[h]]
        if extra_text and len(all_lines) != n + len(extra_text):
            all_lines = pa.concat_arrays([lines, pa.array(extra_text, pa.string())])
        if not len(main) and not tail:
            continue
        idx = np.r_[line_index[main], np.array([t[0] for t in tail], dtype=np.int64)]
        path = clickstream_file(day, h)
        storage.write_bytes(storage.join(bronze, path), _concat(all_lines.take(pa.array(idx))))
        found = [(int(np.searchsorted(main, r)) + 1, d) for r, d in defect_rows.items() if hour[r] == h]
        found += [(len(main) + i + 1, d) for i, (_, d) in enumerate(tail) if d is not None]
        for lineno, d in sorted(found, key=lambda x: x[0]):
            d.file, d.row = path, lineno  # type: ignore[union-attr]
            defects.append(d)  # type: ignore[arg-type]
        files.append({"source": "clickstream", "file": path, "rows": len(idx)})
        summary.add("clickstream", len(idx))


def _from_dict(d: Defect | dict) -> Defect:  # type: ignore[type-arg]
    if isinstance(d, Defect):
        return d
    return Defect(**{k: v for k, v in d.items() if k != "expected"})


def _concat(arr: pa.Array) -> bytes:
    """The bytes of a string array's values back to back (each value already ends in a newline)."""
    arr = pa.concat_arrays([arr]) if isinstance(arr, pa.ChunkedArray) else arr
    arr = arr.take(pa.array(np.arange(len(arr))))  # compact: offsets start at 0
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1)
    return arr.buffers()[2].to_pybytes()[: int(offsets[-1])]

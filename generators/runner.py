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
from generators.clickstream import encode_json_lines, event_id, simulate_sessions
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
        state = initial_state(
            settings.seed, first, settings.scale, settings.warehouses, build_pools(settings.seed)
        )
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


def _check_continuation(
    state: WorldState, s: GeneratorConfig, start: dt.date | None, dirty_on: bool, bronze: str
) -> None:
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
        frame, found = (
            inject_table(frame, SOURCES[source], path, rng, rates, previous) if rates else (frame, [])
        )
        storage.write_bytes(storage.join(bronze, path), writers.csv_bytes(frame))
        defects.extend(found)
        files.append({"source": source, "file": path, "rows": len(frame)})
        summary.add(source, len(frame))

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

    events = simulate_sessions(
        rng_for(seed, k, "clickstream"), k, state.customers, state.products, out.new_orders, out.order_items
    )
    _write_clickstream(
        bronze, state, events, rates, rng_for(seed, k, "dirty-clickstream"), defects, files, summary
    )

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
    head = {"day": day, "seed": seed, "dirty": bool(meta.get("dirty"))}
    storage.write_bytes(
        storage.join(bronze, "_manifest", f"manifest_{day}.json"), manifest_bytes(head, files, defects)
    )


def manifest_bytes(head: dict[str, object], files: list[dict[str, object]], defects: list[Defect]) -> bytes:
    """Valid JSON with one file or defect per line, so it reads well and diffs well."""
    lines = [json.dumps(head)[:-1] + ","]
    lines.append(' "files": [\n  ' + ",\n  ".join(json.dumps(f) for f in files) + "\n ],")
    body = ",\n  ".join(json.dumps(d.to_json()) for d in defects)
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


def _write_clickstream(bronze, state, events, rates, rng, defects, files, summary) -> None:  # type: ignore[no-untyped-def]
    """Hourly JSON-lines files; late events go to a later hour, or to a later day via the world state."""
    k = state.next_day - 1
    day = to_date(k).isoformat()
    lines = encode_json_lines(events)
    n = len(events["ts_ms"])
    hour = events["hour"].copy()
    target_day = np.full(n, k, dtype=np.int64)
    replaced: dict[int, str] = {}
    defect_of: dict[int, Defect] = {}
    redelivered: list[tuple[int, int, str, Defect]] = []
    if rates:
        order = rng.permutation(n)
        cursor = 0
        for kind in (
            "null_required",
            "type_mismatch",
            "date_format",
            "out_of_range",
            "orphan_fk",
            "whitespace_case",
            "malformed_json",
        ):
            count = min(int(rng.binomial(n, rates.get(kind, 0.0))), n - cursor)
            for r in order[cursor : cursor + count].tolist():
                new, col, val, orig = mutate_event_line(kind, lines[r].as_py(), rng)
                replaced[r] = new
                defect_of[r] = Defect("clickstream", "", None, event_id(events, r), kind, col, val, orig)
            cursor += count
        n_late = min(int(rng.binomial(n, rates.get("late_event", 0.0))), n - cursor)
        for r in order[cursor : cursor + n_late].tolist():
            h = int(hour[r]) + int(rng.integers(1, 30))  # hours late
            target_day[r], hour[r] = k + h // 24, h % 24
            note = f"belongs to {clickstream_file(day, int(events['hour'][r]))}"
            defect_of[r] = Defect("clickstream", "", None, event_id(events, r), "late_event", note=note)
        cursor += n_late
        n_dup = min(int(rng.binomial(n, rates.get("duplicate_row", 0.0))), n - cursor)
        for r in order[cursor : cursor + n_dup].tolist():
            h = int(hour[r]) + (int(rng.integers(1, 6)) if rng.random() < 0.5 else 0)
            copy = Defect(
                "clickstream",
                "",
                None,
                event_id(events, r),
                "duplicate_row",
                note="redelivered copy of an event",
            )
            redelivered.append((k + h // 24, h % 24, lines[r].as_py(), copy))

    # Appended after each hour's own lines: late events and redelivered copies (today's and held ones).
    is_late = np.zeros(n, dtype=bool)
    is_late[[r for r, d in defect_of.items() if d.kind == "late_event"]] = True
    tails: dict[int, list[tuple[int | str, Defect | None]]] = {h: [] for h in range(24)}
    later: list[dict[str, object]] = []
    held = state.late_lines
    for rec in held.to_dict("records") if len(held) else []:
        if int(rec["target_day"]) == k:
            tails[int(rec["hour"])].append(
                (str(rec["line"]), _from_dict(json.loads(rec["defect"])) if rec["defect"] else None)
            )
        else:
            later.append(rec)
    for r in np.flatnonzero(is_late).tolist():
        if target_day[r] == k:
            tails[int(hour[r])].append((r, defect_of[r]))
        else:
            later.append({"target_day": int(target_day[r]), "hour": int(hour[r]), "line": replaced.get(r) or lines[r].as_py(),
                          "defect": json.dumps(defect_of[r].to_json())})  # fmt: skip
    for td, h, line, d in redelivered:
        if td == k:
            tails[h].append((line, d))
        else:
            later.append({"target_day": td, "hour": h, "line": line, "defect": json.dumps(d.to_json())})
    state.late_lines = pd.DataFrame(later, columns=["target_day", "hour", "line", "defect"]).astype(
        {"target_day": "int64", "hour": "int64", "line": "object", "defect": "object"}
    )

    # Text that is not in `lines` is appended to it once; rows then address lines by index.
    extra_text: list[str] = []
    line_index = np.arange(n, dtype=np.int64)
    for r, t in sorted(replaced.items()):
        line_index[r] = n + len(extra_text)
        extra_text.append(t)
    for h in range(24):
        resolved = []
        for ref, d in tails[h]:
            if isinstance(ref, str):
                resolved.append((n + len(extra_text), d))
                extra_text.append(ref)
            else:
                resolved.append((int(line_index[ref]), d))
        tails[h] = resolved  # type: ignore[assignment]
    all_lines = pa.concat_arrays([lines, pa.array(extra_text, pa.string())]) if extra_text else lines

    on_time = np.flatnonzero((target_day == k) & ~is_late)
    by_hour = on_time[np.argsort(hour[on_time], kind="stable")]
    bounds = np.searchsorted(hour[by_hour], np.arange(25))
    defect_rows_by_hour: dict[int, list[int]] = {}
    for r, d in defect_of.items():
        if d.kind != "late_event":
            defect_rows_by_hour.setdefault(int(hour[r]), []).append(r)
    for h in range(24):
        main = by_hour[bounds[h] : bounds[h + 1]]
        tail = tails[h]
        if not len(main) and not tail:
            continue
        idx = np.r_[line_index[main], np.array([t[0] for t in tail], dtype=np.int64)]
        path = clickstream_file(day, h)
        storage.write_bytes(storage.join(bronze, path), _concat(all_lines.take(pa.array(idx))))
        found = [(int(np.searchsorted(main, r)) + 1, defect_of[r]) for r in defect_rows_by_hour.get(h, [])]
        found += [(len(main) + i + 1, d) for i, (_, d) in enumerate(tail) if d is not None]
        for lineno, d in sorted(found, key=lambda x: x[0]):
            d.file, d.row = path, lineno
            defects.append(d)
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

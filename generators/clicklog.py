"""A day of clickstream files in two steps.

`build_click_day` depends only on the seed, the day and the day's world, so it runs in worker processes,
several days at once; it writes each hour's own events. `write_click_day` runs in day order in the main
process and appends what arrives late: lines earlier days held for this one, and today's late events.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from generators.clickstream import bot_sessions, encode_json_lines, event_ids, merge_events, simulate_sessions
from generators.dirty import VALUE_KINDS, Defect, mutate_event_line
from generators.incidents import Incident
from generators.world import rng_for, to_date
from lakehouse.bronze.contract import clickstream_file
from lakehouse.core import storage

LINE_KINDS = (*VALUE_KINDS, "malformed_json")  # defects that replace one line's text
HELD_COLUMNS = {"target_day": "int64", "hour": "int64", "line": "object", "defect": "object"}


ORDERS_PER_PART = 1500  # a day's sessions are built and written in parts of about this many orders


@dataclass
class ClickDay:
    """What a worker wrote for one day, and what the main process must still add to those files."""

    day: int
    main_rows: list[int]  # per hour: lines already written to the hour's first file (part 0)
    main_defects: list[str]  # manifest entries (JSON) for the lines written, in file and line order
    main_kinds: dict[str, int]
    tails: list[list[tuple[str, Defect]]]  # per hour: today's late events and redelivered copies
    outgoing: list[dict[str, object]]  # lines held for later days
    parts: list[dict[str, object]]  # further part files written (file, rows), complete as they are


def build_click_day(
    bronze: str,
    seed: int,
    day: int,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    new_orders: pd.DataFrame,
    items: pd.DataFrame,
    rates: dict[str, float],
    incidents: tuple[Incident, ...] = (),
    failed_checkouts: np.ndarray | None = None,
) -> ClickDay:
    """Simulate, encode and spoil the day's events, and write each hour's own events, part by part so
    memory stays bounded by a part, not by the day: each part is one share of the day's orders with the
    browsing sessions that go with it. `incidents` touching the day add bots or lose events."""
    n_parts = max(1, -(-len(new_orders) // ORDERS_PER_PART))
    result = ClickDay(day, [0] * 24, [], {}, [[] for _ in range(24)], [], [])
    for part, orders in enumerate(np.array_split(np.arange(len(new_orders)), n_parts)):
        failed = failed_checkouts if part == 0 else None
        _build_part(
            bronze, seed, day, part, customers, products, new_orders.iloc[orders], items, rates, result,
            incidents, failed,
        )  # fmt: skip
    return result


def _build_part(
    bronze: str, seed: int, day: int, part: int, customers: pd.DataFrame, products: pd.DataFrame,
    new_orders: pd.DataFrame, items: pd.DataFrame, rates: dict[str, float], result: ClickDay,
    incidents: tuple[Incident, ...] = (), failed_checkouts: np.ndarray | None = None,
) -> None:  # fmt: skip
    suffix = f"-{part}" if part else ""
    events = simulate_sessions(
        rng_for(seed, day, "clickstream" + suffix),
        day,
        customers,
        products,
        new_orders,
        items,
        failed_checkouts,
    )
    for inc in (i for i in incidents if i.kind == "bot_traffic"):
        n_bots = round(len(events["session_uuids"]) * inc.magnitude)
        bots = bot_sessions(
            rng_for(seed, day, f"incident-{inc.id}{suffix}"), inc.start_ts, inc.end_ts, n_bots, products
        )
        events = merge_events(events, bots)
    lines = encode_json_lines(events)
    n = len(events["ts_ms"])
    label = to_date(day).isoformat()
    hour = events["hour"].copy()
    # Events of sessions that ran past midnight: on time, in the next day's files (held for that day).
    target_day = (events["ts_ms"] // 86_400_000).astype(np.int64)
    carried = target_day > day
    target_day[~carried] = day
    # A collector outage: its hours' events are lost (a share) or arrive in the hour it comes back.
    outage = np.zeros(n, dtype=bool)
    dropped = np.zeros(n, dtype=bool)
    for inc in (i for i in incidents if i.kind == "collector_outage"):
        hit = ~carried & (events["ts_ms"] >= inc.start_ts * 1000) & (events["ts_ms"] < inc.end_ts * 1000)
        lose = hit & (rng_for(seed, day, f"incident-{inc.id}{suffix}").random(n) < inc.magnitude)
        back = inc.end_ts // 3600
        target_day[hit & ~lose], hour[hit & ~lose] = back // 24, back % 24
        outage |= hit & ~lose
        dropped |= lose
    replaced: dict[int, str] = {}
    defect_of: dict[int, Defect] = {}
    redelivered: list[tuple[int, int, int, Defect]] = []  # (target day, hour, row, defect)
    if rates:
        rng = rng_for(seed, day, "dirty-clickstream" + suffix)
        candidates = np.flatnonzero(~carried & ~outage & ~dropped)
        n = len(candidates)
        order = candidates[rng.permutation(n)]
        cursor = 0
        for kind in LINE_KINDS:
            count = min(int(rng.binomial(n, rates.get(kind, 0.0))), n - cursor)
            rows = order[cursor : cursor + count]
            for r, text, eid in zip(
                rows.tolist(), lines.take(rows).to_pylist(), event_ids(events, rows), strict=True
            ):
                new, col, val, orig = mutate_event_line(kind, text, rng)
                replaced[r] = new
                defect_of[r] = Defect("clickstream", "", None, eid, kind, col, val, orig)
            cursor += count
        n_late = min(int(rng.binomial(n, rates.get("late_event", 0.0))), n - cursor)
        rows = order[cursor : cursor + n_late]
        for r, eid in zip(rows.tolist(), event_ids(events, rows), strict=True):
            h = int(hour[r]) + int(rng.integers(1, 30))  # hours late
            target_day[r], hour[r] = day + h // 24, h % 24
            note = f"belongs to {clickstream_file(label, int(events['hour'][r]), part)}"
            defect_of[r] = Defect("clickstream", "", None, eid, "late_event", note=note)
        cursor += n_late
        n_dup = min(int(rng.binomial(n, rates.get("duplicate_row", 0.0))), n - cursor)
        rows = order[cursor : cursor + n_dup]
        for r, eid in zip(rows.tolist(), event_ids(events, rows), strict=True):
            h = int(hour[r]) + (int(rng.integers(1, 6)) if rng.random() < 0.5 else 0)
            copy = Defect("clickstream", "", None, eid, "duplicate_row", note="redelivered copy of an event")
            redelivered.append((day + h // 24, h % 24, r, copy))

    # Late events and redelivered copies: to a later hour's tail today, or held for a later day.
    n = len(events["ts_ms"])
    is_late = carried | outage
    is_late[[r for r, d in defect_of.items() if d.kind == "late_event"]] = True
    skipped_rows = is_late | dropped
    tails, outgoing = result.tails, result.outgoing
    moved = [
        (int(target_day[r]), int(hour[r]), r, defect_of.get(r)) for r in np.flatnonzero(is_late).tolist()
    ]
    moving = moved + redelivered
    for (td, h, _, d), line in zip(
        moving, lines.take(np.array([r for _, _, r, _ in moving], dtype=np.int64)).to_pylist(), strict=True
    ):
        if td == day:
            tails[h].append((line, d))
        else:
            outgoing.append(
                {"target_day": td, "hour": h, "line": line, "defect": d.to_json_text() if d else ""}
            )

    # Each hour's own events are a contiguous run of the time-ordered lines: write that run straight from
    # the encoded buffer, skipping the late rows and swapping in the replaced ones (no copy of the day).
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=n + 1, offset=lines.offset * 4)
    data = memoryview(lines.buffers()[2])
    special = sorted(set(replaced) | set(np.flatnonzero(skipped_rows).tolist()))
    own_hour = np.where(carried, 24, events["hour"])  # carried events come last (lines are in time order)
    bounds = np.searchsorted(own_hour, np.arange(25))
    on_time_defects = sorted(r for r, d in defect_of.items() if d.kind != "late_event")
    main_defects, kinds = result.main_defects, result.main_kinds
    for h in range(24):
        first, end = int(bounds[h]), int(bounds[h + 1])
        path = clickstream_file(label, h, part)
        pieces: list[bytes | memoryview] = []
        pos, skipped = first, 0
        for r in special[bisect.bisect_left(special, first) : bisect.bisect_left(special, end)]:
            pieces.append(data[offsets[pos] : offsets[r]])
            pos = r + 1
            if skipped_rows[r]:
                skipped += 1
                continue
            pieces.append(replaced[r].encode())
        pieces.append(data[offsets[pos] : offsets[end]])
        rows = end - first - skipped
        if not rows:
            storage.delete(storage.join(bronze, path))  # a rerun must not append to an earlier run's tail
            continue
        storage.write_parts(storage.join(bronze, path), pieces)
        if part:
            result.parts.append({"source": "clickstream", "file": path, "rows": rows})
        else:
            result.main_rows[h] = rows
        late_before = np.cumsum(skipped_rows[first:end])
        for r in on_time_defects[
            bisect.bisect_left(on_time_defects, first) : bisect.bisect_left(on_time_defects, end)
        ]:
            d = defect_of[r]
            d.file, d.row = path, int(r - first - late_before[r - first]) + 1
            main_defects.append(d.to_json_text())
            kinds[d.kind] = kinds.get(d.kind, 0) + 1


def write_click_day(
    bronze: str, click: ClickDay, held: pd.DataFrame
) -> tuple[pd.DataFrame, list[Defect], list[dict[str, object]]]:
    """Append to each hour's file the lines earlier days held for it, then today's late events and
    redelivered copies. Returns the lines still held for later days, the appended defects and the files."""
    day = to_date(click.day).isoformat()
    arriving: list[list[tuple[str, Defect | None]]] = [[] for _ in range(24)]
    later = list(click.outgoing)
    for rec in held.to_dict("records") if len(held) else []:
        if int(rec["target_day"]) == click.day:
            d = _defect_from_json(rec["defect"]) if rec["defect"] else None
            arriving[int(rec["hour"])].append((str(rec["line"]), d))
        else:
            later.append(rec)
    defects: list[Defect] = []
    files: list[dict[str, object]] = []
    for h in range(24):
        extra = arriving[h] + click.tails[h]  # type: ignore[operator]
        rows = click.main_rows[h] + len(extra)
        if not rows:
            continue
        path = clickstream_file(day, h)
        if extra:
            storage.append_bytes(storage.join(bronze, path), "".join(line for line, _ in extra).encode())
        for i, (_, d) in enumerate(extra):
            if d is not None:
                d.file, d.row = path, click.main_rows[h] + i + 1
                defects.append(d)
        files.append({"source": "clickstream", "file": path, "rows": rows})
    files += click.parts
    return pd.DataFrame(later, columns=list(HELD_COLUMNS)).astype(HELD_COLUMNS), defects, files


def _defect_from_json(text: str) -> Defect:
    d = json.loads(text)
    d.pop("expected", None)
    return Defect(**d)

"""Deliberate defects, injected into clean rows, each recorded as ground truth.

Each defective row carries exactly one defect. `expected` says what a correct silver layer does:
dropped_duplicate, superseded (an older version of a key; the later one must win), quarantined,
nulled (an unusable value in an optional column: the row is kept with null there), repaired
(whitespace, case, date formats it can parse), orphan (a foreign key with no parent), accepted_late
(a late clickstream event in a later file), schema_evolved (a new column).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from lakehouse.bronze.contract import DATE_FORMATS, SOURCES, TIMESTAMP_FORMATS, Source
from lakehouse.core.config import DEFECT_KINDS

EXPECTED = {
    "duplicate_row": "dropped_duplicate",
    "key_update": "superseded",
    "null_required": "quarantined",
    "type_mismatch": "quarantined",
    "date_format": "repaired",
    "out_of_range": "quarantined",
    "orphan_fk": "orphan",
    "whitespace_case": "repaired",
    "late_event": "accepted_late",
    "malformed_json": "quarantined",
    "new_column": "schema_evolved",
}


@functools.cache
def expected_outcome(source: str, kind: str, column: str | None) -> str:
    """What silver should do: an unusable value in an optional column becomes null (the row is kept).
    A conditionally required column (ship_date) counts as required: defects only damage values that
    are present, and those are exactly the rows whose condition (Shipped or Delivered) holds."""
    spec = SOURCES[source].column(column) if column else None
    if (
        kind in ("null_required", "type_mismatch", "out_of_range")
        and spec is not None
        and not spec.required
        and spec.required_when is None
    ):
        return "nulled"
    return EXPECTED[kind]


# The defects that change one value of a row (the others add, move or break whole rows).
VALUE_KINDS = tuple(
    k for k in DEFECT_KINDS if k not in ("duplicate_row", "key_update", "late_event", "malformed_json")
)
ORPHAN_ID_BASE = 900_000_000  # ids at or above this are never allocated, so they never resolve
JUNK_NUMBERS = ("N/A", "abc", "12,5", "#VALUE!", "two", "?")
JUNK_DATES = ("not a date", "2026-13-45", "00/00/0000", "TBD")


@dataclass
class Defect:
    source: str
    file: str
    row: int | None  # 1-based data row in the file (header excluded); for JSON lines, the line number
    key: str | None
    kind: str
    column: str | None = None
    value: Any = None
    original: Any = None
    sheet: str | None = None
    note: str | None = None

    @property
    def expected(self) -> str:
        return expected_outcome(self.source, self.kind, self.column)

    def to_json_text(self) -> str:
        """`json.dumps(self.to_json())`, several times faster: the manifest holds thousands a day."""
        row = "null" if self.row is None else str(int(self.row))
        parts = [f'"source": "{self.source}"', f'"file": {_json_value(self.file)}', f'"row": {row}',
                 f'"key": {_json_value(self.key)}', f'"kind": "{self.kind}"']  # fmt: skip
        for name in _OPTIONAL:
            v = getattr(self, name)
            if v is not None:
                parts.append(f'"{name}": {_json_value(v)}')
        parts.append(f'"expected": "{self.expected}"')
        return "{" + ", ".join(parts) + "}"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "source": self.source,
            "file": self.file,
            "row": self.row,
            "key": self.key,
            "kind": self.kind,
        }
        for name in _OPTIONAL:
            v = getattr(self, name)
            if v is not None:
                d[name] = _plain(v)
        d["expected"] = self.expected
        return d


_OPTIONAL = [f.name for f in fields(Defect) if f.name not in ("source", "file", "row", "key", "kind")]


def _json_value(v: Any) -> str:
    """`json.dumps(v)` for one manifest value, with the common cases (text, None, int) done directly."""
    if type(v) is str:
        return _quote(v)
    if v is None:
        return "null"
    if type(v) is int:
        return str(v)
    return json.dumps(_plain(v))


_quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]  # what json.dumps uses for str


def _plain(v: Any) -> Any:
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _eligible(source: Source, kind: str, present: list[str]) -> list[str]:
    cols = [
        c
        for c in (*source.columns, *source.optional_columns)
        if c.name in present and c.name not in source.key
    ]
    if kind == "null_required":
        return [c.name for c in cols if c.required]
    if kind == "type_mismatch":
        return [c.name for c in cols if c.kind in ("int", "decimal", "id", "date")]
    if kind == "date_format":
        return [c.name for c in cols if c.kind in ("date", "timestamp") and c.required]
    if kind == "out_of_range":
        return [c.name for c in cols if c.range is not None]
    if kind == "orphan_fk":
        return [c.name for c in cols if c.references]
    if kind == "whitespace_case":
        return [c.name for c in cols if c.kind in ("string", "email", "enum") and c.required]
    return []


def _mutate(kind: str, source: Source, col: str, value: Any, rng: np.random.Generator) -> Any:
    spec = source.column(col)
    if kind == "null_required":
        return None
    if kind == "type_mismatch":
        junk = JUNK_DATES if spec.kind == "date" else JUNK_NUMBERS
        return junk[rng.integers(len(junk))]
    if kind == "date_format":
        if isinstance(value, dt.date):
            return value.strftime(DATE_FORMATS[1 + rng.integers(len(DATE_FORMATS) - 1)])
        if spec.kind == "date":
            d = dt.date.fromisoformat(str(value))
            return d.strftime(DATE_FORMATS[1 + rng.integers(len(DATE_FORMATS) - 1)])
        t = dt.datetime.strptime(str(value)[:19], "%Y-%m-%dT%H:%M:%S")
        return t.strftime(TIMESTAMP_FORMATS[1 + rng.integers(len(TIMESTAMP_FORMATS) - 1)])
    if kind == "out_of_range":
        _, hi = spec.range  # type: ignore[misc]
        if spec.kind == "int":
            bad = (
                int(hi) + 1 + int(rng.integers(1, 50))
                if rng.random() < 0.5 and hi < 1_000_000
                else -int(rng.integers(1, 20))
            )
            return bad if not isinstance(value, str) else str(bad)
        bad_f = (
            round(hi * 10 + float(rng.integers(1, 100)), 2)
            if rng.random() < 0.5
            else -round(float(rng.uniform(1, 50)), 2)
        )
        return bad_f if not isinstance(value, str) else f"{bad_f:.2f}"
    if kind == "orphan_fk":
        bad_id = ORPHAN_ID_BASE + int(rng.integers(0, 99_999_999))
        return bad_id if not isinstance(value, str) else str(bad_id)
    if kind == "whitespace_case":
        s = str(value)
        if spec.kind in ("email", "enum"):
            s = s.upper() if rng.random() < 0.5 else s.lower()
        pad = ("  ", " ", "\t")
        return pad[rng.integers(3)] + s + pad[rng.integers(3)]
    raise ValueError(kind)


def inject_table(
    df: pd.DataFrame,
    source: Source,
    file: str,
    rng: np.random.Generator,
    rates: dict[str, float],
    previous: pd.DataFrame | None = None,
    sheet: str | None = None,
) -> tuple[pd.DataFrame, list[Defect]]:
    """Defects for a CSV file (string cells) or an XLSX sheet (typed cells); returns rows in file order."""
    n = len(df)
    if n == 0:
        return df, []
    present = list(df.columns)
    cells = df.to_numpy(dtype=object).copy()
    keycol = present.index(source.key[-1] if source.name != "inventory" else "product_id")
    order = rng.permutation(n)
    cursor = 0
    defects: list[tuple[int, Defect]] = []  # (row index before insertions, defect)
    for kind in VALUE_KINDS:
        cands = _eligible(source, kind, present)
        count = min(int(rng.binomial(n, rates.get(kind, 0.0))), n - cursor) if cands else 0
        for r in order[cursor : cursor + count].tolist():
            col = cands[rng.integers(len(cands))]
            j = present.index(col)
            original = cells[r, j]
            if original is None or original == "":
                continue
            cells[r, j] = _mutate(kind, source, col, original, rng)
            defects.append(
                (
                    r,
                    Defect(
                        source.name,
                        file,
                        None,
                        str(cells[r, keycol]),
                        kind,
                        col,
                        cells[r, j],
                        original,
                        sheet,
                    ),
                )
            )
        cursor += count

    # Extra rows: exact copies placed later in the file, and older versions of changed keys anywhere.
    extra: list[tuple[float, np.ndarray, Defect, int | None]] = []
    n_dup = min(int(rng.binomial(n, rates.get("duplicate_row", 0.0))), n - cursor)
    for r in order[cursor : cursor + n_dup].tolist():
        d = Defect(source.name, file, None, str(cells[r, keycol]), "duplicate_row", sheet=sheet)
        extra.append((float(rng.integers(r + 1, n + 1)) - 0.5, cells[r].copy(), d, r))
    if previous is not None and len(previous):
        prev = previous.reindex(columns=present).fillna("").to_numpy(dtype=object)
        n_upd = min(int(rng.binomial(n, rates.get("key_update", 0.0))), len(prev))
        for p in rng.choice(len(prev), size=n_upd, replace=False).tolist():
            note = "older version of this key; the later version in this file must win"
            d = Defect(source.name, file, None, str(prev[p, keycol]), "key_update", sheet=sheet, note=note)
            extra.append((float(rng.integers(0, n + 1)) - 0.5, prev[p], d, None))

    positions = np.r_[np.arange(n, dtype=float), [e[0] + 1e-6 * i for i, e in enumerate(extra)]]
    final_order = np.argsort(positions, kind="stable")
    row_number = np.empty(len(positions), dtype=np.int64)
    row_number[final_order] = np.arange(1, len(positions) + 1)
    all_cells = np.vstack([cells, *[e[1][None, :] for e in extra]]) if extra else cells
    out = pd.DataFrame(all_cells[final_order], columns=present)
    result = []
    for r, d in defects:
        d.row = int(row_number[r])
        result.append(d)
    for i, (_, _, d, src) in enumerate(extra):
        d.row = int(row_number[n + i])
        if src is not None:
            d.note = f"exact copy of row {int(row_number[src])}"
        result.append(d)
    result.sort(key=lambda d: (d.row or 0, d.kind))
    return out, result


# ---- clickstream (JSON lines) ----


def _locate(line: str, key: str) -> tuple[int, int, Any]:
    """Start and end of a top-level key's value in one of our JSON lines, and the value. Our lines are
    compact, their strings never hold quotes, and top-level keys never recur inside `properties`."""
    start = line.index(f'"{key}":') + len(key) + 3
    if line[start] == '"':
        end = line.index('"', start + 1) + 1
        return start, end, line[start + 1 : end - 1]
    end = start
    while line[end] not in ",}":
        end += 1
    literal = line[start:end]
    return start, end, None if literal == "null" else int(literal)


def mutate_event_line(kind: str, line: str, rng: np.random.Generator) -> tuple[str, str | None, Any, Any]:
    """Apply one value defect to a JSON line; returns (new line, column, new value, original value)."""
    if kind == "malformed_json":
        cut = int(rng.integers(5, max(6, len(line) - 10)))
        broken = (
            line[:cut].rstrip("\n")
            if rng.random() < 0.7
            else '{"event_id": ' + line[cut:].rstrip("\n")[:40] + " ]]"
        )
        return broken + "\n", None, None, None
    if kind == "null_required":
        col = ("event_type", "session_id", "event_ts", "page", "device", "country", "traffic_source")[
            rng.integers(7)
        ]
        new: Any = None
    elif kind == "type_mismatch":
        ids = [c for c in ("customer_id", "product_id", "order_id") if _locate(line, c)[2] is not None]
        col = ids[rng.integers(len(ids))] if ids else "event_ts"
        junk = JUNK_NUMBERS if col != "event_ts" else JUNK_DATES
        new = junk[rng.integers(len(junk))]
    elif kind == "date_format":
        col = "event_ts"
        # TIMESTAMP_FORMATS[1] or [2], by slicing
        ts = _locate(line, col)[2]
        date, clock = ts[:10], ts[11:19]
        new = f"{date} {clock}" if rng.random() < 0.5 else f"{date[5:7]}/{date[8:10]}/{date[:4]} {clock}"
    elif kind == "out_of_range":
        col = "event_ts"
        new = "2099" + _locate(line, col)[2][4:]
    elif kind == "orphan_fk":
        col = "product_id" if _locate(line, "product_id")[2] is not None else "customer_id"
        new = ORPHAN_ID_BASE + int(rng.integers(0, 99_999_999))
    elif kind == "whitespace_case":
        col = ("event_type", "device", "country")[rng.integers(3)]
        value = _locate(line, col)[2]
        new = (" " + value.upper()) if rng.random() < 0.5 else (value.title() + "  ")
    else:
        raise ValueError(kind)
    start, end, orig = _locate(line, col)
    literal = "null" if new is None else (f'"{new}"' if isinstance(new, str) else str(new))
    return line[:start] + literal + line[end:], col, new, orig

"""An independent reader of generated bronze for the tests: loads files with pandas/openpyxl and
says which rows break the bronze contract (lakehouse.bronze.contract), without using generator code."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

from lakehouse.bronze.contract import SOURCES, Source

ID = re.compile(r"^[1-9]\d*$")
MONEY = re.compile(r"^-?\d+\.\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
TS_MS = re.compile(r"^20[0-8]\d-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
EMAIL = re.compile(r"^[a-z0-9.]+@[a-z0-9.]+\.[a-z]+$")


@dataclass
class Bronze:
    root: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # CSV sources, all strings, + _file, _row
    events: pd.DataFrame | None = None  # clickstream lines: _file, _row, raw, parsed (dict or None)
    inventory: pd.DataFrame | None = None  # typed cells + _file, _sheet, _row
    manifests: list[dict] = field(default_factory=list)

    @property
    def defects(self) -> pd.DataFrame:
        rows = [d for m in self.manifests for d in m["defects"]]
        return pd.DataFrame(
            rows,
            columns=[
                "source",
                "file",
                "row",
                "key",
                "kind",
                "column",
                "value",
                "original",
                "sheet",
                "note",
                "expected",
            ],
        )


def load(root: Path) -> Bronze:
    b = Bronze(root)
    bronze = root / "bronze"
    for name, src in SOURCES.items():
        if src.format != "csv":
            continue
        frames = []
        for f in sorted((bronze / src.folder).glob("*.csv")):
            df = pd.read_csv(f, dtype=str, keep_default_na=False)
            df["_file"] = str(f.relative_to(bronze))
            df["_row"] = np.arange(1, len(df) + 1)
            frames.append(df)
        b.tables[name] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    recs = []
    for f in sorted((bronze / "clickstream").rglob("*.jsonl")):
        for i, raw in enumerate(f.read_text().splitlines(), start=1):
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError:
                obj = None
            recs.append({"_file": str(f.relative_to(bronze)), "_row": i, "raw": raw, "obj": obj})
    b.events = pd.DataFrame(recs)
    inv = []
    for f in sorted((bronze / "inventory").glob("*.xlsx")):
        wb = openpyxl.load_workbook(f, read_only=True)
        for ws in wb.worksheets:
            rows = list(ws.iter_rows(values_only=True))
            header = list(rows[0])
            assert header == list(SOURCES["inventory"].column_names), (f, ws.title, header)
            for i, r in enumerate(rows[1:], start=1):
                inv.append(
                    dict(zip(header, r, strict=True))
                    | {"_file": str(f.relative_to(bronze)), "_sheet": ws.title, "_row": i}
                )
    b.inventory = pd.DataFrame(inv)
    b.manifests = [json.loads(p.read_text()) for p in sorted((bronze / "_manifest").glob("manifest_*.json"))]
    return b


def _valid_text(src: Source, df: pd.DataFrame, known: dict[str, set[str]]) -> pd.Series:
    """Row is usable as written: every column well-formed, in range, allowed, and its keys resolve."""
    ok = pd.Series(True, index=df.index)
    for c in (*src.columns, *src.optional_columns):
        if c.name not in df.columns:
            continue
        v = df[c.name].fillna("")
        present = v != ""
        if c.required:
            ok &= present
        if c.kind == "id":
            good = v.str.match(ID)
        elif c.kind == "int":
            good = v.str.match(r"^\d+$")
        elif c.kind == "decimal":
            good = v.str.match(MONEY)
        elif c.kind == "date":
            good = v.str.match(DATE) & pd.to_datetime(v, format="%Y-%m-%d", errors="coerce").notna()
        elif c.kind == "timestamp":
            good = v.str.match(TS)
        elif c.kind == "enum":
            good = v.isin(c.allowed or ())
        elif c.kind == "email":
            good = v.str.match(EMAIL)
        else:
            good = v == v.str.strip()
        if c.range is not None and c.kind in ("int", "decimal"):
            num = pd.to_numeric(v.where(good), errors="coerce")
            good &= num.between(*c.range)
        if c.references:
            good &= v.isin(known[c.references.split(".")[0]])
        ok &= good | ~present
    return ok


def known_ids(b: Bronze) -> dict[str, set[str]]:
    return {s: set(b.tables[s][SOURCES[s].key[0]]) for s in ("customers", "products", "orders")}


def invalid_rows(b: Bronze) -> set[tuple[str, str, int]]:
    """(source, file, row) of every row that breaks the contract as written."""
    known = known_ids(b)
    bad: set[tuple[str, str, int]] = set()
    for name, df in b.tables.items():
        ok = _valid_text(SOURCES[name], df, known)
        bad |= {(name, f, int(r)) for f, r in zip(df.loc[~ok, "_file"], df.loc[~ok, "_row"], strict=True)}
    bad |= {("clickstream", f, int(r)) for f, r in zip(*_bad_events(b, known), strict=True)}
    bad |= {("inventory", f"{f}#{s}", int(r)) for f, s, r in _bad_inventory(b, known)}
    return bad


def _bad_events(b: Bronze, known: dict[str, set[str]]) -> tuple[list[str], list[int]]:
    from lakehouse.bronze.contract import CLICKSTREAM

    files, rows = [], []
    for rec in b.events.to_dict("records"):
        o = rec["obj"]
        good = isinstance(o, dict) and isinstance(o.get("event_ts"), str) and bool(TS_MS.match(o["event_ts"]))
        if good:
            for c in CLICKSTREAM.columns:
                v = o.get(c.name)
                if v is None:
                    good &= not c.required
                    continue
                if c.kind == "enum":
                    good &= v in (c.allowed or ())
                elif c.kind == "id":
                    good &= isinstance(v, int) and (
                        not c.references or str(v) in known[c.references.split(".")[0]]
                    )
        if not good:
            files.append(rec["_file"])
            rows.append(rec["_row"])
    return files, rows


def _bad_inventory(b: Bronze, known: dict[str, set[str]]) -> list[tuple[str, str, int]]:
    import datetime as dt

    out = []
    for r in b.inventory.to_dict("records"):
        good = isinstance(r["snapshot_date"], dt.datetime) and r["warehouse_id"] == r["_sheet"]
        for c in ("product_id", "on_hand", "reserved", "reorder_point"):
            v = r[c]
            good &= isinstance(v, int) and not isinstance(v, bool) and v >= 0
        cost = r["unit_cost"]
        good &= isinstance(cost, float | int) and not isinstance(cost, bool) and 0 < cost <= 5000
        good &= str(r["product_id"]) in known["products"]
        if not good:
            out.append((r["_file"], r["_sheet"], r["_row"]))
    return out

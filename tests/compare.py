"""Two lakes compared table by table as delta-rs reads them: what the engine tests and the scheduling
tests use to say "the same tables"."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

from lakehouse.tables import lake_tables

# Tables that log the runs themselves: one row per run, job, batch or validation, so a lake built in
# several runs holds more of them than a lake built in one.
RUN_LOGS = (
    "silver.ingest_runs",
    "silver.ingest_batches",
    "gold._build_log",
    "gold.dq_results",
    "gold.dq_scorecard",
)

# Columns that legitimately differ between two runs of the same data, on any engine: who ran it and
# when (run ids, ingestion and validation times, durations, the processes that parsed the files, when
# the generator wrote a file) and, in the build log, the silver table versions (engines commit a
# different number of times: Spark also commits a no-op MERGE, Sail does not).
VOLATILE = {
    "*": {"_run_id", "_ingested_at"},
    "silver.quarantine": {"run_id", "quarantined_at"},
    "silver._ingest_ledger": {
        "run_id",
        "ingested_at",
        "modified",
    },  # when a file was written, not what it holds
    "silver.ingest_runs": {"run_id", "started_at", "seconds", "landed_by"},
    "silver.ingest_batches": {"run_id", "started_at", "seconds", "landed_by"},
    "gold.dq_results": {"run_id", "validated_at"},
    "gold.dq_scorecard": {"run_id", "validated_at"},
    "gold._build_log": {"run_id", "built_at", "silver_versions"},
}


def _plain(v: object) -> object:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float):
        return float(f"{v:.10g}")
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, list | tuple | dict):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


def comparable(root: Path, layer: str, name: str) -> pd.DataFrame:
    """A table as delta-rs reads it, volatile columns dropped, values in one plain form, rows sorted."""
    df = DeltaTable(str(root / layer / name)).to_pandas()
    drop = VOLATILE["*"] | VOLATILE.get(f"{layer}.{name}", set())
    df = df.drop(columns=[c for c in df.columns if c in drop])
    df = df[sorted(df.columns)].map(_plain)
    return df.sort_values(list(df.columns), key=lambda s: s.astype(str)).reset_index(drop=True)


def _number(v: object) -> float | None:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal, except that numbers may differ in the last digits of a double: a mean an expectation
    observes depends on the order engines add the values in (130.5168965 is stored rounded as
    130.516897 by one engine and 130.516896 by another)."""
    if a.shape != b.shape:
        return False
    for col in a.columns:
        for x, y in zip(a[col], b[col], strict=True):
            if x == y or (pd.isna(x) and pd.isna(y)):
                continue
            fx, fy = _number(x), _number(y)
            if fx is None or fy is None or not math.isclose(fx, fy, rel_tol=1e-6, abs_tol=1e-9):
                return False
    return True


def column_types(root: Path, layer: str, name: str) -> dict[str, str]:
    """Each column's Delta type (an INT where the embedded engine wrote a BIGINT is a difference)."""
    return {f.name: str(f.type) for f in DeltaTable(str(root / layer / name)).schema().fields}


def differences(lake: Path, reference: Path, skip: Collection[str] = ()) -> dict[str, str]:
    """Every table of the reference lake (but those in `skip`, layer.name) compared with the same table
    of `lake`, column types first, then content: what differs."""
    out = {}
    for layer, name, _ in lake_tables(str(reference)):
        if f"{layer}.{name}" in skip or not (reference / layer / name / "_delta_log").exists():
            continue
        if not (lake / layer / name / "_delta_log").exists():
            out[f"{layer}.{name}"] = "missing"
            continue
        types, ref_types = column_types(lake, layer, name), column_types(reference, layer, name)
        if types != ref_types:
            differ = {c: (types.get(c), ref_types.get(c)) for c in types.keys() | ref_types.keys()
                      if types.get(c) != ref_types.get(c)}  # fmt: skip
            out[f"{layer}.{name}"] = f"column types (engine, embedded): {differ}"
            continue
        a, b = comparable(lake, layer, name), comparable(reference, layer, name)
        if list(a.columns) != list(b.columns):
            out[f"{layer}.{name}"] = f"columns {list(a.columns)} vs {list(b.columns)}"
        elif not _same(a, b):
            diff = pd.concat([a.assign(_in="engine"), b.assign(_in="embedded")]).drop_duplicates(
                subset=list(a.columns), keep=False
            )
            out[f"{layer}.{name}"] = (
                f"{len(a)} vs {len(b)} rows; differing rows:\n{diff.head(6).to_string()[:3000]}"
            )
    return out

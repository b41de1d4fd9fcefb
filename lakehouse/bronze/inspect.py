"""`lakehouse inspect`: read every bronze source through Spark and reconcile with the generator's manifest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lakehouse.bronze.contract import SOURCES
from lakehouse.bronze.readers import read_csv_text, read_lines, read_xlsx, source_files
from lakehouse.core import storage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def manifest_totals(root: str) -> tuple[dict[str, int], dict[str, int]]:
    """Rows written and defects recorded per source, summed over all manifests."""
    rows: dict[str, int] = {}
    defects: dict[str, int] = {}
    for uri in storage.list_files(storage.join(root, "bronze", "_manifest")):
        if not uri.endswith(".json"):
            continue
        m = json.loads(storage.read_bytes(uri))
        for f in m["files"]:
            rows[f["source"]] = rows.get(f["source"], 0) + int(f["rows"])
        for d in m["defects"]:
            defects[d["source"]] = defects.get(d["source"], 0) + 1
    return rows, defects


def inspect_bronze(spark: SparkSession, root: str) -> list[dict[str, Any]]:
    from pyspark.sql import functions as F

    manifest_rows, defects = manifest_totals(root)
    out = []
    for name, source in SOURCES.items():
        files = source_files(root, name)
        if not files:
            continue
        malformed = 0
        if source.format == "csv":
            count = read_csv_text(spark, files).count()
        elif source.format == "jsonl":
            lines = read_lines(spark, files)
            # A malformed line parses to a struct of nulls (Sail and Spark alike); every event has an id.
            parsed = lines.select(F.from_json("value", "event_id STRING").alias("j"))
            bad = F.when(F.col("j").isNull() | F.col("j.event_id").isNull(), 1).otherwise(0)
            agg = parsed.agg(F.count(F.lit(1)).alias("n"), F.sum(bad).alias("bad")).first()
            count, malformed = int(agg["n"]), int(agg["bad"] or 0)
        else:
            count = sum(read_xlsx(spark, f).count() for f in files)
        out.append(
            {
                "source": name,
                "files": len(files),
                "spark_rows": count,
                "manifest_rows": manifest_rows.get(name, 0),
                "malformed": malformed,
                "defects": defects.get(name, 0),
            }
        )
    return out

"""Silver and gold tables by name (`silver.orders`, `gold.fact_orders`) in any Spark session.

From a plain pyspark shell on any engine:

    >>> from lakehouse.catalog import register_tables
    >>> register_tables(spark, "data")          # the storage root
    >>> spark.sql("SELECT * FROM gold.kpi_daily_sales ORDER BY date").show()
"""

from __future__ import annotations

import code
from typing import TYPE_CHECKING

from lakehouse.core import storage
from lakehouse.core.delta import table_exists
from lakehouse.tables import (
    DQ_RESULTS,
    DQ_SCORECARD,
    GOLD,
    INGEST_RUNS,
    LEDGER,
    QUARANTINE,
    SILVER,
    silver_uri,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def register_tables(spark: SparkSession, root: str) -> dict[str, list[str]]:
    """Create the `silver` and `gold` databases and a table for every Delta table present under `root`."""
    root = root.rstrip("/")
    if "://" not in root:
        from pathlib import Path

        root = str(Path(root).resolve())
    found: dict[str, list[str]] = {"silver": [], "gold": []}
    silver_names = [*SILVER, QUARANTINE, INGEST_RUNS, LEDGER]
    gold_names = [*GOLD, DQ_RESULTS, DQ_SCORECARD]
    for layer, names in (("silver", silver_names), ("gold", gold_names)):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        for name in names:
            uri = silver_uri(root, name) if layer == "silver" else storage.join(root, "gold", name)
            if table_exists(uri):
                spark.sql(
                    f"CREATE TABLE IF NOT EXISTS {layer}.`{name}` USING DELTA LOCATION '{storage.spark_path(uri)}'"
                )
                found[layer].append(name)
    return found


def shell(spark: SparkSession, root: str) -> None:
    """An interactive Python console with `spark`, `F` and every table registered."""
    from pyspark.sql import functions as F

    found = register_tables(spark, root)
    banner = [f"lakehouse shell on {root}", "  spark: the session   F: pyspark.sql.functions", ""]
    for layer, names in found.items():
        banner.append(f"  {layer}: " + (", ".join(names) if names else "(none yet)"))
    banner += ["", '  e.g. spark.sql("SELECT * FROM gold.kpi_daily_sales ORDER BY date").show()', ""]
    code.interact(banner="\n".join(banner), local={"spark": spark, "F": F}, exitmsg="")

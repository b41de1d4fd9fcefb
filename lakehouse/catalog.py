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
from lakehouse.core.delta import sql_string, table_exists
from lakehouse.tables import lake_tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def register_tables(spark: SparkSession, root: str) -> dict[str, list[str]]:
    """Create the `silver` and `gold` databases and a table for every Delta table present under `root`
    (replacing what those names pointed to before in this session).
    The databases' own location is inside the lake (`<root>/_catalog`), so nothing lands in the
    working directory's spark-warehouse."""
    root = root.rstrip("/")
    if "://" not in root:
        from pathlib import Path

        root = str(Path(root).resolve())
    found: dict[str, list[str]] = {"silver": [], "gold": []}
    for layer in found:
        location = storage.spark_path(storage.join(root, "_catalog", f"{layer}.db"))
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer} LOCATION {sql_string(location)}")
    for layer, name, uri in lake_tables(root):
        if table_exists(uri):
            where = sql_string(storage.spark_path(uri))
            # Replaced, not kept: the name may point to another lake's table from earlier in the session
            # (an external table: dropping its entry leaves its files).
            spark.sql(f"DROP TABLE IF EXISTS {layer}.`{name}`")
            spark.sql(f"CREATE TABLE {layer}.`{name}` USING DELTA LOCATION {where}")
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

"""Incremental gold refresh: what changed in silver since the last gold build, and which orders and
sessions that touches.

A silver row changed since Delta version v when the ingest run that wrote it (`_run_id`) had not
written to the table by then; this holds for appended and merged (upserted) rows alike, and for runs
that were killed and redone. From the changed rows follow the affected keys: every order with a changed
order, status, line or shipment, or a changed customer or product (new type 2 versions, or late parents
of orphans), and every session with a new event or of a changed customer. Only those fact rows are
recomputed; dimensions and KPIs, which are small, are rebuilt whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lakehouse.core.delta import read_table, table_exists, table_version
from lakehouse.tables import SILVER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


# The silver tables whose changes decide what to refresh (the current tables of customers and
# products add nothing their history tables do not say; inventory snapshots are rebuilt whole).
INPUTS = (
    "customers_history",
    "products_history",
    "orders",
    "orders_history",
    "order_items",
    "shipments",
    "clickstream_events",
)


@dataclass
class Scope:
    """The keys whose fact rows must be recomputed."""

    order_ids: DataFrame  # order_id
    session_ids: DataFrame  # session_id
    changed: dict[str, bool]  # per table of INPUTS: did it change since the last build


def changed_rows(spark: SparkSession, root: str, name: str, since: int | None) -> DataFrame | None:
    """The rows of a silver table written by ingest runs it had not seen at version `since` (all rows
    when it did not exist then); None when the table is absent or unchanged."""
    uri = SILVER[name].uri(root)
    if not table_exists(uri):
        return None
    current = read_table(spark, uri)
    if since is None:
        return current
    if table_version(uri) == since:
        return None
    seen = [r[0] for r in read_table(spark, uri, version=since).select("_run_id").distinct().collect()]
    return current.where(~F.col("_run_id").isin(*seen)) if seen else current


def _ids(frames: list[DataFrame], column: str, spark: SparkSession, kind: str) -> DataFrame:
    if not frames:
        return spark.createDataFrame([], f"{column} {kind}")
    return reduce(lambda a, b: a.unionByName(b), [f.select(column) for f in frames]).distinct()


def affected(spark: SparkSession, root: str, since: dict[str, int | None]) -> Scope:
    """The orders and sessions touched by silver changes since the build that read versions `since`."""
    ch = {n: changed_rows(spark, root, n, since.get(n)) for n in INPUTS}
    customers = ch["customers_history"].select("customer_id") if ch["customers_history"] is not None else None
    products = ch["products_history"].select("product_id") if ch["products_history"] is not None else None

    orders: list[DataFrame] = [
        df for n in ("orders", "orders_history", "order_items", "shipments") if (df := ch[n]) is not None
    ]
    if customers is not None:  # their type 2 versions, or their arrival, may change the orders' keys
        orders.append(
            read_table(spark, SILVER["orders"].uri(root)).join(customers, "customer_id", "left_semi")
        )
    if products is not None:
        orders.append(
            read_table(spark, SILVER["order_items"].uri(root)).join(products, "product_id", "left_semi")
        )

    sessions: list[DataFrame] = [ch["clickstream_events"]] if ch["clickstream_events"] is not None else []
    events_uri = SILVER["clickstream_events"].uri(root)
    if customers is not None and table_exists(events_uri):  # their sessions' customer keys may change
        sessions.append(read_table(spark, events_uri).join(customers, "customer_id", "left_semi"))
    return Scope(
        _ids(orders, "order_id", spark, "BIGINT"),
        _ids(sessions, "session_id", spark, "STRING"),
        {n: df is not None for n, df in ch.items()},
    )

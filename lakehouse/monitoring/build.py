"""The monitoring's gold tables, built with the rest of gold: metric_series from the staged facts and
silver's bookkeeping, metric_anomalies from metric_series (small: scored on the driver)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from lakehouse.core.config import MonitoringConfig
from lakehouse.core.delta import read_table, table_exists
from lakehouse.monitoring import anomalies
from lakehouse.monitoring import metrics as m
from lakehouse.tables import LEDGER, SILVER, silver_uri

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SERIES_SCHEMA = (
    "metric STRING, slice STRING, grain STRING, period_start TIMESTAMP, value DOUBLE, support BIGINT"
)
ANOMALY_SCHEMA = (
    "metric STRING, slice STRING, grain STRING, period_start TIMESTAMP, period_end TIMESTAMP, periods INT, "
    "direction STRING, observed DOUBLE, expected DOUBLE, lower DOUBLE, upper DOUBLE, score DOUBLE, "
    "severity STRING, method STRING"
)


def metric_series(spark: SparkSession, root: str, tables: dict[str, DataFrame]) -> DataFrame:
    """Every metric of METRICS that the lake has data for, from the (staged) gold tables and silver."""

    def silver(name: str) -> DataFrame | None:
        uri = silver_uri(root, name)
        return read_table(spark, uri) if table_exists(uri) else None

    parts = [m.order_series(tables["fact_orders"], tables["fact_order_items"], tables["dim_product"])]
    events, orders = silver("clickstream_events"), silver("orders")
    if events is not None and orders is not None:
        parts += [m.event_series(events), m.payment_series(events, orders)]
    if "fact_sessions" in tables:
        parts.append(m.session_series(tables["fact_sessions"]))
    if "fact_shipments" in tables:
        parts.append(
            m.delivery_series(tables["fact_orders"], tables["fact_shipments"], tables["dim_carrier"])
        )
    if "kpi_inventory_health" in tables:
        parts.append(m.inventory_series(tables["kpi_inventory_health"]))
    if (ledger := silver(LEDGER)) is not None:
        parts.append(m.ingest_series(ledger))
    children = {
        n: df for n in ("orders_history", "order_items", "shipments") if (df := silver(n)) is not None
    }
    if children:
        parts.append(m.orphan_series({SILVER[n].source: df for n, df in children.items()}))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.where(out["period_start"].isNotNull())


def metric_anomalies(spark: SparkSession, series: DataFrame, settings: MonitoringConfig) -> DataFrame:
    found = anomalies.detect(series.toPandas(), settings)
    for col in ("period_start", "period_end"):  # naive datetimes in UTC, as the session reads them
        found[col] = pd.Series([t.to_pydatetime() for t in pd.to_datetime(found[col])], dtype=object)
    rows = [tuple(r) for r in found.itertuples(index=False)]
    return spark.createDataFrame(rows, ANOMALY_SCHEMA)


def new_anomalies(staged: DataFrame, published: DataFrame | None) -> pd.DataFrame:
    """The staged anomalies that the published table does not have (by metric, slice, grain and start)."""
    now = staged.toPandas()
    if published is None or not len(now):
        return now
    key = ["metric", "slice", "grain", "period_start"]
    seen = published.select(*key).toPandas()
    merged = now.merge(seen.assign(_seen=True), on=key, how="left")
    return merged[merged["_seen"].isna()].drop(columns="_seen").reset_index(drop=True)

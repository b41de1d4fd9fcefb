"""silver_to_gold: build the gold dimensions and facts from silver, check that totals reconcile, publish.

This first version rebuilds every gold table from silver on each run (overwrite, one Delta commit per
table, after the staged tables passed the reconciliation checks); incremental refresh of only the
affected dates and keys is still to come.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lakehouse import gold, kpis, storage
from lakehouse.config import Config
from lakehouse.delta import materialize, read_table, table_exists, table_version, write_table
from lakehouse.sources import CARRIERS, CHANNELS, PAYMENT_METHODS, TRAFFIC_SOURCES
from lakehouse.tables import GOLD, SILVER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
BUILD_LOG = "_build_log"  # which silver versions each gold build read


class GoldReconciliationError(RuntimeError):
    """Gold totals disagree with silver: nothing inconsistent is published."""


@dataclass
class GoldReport:
    run_id: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    nothing_to_do: bool = False  # silver is empty
    nothing_new: bool = False  # silver unchanged since the last build


def _silver(spark: SparkSession, root: str, name: str) -> DataFrame:
    return read_table(spark, SILVER[name].uri(root))


def build_gold(spark: SparkSession, root: str) -> dict[str, DataFrame]:
    """Every gold table as a DataFrame, from the silver tables under `root`."""
    orders = _silver(spark, root, "orders")
    items = _silver(spark, root, "order_items")
    customers = gold.dim_customer(_silver(spark, root, "customers_history"))
    products = gold.dim_product(_silver(spark, root, "products_history"))
    channels = gold.small_dimension(spark, "channel", CHANNELS)
    payments = gold.small_dimension(spark, "payment_method", PAYMENT_METHODS)
    carriers = gold.small_dimension(spark, "carrier", CARRIERS)
    sources = gold.small_dimension(spark, "traffic_source", TRAFFIC_SOURCES)
    lines = gold.fact_order_items(items, orders, customers, products, channels, payments)
    facts_orders = gold.fact_orders(
        lines, orders, _silver(spark, root, "orders_history"), customers, channels, payments
    )
    optional = {}
    if table_exists(SILVER["shipments"].uri(root)):
        optional["fact_shipments"] = gold.fact_shipments(_silver(spark, root, "shipments"), orders, carriers)
    if table_exists(SILVER["clickstream_events"].uri(root)):
        optional["fact_sessions"] = gold.fact_sessions(
            _silver(spark, root, "clickstream_events"), customers, sources
        )
    if table_exists(SILVER["inventory_snapshots"].uri(root)):
        optional["fact_inventory_snapshot"] = gold.fact_inventory_snapshot(
            _silver(spark, root, "inventory_snapshots"), lines, products
        )
    first, last = orders.agg(
        F.min("order_date"), F.max(F.greatest("order_date", F.coalesce("ship_date", "order_date")))
    ).first()
    return {
        "dim_date": gold.dim_date(spark, first or dt.date.today(), last or dt.date.today()),
        "dim_customer": customers,
        "dim_product": products,
        "dim_channel": channels,
        "dim_payment_method": payments,
        "dim_carrier": carriers,
        "dim_traffic_source": sources,
        "fact_order_items": lines,
        "fact_orders": facts_orders,
        **optional,
    }


def build_kpis(tables: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """The KPI tables, from the (staged) gold facts and dimensions."""
    t = tables
    out = {
        "kpi_daily_sales": kpis.kpi_daily_sales(t["fact_orders"], t["dim_customer"]),
        "kpi_revenue_by_category_country_month": kpis.kpi_revenue_by_category_country_month(
            t["fact_order_items"], t["dim_product"], t["dim_customer"]
        ),
        "kpi_top_products_monthly": kpis.kpi_top_products_monthly(t["fact_order_items"], t["dim_product"]),
        "kpi_retention_cohorts": kpis.kpi_retention_cohorts(t["fact_orders"], t["dim_customer"]),
        "kpi_customer_value": kpis.kpi_customer_value(t["fact_orders"], t["dim_customer"]),
    }
    if "fact_sessions" in t:
        out["kpi_conversion_funnel"] = kpis.kpi_conversion_funnel(t["fact_sessions"], t["dim_traffic_source"])
    if "fact_inventory_snapshot" in t:
        out["kpi_inventory_health"] = kpis.kpi_inventory_health(t["fact_inventory_snapshot"])
    if "fact_shipments" in t:
        out["kpi_shipping_performance"] = kpis.kpi_shipping_performance(
            t["fact_shipments"], t["fact_orders"], t["dim_carrier"]
        )
    return out


def reconcile(spark: SparkSession, root: str, published: dict[str, DataFrame]) -> None:
    """Facts must agree with silver: one fact_orders row per silver order, and revenue equal to the
    silver order lines of the orders that count (not cancelled)."""
    orders = _silver(spark, root, "orders")
    items = _silver(spark, root, "order_items")
    n_orders, n_facts = orders.count(), published["fact_orders"].count()
    if n_orders != n_facts:
        raise GoldReconciliationError(f"fact_orders has {n_facts} rows for {n_orders} silver orders")
    counted = items.join(orders.where(F.col("status") != "Cancelled").select("order_id"), "order_id")
    want = counted.agg(F.sum(F.col("quantity") * F.col("item_price"))).first()[0] or Decimal(0)
    got = published["fact_order_items"].agg(F.sum("revenue")).first()[0] or Decimal(0)
    if Decimal(want).quantize(Decimal("0.01")) != Decimal(got).quantize(Decimal("0.01")):
        raise GoldReconciliationError(
            f"fact_order_items revenue {got} differs from silver order lines of counted orders {want}"
        )
    if published["fact_order_items"].count() != items.count():
        raise GoldReconciliationError("fact_order_items does not have one row per silver order line")
    if "fact_sessions" in published:
        sessions = _silver(spark, root, "clickstream_events").select("session_id").distinct().count()
        if published["fact_sessions"].count() != sessions:
            raise GoldReconciliationError(
                f"fact_sessions has {published['fact_sessions'].count()} rows for {sessions} clickstream sessions"
            )


def silver_versions(root: str) -> dict[str, int | None]:
    return {name: table_version(t.uri(root)) for name, t in SILVER.items()}


def last_build(spark: SparkSession, root: str) -> dict[str, int | None] | None:
    """The silver versions the published gold was built from, if any."""
    uri = storage.join(root, "gold", BUILD_LOG)
    if not table_exists(uri):
        return None
    row = read_table(spark, uri).orderBy(F.col("built_at").desc()).select("silver_versions").first()
    return json.loads(row["silver_versions"]) if row else None


def silver_to_gold(spark: SparkSession, cfg: Config, run_id: str, full: bool = False) -> GoldReport:
    """Rebuild gold from silver, unless silver has not changed since the last build (or `full`)."""
    started = time.perf_counter()
    report = GoldReport(run_id)
    root = cfg.root
    needed = ["orders", "order_items", "customers_history", "products_history"]
    missing = [n for n in needed if not table_exists(SILVER[n].uri(root))]
    if missing:
        report.nothing_to_do = True
        log.warning("silver tables %s are missing under %s: run bronze_to_silver first", missing, root)
        return report
    versions = silver_versions(root)
    if not full and last_build(spark, root) == versions:
        report.nothing_new = True
        log.info("silver has not changed since the last gold build: no gold table changed")
        return report
    # Write, audit, publish: build into staging, check the staged tables, and only then replace the
    # published ones (each an atomic Delta commit, dimensions before facts).
    storage.delete_tree(storage.join(root, "_staging", "silver_to_gold"))  # left by killed runs
    staging = storage.join(root, "_staging", "silver_to_gold", run_id)
    staged: dict[str, DataFrame] = {}

    def stage(tables: dict[str, DataFrame]) -> None:
        for name, df in tables.items():
            staged[name] = materialize(spark, df, storage.join(staging, name))

    stage(build_gold(spark, root))
    stage(build_kpis(dict(staged)))
    try:
        reconcile(spark, root, staged)
        for name, df in staged.items():
            write_table(df, GOLD[name].uri(root), mode="overwrite", partition_by=GOLD[name].partition_by)
        report.rows = {name: read_table(spark, GOLD[name].uri(root)).count() for name in staged}
        built = [
            (
                run_id,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                json.dumps(versions, sort_keys=True),
                "full",
            )
        ]
        schema = "run_id STRING, built_at TIMESTAMP, silver_versions STRING, mode STRING"
        write_table(
            spark.createDataFrame(built, schema), storage.join(root, "gold", BUILD_LOG), mode="append"
        )
    finally:
        storage.delete_tree(staging)
    report.seconds = round(time.perf_counter() - started, 3)
    return report

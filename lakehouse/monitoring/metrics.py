"""gold.metric_series: the business and pipeline numbers the monitoring watches, one row per metric,
slice and period (day, hour or week), built from gold facts and silver's own bookkeeping.

Each builder is a pure function of the tables it reads and returns rows of SERIES_COLUMNS; every
metric is declared in lakehouse.monitoring.definitions.METRICS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

from lakehouse.bronze.contract import HISTORY_MARK
from lakehouse.gold.models import UNKNOWN_SK, date_of_key
from lakehouse.monitoring.definitions import ALL, METRICS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def series(df: DataFrame, metric: str, grain: str, period: Column, value: Column, support: Column,
           slice_: Column | None = None) -> DataFrame:  # fmt: skip
    """Rows of SERIES_COLUMNS from per-period aggregates."""
    if metric not in METRICS:
        raise KeyError(f"{metric} is not declared in METRICS")
    return df.select(
        F.lit(metric).alias("metric"),
        (slice_.cast("string") if slice_ is not None else F.lit(ALL)).alias("slice"),
        F.lit(grain).alias("grain"),
        period.cast("timestamp").alias("period_start"),
        value.cast("double").alias("value"),
        support.cast("bigint").alias("support"),
    )


def _share(part: Column, whole: Column) -> Column:
    # In doubles: JVM Spark rounds a decimal quotient to 6 places, Sail does not.
    return F.when(whole > 0, part.cast("double") / whole.cast("double"))


def order_series(fact_orders: DataFrame, fact_order_items: DataFrame, products: DataFrame) -> DataFrame:
    """Orders, value, AOV per day; line value and price paid over list price per category."""
    placed = fact_orders.where(F.col("order_date_key") != UNKNOWN_SK)
    day = date_of_key("order_date_key")
    daily = placed.groupBy(day.alias("d")).agg(
        F.count(F.lit(1)).alias("n"), F.sum("gross_amount").cast("double").alias("value")
    )
    lines = fact_order_items.where(F.col("order_date_key") != UNKNOWN_SK).join(
        products.select("product_sk", "category"), "product_sk", "left"
    )
    by_cat = lines.groupBy(day.alias("d"), F.coalesce("category", F.lit("unknown")).alias("c")).agg(
        F.sum("gross_amount").alias("value"),
        F.sum(F.col("list_price") * F.col("quantity")).alias("list_value"),
        F.count(F.lit(1)).alias("n"),
    )
    d = F.col("d")
    return (
        series(daily, "orders", "day", d, F.col("n"), F.col("n"))
        .unionByName(series(daily, "revenue", "day", d, F.col("value"), F.col("n")))
        .unionByName(series(daily, "average_order_value", "day", d, F.col("value") / F.col("n"), F.col("n")))
        .unionByName(series(by_cat, "revenue_by_category", "day", d, F.col("value"), F.col("n"), F.col("c")))
        .unionByName(
            series(by_cat, "price_index_by_category", "day", d, _share(F.col("value"), F.col("list_value")), F.col("n"), F.col("c"))
        )
    )  # fmt: skip


def payment_series(events: DataFrame, orders: DataFrame) -> DataFrame:
    """Online orders per hour and payment method: the purchase event's time with the order's method
    (silver orders carry a day, not the time an order was placed)."""
    buys = events.where((F.col("event_type") == "purchase") & F.col("order_id").isNotNull())
    buys = buys.select("order_id", F.date_trunc("hour", "event_ts").alias("h")).dropDuplicates(["order_id"])
    paid = buys.join(orders.select("order_id", "payment_method"), "order_id")
    hourly = paid.groupBy("h", "payment_method").agg(F.count(F.lit(1)).alias("n"))
    return series(
        hourly,
        "orders_by_payment_method",
        "hour",
        F.col("h"),
        F.col("n"),
        F.col("n"),
        F.col("payment_method"),
    )


def session_series(fact_sessions: DataFrame) -> DataFrame:
    """Sessions, page views, conversion and abandonment per day."""
    step = F.col("furthest_step")
    carted = step.isin("add_to_cart", "checkout_start", "purchase")
    checkout = step.isin("checkout_start", "purchase")
    daily = fact_sessions.groupBy(date_of_key("date_key").alias("d")).agg(
        F.count(F.lit(1)).alias("n"),
        F.sum("pages_viewed").alias("pages"),
        F.sum(F.col("converted").cast("int")).alias("bought"),
        F.sum(carted.cast("int")).alias("carted"),
        F.sum(checkout.cast("int")).alias("checkout"),
    )
    d, bought = F.col("d"), F.col("bought")
    return (
        series(daily, "sessions", "day", d, F.col("n"), F.col("n"))
        .unionByName(series(daily, "page_views", "day", d, F.col("pages"), F.col("n")))
        .unionByName(series(daily, "conversion_rate", "day", d, _share(bought, F.col("n")), F.col("n")))
        .unionByName(
            series(daily, "cart_abandonment", "day", d, _share(F.col("carted") - bought, F.col("carted")), F.col("carted"))
        )
        .unionByName(
            series(daily, "checkout_abandonment", "day", d, _share(F.col("checkout") - bought, F.col("checkout")), F.col("checkout"))
        )
    )  # fmt: skip


def _file_hour(path: Column) -> Column:
    """The hour a clickstream file is for, from its name (clickstream/date=D/hour=H/...)."""
    d = F.regexp_extract(path, r"date=(\d{4}-\d{2}-\d{2})", 1)
    h = F.regexp_extract(path, r"hour=(\d{2})", 1)
    text = F.concat(d, F.lit(" "), h, F.lit(":00:00"))
    return F.when((d != "") & (h != ""), F.to_timestamp(text, "yyyy-MM-dd HH:mm:ss"))


def event_series(events: DataFrame) -> DataFrame:
    """Events per day they happened; per hour of arrival; and the share of each day's arrivals that
    belong to an earlier hour (late events)."""
    arrived = events.select("event_ts", "event_date", _file_hour(F.col("_source_file")).alias("h"))
    by_day = events.groupBy(F.col("event_date").alias("d")).agg(F.count(F.lit(1)).alias("n"))
    by_hour = arrived.groupBy("h").agg(F.count(F.lit(1)).alias("n"))
    late = arrived.groupBy(F.to_date("h").alias("d")).agg(
        F.count(F.lit(1)).alias("n"), F.sum((F.col("event_ts") < F.col("h")).cast("int")).alias("late")
    )
    return (
        series(by_day, "events", "day", F.col("d"), F.col("n"), F.col("n"))
        .unionByName(series(by_hour, "events_received", "hour", F.col("h"), F.col("n"), F.col("n")))
        .unionByName(series(late, "late_event_share", "day", F.col("d"), _share(F.col("late"), F.col("n")), F.col("n")))
    )  # fmt: skip


def delivery_series(fact_orders: DataFrame, fact_shipments: DataFrame, carriers: DataFrame) -> DataFrame:
    """Mean days to deliver of the orders delivered each day, by the carrier of their last parcel."""
    last = Window.partitionBy("order_id").orderBy(
        F.col("shipment_date_key").desc(), F.col("shipment_id").desc()
    )
    parcel = (
        fact_shipments.withColumn("_n", F.row_number().over(last))
        .where(F.col("_n") == 1)
        .join(carriers.select("carrier_sk", "carrier"), "carrier_sk", "left")
        .select("order_id", "carrier")
    )
    done = fact_orders.where(F.col("days_to_deliver").isNotNull() & (F.col("order_date_key") != UNKNOWN_SK))
    done = done.join(parcel, "order_id").withColumn(
        "d", F.date_add(date_of_key("order_date_key"), F.col("days_to_deliver").cast("int"))
    )
    daily = done.groupBy("d", "carrier").agg(
        F.avg("days_to_deliver").alias("v"), F.count(F.lit(1)).alias("n")
    )
    return series(
        daily, "days_to_deliver_by_carrier", "day", F.col("d"), F.col("v"), F.col("n"), F.col("carrier")
    )


def inventory_series(inventory_health: DataFrame) -> DataFrame:
    return series(
        inventory_health, "stock_outs_by_warehouse", "week", F.col("snapshot_date"), F.col("stock_outs"),
        F.col("products"), F.col("warehouse_id"),
    )  # fmt: skip


DAILY_SOURCES = ("customers", "products", "orders", "order_items", "shipments", "clickstream")


def _file_day(path: Column) -> Column:
    d = F.regexp_extract(path, r"(\d{4}-\d{2}-\d{2})", 1)
    return F.when(d != "", F.to_date(d))


def ingest_series(ledger: DataFrame) -> DataFrame:
    """Per daily source and file day: rows written to silver, files with problems, quarantined share.
    A day a source sent no file counts zero rows (the days are those any source sent a file for)."""
    daily = ledger.where(F.col("source").isin(*DAILY_SOURCES) & ~F.col("path").contains(HISTORY_MARK))
    daily = daily.withColumn("d", _file_day(F.col("path")))
    per = daily.groupBy("d", "source").agg(
        F.sum("rows_written").alias("written"),
        F.sum("rows_read").alias("read"),
        F.sum("rows_quarantined").alias("quarantined"),
        F.sum((F.col("status") != "ingested").cast("int")).alias("problems"),
    )
    spine = daily.select("d").distinct().crossJoin(daily.select("source").distinct())
    per = spine.join(per, ["d", "source"], "left").fillna(0, ["written", "read", "quarantined", "problems"])
    d, s = F.col("d"), F.col("source")
    return (
        series(per, "rows_landed", "day", d, F.col("written"), F.col("read"), s)
        .unionByName(series(per, "file_problems", "day", d, F.col("problems"), F.col("read"), s))
        .unionByName(series(per, "quarantine_share", "day", d, _share(F.col("quarantined"), F.col("read")), F.col("read"), s))
    )  # fmt: skip


def orphan_series(tables: dict[str, DataFrame]) -> DataFrame:
    """Per source (silver table of a daily file) and file day: the share of rows with an unresolved parent."""
    out: DataFrame | None = None
    for source, df in tables.items():
        rows = df.where(~F.col("_source_file").contains(HISTORY_MARK)).withColumn(
            "d", _file_day(F.col("_source_file"))
        )
        per = rows.groupBy("d").agg(
            F.count(F.lit(1)).alias("n"), F.sum((F.size("_orphan_fks") > 0).cast("int")).alias("orphans")
        )
        s = series(
            per,
            "orphan_share",
            "day",
            F.col("d"),
            _share(F.col("orphans"), F.col("n")),
            F.col("n"),
            F.lit(source),
        )
        out = s if out is None else out.unionByName(s)
    assert out is not None
    return out

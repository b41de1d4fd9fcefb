"""Gold models: dimensions with history and the facts that point at them. Pure DataFrame functions over
silver tables, each testable on a few rows.

Conventions: surrogate keys are BIGINT; a dimension's unknown member has key -1 and is what a fact
points to when its natural key does not resolve (an orphan, or a key with no version in force yet).
Type 2 versions are [valid_from, valid_to); the current version has valid_to 9999-12-31 and is_current.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

from lakehouse.core.calendar import holiday_name, in_holiday_season
from lakehouse.tables import FUNNEL, UNKNOWN_SK

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

ANONYMOUS_SK = -2  # dim_customer's member for sessions no customer was logged in to (not an unknown key)
END_OF_TIME = dt.datetime(9999, 12, 31, 23, 59, 59)


def dim_date(spark: SparkSession, start: dt.date, end: dt.date) -> DataFrame:
    """One row per day from start to end, with the peaks the generator simulates flagged."""
    rows = []
    day = start
    while day <= end:
        iso = day.isocalendar()
        name = holiday_name(day)
        rows.append(
            (
                int(day.strftime("%Y%m%d")), day, day.day, day.isoweekday(), day.strftime("%A"), iso.week, iso.year,
                day.month, day.strftime("%B"), (day.month - 1) // 3 + 1, day.year, day.isoweekday() >= 6, name, name is not None,
                in_holiday_season(day),
            )
        )  # fmt: skip
        day += dt.timedelta(days=1)
    schema = (
        "date_key INT, date DATE, day_of_month INT, day_of_week INT, day_name STRING, iso_week INT, iso_year INT, month INT, "
        "month_name STRING, quarter INT, year INT, is_weekend BOOLEAN, holiday_name STRING, is_holiday BOOLEAN, "
        "is_holiday_season BOOLEAN"
    )
    return spark.createDataFrame(rows, schema)


def scd2(history: DataFrame, key: str, tracked: Sequence[str], version: str = "updated_at") -> DataFrame:
    """Type 2 versions from every silver version of a key: a new version only when a tracked attribute
    changes; untracked attributes take their latest value within the version."""
    w = Window.partitionBy(key).orderBy(version)
    state = F.struct(*[F.col(c) for c in tracked])
    changes = (
        history.withColumn("_prev", F.lag(state).over(w))
        .withColumn("_state", state)
        .where(F.col("_prev").isNull() | (F.col("_prev") != F.col("_state")))
        .drop("_prev", "_state")
    )
    nxt = F.lead(version).over(w)
    return (
        changes.withColumn("valid_from", F.col(version))
        .withColumn("valid_to", F.coalesce(nxt, F.lit(END_OF_TIME).cast("timestamp")))
        .withColumn("is_current", nxt.isNull())
        .withColumn("version", F.row_number().over(w))
    )


def surrogate_key(*cols: Column | str) -> Column:
    """A stable key from natural key and version start: the same rows give the same keys on every rebuild,
    so incremental refreshes and full rebuilds agree. xxhash64 never yields the unknown member's -1 here
    because the sign bit is cleared."""
    return F.xxhash64(*cols).bitwiseAND(F.lit(0x7FFFFFFFFFFFFFFF))


def mask_email(email: Column) -> Column:
    """j***@example.com: enough to recognise, not enough to contact."""
    return F.concat(F.substring(email, 1, 1), F.lit("***@"), F.substring_index(email, "@", -1))


def dim_customer(customers_history: DataFrame) -> DataFrame:
    """Customers as type 2 on e-mail and country. No names and no raw e-mail: a SHA-256 of the e-mail
    (to join with other systems) and a masked form for display."""
    versions = scd2(customers_history, "customer_id", ["email", "country"])
    dim = versions.select(
        surrogate_key("customer_id", "valid_from").alias("customer_sk"),
        "customer_id",
        F.sha2(F.col("email"), 256).alias("email_sha256"),
        mask_email(F.col("email")).alias("email_masked"),
        "country",
        "signup_date",
        "valid_from",
        "valid_to",
        "is_current",
        "version",
    )
    unknown = {
        "customer_id": None,
        "email_sha256": None,
        "email_masked": "unknown",
        "country": "Unknown",
        "signup_date": None,
    }
    anonymous = unknown | {"email_masked": "anonymous", "country": "Anonymous"}
    return with_unknown(dim, "customer_sk", unknown, {ANONYMOUS_SK: anonymous})


def dim_product(products_history: DataFrame) -> DataFrame:
    """Products as type 2 on list price and category."""
    versions = scd2(products_history, "product_id", ["price", "category"])
    dim = versions.select(
        surrogate_key("product_id", "valid_from").alias("product_sk"),
        "product_id",
        "name",
        "category",
        F.col("price").alias("list_price"),
        "launch_date",
        "valid_from",
        "valid_to",
        "is_current",
        "version",
    )
    unknown = {
        "product_id": None,
        "name": "Unknown product",
        "category": "Unknown",
        "list_price": None,
        "launch_date": None,
    }
    return with_unknown(dim, "product_sk", unknown)


def dim_warehouse(
    order_items: DataFrame, shipments: DataFrame | None = None, snapshots: DataFrame | None = None
) -> DataFrame:
    """Every warehouse an order line is picked in, a parcel ships from or a stock snapshot reports,
    keyed from its id (the same key whichever others appear), with its first and latest shipment and
    weekly snapshot."""
    ids = order_items.select("warehouse_id")
    for df in (shipments, snapshots):
        if df is not None:
            ids = ids.unionByName(df.select("warehouse_id"))
    dim = ids.where(F.col("warehouse_id").isNotNull()).distinct()
    for df, column, name in (
        (shipments, "shipment_date", "shipment"),
        (snapshots, "snapshot_date", "snapshot"),
    ):
        if df is None:
            dim = dim.withColumns({f"first_{name}_date": F.lit(None).cast("date"),
                                   f"last_{name}_date": F.lit(None).cast("date")})  # fmt: skip
        else:
            span = df.groupBy("warehouse_id").agg(
                F.min(column).alias(f"first_{name}_date"), F.max(column).alias(f"last_{name}_date")
            )
            dim = dim.join(span, "warehouse_id", "left")
    dim = dim.select(surrogate_key("warehouse_id").alias("warehouse_sk"), *dim.columns)
    unknown = {c: None for c in dim.columns if c != "warehouse_sk"}
    return with_unknown(dim, "warehouse_sk", unknown)


def with_unknown(
    dim: DataFrame, sk: str, values: dict[str, object], others: dict[int, dict[str, object]] | None = None
) -> DataFrame:
    """The dimension plus its unknown member (key -1) and any other special members (negative keys),
    valid for all time."""
    spark = dim.sparkSession
    members = {UNKNOWN_SK: values, **(others or {})}
    rows = [
        {sk: key, **v, "valid_from": dt.datetime(1900, 1, 1), "valid_to": END_OF_TIME, "is_current": True,
         "version": 0}
        for key, v in members.items()
    ]  # fmt: skip
    special = spark.createDataFrame([tuple(r[c] for c in dim.columns) for r in rows], dim.schema)
    return plain_strings(dim.unionByName(special))


def plain_strings(df: DataFrame) -> DataFrame:
    """Cast string columns to string. Sail can hand back some string columns (after a union, for one)
    as Arrow string_view, which the pyspark 4.0 client cannot collect; an explicit cast avoids it."""
    return df.select(*[F.col(c).cast("string").alias(c) if t == "string" else F.col(c) for c, t in df.dtypes])


def days_between(end: Column | str, start: Column | str) -> Column:
    """Whole days from `start` to `end`, as BIGINT on every engine (datediff is INT on JVM Spark and
    BIGINT on Sail; the suites state one type)."""
    return F.datediff(end, start).cast("bigint")


def small_dimension(spark: SparkSession, name: str, values: Sequence[str]) -> DataFrame:
    """A fixed list of values (carriers, channels, ...) with keys 1..n in list order, and the unknown member."""
    rows = [(i + 1, v) for i, v in enumerate(values)] + [(UNKNOWN_SK, "Unknown")]
    return spark.createDataFrame(rows, f"{name}_sk BIGINT, {name} STRING")


def as_of(facts: DataFrame, dim: DataFrame, natural_key: str, sk: str, at: Column) -> DataFrame:
    """Point-in-time lookup: each fact gets the key of the dimension version in force at `at`, or the
    unknown member when there is none."""
    versions = dim.where(F.col(sk) != UNKNOWN_SK).select(
        F.col(natural_key).alias("_nk"),
        F.col(sk).alias("_sk"),
        F.col("valid_from").alias("_from"),
        F.col("valid_to").alias("_to"),
    )
    joined = facts.withColumn("_at", at).join(
        versions,
        (F.col(natural_key) == F.col("_nk"))
        & (F.col("_from") <= F.col("_at"))
        & (F.col("_at") < F.col("_to")),
        "left",
    )
    return joined.withColumn(sk, F.coalesce(F.col("_sk"), F.lit(UNKNOWN_SK).cast("bigint"))).drop(
        "_nk", "_sk", "_from", "_to", "_at"
    )


def end_of_day(date_col: str) -> Column:
    """The last instant of a date: versions in force then are the ones that applied that day."""
    return F.to_timestamp(F.date_add(F.col(date_col), 1)) - F.expr("INTERVAL 1 SECOND")


def _key_of(df: DataFrame, dim: DataFrame, column: str, sk: str | None = None) -> DataFrame:
    """Add a small dimension's key for its value column (unknown when the value is missing)."""
    sk = sk or f"{column}_sk"
    lookup = dim.where(F.col(sk) != UNKNOWN_SK).select(F.col(column).alias("_v"), F.col(sk).alias("_k"))
    joined = df.join(F.broadcast(lookup), df[column] == lookup["_v"], "left")
    return joined.withColumn(sk, F.coalesce("_k", F.lit(UNKNOWN_SK).cast("bigint"))).drop("_v", "_k")


def date_key(col: str) -> Column:
    return F.coalesce(F.date_format(F.col(col), "yyyyMMdd").cast("int"), F.lit(UNKNOWN_SK))


def date_of_key(key: str) -> Column:
    """The date a date key stands for; null for the unknown key (-1)."""
    return F.to_date(F.try_to_timestamp(F.col(key).cast("string"), F.lit("yyyyMMdd")))


def fact_order_items(
    items: DataFrame,
    orders: DataFrame,
    customers: DataFrame,
    products: DataFrame,
    channels: DataFrame,
    payments: DataFrame,
    warehouses: DataFrame,
) -> DataFrame:
    """One row per order line, with customer and product as they were on the order date and the
    warehouse it is picked in. Lines of
    cancelled orders carry their amounts but no revenue; so do lines whose order never arrived in silver
    (they point to the unknown members)."""
    o = orders.select("order_id", "customer_id", "order_date", "status", "channel", "payment_method")
    lines = items.select(
        "order_item_id", "order_id", "product_id", "quantity", "item_price", "warehouse_id"
    ).join(o, "order_id", "left")
    lines = as_of(lines, customers, "customer_id", "customer_sk", end_of_day("order_date"))
    lines = as_of(lines, products, "product_id", "product_sk", end_of_day("order_date"))
    lines = _key_of(_key_of(lines, channels, "channel"), payments, "payment_method")
    lines = _key_of(lines, warehouses, "warehouse_id", "warehouse_sk")
    list_price = products.select(F.col("product_sk").alias("_psk"), F.col("list_price").alias("list_price"))
    lines = lines.join(list_price, lines["product_sk"] == list_price["_psk"], "left").drop("_psk")
    gross = (F.col("quantity") * F.col("item_price")).cast("decimal(14,2)")
    cancelled = F.coalesce(F.col("status") == "Cancelled", F.lit(False))
    counts = F.col("status").isNotNull() & ~cancelled  # revenue needs a known order that was not cancelled
    return plain_strings(
        lines.select(
            "order_item_id",
            "order_id",
            date_key("order_date").alias("order_date_key"),
            "customer_sk",
            "product_sk",
            "channel_sk",
            "payment_method_sk",
            "warehouse_sk",
            "quantity",
            "item_price",
            "list_price",
            gross.alias("gross_amount"),
            F.when(counts, gross).otherwise(F.lit(0).cast("decimal(14,2)")).alias("revenue"),
            # Below list is a discount, above list a premium: each is never negative.
            (F.greatest(F.col("list_price") - F.col("item_price"), F.lit(0)) * F.col("quantity"))
            .cast("decimal(14,2)")
            .alias("discount_amount"),
            (F.greatest(F.col("item_price") - F.col("list_price"), F.lit(0)) * F.col("quantity"))
            .cast("decimal(14,2)")
            .alias("premium_amount"),
            F.coalesce("status", F.lit("Unknown")).alias("order_status"),
            cancelled.alias("is_cancelled"),
        )
    )


def fact_orders(
    order_lines: DataFrame,
    orders: DataFrame,
    history: DataFrame,
    customers: DataFrame,
    channels: DataFrame,
    payments: DataFrame,
    shipments: DataFrame | None = None,
) -> DataFrame:
    """One row per silver order: totals from its lines, status, days from order to its first shipment
    (the earlier of its first shipment in silver and its ship_date, which each may lack) and, from the
    order's status history, to delivery."""
    totals = order_lines.groupBy("order_id").agg(
        F.count(F.lit(1)).alias("line_count"),
        F.sum("quantity").alias("units"),
        F.sum("gross_amount").alias("gross_amount"),
        F.sum("revenue").alias("revenue"),
        F.sum("discount_amount").alias("discount_amount"),
        F.sum("premium_amount").alias("premium_amount"),
    )
    o = as_of(orders, customers, "customer_id", "customer_sk", end_of_day("order_date"))
    o = _key_of(_key_of(o, channels, "channel"), payments, "payment_method")
    delivered = (
        history.where(F.col("status") == "Delivered")
        .groupBy("order_id")
        .agg(F.min("updated_at").alias("_delivered_at"))
    )
    o = o.join(totals, "order_id", "left").join(delivered, "order_id", "left")
    shipped = F.col("ship_date")
    if shipments is not None:
        first_shipment = shipments.groupBy("order_id").agg(F.min("shipment_date").alias("_first_shipment"))
        o = o.join(first_shipment, "order_id", "left")
        # The first parcel left when the status became Shipped: a later one may be all silver holds.
        shipped = F.least("_first_shipment", "ship_date")
    zero = F.lit(0).cast("decimal(14,2)")
    return plain_strings(
        o.select(
            "order_id",
            date_key("order_date").alias("order_date_key"),
            "customer_sk",
            "channel_sk",
            "payment_method_sk",
            "status",
            (F.col("status") == "Cancelled").alias("is_cancelled"),
            date_key("ship_date").alias("ship_date_key"),
            days_between(shipped, F.col("order_date")).alias("days_to_ship"),
            days_between(F.to_date("_delivered_at"), "order_date").alias("days_to_deliver"),
            "coupon_code",
            F.coalesce("line_count", F.lit(0)).alias("line_count"),
            F.coalesce("units", F.lit(0)).cast("bigint").alias("units"),
            F.coalesce("gross_amount", zero).alias("gross_amount"),
            F.coalesce("revenue", zero).alias("revenue"),
            F.coalesce("discount_amount", zero).alias("discount_amount"),
            F.coalesce("premium_amount", zero).alias("premium_amount"),
        )
    )


_STEP_OF_EVENT = {
    "page_view": 0,
    "search": 0,
    "product_view": 1,
    "add_to_cart": 2,
    "remove_from_cart": 2,
    "checkout_start": 3,
    "purchase": 4,
}


def fact_shipments(
    shipments: DataFrame, orders: DataFrame, carriers: DataFrame, warehouses: DataFrame
) -> DataFrame:
    """One row per shipment: the warehouse it left, cost, carrier, and days from order to shipment."""
    o = orders.select("order_id", "order_date")
    s = _key_of(shipments.join(o, "order_id", "left"), carriers, "carrier")
    s = _key_of(s, warehouses, "warehouse_id", "warehouse_sk")
    return plain_strings(
        s.select(
            "shipment_id",
            "order_id",
            "warehouse_sk",
            "carrier_sk",
            date_key("shipment_date").alias("shipment_date_key"),
            date_key("order_date").alias("order_date_key"),
            "shipment_cost",
            days_between("shipment_date", "order_date").alias("days_order_to_shipment"),
        )
    )


def fact_sessions(events: DataFrame, customers: DataFrame, sources: DataFrame) -> DataFrame:
    """One row per clickstream session: start, duration, pages viewed, the furthest funnel step, and
    whether (and with which order) it converted."""
    step = F.lit(0)
    for event_type, n in _STEP_OF_EVENT.items():  # a CASE: a per-row map literal costs far more on Sail
        step = F.when(F.col("event_type") == event_type, F.lit(n)).otherwise(step)
    # The session's attributes are those of its first event: min_by over the event time, ties broken by a
    # hash of event_id, so one aggregate does it all (a window ranking every event cost twice as much).
    first = F.unix_micros("event_ts") * 1024 + F.pmod(F.hash("event_id"), F.lit(1024))
    orphan_ids = F.coalesce(F.col("_orphan_fks"), F.array().cast("array<string>"))
    resolves_customer = ~F.array_contains(orphan_ids, "customer_id")
    s = (
        events.withColumns({"_step": step, "_first": first})
        .groupBy("session_id")
        .agg(
            F.min("event_ts").alias("session_start"),
            F.max("event_ts").alias("session_end"),
            F.count(F.lit(1)).alias("events"),
            F.sum(
                F.when(F.col("event_type").isin("page_view", "search", "product_view"), 1).otherwise(0)
            ).alias("pages_viewed"),
            F.max("_step").alias("_furthest"),
            F.max("order_id").alias("order_id"),
            # When the customer logged in (a first order's session starts anonymous and signs up on the way).
            F.min(F.when(F.col("customer_id").isNotNull(), F.col("event_ts"))).alias("_logged_in_at"),
            # The logged-in customer: an id that resolves wins over an injected orphan.
            F.coalesce(
                F.max(F.when(~resolves_customer, F.lit(None)).otherwise(F.col("customer_id"))),
                F.max("customer_id"),
            ).alias("customer_id"),
            *[F.min_by(c, "_first").alias(c) for c in ("traffic_source", "device", "country")],
        )
    )
    s = as_of(s, customers, "customer_id", "customer_sk", F.coalesce("_logged_in_at", "session_start"))
    s = s.withColumn(
        "customer_sk",
        F.when(F.col("customer_id").isNull(), F.lit(ANONYMOUS_SK).cast("bigint")).otherwise(
            F.col("customer_sk")
        ),
    )
    s = _key_of(s, sources, "traffic_source")
    steps = F.array(*[F.lit(x) for x in FUNNEL])
    return plain_strings(
        s.select(
            "session_id",
            date_key("session_start").alias("date_key"),
            "session_start",
            (F.col("session_end").cast("double") - F.col("session_start").cast("double"))
            .cast("int")
            .alias("duration_seconds"),
            "customer_sk",
            "traffic_source_sk",
            "device",
            "country",
            "events",
            "pages_viewed",
            F.element_at(steps, F.col("_furthest") + 1).alias("furthest_step"),
            (F.col("_furthest") == len(FUNNEL) - 1).alias("converted"),
            "order_id",
        )
    )


def fact_inventory_snapshot(
    snapshots: DataFrame,
    order_lines: DataFrame,
    products: DataFrame,
    warehouses: DataFrame,
    shipments: DataFrame | None = None,
    window_days: int = 28,
) -> DataFrame:
    """Weekly stock per product and warehouse, with days of cover: the warehouse's stock of the product
    divided by the average daily units of it that left that warehouse (its parcels: the order lines
    picked there, on the day their parcel shipped) over the `window_days` before the snapshot, or over
    the days of shipments the data holds when it holds fewer (`sales_window_days`). Available stock
    is on hand less reserved: a stock-out has none available, and an item is below its reorder point
    when what is available is at or below it."""
    ids = warehouses.where(F.col("warehouse_sk") != UNKNOWN_SK).select(
        "warehouse_sk", F.col("warehouse_id").alias("_wid")
    )
    if shipments is None:
        shipped = snapshots.sparkSession.createDataFrame(
            [], "_pid BIGINT, _wid STRING, _date DATE, _units BIGINT"
        )
    else:
        parcels = shipments.groupBy("order_id", "warehouse_sk").agg(
            F.min(date_of_key("shipment_date_key")).alias("_date")
        )
        shipped = (
            order_lines.where(~F.col("is_cancelled"))
            .join(parcels, ["order_id", "warehouse_sk"])
            .join(ids, "warehouse_sk")
            .join(products.select("product_sk", F.col("product_id").alias("_pid")), "product_sk")
            .groupBy("_pid", "_wid", "_date")
            .agg(F.sum("quantity").alias("_units"))
        )
    first_day = shipped.agg(F.min("_date")).first()[0]
    dates = snapshots.select("product_id", "warehouse_id", "snapshot_date")
    window = (
        F.greatest(
            F.lit(1), F.least(F.lit(window_days), F.datediff("snapshot_date", F.lit(first_day).cast("date")))
        )
        if first_day is not None
        else F.lit(window_days)
    )
    dates = dates.withColumn("sales_window_days", window.cast("int"))
    recent = (
        (dates["product_id"] == shipped["_pid"])
        & (dates["warehouse_id"] == shipped["_wid"])
        & (shipped["_date"] < dates["snapshot_date"])
        & (shipped["_date"] >= F.date_sub(dates["snapshot_date"], window_days))
    )
    demand = (
        dates.join(shipped, recent, "left")
        .groupBy("product_id", "warehouse_id", "snapshot_date", "sales_window_days")
        .agg((F.coalesce(F.sum("_units"), F.lit(0)) / F.col("sales_window_days")).alias("avg_daily_units"))
    )
    s = snapshots.join(demand, ["product_id", "warehouse_id", "snapshot_date"], "left")
    s = as_of(s, products, "product_id", "product_sk", end_of_day("snapshot_date"))
    s = _key_of(s, warehouses, "warehouse_id", "warehouse_sk")
    return plain_strings(
        s.select(
            date_key("snapshot_date").alias("snapshot_date_key"),
            "snapshot_date",
            "warehouse_sk",
            "warehouse_id",
            "product_sk",
            "product_id",
            "on_hand",
            "reserved",
            "reorder_point",
            "unit_cost",
            (F.col("on_hand") * F.col("unit_cost")).cast("decimal(16,2)").alias("stock_value"),
            "sales_window_days",
            "avg_daily_units",
            F.when(
                F.col("avg_daily_units") > 0, F.round(F.col("on_hand") / F.col("avg_daily_units"), 1)
            ).alias("days_of_cover"),
            (F.col("on_hand") - F.col("reserved")).alias("available"),
            (F.col("on_hand") - F.col("reserved") <= 0).alias("is_stock_out"),
            (F.col("on_hand") - F.col("reserved") <= F.col("reorder_point")).alias("below_reorder_point"),
        )
    )

"""KPI tables an e-commerce team reads every morning, computed from the gold facts and dimensions.
Each is a pure function, tested on hand-written rows whose answers are known."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window

from lakehouse.gold.models import UNKNOWN_SK, date_of_key, days_between, plain_strings
from lakehouse.tables import FUNNEL

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MONEY = "decimal(16,2)"


def _date(key: str) -> Column:
    return date_of_key(key)


def _ratio(num: Column, den: Column, digits: int = 4) -> Column:
    return F.when(den > 0, F.round(num / den, digits))


def _customer_ids(facts: DataFrame, customers: DataFrame) -> DataFrame:
    """Facts with the customer's natural id (versions of one customer share it)."""
    ids = customers.where(F.col("customer_sk") != UNKNOWN_SK).select("customer_sk", "customer_id")
    return facts.join(ids, "customer_sk", "left")


def counted_orders(fact_orders: DataFrame) -> DataFrame:
    """Orders that count for sales: known date, not cancelled."""
    return fact_orders.where(~F.col("is_cancelled") & (F.col("order_date_key") != UNKNOWN_SK))


def kpi_daily_sales(fact_orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Per day: revenue, orders, units, average order value, and new versus returning customers (new on
    the day of their first counted order)."""
    o = _customer_ids(counted_orders(fact_orders), customers)
    first = (
        o.where(F.col("customer_id").isNotNull())
        .groupBy("customer_id")
        .agg(F.min("order_date_key").alias("_first"))
    )
    o = o.join(first, "customer_id", "left")
    daily = o.groupBy("order_date_key").agg(
        F.sum("revenue").cast(MONEY).alias("revenue"),
        F.count(F.lit(1)).alias("orders"),
        F.sum("units").alias("units"),
        F.countDistinct(F.when(F.col("_first") == F.col("order_date_key"), F.col("customer_id"))).alias(
            "new_customers"
        ),
        F.countDistinct(F.when(F.col("_first") < F.col("order_date_key"), F.col("customer_id"))).alias(
            "returning_customers"
        ),
    )
    return daily.select(
        F.col("order_date_key").alias("date_key"),
        _date("order_date_key").alias("date"),
        "revenue",
        "orders",
        "units",
        F.round(F.col("revenue") / F.col("orders"), 2).cast(MONEY).alias("average_order_value"),
        "new_customers",
        "returning_customers",
    )


def kpi_revenue_by_category_country_month(
    fact_order_items: DataFrame, products: DataFrame, customers: DataFrame
) -> DataFrame:
    """Revenue, units and orders by month, product category and customer country (both as of the order)."""
    lines = fact_order_items.where(F.col("revenue") > 0)
    lines = lines.join(products.select("product_sk", "category"), "product_sk", "left")
    lines = lines.join(customers.select("customer_sk", "country"), "customer_sk", "left")
    return plain_strings(
        lines.groupBy(
            F.date_format(_date("order_date_key"), "yyyy-MM").alias("month"), "category", "country"
        ).agg(
            F.sum("revenue").cast(MONEY).alias("revenue"),
            F.sum("quantity").alias("units"),
            F.countDistinct("order_id").alias("orders"),
        )
    )


def kpi_top_products_monthly(fact_order_items: DataFrame, products: DataFrame, top: int = 10) -> DataFrame:
    """Per month, the products in the top `top` by revenue or by units, with both ranks (1 = best)."""
    ids = products.where(F.col("product_sk") != UNKNOWN_SK).select("product_sk", "product_id", "name")
    lines = fact_order_items.where(F.col("revenue") > 0).join(ids, "product_sk")
    per = lines.groupBy(F.date_format(_date("order_date_key"), "yyyy-MM").alias("month"), "product_id").agg(
        F.sum("revenue").cast(MONEY).alias("revenue"),
        F.sum("quantity").alias("units"),
        F.max("name").alias("name"),
    )
    by_rev = Window.partitionBy("month").orderBy(F.col("revenue").desc(), "product_id")
    by_units = Window.partitionBy("month").orderBy(F.col("units").desc(), "product_id")
    ranked = per.withColumn("revenue_rank", F.row_number().over(by_rev)).withColumn(
        "units_rank", F.row_number().over(by_units)
    )
    return plain_strings(ranked.where((F.col("revenue_rank") <= top) | (F.col("units_rank") <= top)))


def kpi_retention_cohorts(fact_orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Monthly cohorts by first counted order: customers ordering again N months later, and the rate."""
    o = _customer_ids(counted_orders(fact_orders), customers).where(F.col("customer_id").isNotNull())
    o = o.withColumn("_month", F.trunc(_date("order_date_key"), "month"))
    first = o.groupBy("customer_id").agg(F.min("_month").alias("_cohort"))
    active = o.join(first, "customer_id").select(
        "customer_id",
        "_cohort",
        F.months_between("_month", "_cohort").cast("int").alias("months_since_first_order"),
    )
    counts = active.groupBy("_cohort", "months_since_first_order").agg(
        F.countDistinct("customer_id").alias("active_customers")
    )
    size = first.groupBy("_cohort").agg(F.count(F.lit(1)).alias("cohort_size"))
    return plain_strings(
        counts.join(size, "_cohort").select(
            F.date_format("_cohort", "yyyy-MM").alias("cohort_month"),
            "months_since_first_order",
            "active_customers",
            "cohort_size",
            _ratio(F.col("active_customers"), F.col("cohort_size")).alias("retention_rate"),
        )
    )


def kpi_conversion_funnel(fact_sessions: DataFrame, sources: DataFrame) -> DataFrame:
    """Per day, traffic source and device: sessions reaching each funnel step, conversion and cart abandonment."""
    s = fact_sessions.join(sources, "traffic_source_sk", "left")
    reached = {step: n for n, step in enumerate(FUNNEL) if n}  # the steps after the first visit
    order = F.when(F.col("furthest_step") == FUNNEL[0], 0)
    for step, n in reached.items():
        order = order.when(F.col("furthest_step") == step, n)
    s = s.withColumn("_n", order)
    agg = s.groupBy("date_key", "traffic_source", "device").agg(
        F.count(F.lit(1)).alias("sessions"),
        *[
            F.sum(F.when(F.col("_n") >= n, 1).otherwise(0)).alias(f"{step}_sessions")
            for step, n in reached.items()
        ],
    )
    return plain_strings(
        agg.select(
            "*",
            _ratio(F.col("purchase_sessions"), F.col("sessions")).alias("conversion_rate"),
            _ratio(
                F.col("add_to_cart_sessions") - F.col("purchase_sessions"), F.col("add_to_cart_sessions")
            ).alias("cart_abandonment_rate"),
        )
    )


SEGMENTS = (  # (name, condition on r, f, m scores), first match wins
    ("Champions", "r >= 4 AND f >= 4"),
    ("Loyal", "f >= 4"),
    ("New", "r >= 4 AND f <= 1"),
    ("Promising", "r >= 3 AND f <= 2"),
    ("At Risk", "r <= 2 AND f >= 3"),
    ("Hibernating", "r <= 2"),
    ("Needs Attention", "true"),
)


def kpi_customer_value(fact_orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Per customer: lifetime value and RFM scores (1-5, 5 best, by quintile) with a segment. Recency is
    counted to the last order date in the data."""
    o = _customer_ids(counted_orders(fact_orders), customers).where(F.col("customer_id").isNotNull())
    o = o.withColumn("_d", _date("order_date_key"))
    last_day = o.agg(F.max("_d")).first()[0]
    per = o.groupBy("customer_id").agg(
        F.min("_d").alias("first_order_date"),
        F.max("_d").alias("last_order_date"),
        F.count(F.lit(1)).alias("orders"),
        F.sum("revenue").cast(MONEY).alias("lifetime_value"),
    )
    per = per.withColumn("recency_days", days_between(F.lit(last_day), F.col("last_order_date")))
    everyone = Window.partitionBy(F.lit("all"))  # quintiles rank all customers together, by design
    scored = (
        per.withColumn("r", F.ntile(5).over(everyone.orderBy(F.col("recency_days").desc(), "customer_id")))
        .withColumn("f", F.ntile(5).over(everyone.orderBy("orders", "customer_id")))
        .withColumn("m", F.ntile(5).over(everyone.orderBy("lifetime_value", "customer_id")))
    )
    segment = None
    for name, cond in SEGMENTS:
        segment = (
            F.when(F.expr(cond), F.lit(name)) if segment is None else segment.when(F.expr(cond), F.lit(name))
        )
    return plain_strings(
        scored.select(
            "customer_id", "first_order_date", "last_order_date", "orders", "lifetime_value", "recency_days",
            F.col("r").alias("r_score"), F.col("f").alias("f_score"), F.col("m").alias("m_score"),
            F.concat(F.col("r").cast("string"), F.col("f").cast("string"), F.col("m").cast("string")).alias("rfm"),
            segment.alias("segment"),  # type: ignore[union-attr]
        )
    )  # fmt: skip


def kpi_inventory_health(fact_inventory: DataFrame) -> DataFrame:
    """Per snapshot and warehouse: stock-outs, products below their reorder point, stock value, median
    days of cover and sell-through (units sold in the window over units sold plus stock on hand)."""
    per = fact_inventory.groupBy("snapshot_date_key", "snapshot_date", "warehouse_id").agg(
        F.count(F.lit(1)).alias("products"),
        F.sum(F.col("is_stock_out").cast("int")).alias("stock_outs"),
        F.sum(F.col("below_reorder_point").cast("int")).alias("below_reorder_point"),
        F.sum("stock_value").cast(MONEY).alias("stock_value"),
        F.percentile_approx("days_of_cover", 0.5).alias("median_days_of_cover"),
        F.sum(F.col("avg_daily_units") * 28).alias("_sold"),
        F.sum("on_hand").alias("on_hand"),
    )
    return plain_strings(
        per.select("*", _ratio(F.col("_sold"), F.col("_sold") + F.col("on_hand")).alias("sell_through")).drop(
            "_sold"
        )
    )


def kpi_shipping_performance(
    fact_shipments: DataFrame, fact_orders: DataFrame, carriers: DataFrame
) -> DataFrame:
    """Per carrier and month shipped: shipments, orders, average days from order to shipment (per
    shipment) and to delivery (per order), cost and cost per order. The month is the shipment's, which
    every shipment has (its order may not have reached silver)."""
    s = fact_shipments.join(carriers, "carrier_sk", "left").withColumn(
        "month", F.date_format(_date("shipment_date_key"), "yyyy-MM")
    )
    per_shipment = s.groupBy("carrier", "month").agg(
        F.count(F.lit(1)).alias("shipments"),
        F.countDistinct("order_id").alias("orders"),
        F.round(F.avg("days_order_to_shipment"), 2).alias("avg_days_to_ship"),
        F.sum("shipment_cost").cast(MONEY).alias("shipping_cost"),
    )
    delivered = fact_orders.select("order_id", "days_to_deliver")
    per_order = (
        s.select("carrier", "month", "order_id").distinct().join(delivered, "order_id", "left")
        .groupBy("carrier", "month").agg(F.round(F.avg("days_to_deliver"), 2).alias("avg_days_to_deliver"))
    )  # fmt: skip
    agg = per_shipment.join(per_order, ["carrier", "month"], "left")
    return plain_strings(
        agg.select(
            "carrier", "month", "shipments", "orders", "avg_days_to_ship", "avg_days_to_deliver", "shipping_cost",
            F.round(F.col("shipping_cost") / F.col("orders"), 2).cast(MONEY).alias("cost_per_order"),
        )
    )  # fmt: skip

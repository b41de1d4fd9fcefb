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


COHORT_GRAINS = {"month": "yyyy-MM", "week": "YYYY-'W'ww"}


def kpi_retention_cohorts(fact_orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Monthly and weekly (ISO, from Monday) cohorts by each customer's first counted order: customers
    ordering again N periods later, and the rate. A period the data does not cover to its end (it
    reaches past the last order date) is flagged `is_complete = false`: its rate is still rising."""
    o = _customer_ids(counted_orders(fact_orders), customers).where(F.col("customer_id").isNotNull())
    o = o.withColumn("_d", _date("order_date_key"))
    last_day = F.lit(o.agg(F.max("_d")).first()[0]).cast("date")
    grains = []
    for grain in COHORT_GRAINS:
        g = o.withColumn("_p", F.to_date(F.date_trunc(grain, "_d")))
        first = g.groupBy("customer_id").agg(F.min("_p").alias("_cohort"))
        active = g.join(first, "customer_id").select("customer_id", "_cohort", "_p").distinct()
        counts = active.groupBy("_cohort", "_p").agg(F.count(F.lit(1)).alias("active_customers"))
        size = first.groupBy("_cohort").agg(F.count(F.lit(1)).alias("cohort_size"))
        if grain == "month":
            period, end = F.months_between("_p", "_cohort").cast("int"), F.date_sub(F.add_months("_p", 1), 1)
        else:
            period, end = (F.datediff("_p", "_cohort") / 7).cast("int"), F.date_add("_p", 6)
        grains.append(
            counts.join(size, "_cohort").select(
                F.lit(grain).alias("grain"),
                F.col("_cohort").alias("cohort_start"),
                period.alias("period"),
                F.col("_p").alias("period_start"),
                "active_customers",
                "cohort_size",
                _ratio(F.col("active_customers"), F.col("cohort_size")).alias("retention_rate"),
                (end <= last_day).alias("is_complete"),
            )
        )
    return plain_strings(grains[0].unionByName(grains[1]))


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


# The common RFM segment grid on recency and frequency scores (as in Putler's and most RFM write-ups):
# (segment, condition on r and f), first match wins.
SEGMENTS = (
    ("Champions", "r = 5 AND f >= 4"),
    ("Loyal Customers", "r >= 3 AND f >= 4"),
    ("Potential Loyalists", "r >= 4 AND f BETWEEN 2 AND 3"),
    ("New Customers", "r = 5 AND f = 1"),
    ("Promising", "r = 4 AND f = 1"),
    ("Need Attention", "r = 3 AND f = 3"),
    ("About to Sleep", "r = 3 AND f <= 2"),
    ("Cannot Lose Them", "r <= 2 AND f = 5"),
    ("At Risk", "r <= 2 AND f BETWEEN 3 AND 4"),
    ("Hibernating", "r <= 2 AND f <= 2"),
)


def score(value: Column, better_when: str = "higher") -> Column:
    """A 1-5 score from where a value stands among all customers' values (its percent rank): equal values
    always get equal scores, whatever the row order, and 5 is best."""
    order = value.asc() if better_when == "higher" else value.desc()
    rank = F.percent_rank().over(Window.partitionBy(F.lit(1)).orderBy(order))  # one ranking of everyone
    return F.least(F.lit(5), (F.floor(rank * 5) + 1).cast("int"))


def kpi_customer_value(
    fact_orders: DataFrame,
    customers: DataFrame,
    order_lines: DataFrame,
    products: DataFrame,
    inventory: DataFrame | None = None,
) -> DataFrame:
    """Per customer: orders, revenue to date, gross margin to date (revenue less units at each product's
    latest unit cost from the inventory snapshots; null without any), and RFM scores with a segment.
    Recency is counted to the last order date in the data."""
    o = _customer_ids(counted_orders(fact_orders), customers).where(F.col("customer_id").isNotNull())
    o = o.withColumn("_d", _date("order_date_key"))
    last_day = o.agg(F.max("_d")).first()[0]
    per = o.groupBy("customer_id").agg(
        F.min("_d").alias("first_order_date"),
        F.max("_d").alias("last_order_date"),
        F.count(F.lit(1)).alias("orders"),
        F.sum("revenue").cast(MONEY).alias("revenue_to_date"),
    )
    if inventory is not None:
        latest = F.struct("snapshot_date_key", "warehouse_id")
        cost = inventory.groupBy("product_id").agg(F.max_by("unit_cost", latest).alias("_unit_cost"))
        ids = products.select("product_sk", "product_id")
        lines = (
            order_lines.where(F.col("revenue") > 0).join(ids, "product_sk").join(cost, "product_id", "left")
        )
        lines = _customer_ids(lines, customers).where(F.col("customer_id").isNotNull())
        margin = lines.groupBy("customer_id").agg(
            F.sum(F.col("revenue") - F.col("quantity") * F.col("_unit_cost"))
            .cast(MONEY)
            .alias("gross_margin_to_date")
        )
        per = per.join(margin, "customer_id", "left")
    else:
        per = per.withColumn("gross_margin_to_date", F.lit(None).cast(MONEY))
    per = per.withColumn("recency_days", days_between(F.lit(last_day), F.col("last_order_date")))
    scored = per.select(
        "*",
        score(F.col("recency_days"), "lower").alias("r"),
        score(F.col("orders")).alias("f"),
        score(F.col("revenue_to_date")).alias("m"),
    )
    segment = F.lit("Other")
    for name, cond in reversed(SEGMENTS):
        segment = F.when(F.expr(cond), F.lit(name)).otherwise(segment)
    return plain_strings(
        scored.select(
            "customer_id", "first_order_date", "last_order_date", "orders", "revenue_to_date",
            "gross_margin_to_date", "recency_days",
            F.col("r").alias("r_score"), F.col("f").alias("f_score"), F.col("m").alias("m_score"),
            F.concat(F.col("r").cast("string"), F.col("f").cast("string"), F.col("m").cast("string")).alias("rfm"),
            segment.alias("segment"),
        )
    )  # fmt: skip


def median(df: DataFrame, keys: list[str], column: str, alias: str) -> DataFrame:
    """The exact median of `column` per group (the mean of the two middle values of an even count; nulls
    left out), the same on every engine (percentile_approx picks a value on JVM Spark and interpolates
    on Sail)."""
    w = Window.partitionBy(*keys).orderBy(column)
    ranked = df.where(F.col(column).isNotNull()).select(
        *keys,
        column,
        F.row_number().over(w).alias("_r"),
        F.count(F.lit(1)).over(Window.partitionBy(*keys)).alias("_n"),
    )
    middle = (F.col("_r") == F.floor((F.col("_n") + 1) / 2)) | (F.col("_r") == F.floor(F.col("_n") / 2) + 1)
    return ranked.where(middle).groupBy(*keys).agg(F.round(F.avg(column), 3).alias(alias))


def kpi_inventory_health(fact_inventory: DataFrame) -> DataFrame:
    """Per snapshot and warehouse: stock-outs and products below their reorder point (both on available
    stock: on hand less reserved), stock value, median days of cover and sell-through (units sold in the
    sales window over units sold plus stock on hand)."""
    keys = ["snapshot_date_key", "snapshot_date", "warehouse_id"]
    per = fact_inventory.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("products"),
        F.sum(F.col("is_stock_out").cast("int")).alias("stock_outs"),
        F.sum(F.col("below_reorder_point").cast("int")).alias("below_reorder_point"),
        F.sum("stock_value").cast(MONEY).alias("stock_value"),
        F.sum(F.col("avg_daily_units") * F.col("sales_window_days")).alias("_sold"),
        F.sum("on_hand").alias("on_hand"),
    )
    per = per.join(median(fact_inventory, keys, "days_of_cover", "median_days_of_cover"), keys, "left")
    return plain_strings(
        per.select(
            *keys, "products", "stock_outs", "below_reorder_point", "stock_value", "median_days_of_cover", "on_hand",
            _ratio(F.col("_sold"), F.col("_sold") + F.col("on_hand")).alias("sell_through"),
        )
    )  # fmt: skip


def kpi_shipping_performance(
    fact_shipments: DataFrame, fact_orders: DataFrame, carriers: DataFrame
) -> DataFrame:
    """Per carrier and month shipped: shipments, orders, average days from order to shipment (per
    shipment), to delivery (per order, credited once: to the carrier and month of the order's last
    shipment, the parcel that completes it), cost and cost per order. The month is the shipment's,
    which every shipment has (its order may not have reached silver)."""
    s = fact_shipments.join(carriers, "carrier_sk", "left").withColumn(
        "month", F.date_format(_date("shipment_date_key"), "yyyy-MM")
    )
    per_shipment = s.groupBy("carrier", "month").agg(
        F.count(F.lit(1)).alias("shipments"),
        F.countDistinct("order_id").alias("orders"),
        F.round(F.avg("days_order_to_shipment"), 2).alias("avg_days_to_ship"),
        F.sum("shipment_cost").cast(MONEY).alias("shipping_cost"),
    )
    latest = F.struct("shipment_date_key", "shipment_id")
    last = s.groupBy("order_id").agg(
        F.max_by("carrier", latest).alias("carrier"), F.max_by("month", latest).alias("month")
    )
    delivered = fact_orders.select("order_id", "days_to_deliver")
    per_order = (
        last.join(delivered, "order_id", "left")
        .groupBy("carrier", "month").agg(F.round(F.avg("days_to_deliver"), 2).alias("avg_days_to_deliver"))
    )  # fmt: skip
    agg = per_shipment.join(per_order, ["carrier", "month"], "left")
    return plain_strings(
        agg.select(
            "carrier", "month", "shipments", "orders", "avg_days_to_ship", "avg_days_to_deliver", "shipping_cost",
            F.round(F.col("shipping_cost") / F.col("orders"), 2).cast(MONEY).alias("cost_per_order"),
        )
    )  # fmt: skip

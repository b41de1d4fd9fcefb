"""Every KPI computed on tiny hand-written facts whose answers are known."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from lakehouse.bronze.contract import CARRIERS, TRAFFIC_SOURCES
from lakehouse.gold import kpis
from lakehouse.gold.models import (
    ANONYMOUS_SK,
    UNKNOWN_SK,
    dim_warehouse,
    fact_inventory_snapshot,
    fact_sessions,
    small_dimension,
)

D = Decimal
T = dt.datetime


@pytest.fixture
def customers(spark):  # type: ignore[no-untyped-def]
    # Customer 1 has two versions (moved from France to Spain); 2 has one.
    rows = [(11, 1, "France"), (12, 1, "Spain"), (21, 2, "Germany"), (-1, None, "Unknown")]
    return spark.createDataFrame(rows, "customer_sk bigint, customer_id bigint, country string")


@pytest.fixture
def orders(spark):  # type: ignore[no-untyped-def]
    rows = [
        (1, 20260105, 11, False, 2, D("100.00")),
        (2, 20260105, 21, False, 1, D("50.00")),
        (3, 20260106, 11, True, 5, D("0.00")),  # cancelled: not counted
        (4, 20260210, 12, False, 3, D("30.00")),  # customer 1 again, next month, after moving
        (5, 20260106, -1, False, 1, D("10.00")),  # unknown customer: counted in sales, not in customer KPIs
    ]
    return spark.createDataFrame(
        rows,
        "order_id bigint, order_date_key int, customer_sk bigint, is_cancelled boolean, units bigint, revenue decimal(14,2)",
    )


def test_daily_sales(orders, customers) -> None:  # type: ignore[no-untyped-def]
    got = {r["date_key"]: r for r in kpis.kpi_daily_sales(orders, customers).collect()}
    assert set(got) == {20260105, 20260106, 20260210}
    d5 = got[20260105]
    assert (d5["revenue"], d5["orders"], d5["units"], d5["average_order_value"]) == (
        D("150.00"),
        2,
        3,
        D("75.00"),
    )
    assert (d5["new_customers"], d5["returning_customers"]) == (2, 0)
    assert (got[20260210]["new_customers"], got[20260210]["returning_customers"]) == (0, 1)
    assert got[20260106]["orders"] == 1, "the cancelled order does not count"


def test_retention_cohorts(orders, customers) -> None:  # type: ignore[no-untyped-def]
    rows = kpis.kpi_retention_cohorts(orders, customers).collect()
    month = {(r["cohort_start"], r["period"]): r for r in rows if r["grain"] == "month"}
    jan = dt.date(2026, 1, 1)
    assert month[(jan, 0)]["active_customers"] == 2 and month[(jan, 0)]["retention_rate"] == 1.0
    assert month[(jan, 1)]["active_customers"] == 1 and month[(jan, 1)]["retention_rate"] == 0.5
    assert set(month) == {(jan, 0), (jan, 1)}
    # The data ends on 2026-02-10: January is complete, February is not.
    assert month[(jan, 0)]["is_complete"] and not month[(jan, 1)]["is_complete"]
    assert month[(jan, 1)]["period_start"] == dt.date(2026, 2, 1)
    week = {(r["cohort_start"], r["period"]): r for r in rows if r["grain"] == "week"}
    monday = dt.date(2026, 1, 5)  # both first orders fell in the ISO week from Monday 5 January
    assert week[(monday, 0)]["cohort_size"] == 2 and week[(monday, 0)]["is_complete"]
    assert week[(monday, 5)]["active_customers"] == 1 and week[(monday, 5)]["period_start"] == dt.date(
        2026, 2, 9
    )
    assert not week[(monday, 5)]["is_complete"], "the week of 9 February ends after the data"


def test_customer_value_rfm(orders, customers, lines, products, spark) -> None:  # type: ignore[no-untyped-def]
    costs = spark.createDataFrame(
        [
            (20260104, "WH-01", 1, D("20.00")),
            (20260111, "WH-01", 1, D("25.00")),
            (20260111, "WH-01", 2, D("4.00")),
        ],
        "snapshot_date_key int, warehouse_id string, product_id bigint, unit_cost decimal(12,2)",
    )
    got = {
        r["customer_id"]: r
        for r in kpis.kpi_customer_value(orders, customers, lines, products, costs).collect()
    }
    assert set(got) == {1, 2}
    one, two = got[1], got[2]
    assert (one["orders"], one["revenue_to_date"], one["recency_days"]) == (2, D("130.00"), 0)
    assert (two["orders"], two["revenue_to_date"], two["recency_days"]) == (1, D("50.00"), 36)
    # Margin at each product's latest unit cost: customer 1 bought 2 lamps (25.00), 1 + 3 books (4.00).
    assert one["gross_margin_to_date"] == D("130.00") - 2 * D("25.00") - 4 * D("4.00")
    assert two["gross_margin_to_date"] == D("50.00") - D("25.00")
    assert (
        one["r_score"] > two["r_score"]
        and one["f_score"] > two["f_score"]
        and one["m_score"] > two["m_score"]
    )
    assert one["rfm"] == f"{one['r_score']}{one['f_score']}{one['m_score']}"
    assert one["segment"] == "Champions" and two["segment"] == "Hibernating"
    no_costs = kpis.kpi_customer_value(orders, customers, lines, products).collect()
    assert all(r["gross_margin_to_date"] is None for r in no_costs), "no snapshots, no margin"


def test_rfm_scores_are_equal_for_equal_behaviour_whatever_the_row_order(spark) -> None:  # type: ignore[no-untyped-def]
    # Ten customers: six with one order of 10.00 on the same day, four with more.
    rows = [(i, 20260110, 100 + i, False, 1, D("10.00")) for i in range(6)]
    rows += [(10 + i, 20260101 + i, 106 + i, False, 1, D("10.00") * (i + 2)) for i in range(4)]
    rows += [(20 + i, 20260120, 106 + i, False, 1, D("5.00")) for i in range(4)]
    schema = "order_id bigint, order_date_key int, customer_sk bigint, is_cancelled boolean, units bigint, revenue decimal(14,2)"
    customers = spark.createDataFrame(
        [(100 + i, i + 1) for i in range(10)], "customer_sk bigint, customer_id bigint"
    )
    lines = spark.createDataFrame(
        [],
        "order_id bigint, order_date_key int, customer_sk bigint, product_sk bigint, quantity int, revenue decimal(14,2)",
    )
    products = spark.createDataFrame([], "product_sk bigint, product_id bigint, name string, category string")
    results = []
    for ordered in (rows, list(reversed(rows))):
        got = kpis.kpi_customer_value(
            spark.createDataFrame(ordered, schema), customers, lines, products
        ).collect()
        results.append({r["customer_id"]: (r["r_score"], r["f_score"], r["m_score"]) for r in got})
    assert results[0] == results[1], "scores do not depend on row order"
    same = {results[0][i + 1] for i in range(6)}
    assert len(same) == 1, "equal behaviour, equal scores"
    assert all(results[0][7 + i][1] > results[0][1][1] for i in range(4)), "two orders beat one"


@pytest.fixture
def lines(spark):  # type: ignore[no-untyped-def]
    rows = [
        (1, 20260105, 11, 101, 2, D("60.00")),
        (1, 20260105, 11, 102, 1, D("40.00")),
        (2, 20260105, 21, 101, 1, D("50.00")),
        (3, 20260106, 11, 101, 5, D("0.00")),  # cancelled
        (4, 20260210, 12, 102, 3, D("30.00")),
    ]
    return spark.createDataFrame(
        rows,
        "order_id bigint, order_date_key int, customer_sk bigint, product_sk bigint, quantity int, revenue decimal(14,2)",
    )


@pytest.fixture
def products(spark):  # type: ignore[no-untyped-def]
    rows = [
        (101, 1, "Lamp", "Home & Garden"),
        (102, 2, "Book", "Books"),
        (-1, None, "Unknown product", "Unknown"),
    ]
    return spark.createDataFrame(rows, "product_sk bigint, product_id bigint, name string, category string")


def test_revenue_by_category_country_month(lines, products, customers) -> None:  # type: ignore[no-untyped-def]
    got = {(r["month"], r["category"], r["country"]): (r["revenue"], r["units"], r["orders"]) for r in
           kpis.kpi_revenue_by_category_country_month(lines, products, customers).collect()}  # fmt: skip
    assert got == {
        ("2026-01", "Home & Garden", "France"): (D("60.00"), 2, 1),
        ("2026-01", "Books", "France"): (D("40.00"), 1, 1),
        ("2026-01", "Home & Garden", "Germany"): (D("50.00"), 1, 1),
        ("2026-02", "Books", "Spain"): (D("30.00"), 3, 1),
    }


def test_top_products_monthly(lines, products) -> None:  # type: ignore[no-untyped-def]
    got = {
        (r["month"], r["product_id"]): r
        for r in kpis.kpi_top_products_monthly(lines, products, top=1).collect()
    }
    jan_lamp = got[("2026-01", 1)]
    assert (jan_lamp["revenue"], jan_lamp["units"], jan_lamp["revenue_rank"], jan_lamp["units_rank"]) == (
        D("110.00"),
        3,
        1,
        1,
    )
    assert ("2026-01", 2) not in got, "second in both rankings is outside the top 1"
    assert got[("2026-02", 2)]["revenue_rank"] == 1


def test_sessions_and_conversion_funnel(spark, customers) -> None:  # type: ignore[no-untyped-def]
    e = [
        ("a1", T(2026, 1, 5, 10, 0, 0), "s1", 1, "page_view", None, "direct", "desktop", "France"),
        ("a2", T(2026, 1, 5, 10, 1, 0), "s1", 1, "product_view", None, "direct", "desktop", "France"),
        ("a3", T(2026, 1, 5, 10, 2, 0), "s1", 1, "add_to_cart", None, "direct", "desktop", "France"),
        ("a4", T(2026, 1, 5, 10, 3, 0), "s1", 1, "checkout_start", None, "direct", "desktop", "France"),
        ("a5", T(2026, 1, 5, 10, 4, 30), "s1", 1, "purchase", 7, "direct", "desktop", "France"),
        # An injected orphan id on one event never wins over the logged-in customer.
        ("a6", T(2026, 1, 5, 10, 4, 40), "s1", 900_000_001, "page_view", None, "direct", "desktop", "France"),
        ("b1", T(2026, 1, 5, 11, 0, 0), "s2", None, "page_view", None, "direct", "desktop", "Spain"),
        ("b2", T(2026, 1, 5, 11, 0, 40), "s2", None, "product_view", None, "direct", "desktop", "Spain"),
        ("b3", T(2026, 1, 5, 11, 1, 0), "s2", None, "add_to_cart", None, "direct", "desktop", "Spain"),
        ("c1", T(2026, 1, 5, 12, 0, 0), "s3", None, "page_view", None, "direct", "desktop", "Spain"),
        ("c2", T(2026, 1, 5, 12, 0, 5), "s3", 900_000_002, "search", None, "direct", "desktop", "Spain"),
        # The session's source, device and country are its first event's, whatever the row order.
        ("d2", T(2026, 1, 5, 13, 0, 9), "s4", None, "page_view", None, "email", "tablet", "Germany"),
        ("d1", T(2026, 1, 5, 13, 0, 0), "s4", None, "page_view", None, "social", "mobile", "Italy"),
        ("d3", T(2026, 1, 5, 12, 59, 59), "s4", None, "search", None, "social", "mobile", "Italy"),
        ("d4", T(2026, 1, 5, 13, 0, 30), "s4", None, "page_view", None, "email", "tablet", "Germany"),
    ]
    events = spark.createDataFrame(
        e,
        "event_id string, event_ts timestamp, session_id string, customer_id bigint, event_type string, order_id bigint, traffic_source string, device string, country string",
    ).withColumn("_orphan_fks", F.when(F.col("customer_id") >= 900_000_000, F.array(F.lit("customer_id"))))
    dims = spark.createDataFrame(
        [(11, 1, T(2025, 1, 1), T(9999, 12, 31))],
        "customer_sk bigint, customer_id bigint, valid_from timestamp, valid_to timestamp",
    )
    sources = small_dimension(spark, "traffic_source", TRAFFIC_SOURCES)
    sessions = fact_sessions(events, dims, sources)
    got = {r["session_id"]: r for r in sessions.collect()}
    social = next(r["traffic_source_sk"] for r in sources.collect() if r["traffic_source"] == "social")
    assert (got["s4"]["traffic_source_sk"], got["s4"]["device"], got["s4"]["country"]) == (
        social,
        "mobile",
        "Italy",
    )
    assert (got["s4"]["session_start"], got["s4"]["duration_seconds"], got["s4"]["events"]) == (
        T(2026, 1, 5, 12, 59, 59),
        31,
        4,
    )
    sessions = sessions.where("session_id != 's4'")
    assert (
        got["s1"]["duration_seconds"],
        got["s1"]["pages_viewed"],
        got["s1"]["furthest_step"],
        got["s1"]["converted"],
        got["s1"]["order_id"],
    ) == (280, 3, "purchase", True, 7)
    assert got["s1"]["customer_sk"] == 11, "the logged-in customer, not the orphan id"
    assert got["s2"]["customer_sk"] == ANONYMOUS_SK, "nobody logged in: the anonymous member"
    assert got["s3"]["customer_sk"] == UNKNOWN_SK, "an id that does not resolve: the unknown member"
    assert (got["s2"]["furthest_step"], got["s3"]["furthest_step"], got["s3"]["pages_viewed"]) == (
        "add_to_cart",
        "visit",
        2,
    )
    funnel = kpis.kpi_conversion_funnel(sessions, sources).collect()
    assert len(funnel) == 1
    f = funnel[0]
    assert (
        f["sessions"],
        f["product_view_sessions"],
        f["add_to_cart_sessions"],
        f["checkout_start_sessions"],
        f["purchase_sessions"],
    ) == (3, 2, 2, 1, 1)
    assert f["conversion_rate"] == round(1 / 3, 4) and f["cart_abandonment_rate"] == 0.5


def test_session_attributes_on_a_tie_do_not_depend_on_row_order(spark, customers) -> None:  # type: ignore[no-untyped-def]
    rows = [
        (f"e{i}", T(2026, 1, 5, 10, 0, 0), "s1", None, "page_view", None, "direct", device, "France")
        for i, device in enumerate(("desktop", "mobile", "tablet"))
    ]
    schema = "event_id string, event_ts timestamp, session_id string, customer_id bigint, event_type string, order_id bigint, traffic_source string, device string, country string, _orphan_fks array<string>"
    rows = [(*r, None) for r in rows]
    dims = spark.createDataFrame(
        [], "customer_sk bigint, customer_id bigint, valid_from timestamp, valid_to timestamp"
    )
    sources = small_dimension(spark, "traffic_source", TRAFFIC_SOURCES)
    devices = {
        fact_sessions(spark.createDataFrame(order, schema), dims, sources).first()["device"]
        for order in (rows, rows[::-1], rows[1:] + rows[:1])
    }
    assert len(devices) == 1


def _stock(spark, rows):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(
        rows,
        "snapshot_date date, warehouse_id string, product_id bigint, on_hand int, reserved int, reorder_point int, unit_cost decimal(12,2)",
    )


def _two_products(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(
        [(101, 1, T(2025, 1, 1), T(9999, 12, 31)), (102, 2, T(2025, 1, 1), T(9999, 12, 31))],
        "product_sk bigint, product_id bigint, valid_from timestamp, valid_to timestamp",
    )


def _parcels(spark, warehouses, rows):  # type: ignore[no-untyped-def]
    """Order lines and the parcels they left in: (shipment date key or None when not shipped yet,
    product_sk, warehouse_id, quantity); each row its own order."""
    key = {r["warehouse_id"]: r["warehouse_sk"] for r in warehouses.collect()}
    lines = spark.createDataFrame(
        [(i, psk, key.get(wh, UNKNOWN_SK), qty, False) for i, (_, psk, wh, qty) in enumerate(rows)],
        "order_id bigint, product_sk bigint, warehouse_sk bigint, quantity int, is_cancelled boolean",
    )
    shipments = spark.createDataFrame(
        [(i, key.get(wh, UNKNOWN_SK), day) for i, (day, _, wh, _) in enumerate(rows) if day is not None],
        "order_id bigint, warehouse_sk bigint, shipment_date_key int",
    )
    return lines, shipments


def test_inventory_health_and_days_of_cover_per_warehouse(spark) -> None:  # type: ignore[no-untyped-def]
    snaps = _stock(spark, [(dt.date(2026, 2, 1), "WH-01", 1, 56, 4, 10, D("5.00")), (dt.date(2026, 2, 1), "WH-02", 1, 0, 0, 5, D("5.00")),
                           (dt.date(2026, 2, 1), "WH-01", 2, 3, 0, 10, D("2.00"))])  # fmt: skip
    products = _two_products(spark)
    warehouses = dim_warehouse(snaps)
    # WH-01 shipped 56 units of product 1 in the 28 days before the snapshot (2 a day); WH-02 shipped 28
    # of it (1 a day), which is WH-02's demand, not WH-01's. Product 2 left WH-01 last in December; a
    # line not shipped yet and a parcel on the snapshot day itself are not in the window.
    lines, parcels = _parcels(spark, warehouses, [
        (20260110, 101, "WH-01", 50), (20260131, 101, "WH-01", 6), (20260201, 101, "WH-01", 99),
        (20260120, 101, "WH-02", 28), (None, 101, "WH-01", 40), (20251201, 102, "WH-01", 1),
    ])  # fmt: skip
    inv = {
        (r["warehouse_id"], r["product_id"]): r
        for r in fact_inventory_snapshot(snaps, lines, products, warehouses, parcels).collect()
    }
    keys = {r["warehouse_id"]: r["warehouse_sk"] for r in warehouses.collect()}
    assert inv[("WH-01", 1)]["warehouse_sk"] == keys["WH-01"] != keys["WH-02"]
    assert inv[("WH-01", 1)]["avg_daily_units"] == 2.0 and inv[("WH-01", 1)]["days_of_cover"] == 28.0
    assert inv[("WH-01", 1)]["sales_window_days"] == 28 and inv[("WH-01", 1)]["available"] == 52
    assert inv[("WH-02", 1)]["avg_daily_units"] == 1.0 and inv[("WH-02", 1)]["days_of_cover"] == 0.0
    assert inv[("WH-02", 1)]["is_stock_out"] and inv[("WH-01", 2)]["below_reorder_point"]
    assert inv[("WH-01", 2)]["days_of_cover"] is None, "nothing shipped, no cover figure"
    health = {
        r["warehouse_id"]: r
        for r in kpis.kpi_inventory_health(
            fact_inventory_snapshot(snaps, lines, products, warehouses, parcels)
        ).collect()
    }
    assert (
        health["WH-01"]["products"],
        health["WH-01"]["stock_outs"],
        health["WH-01"]["below_reorder_point"],
    ) == (2, 0, 1)
    assert health["WH-01"]["stock_value"] == D("286.00") and health["WH-02"]["stock_outs"] == 1
    assert health["WH-01"]["sell_through"] == round(56 / (56 + 59), 4)
    assert health["WH-02"]["sell_through"] == 1.0, "all it shipped, nothing left"
    assert health["WH-01"]["median_days_of_cover"] == 28.0, "the product without a cover figure is left out"
    # Without any shipments in silver there is no demand: no cover figure, nothing sold.
    alone = (
        fact_inventory_snapshot(snaps, lines, products, warehouses).where("warehouse_id = 'WH-01'").collect()
    )
    assert all(r["avg_daily_units"] == 0 and r["days_of_cover"] is None for r in alone)


def test_days_of_cover_use_the_days_of_shipments_there_are_and_available_stock(spark) -> None:  # type: ignore[no-untyped-def]
    snaps = _stock(spark, [(dt.date(2026, 1, 8), "WH-01", 1, 30, 30, 5, D("5.00")), (dt.date(2026, 1, 8), "WH-01", 2, 40, 10, 5, D("5.00"))])  # fmt: skip
    products, warehouses = _two_products(spark), dim_warehouse(snaps)
    # The shop's parcels begin on 1 January: 7 days before the snapshot, not 28.
    lines, parcels = _parcels(spark, warehouses, [(20260101, 101, "WH-01", 7), (20260105, 102, "WH-01", 14)])
    inv = {
        r["product_id"]: r
        for r in fact_inventory_snapshot(snaps, lines, products, warehouses, parcels).collect()
    }
    assert inv[1]["sales_window_days"] == 7 and inv[1]["avg_daily_units"] == 1.0
    assert inv[2]["avg_daily_units"] == 2.0 and inv[2]["days_of_cover"] == 20.0
    # All of product 1 is reserved: nothing available is a stock-out, though 30 are on the shelf.
    assert inv[1]["available"] == 0 and inv[1]["is_stock_out"] and inv[1]["below_reorder_point"]
    assert not inv[2]["is_stock_out"] and not inv[2]["below_reorder_point"]
    health = kpis.kpi_inventory_health(
        fact_inventory_snapshot(snaps, lines, products, warehouses, parcels)
    ).first()
    assert health["sell_through"] == round(21 / (21 + 70), 4), "units shipped over the 7 days there are"


def test_median_days_of_cover_is_exact_on_every_engine(spark) -> None:  # type: ignore[no-untyped-def]
    rows = [(20260201, dt.date(2026, 2, 1), wh, cover) for wh, covers in (("WH-01", [10.0, 1.0, 3.0, 2.0, None]), ("WH-02", [5.0, 1.0, 4.0]))
            for cover in covers]  # fmt: skip
    df = spark.createDataFrame(
        rows, "snapshot_date_key int, snapshot_date date, warehouse_id string, days_of_cover double"
    )
    got = {
        r["warehouse_id"]: r["median_days_of_cover"]
        for r in kpis.median(
            df,
            ["snapshot_date_key", "snapshot_date", "warehouse_id"],
            "days_of_cover",
            "median_days_of_cover",
        ).collect()
    }
    assert got == {"WH-01": 2.5, "WH-02": 4.0}, "the mean of the two middle values of an even count"


def test_warehouse_dimension_keys_and_unknown_member(spark) -> None:  # type: ignore[no-untyped-def]
    snaps = spark.createDataFrame(
        [
            (dt.date(2026, 2, 1), "WH-01", 1),
            (dt.date(2026, 2, 8), "WH-01", 1),
            (dt.date(2026, 2, 8), "WH-02", 1),
        ],
        "snapshot_date date, warehouse_id string, product_id bigint",
    )
    # WH-03 only picks order lines so far (nothing shipped, no stock count): it is a member all the same.
    lines = spark.createDataFrame([("WH-01",), ("WH-03",), (None,)], "warehouse_id string")
    parcels = spark.createDataFrame(
        [("WH-01", dt.date(2026, 1, 30)), ("WH-01", dt.date(2026, 2, 3)), ("WH-02", dt.date(2026, 2, 2))],
        "warehouse_id string, shipment_date date",
    )
    dim = {r["warehouse_id"]: r for r in dim_warehouse(lines, parcels, snaps).collect()}
    assert set(dim) == {"WH-01", "WH-02", "WH-03", None} and dim[None]["warehouse_sk"] == UNKNOWN_SK
    assert (dim["WH-01"]["first_snapshot_date"], dim["WH-01"]["last_snapshot_date"]) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 8),
    )
    assert (dim["WH-01"]["first_shipment_date"], dim["WH-01"]["last_shipment_date"]) == (
        dt.date(2026, 1, 30),
        dt.date(2026, 2, 3),
    )
    assert dim["WH-03"]["first_shipment_date"] is None and dim["WH-03"]["last_snapshot_date"] is None
    # A warehouse's key follows from its id alone: another warehouse appearing does not move it.
    alone = dim_warehouse(snaps.where("warehouse_id = 'WH-02'")).where("warehouse_id = 'WH-02'").first()
    assert alone["warehouse_sk"] == dim["WH-02"]["warehouse_sk"] != dim["WH-01"]["warehouse_sk"]
    # A stock row from a warehouse the dimension does not know points to the unknown member.
    stock = _stock(spark, [(dt.date(2026, 2, 8), "WH-09", 1, 5, 0, 1, D("1.00"))])
    no_lines, no_parcels = _parcels(spark, dim_warehouse(snaps), [])
    row = fact_inventory_snapshot(
        stock, no_lines, _two_products(spark), dim_warehouse(snaps), no_parcels
    ).first()
    assert (row["warehouse_id"], row["warehouse_sk"]) == ("WH-09", UNKNOWN_SK)


def test_shipping_performance(spark) -> None:  # type: ignore[no-untyped-def]
    carriers = small_dimension(spark, "carrier", CARRIERS)
    ups = CARRIERS.index("UPS") + 1
    shipments = spark.createDataFrame(
        [
            (1, 10, ups, 20260105, 20260107, 2, D("10.00")),
            (2, 10, ups, 20260105, 20260108, 3, D("6.00")),
            (3, 11, ups, 20260106, 20260107, 1, D("8.00")),
            (4, 99, ups, -1, 20260201, None, D("9.00")),  # its order never reached silver
        ],
        "shipment_id bigint, order_id bigint, carrier_sk bigint, order_date_key int, shipment_date_key int, "
        "days_order_to_shipment int, shipment_cost decimal(12,2)",
    )
    orders = spark.createDataFrame([(10, 5), (11, 3)], "order_id bigint, days_to_deliver int")
    got = {r["month"]: r for r in kpis.kpi_shipping_performance(shipments, orders, carriers).collect()}
    assert set(got) == {"2026-01", "2026-02"}  # by the month shipped, which every shipment has
    r = got["2026-01"]
    assert (r["carrier"], r["month"], r["shipments"], r["orders"]) == ("UPS", "2026-01", 3, 2)
    assert (r["avg_days_to_ship"], r["avg_days_to_deliver"], r["shipping_cost"], r["cost_per_order"]) == (
        2.0,
        4.0,
        D("24.00"),
        D("12.00"),
    )


def test_a_split_order_delivery_is_credited_once_to_the_carrier_of_its_last_parcel(spark) -> None:  # type: ignore[no-untyped-def]
    carriers = small_dimension(spark, "carrier", CARRIERS)
    ups, dhl = CARRIERS.index("UPS") + 1, CARRIERS.index("DHL") + 1
    shipments = spark.createDataFrame(
        [
            (1, 10, ups, 20260105, 20260107, 2, D("10.00")),
            (2, 10, dhl, 20260105, 20260109, 4, D("6.00")),  # the parcel that completes order 10
            (3, 11, ups, 20260106, 20260107, 1, D("8.00")),
        ],
        "shipment_id bigint, order_id bigint, carrier_sk bigint, order_date_key int, shipment_date_key int, "
        "days_order_to_shipment int, shipment_cost decimal(12,2)",
    )
    orders = spark.createDataFrame([(10, 6), (11, 3)], "order_id bigint, days_to_deliver int")
    got = {r["carrier"]: r for r in kpis.kpi_shipping_performance(shipments, orders, carriers).collect()}
    assert got["UPS"]["avg_days_to_deliver"] == 3.0, "order 10 is not UPS's delivery"
    assert got["DHL"]["avg_days_to_deliver"] == 6.0
    assert (got["UPS"]["orders"], got["DHL"]["orders"]) == (2, 1)

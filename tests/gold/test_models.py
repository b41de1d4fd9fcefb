"""Gold models on tiny hand-written silver rows whose answers are known."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from lakehouse.bronze.contract import CARRIERS, CHANNELS, PAYMENT_METHODS
from lakehouse.gold.models import (
    ANONYMOUS_SK,
    END_OF_TIME,
    UNKNOWN_SK,
    dim_customer,
    dim_date,
    dim_product,
    dim_warehouse,
    fact_order_items,
    fact_orders,
    fact_shipments,
    scd2,
    small_dimension,
)

T = dt.datetime


def customers_history(spark):  # type: ignore[no-untyped-def]
    rows = [
        (1, "ann@a.com", "France", dt.date(2025, 1, 1), T(2025, 1, 1)),
        (
            1,
            "ann@a.com",
            "France",
            dt.date(2025, 1, 1),
            T(2025, 6, 1),
        ),  # no tracked change: not a new version
        (1, "ann@b.com", "Spain", dt.date(2025, 1, 1), T(2026, 1, 10, 12)),
        (2, "bob@c.com", "Germany", dt.date(2026, 1, 5), T(2026, 1, 5)),
    ]
    return spark.createDataFrame(
        rows, "customer_id bigint, email string, country string, signup_date date, updated_at timestamp"
    )


def products_history(spark):  # type: ignore[no-untyped-def]
    rows = [
        (10, "Lamp", "Home & Garden", Decimal("20.00"), dt.date(2024, 1, 1), T(2024, 1, 1)),
        (10, "Lamp", "Home & Garden", Decimal("25.00"), dt.date(2024, 1, 1), T(2026, 1, 10, 0, 30)),
        (11, "Book", "Books", Decimal("10.00"), dt.date(2024, 1, 1), T(2024, 1, 1)),
    ]
    return spark.createDataFrame(
        rows,
        "product_id bigint, name string, category string, price decimal(12,2), launch_date date, updated_at timestamp",
    )


def test_dim_date_flags_weekends_and_peaks(spark) -> None:  # type: ignore[no-untyped-def]
    d = {r["date"]: r for r in dim_date(spark, dt.date(2025, 11, 27), dt.date(2025, 12, 26)).collect()}
    assert len(d) == 30
    # Holidays are the named days; December trading is a season, not a holiday.
    holidays = {day for day, r in d.items() if r["is_holiday"]}
    assert holidays == {dt.date(2025, 11, 27), dt.date(2025, 11, 28), dt.date(2025, 12, 1), dt.date(2025, 12, 24),
                        dt.date(2025, 12, 25), dt.date(2025, 12, 26)}  # fmt: skip
    season = {day for day, r in d.items() if r["is_holiday_season"]}
    assert season == {dt.date(2025, 12, i) for i in range(1, 24)}
    assert d[dt.date(2025, 12, 10)]["holiday_name"] is None
    assert (
        d[dt.date(2025, 11, 28)]["holiday_name"] == "Black Friday" and d[dt.date(2025, 11, 28)]["is_holiday"]
    )
    assert d[dt.date(2025, 11, 29)]["is_weekend"] and not d[dt.date(2025, 11, 28)]["is_weekend"]
    assert d[dt.date(2025, 12, 1)]["date_key"] == 20251201 and d[dt.date(2025, 12, 1)]["quarter"] == 4


def test_scd2_keeps_only_changes_of_tracked_attributes(spark) -> None:  # type: ignore[no-untyped-def]
    v = (
        scd2(customers_history(spark), "customer_id", ["email", "country"])
        .orderBy("customer_id", "valid_from")
        .collect()
    )
    assert [
        (r["customer_id"], r["country"], r["valid_from"], r["valid_to"], r["is_current"], r["version"])
        for r in v
    ] == [
        (1, "France", T(2025, 1, 1), T(2026, 1, 10, 12), False, 1),
        (1, "Spain", T(2026, 1, 10, 12), END_OF_TIME, True, 2),
        (2, "Germany", T(2026, 1, 5), END_OF_TIME, True, 1),
    ]


def test_dim_customer_has_no_raw_personal_data_and_an_unknown_member(spark) -> None:  # type: ignore[no-untyped-def]
    dim = dim_customer(customers_history(spark))
    assert "email" not in dim.columns and "first_name" not in dim.columns
    rows = {(r["customer_id"], r["version"]): r for r in dim.collect()}
    assert rows[(1, 2)]["email_masked"] == "a***@b.com" and len(rows[(1, 2)]["email_sha256"]) == 64
    members = {r["customer_sk"]: r for r in dim.collect() if r["customer_sk"] < 0}
    assert set(members) == {UNKNOWN_SK, ANONYMOUS_SK}, "an unknown and an anonymous member"
    assert members[UNKNOWN_SK]["country"] == "Unknown" and members[ANONYMOUS_SK]["country"] == "Anonymous"
    assert members[ANONYMOUS_SK]["customer_id"] is None
    rows = {(r["customer_id"], r["version"]): r for r in dim.collect() if r["customer_sk"] >= 0}
    assert len({r["customer_sk"] for r in rows.values()}) == len(rows), "surrogate keys are unique"


def _facts(spark):  # type: ignore[no-untyped-def]
    orders = spark.createDataFrame(
        [
            (100, 1, dt.date(2026, 1, 9), dt.date(2026, 1, 11), "Delivered", "web", "PayPal", None),
            (101, 1, dt.date(2026, 1, 10), None, "Cancelled", "phone", "Gift Card", None),
            (102, 99, dt.date(2026, 1, 10), None, "Pending", "web", "PayPal", "VIP20"),  # orphan customer
        ],
        "order_id bigint, customer_id bigint, order_date date, ship_date date, status string, channel string, payment_method string, coupon_code string",
    )
    items = spark.createDataFrame(
        [
            (1, 100, 10, 2, Decimal("19.00"), "WH-01"),
            (2, 100, 11, 1, Decimal("10.50"), "WH-02"),
            (3, 101, 10, 1, Decimal("26.00"), "WH-01"),
            (4, 102, 10, 3, Decimal("24.00"), "WH-01"),
            (5, 555, 11, 1, Decimal("9.00"), "WH-01"),
        ],
        "order_item_id bigint, order_id bigint, product_id bigint, quantity int, item_price decimal(12,2), warehouse_id string",
    )
    customers, products = dim_customer(customers_history(spark)), dim_product(products_history(spark))
    channels, payments = (
        small_dimension(spark, "channel", CHANNELS),
        small_dimension(spark, "payment_method", PAYMENT_METHODS),
    )
    history = spark.createDataFrame(
        [
            (100, "Pending", T(2026, 1, 9, 8)),
            (100, "Shipped", T(2026, 1, 11, 9)),
            (100, "Delivered", T(2026, 1, 14, 10)),
        ],
        "order_id bigint, status string, updated_at timestamp",
    )
    shipments = spark.createDataFrame(  # 100 left in two parcels; 102 shipped before its status said so
        [(1, 100, dt.date(2026, 1, 11), "WH-01"), (2, 100, dt.date(2026, 1, 13), "WH-02"), (3, 102, dt.date(2026, 1, 12), "WH-01")],
        "shipment_id bigint, order_id bigint, shipment_date date, warehouse_id string",
    )  # fmt: skip
    warehouses = dim_warehouse(items, shipments)
    lines = fact_order_items(items, orders, customers, products, channels, payments, warehouses)
    facts = fact_orders(lines, orders, history, customers, channels, payments, shipments)
    return lines, facts, customers, products


def test_fact_order_items_resolves_dimensions_as_of_the_order_date(spark) -> None:  # type: ignore[no-untyped-def]
    lines, _, customers, products = _facts(spark)
    sk = {(r["customer_id"], r["version"]): r["customer_sk"] for r in customers.collect()}
    psk = {(r["product_id"], r["version"]): r["product_sk"] for r in products.collect()}
    got = {r["order_item_id"]: r for r in lines.collect()}
    assert got[1]["customer_sk"] == sk[(1, 1)] and got[1]["product_sk"] == psk[(10, 1)]  # Jan 9: old versions
    assert (
        got[3]["customer_sk"] == sk[(1, 2)] and got[3]["product_sk"] == psk[(10, 2)]
    )  # Jan 10: moved, new price
    assert got[1]["list_price"] == Decimal("20.00") and got[1]["discount_amount"] == Decimal("2.00")
    assert got[1]["premium_amount"] == 0
    # Paid above list: a premium, never a negative discount.
    assert got[3]["list_price"] == Decimal("25.00") and got[3]["discount_amount"] == 0
    assert got[3]["premium_amount"] == Decimal("1.00")
    assert got[3]["revenue"] == 0 and got[3]["gross_amount"] == Decimal("26.00") and got[3]["is_cancelled"]
    assert got[4]["customer_sk"] == UNKNOWN_SK, "an orphan customer points to the unknown member"
    assert (
        got[5]["order_date_key"] == UNKNOWN_SK
        and got[5]["customer_sk"] == UNKNOWN_SK
        and got[5]["order_status"] == "Unknown"
    )
    assert got[5]["revenue"] == 0 and got[5]["gross_amount"] == Decimal("9.00"), "no known order, no revenue"
    assert got[1]["order_date_key"] == 20260109 and got[1]["channel_sk"] == CHANNELS.index("web") + 1
    assert got[1]["warehouse_sk"] == got[3]["warehouse_sk"] != got[2]["warehouse_sk"], (
        "picked in WH-01, WH-01, WH-02"
    )
    assert got[2]["warehouse_sk"] not in (None, UNKNOWN_SK)


def test_fact_shipments_carry_the_warehouse_each_parcel_left(spark) -> None:  # type: ignore[no-untyped-def]
    shipments = spark.createDataFrame(
        [(1, 100, dt.date(2026, 1, 11), "WH-01", "UPS", Decimal("9.00")), (2, 100, dt.date(2026, 1, 13), "WH-02", "UPS", Decimal("7.00")),
         (3, 101, dt.date(2026, 1, 12), "WH-07", "DHL", Decimal("8.00"))],
        "shipment_id bigint, order_id bigint, shipment_date date, warehouse_id string, carrier string, shipment_cost decimal(12,2)",
    )  # fmt: skip
    orders = spark.createDataFrame([(100, dt.date(2026, 1, 9))], "order_id bigint, order_date date")
    known = dim_warehouse(shipments.where("warehouse_id <> 'WH-07'"))
    keys = {r["warehouse_id"]: r["warehouse_sk"] for r in known.collect()}
    carriers = small_dimension(spark, "carrier", CARRIERS)
    got = {r["shipment_id"]: r for r in fact_shipments(shipments, orders, carriers, known).collect()}
    assert (got[1]["warehouse_sk"], got[2]["warehouse_sk"]) == (keys["WH-01"], keys["WH-02"])
    assert got[3]["warehouse_sk"] == UNKNOWN_SK, "a warehouse the dimension does not know"
    assert (got[1]["days_order_to_shipment"], got[2]["days_order_to_shipment"]) == (2, 4)


def test_fact_orders_totals_and_days_to_ship(spark) -> None:  # type: ignore[no-untyped-def]
    _, orders, _, _ = _facts(spark)
    got = {r["order_id"]: r for r in orders.collect()}
    assert set(got) == {100, 101, 102}
    assert got[100]["days_to_deliver"] == 5 and got[102]["days_to_deliver"] is None
    assert (got[100]["line_count"], got[100]["units"], got[100]["revenue"], got[100]["days_to_ship"]) == (
        2,
        3,
        Decimal("48.50"),
        2,  # to the first parcel, not the second
    )
    assert got[102]["days_to_ship"] == 2, "from the shipment while the status lags"
    assert got[101]["revenue"] == 0 and got[101]["is_cancelled"] and got[101]["days_to_ship"] is None
    assert got[102]["coupon_code"] == "VIP20" and got[102]["revenue"] == Decimal("72.00")

"""Given these rows, expect these rows: the silver transforms, one by one."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from lakehouse.bronze.contract import CLICKSTREAM, ORDER_ITEMS, ORDERS, file_date
from lakehouse.silver.ingest import (
    classify,
    latest_per_key,
    typical_rows_per_file,
    with_orphan_flags,
    with_usable,
)
from lakehouse.silver.transforms import event_columns, event_time_window, parse_events, typed_records
from lakehouse.tables import SILVER

ADDR = ["_file", "_sheet", "_row", "_raw", "_defect"]


def raw_frame(spark, source, rows):  # type: ignore[no-untyped-def]
    names = [*ADDR, *[c.name for c in (*source.columns, *source.optional_columns)]]
    types = {"_row": "int"}
    schema = ", ".join(f"`{n}` {types.get(n, 'string')}" for n in names)
    full = [(f"{source.folder}/f.csv", None, i + 1, "raw", None, *r) for i, r in enumerate(rows)]
    return spark.createDataFrame(full, schema)


def order(**kw: str | None) -> tuple:
    base = {"order_id": "100001", "customer_id": "5", "order_date": "2026-01-01", "ship_date": "", "status": "Pending",
            "payment_method": "Credit Card", "channel": "web", "updated_at": "2026-01-01T10:00:00Z", "coupon_code": None}  # fmt: skip
    base.update(kw)
    return tuple(base.values())


def test_clean_orders_pass_unchanged(spark) -> None:  # type: ignore[no-untyped-def]
    r = typed_records(raw_frame(spark, ORDERS, [order()]), ORDERS).first()
    assert (r["order_id"], r["customer_id"], r["status"], r["ship_date"]) == (100001, 5, "Pending", None)
    assert r["order_date"] == dt.date(2026, 1, 1) and r["updated_at"] == dt.datetime(2026, 1, 1, 10)
    assert r["_reasons"] == [] and r["_repairs"] == []


@pytest.mark.parametrize(
    ("change", "column", "value", "repair"),
    [
        ({"order_date": "01/15/2026"}, "order_date", dt.date(2026, 1, 15), "repaired:order_date"),
        ({"order_date": "15.01.2026"}, "order_date", dt.date(2026, 1, 15), "repaired:order_date"),
        ({"order_date": "15-Jan-2026"}, "order_date", dt.date(2026, 1, 15), "repaired:order_date"),
        ({"status": "\tPENDING "}, "status", "Pending", "repaired:status"),
        ({"payment_method": " paypal"}, "payment_method", "PayPal", "repaired:payment_method"),
        (
            {"updated_at": "01/02/2026 10:00:00"},
            "updated_at",
            dt.datetime(2026, 1, 2, 10),
            "repaired:updated_at",
        ),
        ({"customer_id": " 7 "}, "customer_id", 7, "repaired:customer_id"),
        (
            {"updated_at": " 2026-01-02T10:00:00Z"},
            "updated_at",
            dt.datetime(2026, 1, 2, 10),
            "repaired:updated_at",
        ),
        ({"order_date": "2026-01-15 "}, "order_date", dt.date(2026, 1, 15), "repaired:order_date"),
        ({"ship_date": "not a date"}, "ship_date", None, "nulled:ship_date"),
    ],
)
def test_repairs_and_nulled_optionals(spark, change, column, value, repair) -> None:  # type: ignore[no-untyped-def]
    r = typed_records(raw_frame(spark, ORDERS, [order(**change)]), ORDERS).first()
    assert r[column] == value and r["_reasons"] == [] and repair in r["_repairs"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"customer_id": ""}, "missing:customer_id"),
        ({"customer_id": "N/A"}, "invalid:customer_id"),
        ({"customer_id": "-3"}, "invalid:customer_id"),
        ({"order_date": "2026-13-45"}, "invalid:order_date"),
        ({"order_date": "2026-02-30"}, "invalid:order_date"),
        ({"status": "Lost"}, "invalid:status"),
        ({"updated_at": "yesterday"}, "invalid:updated_at"),
        # ISO-shaped, but not a real time: a cast and a pattern agree on these
        ({"updated_at": "2026-02-30T10:00:00Z"}, "invalid:updated_at"),
        ({"updated_at": "2026-01-02T24:00:00Z"}, "invalid:updated_at"),
        ({"updated_at": "2026-01-02T10:00:00.5Z"}, "invalid:updated_at"),
    ],
)
def test_unusable_required_values_are_reasons(spark, change, reason) -> None:  # type: ignore[no-untyped-def]
    r = typed_records(raw_frame(spark, ORDERS, [order(**change)]), ORDERS).first()
    assert r["_reasons"] == [reason]


@pytest.mark.parametrize(
    ("change", "reasons", "repairs", "ship_date"),
    [
        ({"status": "Shipped", "ship_date": "2026-01-03"}, [], [], dt.date(2026, 1, 3)),
        ({"status": "Delivered", "ship_date": ""}, ["missing:ship_date"], [], None),
        ({"status": "Shipped", "ship_date": "00/00/0000"}, ["invalid:ship_date"], [], None),
        ({"status": "Processing", "ship_date": "2026-01-03"}, [], ["nulled:ship_date"], None),
        ({"status": "Cancelled", "ship_date": "TBD"}, [], ["nulled:ship_date"], None),
    ],
)
def test_ship_date_present_exactly_when_shipped(spark, change, reasons, repairs, ship_date) -> None:  # type: ignore[no-untyped-def]
    r = typed_records(raw_frame(spark, ORDERS, [order(**change)]), ORDERS).first()
    assert (r["_reasons"], r["_repairs"], r["ship_date"]) == (reasons, repairs, ship_date)


def test_ranges_and_malformed_rows(spark) -> None:  # type: ignore[no-untyped-def]
    rows = [
        ("1", "100001", "3", "0", "12.50", "WH-01"),
        ("2", "100001", "3", "2", "-1.00", "WH-01"),
        ("3", "100001", "3", "2", "12,5", "WH-01"),
        (None,) * 6,
    ]
    df = raw_frame(spark, ORDER_ITEMS, rows)
    df = df.withColumn("_defect", F.when(df["_row"] == 4, F.lit("malformed_row")))
    got = {
        r["_row"]: (r["_reasons"], r["quantity"], r["item_price"])
        for r in typed_records(df, ORDER_ITEMS).collect()
    }
    assert got[1] == (["out_of_range:quantity"], None, decimal.Decimal("12.50"))
    assert got[2][0] == ["out_of_range:item_price"]
    assert got[3][0] == ["invalid:item_price"]
    assert got[4][0] == ["malformed_row"]


def _events(spark, lines, file="clickstream/date=2026-01-02/hour=01/e.jsonl"):  # type: ignore[no-untyped-def]
    rows = [(file, None, i + 1, line, None, file_date(file)) for i, line in enumerate(lines)]
    raw = spark.createDataFrame(
        rows, "_file string, _sheet string, _row int, _raw string, _defect string, _file_date date"
    )
    return event_columns(event_time_window(typed_records(parse_events(raw), CLICKSTREAM)))


EVENT = {"event_id": "e1", "event_ts": "2026-01-02T01:00:00.123Z", "session_id": "s", "customer_id": None, "event_type": "add_to_cart",
         "product_id": 5, "order_id": None, "page": "/product/5", "referrer": None, "traffic_source": "app", "device": "mobile",
         "country": "Sweden", "properties": {"quantity": 2, "price": 12.5}}  # fmt: skip


def test_events_parse_with_properties(spark) -> None:  # type: ignore[no-untyped-def]
    r = _events(spark, [json.dumps(EVENT)]).first()
    assert (r["event_id"], r["product_id"], r["customer_id"], r["event_date"]) == (
        "e1",
        5,
        None,
        dt.date(2026, 1, 2),
    )
    assert r["event_ts"] == dt.datetime(2026, 1, 2, 1, 0, 0, 123000)
    assert (r["prop_quantity"], r["prop_price"]) == (2, decimal.Decimal("12.50")) and r["_reasons"] == []


def test_malformed_and_impossible_events(spark) -> None:  # type: ignore[no-untyped-def]
    late_ok = dict(EVENT, event_id="e2", event_ts="2026-01-01T20:00:00.000Z")
    future = dict(EVENT, event_id="e3", event_ts="2099-01-02T01:00:00.000Z")
    bad_id = dict(EVENT, event_id="e4", product_id="abc")
    lines = [json.dumps(EVENT)[:40], "garbage", json.dumps(late_ok), json.dumps(future), json.dumps(bad_id)]
    got = {r["_row"]: r for r in _events(spark, lines).collect()}
    assert got[1]["_reasons"] == ["malformed_json"] and got[2]["_reasons"] == ["malformed_json"]
    assert got[3]["_reasons"] == []  # a late event from the day before is fine
    assert got[4]["_reasons"] == ["out_of_range:event_ts"]
    assert (
        got[5]["_reasons"] == []
        and got[5]["product_id"] is None
        and "nulled:product_id" in got[5]["_repairs"]
    )


def test_classify_duplicates_in_the_batch_and_in_silver(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table = SILVER["order_items"]
    schema = (
        "order_item_id bigint, order_id bigint, product_id bigint, _reasons array<string>, "
        "_source_file string, _sheet string, _source_row int"
    )
    batch = spark.createDataFrame(
        [
            (1, 100, 10, [], "a.csv", None, 1),
            (1, 100, 10, [], "a.csv", None, 2),
            (2, 999, 10, [], "a.csv", None, 3),  # written, and an orphan: its order is not in silver
            (3, 999, 10, ["missing:x"], "a.csv", None, 4),  # quarantined: not judged as an orphan
            (4, 100, 10, [], "b.csv", None, 1),
            (4, 100, 10, [], "d.csv", None, 2),  # a later copy of a key silver holds: one row, a duplicate
            (5, 100, 10, [], "w.xlsx", "WH-2", 2),  # the same row number in two sheets: ranked by sheet
            (5, 100, 10, [], "w.xlsx", "WH-1", 2),
            (
                6,
                100,
                10,
                ["missing:x"],
                "a.csv",
                None,
                5,
            ),  # an unusable copy does not make the usable one a duplicate
            (6, 100, 10, [], "a.csv", None, 6),
            (7, 100, 10, [], "c.csv", None, 9),  # copies with other values: the latest export wins
            (7, 100, 10, [], "b.csv", None, 8),
            (7, 100, 77, [], "c.csv", None, 3),  # a duplicate, and an orphan (product 77)
            (8, 100, 11, [], "e.csv", None, 1),  # silver holds key 8 with product 10: a correction
        ],
        schema,
    )
    silver = tmp_path / "silver"
    spark.createDataFrame(
        [(4, 100, 10), (8, 100, 10)], "order_item_id bigint, order_id bigint, product_id bigint"
    ).write.format("delta").save(str(silver / "order_items"))
    spark.createDataFrame([(100,)], "order_id bigint").write.format("delta").save(str(silver / "orders"))
    spark.createDataFrame([(10,), (11,)], "product_id bigint").write.format("delta").save(
        str(silver / "products")
    )
    batch = with_usable(batch.withColumn("_id", F.monotonically_increasing_id()))
    batch = spark.createDataFrame(batch.collect(), batch.schema)  # fixed ids, as a materialized batch has
    rows = classify(spark, batch, table, str(tmp_path), ORDER_ITEMS).collect()
    assert len(rows) == 14
    assert {r["_sheet"]: r["_outcome"] for r in rows if r["_sheet"]} == {
        "WH-1": "written",
        "WH-2": "duplicate",
    }
    got = {(r["_source_file"], r["_source_row"]): r["_outcome"] for r in rows if not r["_sheet"]}
    assert got == {
        ("a.csv", 1): "written",
        ("a.csv", 2): "duplicate",
        ("a.csv", 3): "written",
        ("a.csv", 4): "quarantined",
        ("b.csv", 1): "duplicate",
        ("d.csv", 2): "duplicate",
        ("a.csv", 5): "quarantined",
        ("a.csv", 6): "written",
        ("b.csv", 8): "duplicate",
        ("c.csv", 3): "duplicate",
        ("c.csv", 9): "written",
        ("e.csv", 1): "written",
    }
    assert [(r["_source_file"], r["_source_row"]) for r in rows if r["_updated"]] == [("e.csv", 1)]
    orphans = {(r["_source_file"], r["_source_row"]): r["_orphan_fks"] for r in rows if r["_orphan_fks"]}
    assert orphans == {("a.csv", 3): ["order_id"], ("c.csv", 3): ["product_id"]}
    assert all(r["_orphan_fks"] == [] for r in rows if (r["_source_file"], r["_source_row"]) not in orphans)


def test_latest_version_per_key(spark) -> None:  # type: ignore[no-untyped-def]
    rows = spark.createDataFrame(
        [
            (1, "old", "2026-01-01 10:00:00", "f1", 1),
            (1, "new", "2026-01-02 10:00:00", "f1", 2),
            (1, "stale", "2026-01-01 09:00:00", "f2", 1),
            (2, "only", "2026-01-01 00:00:00", "f1", 3),
        ],
        "customer_id bigint, email string, updated_at string, _source_file string, _source_row int",
    ).withColumn("updated_at", F.to_timestamp("updated_at"))
    got = {r["customer_id"]: r["email"] for r in latest_per_key(rows, SILVER["customers"]).collect()}
    assert got == {1: "new", 2: "only"}


def test_typical_rows_per_file_is_the_median_of_recent_files() -> None:
    """The history export's monthly files do not set the size expected of a day; rejected files do not
    count; only the latest files do; of an even number, the lower middle one."""
    day = "2026-01-{:02d}"
    ledger = pd.DataFrame(
        [("customers", f"customers_{day.format(d)}.csv", "ingested", rows, f"{day.format(d)} 06:00:00")
         for d, rows in [(2, 40), (3, 50), (4, 60)]]
        + [("customers", f"customers_history_2025-{m:02d}.csv", "ingested", 9_000, "2026-01-01 05:00:00") for m in range(1, 13)]
        + [("customers", "customers_2026-01-05.csv", "rejected", 0, "2026-01-05 06:00:00"),
           ("orders", "orders_2026-01-01.csv", "ingested", 900, "2026-01-01 06:00:00"),
           ("orders", "orders_2026-01-02.csv", "ingested_with_warnings", 1_000, "2026-01-02 06:00:00"),
           ("orders", "orders_2026-01-03.csv", "ingested", 1_100, "2026-01-03 06:00:00"),
           ("shipments", "shipments_2026-01-02.csv", "ingested", 300, "2026-01-02 06:00:00"),
           ("shipments", "shipments_2026-01-03.csv", "ingested", 200, "2026-01-03 06:00:00")],
        columns=["source", "path", "status", "rows_written", "ingested_at"],
    ).astype({"ingested_at": "datetime64[us]"})  # fmt: skip
    assert typical_rows_per_file(ledger) == {"customers": 50, "orders": 1_000, "shipments": 200}
    assert typical_rows_per_file(ledger, recent=1) == {"customers": 60, "orders": 1_100, "shipments": 200}


def test_orphans_are_flagged_not_dropped(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spark.createDataFrame([(1,), (2,)], "order_id bigint").write.format("delta").save(
        str(tmp_path / "silver" / "orders")
    )
    spark.createDataFrame([(10,), (11,)], "product_id bigint").write.format("delta").save(
        str(tmp_path / "silver" / "products")
    )
    rows = spark.createDataFrame(
        [(1, 1, 10), (2, 9, 10), (3, 2, 77)], "order_item_id bigint, order_id bigint, product_id bigint"
    )
    got = {
        r["order_item_id"]: r["_orphan_fks"]
        for r in with_orphan_flags(spark, str(tmp_path), rows, ORDER_ITEMS).collect()
    }
    assert got == {1: [], 2: ["order_id"], 3: ["product_id"]}

"""The metric_series builders on a few hand-written rows whose metrics are known."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from lakehouse.monitoring import metrics as m
from lakehouse.monitoring.definitions import METRICS


def rows(df: Any) -> dict[tuple[str, str, str], float | None]:
    return {(r["metric"], r["slice"], f"{r['period_start']:%Y-%m-%d %H}"): r["value"] for r in df.collect()}


def test_every_declared_metric_is_allowed_by_the_series_suite() -> None:
    suite = yaml.safe_load(
        (Path(__file__).parents[2] / "expectations" / "gold" / "metric_series.yaml").read_text()
    )
    allowed = next(
        e["kwargs"]["value_set"] for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "metric"
    )  # fmt: skip
    assert set(allowed) == set(METRICS)


def test_a_day_without_a_file_lands_zero_rows_and_problems_count(spark: Any) -> None:
    ledger = spark.createDataFrame(
        [
            ("orders/orders_2026-01-01.csv", "orders", "ingested", 100, 98, 2),
            ("orders/orders_2026-01-02.csv", "orders", "ingested_with_warnings", 50, 0, 50),
            ("shipments/shipments_2026-01-01.csv", "shipments", "ingested", 40, 40, 0),
            ("orders/orders_history_2025-12.csv", "orders", "ingested", 900, 900, 0),
        ],
        "path STRING, source STRING, status STRING, rows_read BIGINT, rows_written BIGINT, rows_quarantined BIGINT",
    )
    got = rows(m.ingest_series(ledger))
    assert got[("rows_landed", "orders", "2026-01-01 00")] == 98
    assert got[("rows_landed", "shipments", "2026-01-02 00")] == 0, "no shipments file that day"
    assert got[("file_problems", "orders", "2026-01-02 00")] == 1
    assert got[("quarantine_share", "orders", "2026-01-02 00")] == 1.0
    assert not any(k[2].startswith("2025-12") for k in got), "the history export is not a day's feed"


def test_events_arriving_after_their_hour_are_late_and_counted_where_they_arrive(spark: Any) -> None:
    at = dt.datetime(2026, 1, 1, 10, 15)
    events = spark.createDataFrame(
        [
            (at, dt.date(2026, 1, 1), "clickstream/date=2026-01-01/hour=10/events_2026-01-01T10.jsonl"),
            (at, dt.date(2026, 1, 1), "clickstream/date=2026-01-01/hour=12/events_2026-01-01T12.jsonl"),
            (at.replace(hour=12), dt.date(2026, 1, 1), "clickstream/date=2026-01-01/hour=12/events_2026-01-01T12.jsonl"),
        ],
        "event_ts TIMESTAMP, event_date DATE, _source_file STRING",
    )  # fmt: skip
    got = rows(m.event_series(events))
    assert got[("events_received", "all", "2026-01-01 12")] == 2
    assert got[("events_received", "all", "2026-01-01 10")] == 1
    assert abs(got[("late_event_share", "all", "2026-01-01 00")] - 1 / 3) < 1e-9
    assert got[("events", "all", "2026-01-01 00")] == 3


def test_orders_per_hour_by_payment_method_come_from_purchase_events(spark: Any) -> None:
    events = spark.createDataFrame(
        [("purchase", 1, dt.datetime(2026, 1, 1, 9, 5)), ("purchase", 2, dt.datetime(2026, 1, 1, 9, 50)),
         ("page_view", None, dt.datetime(2026, 1, 1, 9, 1)), ("purchase", 1, dt.datetime(2026, 1, 1, 9, 6))],
        "event_type STRING, order_id BIGINT, event_ts TIMESTAMP",
    )  # fmt: skip
    orders = spark.createDataFrame(
        [(1, "PayPal"), (2, "Credit Card")], "order_id BIGINT, payment_method STRING"
    )
    got = rows(m.payment_series(events, orders))
    assert got == {
        ("orders_by_payment_method", "PayPal", "2026-01-01 09"): 1,  # its event redelivered: one order
        ("orders_by_payment_method", "Credit Card", "2026-01-01 09"): 1,
    }

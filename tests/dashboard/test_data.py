"""The dashboard's figures on a few hand-written rows (pandas only: no browser, no Spark)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from lakehouse.dashboard import data


def _facts() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    orders = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5],
            "order_date_key": [20260101, 20260102, 20260108, 20260109, -1],
            "customer_sk": [11, 21, 12, 21, 11],
            "channel_sk": [1, 1, 2, 1, 1],
            "is_cancelled": [False, False, False, True, False],
            "revenue": [100.0, 50.0, 30.0, 0.0, 9.0],
            "units": [2, 1, 3, 1, 1],
        }
    )
    # Customer 1 moved from France to Spain between two orders; customer 2 is German.
    customers = pd.DataFrame(
        {"customer_sk": [11, 12, 21], "customer_id": [1, 1, 2], "country": ["France", "Spain", "Germany"]}
    )
    channels = pd.DataFrame({"channel_sk": [1, 2], "channel": ["web", "app"]})
    return orders, customers, channels


def test_a_lakes_counted_orders_are_computed_once_per_version_of_its_tables(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    lake = data.Lake(str(tmp_path))
    for name, df in zip(data.COUNTED_FROM, _facts(), strict=True):
        write_deltalake(lake.uri("gold", name), df)
    data._counted_orders_at.cache_clear()
    first = data.lake_counted_orders(lake)
    first["order_id"] = 0  # a caller's change stays the caller's
    again = data.lake_counted_orders(lake)
    assert data._counted_orders_at.cache_info().hits == 1 and list(again["order_id"]) == [1, 2, 3]
    more = _facts()[0].assign(order_id=[6, 7, 8, 9, 10])
    write_deltalake(lake.uri("gold", "fact_orders"), more, mode="append")  # a new version: computed again
    assert sorted(data.lake_counted_orders(lake)["order_id"]) == [1, 2, 3, 6, 7, 8]


def test_counted_orders_are_gold_daily_sales_orders_with_country_as_of_the_order() -> None:
    o = data.counted_orders(*_facts())
    assert list(o["order_id"]) == [1, 2, 3], "cancelled and undated orders do not count"
    assert list(o["country"]) == ["France", "Germany", "Spain"]
    assert list(o["is_new"]) == [True, True, False] and list(o["is_returning"]) == [False, False, True]
    daily = data.daily_sales(o)
    assert list(daily["revenue"]) == [100.0, 50.0, 30.0] and list(daily["new_customers"]) == [1, 1, 0]
    assert list(daily["average_order_value"]) == [100.0, 50.0, 30.0]


def test_headline_compares_with_the_period_before() -> None:
    o = data.counted_orders(*_facts())
    funnel = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-08"]),
            "sessions": [10, 30, 10],
            "purchase_sessions": [1, 1, 1],
        }
    )
    h = data.headline(o, funnel, dt.date(2026, 1, 3), dt.date(2026, 1, 9))
    assert (h.revenue, h.orders, h.average_order_value, h.new_customers) == (30.0, 1, 30.0, 0)
    assert h.conversion_rate == 0.05
    assert h.previous is not None and (h.previous.revenue, h.previous.orders) == (150.0, 2)
    assert h.change("revenue") == pytest.approx(-0.8) and h.change("new_customers") == -1.0
    assert h.previous.conversion_rate == 0.1 and h.change("conversion_rate") == pytest.approx(-0.5)
    empty = data.headline(o, None, dt.date(2025, 1, 1), dt.date(2025, 1, 2))
    assert empty.average_order_value is None and empty.change("revenue") is None


def test_retention_matrix_leaves_incomplete_periods_out() -> None:
    cohorts = pd.DataFrame(
        {
            "grain": ["month"] * 3 + ["week"],
            "cohort_start": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-02-01", "2026-01-05"]).date,
            "period": [0, 1, 0, 0],
            "retention_rate": [1.0, 0.25, 1.0, 1.0],
            "is_complete": [True, False, True, True],
        }
    )
    m = data.retention_matrix(cohorts, "month")
    assert list(m.index) == ["2026-01", "2026-02"] and list(m.columns) == [0]
    assert m.loc["2026-01", 0] == 1.0, "the incomplete January period 1 is not shown as a 25% retention"


def test_funnel_rates_add_up_over_any_filter() -> None:
    f = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-01-01", "2026-01-01"]),
            "sessions": [100, 50], "product_view_sessions": [60, 20], "add_to_cart_sessions": [10, 10],
            "checkout_start_sessions": [5, 4], "purchase_sessions": [3, 3],
        }
    )  # fmt: skip
    rates = data.conversion_over_time(f).iloc[0]
    assert rates["conversion_rate"] == 0.04 and rates["cart_abandonment_rate"] == 0.7
    steps = data.funnel_steps(f)
    assert list(steps["sessions"]) == [150, 80, 20, 9, 6] and steps["share_of_visits"].iloc[-1] == 0.04


def test_quarantine_runs_unknown_shares_and_freshness() -> None:
    q = pd.DataFrame(
        {
            "source": ["orders", "orders", "clickstream"],
            "reasons": [["missing:status"], ["invalid:order_date", "missing:status"], ["malformed_json"]],
            "quarantined_at": pd.to_datetime(["2026-01-02 10:00", "2026-01-02 11:00", "2026-01-03 01:00"]),
        }
    )
    by = data.quarantine_by_reason(q)
    assert set(map(tuple, by[["source", "reason", "rows"]].to_numpy().tolist())) == {
        ("orders", "missing", 1),
        ("orders", "invalid", 1),
        ("clickstream", "malformed_json", 1),
    }
    shares = data.unknown_shares({"fact_orders": pd.DataFrame({"customer_sk": [5, -1, 7, 8]})})
    assert shares.iloc[0].to_dict() == {
        "fact": "fact_orders",
        "key": "customer_sk",
        "unknown_share": 0.25,
        "rows": 4,
    }
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r1", "r2"], "started_at": pd.to_datetime(["2026-01-02 10:00", "2026-01-02 10:00", "2026-01-03 10:00"]),
            "seconds": [12.0, 12.0, 3.0], "files": [2, 1, 1], "files_rejected": [1, 0, 0], "rows_read": [10, 5, 4],
            "rows_written": [8, 5, 4], "rows_quarantined": [1, 0, 0], "duplicates": [1, 0, 0], "rows_held": [0, 0, 0],
            "validation": ["passed", "warnings", "passed"],
        }
    )  # fmt: skip
    s = data.runs_summary(runs)
    assert (
        list(s["run_id"]) == ["r2", "r1"]
        and s.iloc[1]["rows_read"] == 15
        and s.iloc[1]["validation"] == "warnings"
    )
    fresh = data.freshness(
        {"gold.fact_orders": dt.date(2026, 1, 9), "gold.fact_sessions": None}, dt.date(2026, 1, 10)
    )
    assert fresh["days_behind"].iloc[0] == 1 and pd.isna(fresh["days_behind"].iloc[1])


def test_labels_of_days_close_together_are_on_different_rows() -> None:
    from lakehouse.dashboard.figures import daily_revenue_and_orders, label_levels

    days = pd.to_datetime(pd.Series(["2025-12-25", "2025-11-28", "2025-12-01", "2025-12-24", "2025-11-27"]))
    # Thanksgiving, Black Friday and Cyber Monday (3 days on) in three rows; Christmas Eve and Day in two.
    levels = label_levels(days, 40)
    assert levels == [1, 1, 2, 0, 0]
    calendar = pd.DataFrame({"date": days.dt.date, "holiday_name": ["Christmas", "Black Friday", "Cyber Monday",
                                                                     "Christmas Eve", "Thanksgiving"]})  # fmt: skip
    daily = pd.DataFrame({"date": pd.date_range("2025-11-20", "2025-12-30"), "revenue": 1.0, "orders": 1})
    fig = daily_revenue_and_orders(daily, calendar)
    placed = {(a.x, a.y) for a in fig.layout.annotations}
    assert len(placed) == 5, "each label at its own place"
    assert len(fig.layout.shapes) == 5


def test_the_overviews_vega_lite_chart_has_each_day_and_each_marked_day() -> None:
    from lakehouse.dashboard.figures import daily_revenue_and_orders_spec

    calendar = pd.DataFrame({"date": pd.to_datetime(["2025-11-27", "2025-11-28", "2026-01-01"]).date,
                             "holiday_name": ["Thanksgiving", "Black Friday", "New Year's Day"]})  # fmt: skip
    daily = pd.DataFrame(
        {"date": pd.date_range("2025-11-24", "2025-11-30"), "revenue": [10.5] * 7, "orders": 2}
    )
    spec = daily_revenue_and_orders_spec(daily, calendar)
    assert [v["day"] for v in spec["data"]["values"]] == [f"2025-11-{d}" for d in range(24, 31)]
    assert spec["data"]["values"][0] == {"day": "2025-11-24", "revenue": 10.5, "orders": 2}
    bars, line = spec["layer"][0]["layer"]
    assert bars["mark"]["type"] == "bar" and bars["encoding"]["y"]["field"] == "revenue"
    assert line["mark"]["type"] == "line" and line["encoding"]["y"]["field"] == "orders"
    rules, labels = spec["layer"][1:]
    # Only the days shown are marked (New Year's Day is outside), each label on its own row.
    assert rules["data"]["values"] == labels["data"]["values"]
    assert [(m["day"], m["name"]) for m in labels["data"]["values"]] == [
        ("2025-11-27", "Thanksgiving"), ("2025-11-28", "Black Friday"),
    ]  # fmt: skip
    assert len({m["row"] for m in labels["data"]["values"]}) == 2
    assert len(daily_revenue_and_orders_spec(daily, None)["layer"]) == 1, "nothing to mark without a calendar"

"""The detector on series whose anomalies are known: weekly seasonality, the calendar's peaks, Poisson
noise, and what is injected into them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from lakehouse.core.calendar import WEEKDAY_DEMAND, holiday_multiplier
from lakehouse.monitoring.anomalies import detect, poisson_score, scored
from lakehouse.monitoring.definitions import METRICS

START = dt.date(2025, 9, 1)  # through Black Friday, Cyber Monday and December


def daily(
    metric: str, values: np.ndarray, slice_: str = "all", support: np.ndarray | None = None
) -> pd.DataFrame:
    days = pd.date_range(START, periods=len(values), freq="D")
    return pd.DataFrame(
        {"metric": metric, "slice": slice_, "grain": "day", "period_start": days, "value": values.astype(float),
         "support": (values if support is None else support).astype(np.int64)}
    )  # fmt: skip


def demand_counts(rng: np.random.Generator, days: int, level: float = 400.0) -> np.ndarray:
    """Orders a day as the shop's calendar drives them: weekdays, peaks, Poisson noise."""
    dates = [START + dt.timedelta(days=i) for i in range(days)]
    mean = np.array([level * WEEKDAY_DEMAND[d.weekday()] * holiday_multiplier(d) for d in dates])
    return rng.poisson(mean)


def test_the_calendar_s_peaks_are_not_anomalies() -> None:
    values = demand_counts(np.random.default_rng(1), 120)
    assert detect(daily("orders", values)).empty


def test_a_spike_is_one_anomaly_on_its_day() -> None:
    values = demand_counts(np.random.default_rng(2), 90)
    values[70] *= 3
    found = detect(daily("orders", values))
    assert len(found) == 1
    a = found.iloc[0]
    assert a["period_start"] == pd.Timestamp(START + dt.timedelta(days=70)) and a["direction"] == "high"
    assert a["observed"] == values[70] and a["expected"] < values[70] / 2 and a["severity"] == "critical"


def test_only_the_alert_direction_is_news() -> None:
    values = demand_counts(np.random.default_rng(3), 90)
    values[60] = values[60] * 3  # rows_landed alerts on drops only
    values[75] = 0
    found = detect(daily("rows_landed", values, "orders"))
    assert list(found["period_start"]) == [pd.Timestamp(START + dt.timedelta(days=75))]


def test_a_week_long_shift_no_day_of_which_stands_out_is_one_anomaly() -> None:
    rng = np.random.default_rng(4)
    n = np.full(100, 40)
    mean = 5.0 + rng.normal(0, 0.35, 100)
    mean[80:87] += 1.6  # about 3.5 spreads a day: no single day crosses the threshold
    found = detect(daily("days_to_deliver_by_carrier", mean, "UPS", n))
    assert len(found) == 1 and found.iloc[0]["direction"] == "high"
    assert pd.Timestamp(START + dt.timedelta(days=80)) <= found.iloc[0]["period_start"]
    assert found.iloc[0]["period_end"] <= pd.Timestamp(START + dt.timedelta(days=88))


def test_hours_without_orders_make_one_run() -> None:
    rng = np.random.default_rng(5)
    hours = pd.date_range("2025-10-01", periods=24 * 40, freq="h")
    shape = np.array([0.3] * 7 + [1.0] * 12 + [0.6] * 5)  # night, day, evening
    counts = rng.poisson(6.0 * shape[hours.hour])
    outage = (hours >= "2025-11-05 12:00") & (hours < "2025-11-05 17:00")
    counts[outage] = 0
    series = pd.DataFrame(
        {"metric": "orders_by_payment_method", "slice": "PayPal", "grain": "hour", "period_start": hours,
         "value": counts.astype(float), "support": counts}
    )  # fmt: skip
    found = detect(series[series["value"] > 0])  # hours without a row are hours without orders
    assert len(found) == 1
    a = found.iloc[0]
    assert a["period_start"] == pd.Timestamp("2025-11-05 12:00") and a["period_end"] == pd.Timestamp(
        "2025-11-05 17:00"
    )
    assert a["periods"] == 5 and a["observed"] == 0 and a["direction"] == "low"


def test_the_baseline_is_history_only() -> None:
    values = demand_counts(np.random.default_rng(6), 100)
    values[65] *= 3
    later = values.copy()
    later[66:] = later[66:] * 5  # whatever comes after cannot change how a day was judged
    a, b = (scored(daily("orders", v), METRICS["orders"], "day") for v in (values, later))
    pd.testing.assert_frame_equal(a.iloc[:66], b.iloc[:66])
    assert a.iloc[65]["score"] > 5


def test_a_problem_file_is_always_an_anomaly() -> None:
    problems = np.zeros(60, dtype=np.int64)
    problems[45] = 1
    found = detect(daily("file_problems", problems, "customers", np.full(60, 100)))
    assert list(found["period_start"]) == [pd.Timestamp(START + dt.timedelta(days=45))]


def test_poisson_scores_have_exact_tails() -> None:
    assert poisson_score(0, 25.0) < -6  # e^-25: rarer than a normal approximation's -5
    assert abs(poisson_score(25, 25.0)) < 0.2
    assert poisson_score(60, 25.0) > 5


def test_every_metric_is_declared_once_with_a_kind_and_direction() -> None:
    for m in METRICS.values():
        assert m.kind in ("count", "feed", "ratio", "mean", "zero") and m.alert in ("high", "low", "both")

"""The metrics the monitoring watches, each declared once with how it behaves, which the detector
(lakehouse.monitoring.anomalies) needs: whether it scales with the shop's demand (holiday peaks move it),
and which way an alert points. No Spark here: the dashboard reads it too."""

from __future__ import annotations

from dataclasses import dataclass

SERIES_COLUMNS = ("metric", "slice", "grain", "period_start", "value", "support")
# The metrics about the pipeline's own data (the dashboard's health page), the rest being the shop's.
PIPELINE_METRICS = ("events_received", "late_event_share", "rows_landed", "file_problems", "quarantine_share",
                    "orphan_share")  # fmt: skip
ALL = "all"  # the slice of a metric over everything


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    # count | feed (a count in a fixed band) | ratio (a share of `support`) | mean (over `support`) |
    # zero (anything above 0 is wrong)
    kind: str
    alert: str  # high | low | both: the direction that is news
    calendar: bool = False  # scales with demand: the known calendar's peaks move its baseline
    min_change: float = 0.3  # the smallest change worth an alert (relative; absolute for ratios)
    min_support: int = 20  # counts and means: periods usually built on fewer are too thin to alert on


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("orders", "orders placed (cancelled included: a cancellation lands days later)", "count", "both", True),
        Metric("revenue", "value of the orders placed, in USD", "count", "both", True),
        Metric("average_order_value", "value per order placed, in USD", "mean", "both"),
        Metric("revenue_by_category", "value of the order lines placed, by product category", "count", "both", True, 2.0),
        Metric("price_index_by_category", "price paid over list price of the units sold, by product category", "mean", "both", False, 0.3, 5),
        Metric("orders_by_payment_method", "online orders by the hour of their purchase event, by payment method", "count", "low", True, 0.6, 12),
        Metric("sessions", "clickstream sessions by the day they started", "count", "both", True),
        Metric("page_views", "pages viewed in the day's sessions", "count", "both", True),
        Metric("conversion_rate", "share of sessions that purchased", "ratio", "both", False, 0.006),
        Metric("cart_abandonment", "share of sessions with a cart that did not purchase", "ratio", "high", False, 0.08),
        Metric("checkout_abandonment", "share of sessions that reached checkout and did not purchase", "ratio", "high", False, 0.1),
        Metric("events", "clickstream events by the day they happened", "count", "both", True),
        Metric("events_received", "clickstream events by the hour of the file they arrived in", "count", "both", True, 0.8),
        Metric("late_event_share", "share of a day's arriving events that belong to an earlier hour", "ratio", "high", False, 0.02),
        Metric("days_to_deliver_by_carrier", "days from order to delivery of the orders delivered that day, by carrier of their last parcel", "mean", "high", False, 0.4),
        Metric("stock_outs_by_warehouse", "products with no available stock in the weekly snapshot, by warehouse", "count", "high", False, 0.5),
        Metric("rows_landed", "bronze rows written to silver, by source and the day of their file", "feed", "low", False, 0.8),
        Metric("file_problems", "bronze files rejected or ingested with warnings, by source", "zero", "high"),
        Metric("quarantine_share", "share of a source's rows of the day quarantined", "ratio", "high", False, 0.05),
        Metric("orphan_share", "share of a source's rows of the day whose parent was never seen", "ratio", "high", False, 0.05),
    )
}  # fmt: skip

"""Charts the dashboard and the offline report share (Plotly figures, and the Overview's chart as a
Vega-Lite spec, from the frames in lakehouse.dashboard.data)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

REVENUE, ORDERS = "#0068c9", "#83c9ff"  # the first two of Streamlit's chart colours (its other pages')
PEAK_LINE, PEAK_TEXT = "#d62728", "#b42318"


def marked_days(daily: pd.DataFrame, calendar: pd.DataFrame | None) -> list[tuple[pd.Timestamp, str, int]]:
    """The calendar's holidays and peaks within the days shown: (day, name, label row)."""
    if calendar is None or not len(daily):
        return []
    days = pd.to_datetime(calendar["date"])
    peaks = calendar[
        calendar["holiday_name"].notna() & days.between(daily["date"].min(), daily["date"].max())
    ]
    span = max((daily["date"].max() - daily["date"].min()).days, 1)
    levels = label_levels(pd.to_datetime(peaks["date"]), span)
    return [(pd.Timestamp(day), str(name), level) for (day, name), level in
            zip(peaks[["date", "holiday_name"]].itertuples(index=False, name=None), levels, strict=True)]  # fmt: skip


def daily_revenue_and_orders(daily: pd.DataFrame, calendar: pd.DataFrame | None = None) -> go.Figure:
    """Revenue bars and an orders line per day, with the calendar's holidays and peaks marked (Plotly:
    the offline report's charts)."""
    fig = go.Figure()
    fig.add_bar(x=daily["date"], y=daily["revenue"], name="Revenue ($)", yaxis="y")
    fig.add_scatter(x=daily["date"], y=daily["orders"], name="Orders", yaxis="y2", mode="lines+markers")
    fig.update_layout(title="Daily revenue and orders", yaxis={"title": "Revenue ($)", "tickformat": "$,.0f"},
                      yaxis2={"title": "Orders", "overlaying": "y", "side": "right", "rangemode": "tozero", "tickformat": ",d"},
                      xaxis={"title": "Day"}, legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"})  # fmt: skip
    for day, name, level in marked_days(daily, calendar):
        fig.add_vline(x=day, line_dash="dot", line_color=PEAK_LINE)
        fig.add_annotation(x=day, y=1 - 0.08 * level, yref="paper", text=name, showarrow=False, xanchor="left",
                           font={"size": 11, "color": PEAK_TEXT}, bgcolor="rgba(255,255,255,0.7)")  # fmt: skip
    return fig


def daily_revenue_and_orders_spec(
    daily: pd.DataFrame, calendar: pd.DataFrame | None = None
) -> dict[str, Any]:
    """The same chart as a Vega-Lite spec (the dashboard's first page: Streamlit's Vega chunk is a sixth
    of its Plotly chunk, which a first visitor's browser would otherwise load before the page is usable)."""
    values = [{"day": d.strftime("%Y-%m-%d"), "revenue": float(r), "orders": int(o)}
              for d, r, o in zip(daily["date"], daily["revenue"], daily["orders"], strict=True)]  # fmt: skip
    marks = [
        {"day": d.strftime("%Y-%m-%d"), "name": n, "row": lvl} for d, n, lvl in marked_days(daily, calendar)
    ]
    day = {"field": "day", "type": "temporal", "timeUnit": "yearmonthdate"}
    x = {**day, "title": "Day", "axis": {"format": "%b %d", "labelAngle": 0}}
    series = {"domain": ["Revenue ($)", "Orders"], "range": [REVENUE, ORDERS]}
    tooltip = [{**day, "title": "Day"},
               {"field": "revenue", "type": "quantitative", "format": "$,.2f", "title": "Revenue"},
               {"field": "orders", "type": "quantitative", "format": ",d", "title": "Orders"}]  # fmt: skip
    layers: list[dict[str, Any]] = [
        {"layer": [
            {"mark": {"type": "bar", "opacity": 0.85},
             "encoding": {"x": {**x, "bandPosition": 0},
                          "y": {"field": "revenue", "type": "quantitative", "title": "Revenue ($)", "axis": {"format": "$,.0f"}},
                          "color": {"datum": "Revenue ($)", "scale": series, "legend": {"orient": "top", "title": None}},
                          "tooltip": tooltip}},
            {"mark": {"type": "line", "point": True},
             "encoding": {"x": x,
                          "y": {"field": "orders", "type": "quantitative", "title": "Orders", "axis": {"format": ",d", "orient": "right"}},
                          "color": {"datum": "Orders", "scale": series}, "tooltip": tooltip}},
        ], "resolve": {"scale": {"y": "independent"}}},
    ]  # fmt: skip
    if marks:
        layers += [
            {"data": {"values": marks}, "mark": {"type": "rule", "strokeDash": [2, 3], "color": PEAK_LINE},
             "encoding": {"x": day}},
            {"data": {"values": marks}, "mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 11, "color": PEAK_TEXT},
             "encoding": {"x": day,
                          "y": {"field": "row", "type": "quantitative", "scale": {"domain": [-0.5, 9.5], "reverse": True}, "axis": None},
                          "text": {"field": "name"}}},
        ]  # fmt: skip
    return {
        "title": "Daily revenue and orders",
        "data": {"values": values},
        "height": 380,
        "layer": layers,
        "resolve": {"scale": {"y": "independent"}},
    }


def label_levels(days: pd.Series, span_days: int, levels: int = 4) -> list[int]:
    """A row for each marked day's label (in the order given), so that labels of days close together
    (closer than a tenth of the chart's span: Black Friday and Cyber Monday, Christmas Eve and Day) do
    not overlap."""
    near = max(span_days / 10, 1.5)
    level, last, row = 0, None, {}
    for i, day in days.sort_values().items():
        level = (level + 1) % levels if last is not None and (day - last).days < near else 0
        row[i], last = level, day
    return [row[i] for i in days.index]


def scores_over_runs(cards: pd.DataFrame) -> go.Figure:
    """The quality score of each table (`table` column) over its validations."""
    return px.line(cards, x="validated_at", y="overall", color="table", markers=True, title="Quality score per table over runs",
                   labels={"validated_at": "Validated at", "overall": "Score (0-100)", "table": ""})  # fmt: skip

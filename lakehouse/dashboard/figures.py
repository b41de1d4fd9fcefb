"""Charts the dashboard and the offline report share (Plotly figures from the frames in
lakehouse.dashboard.data)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go


def daily_revenue_and_orders(daily: pd.DataFrame, calendar: pd.DataFrame | None = None) -> go.Figure:
    """Revenue bars and an orders line per day, with the calendar's holidays and peaks marked."""
    fig = go.Figure()
    fig.add_bar(x=daily["date"], y=daily["revenue"], name="Revenue ($)", yaxis="y")
    fig.add_scatter(x=daily["date"], y=daily["orders"], name="Orders", yaxis="y2", mode="lines+markers")
    fig.update_layout(title="Daily revenue and orders", yaxis={"title": "Revenue ($)", "tickformat": "$,.0f"},
                      yaxis2={"title": "Orders", "overlaying": "y", "side": "right", "rangemode": "tozero", "tickformat": ",d"},
                      xaxis={"title": "Day"}, legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"})  # fmt: skip
    if calendar is not None and len(daily):
        days = pd.to_datetime(calendar["date"])
        peaks = calendar[
            calendar["holiday_name"].notna() & days.between(daily["date"].min(), daily["date"].max())
        ]
        span = max((daily["date"].max() - daily["date"].min()).days, 1)
        for (day, name), level in zip(peaks[["date", "holiday_name"]].itertuples(index=False, name=None),
                                      label_levels(pd.to_datetime(peaks["date"]), span), strict=True):  # fmt: skip
            fig.add_vline(x=pd.Timestamp(day), line_dash="dot", line_color="#d62728")
            fig.add_annotation(x=pd.Timestamp(day), y=1 - 0.08 * level, yref="paper", text=name, showarrow=False,
                               xanchor="left", font={"size": 11, "color": "#b42318"}, bgcolor="rgba(255,255,255,0.7)")  # fmt: skip
    return fig


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

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
        for _, d in peaks.iterrows():
            fig.add_vline(x=pd.Timestamp(d["date"]).timestamp() * 1000, line_dash="dot", line_color="#d62728",
                          annotation_text=d["holiday_name"], annotation_position="top left")  # fmt: skip
    return fig


def scores_over_runs(cards: pd.DataFrame) -> go.Figure:
    """The quality score of each table (`table` column) over its validations."""
    return px.line(cards, x="validated_at", y="overall", color="table", markers=True, title="Quality score per table over runs",
                   labels={"validated_at": "Validated at", "overall": "Score (0-100)", "table": ""})  # fmt: skip

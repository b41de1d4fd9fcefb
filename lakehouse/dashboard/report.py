"""`lakehouse report`: one self-contained HTML file (styles, data and Plotly's script inline, nothing
fetched) with the Overview, the quality scorecard and the last runs, to mail or archive."""

from __future__ import annotations

import datetime as dt
import html

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from lakehouse.dashboard import data, figures

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-bottom: 1.5rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f4f4f4; }
.bad { color: #b00020; font-weight: 600; } .warn { color: #a15c00; } .missing { color: #666; font-style: italic; }
"""


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, na_rep="", escape=True)


def _figure(fig: go.Figure) -> str:
    fig.update_layout(margin={"l": 10, "r": 10, "t": 50, "b": 10}, height=420, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _missing(what: str, root: str) -> str:
    return f'<p class="missing">{html.escape(what)} not built yet: run <code>lakehouse run all --root {html.escape(root)}</code>.</p>'


def headline_table(h: data.Headline) -> pd.DataFrame:
    def money(v: float | None) -> str:
        return "" if v is None else f"${v:,.2f}"

    def pct(v: float | None) -> str:
        return "" if v is None else f"{v:.2%}"

    p = h.previous
    rows = [
        ("Revenue", money(h.revenue), money(p.revenue if p else None), h.change("revenue")),
        ("Orders", f"{h.orders:,}", f"{p.orders:,}" if p else "", h.change("orders")),
        ("Average order value", money(h.average_order_value), money(p.average_order_value if p else None), h.change("average_order_value")),
        ("Conversion", pct(h.conversion_rate), pct(p.conversion_rate if p else None), h.change("conversion_rate")),
        ("New customers", f"{h.new_customers:,}", f"{p.new_customers:,}" if p else "", h.change("new_customers")),
    ]  # fmt: skip
    return pd.DataFrame(
        [(m, v, b, "" if c is None else f"{c:+.1%}") for m, v, b, c in rows],
        columns=["metric", "period", "period before", "change"],
    )


def latest_scorecard(cards: pd.DataFrame) -> pd.DataFrame:
    """Each table's latest validation: rows, score, failed expectations, published."""
    last = data.latest_per_table(cards)
    out = last[
        [
            "layer",
            "table_name",
            "rows",
            "overall",
            "failed_critical",
            "failed_warning",
            "published",
            "validated_at",
        ]
    ]
    return out.sort_values(["layer", "table_name"]).rename(
        columns={"table_name": "table", "overall": "score"}
    )


def build_report(root: str, days: int = 7) -> str:
    lake = data.Lake(root)
    body: list[str] = []
    read = lake.read
    orders, customers, channels = (
        read("gold", "fact_orders"),
        read("gold", "dim_customer"),
        read("gold", "dim_channel"),
    )
    through = ""
    body.append("<h2>Overview</h2>")
    if orders is None or customers is None or channels is None:
        body.append(_missing("gold.fact_orders", root))
    else:
        counted = data.counted_orders(orders, customers, channels)
        if counted.empty:
            body.append('<p class="missing">No counted orders yet.</p>')
        else:
            end = counted["date"].max().date()
            start = end - dt.timedelta(days=days - 1)
            through = f"data through {end}"
            funnel = read("gold", "kpi_conversion_funnel")
            h = data.headline(counted, data.funnel_by_day(funnel) if funnel is not None else None, start, end)
            body.append(
                f"<p>{start} to {end}, against the {days} days before.</p>" + _table(headline_table(h))
            )
            daily = data.daily_sales(counted)
            body.append(_figure(figures.daily_revenue_and_orders(daily.tail(60), read("gold", "dim_date"))))
    body.append("<h2>Data quality</h2>")
    cards = read("gold", "dq_scorecard")
    if cards is None:
        body.append(_missing("gold.dq_scorecard", root))
    else:
        cards["table"] = cards["layer"] + "." + cards["table_name"]
        body.append(
            _table(latest_scorecard(cards))
            + _figure(figures.scores_over_runs(cards.sort_values("validated_at")))
        )
    body.append("<h2>Last runs</h2>")
    runs = read("silver", "ingest_runs")
    body.append(
        _table(data.runs_summary(runs).head(10)) if runs is not None else _missing("silver.ingest_runs", root)
    )
    builds = read("gold", "_build_log")
    if builds is not None:
        body.append(
            "<h3>Gold builds</h3>"
            + _table(
                builds.drop(columns=["silver_versions"]).sort_values("built_at", ascending=False).head(10)
            )
        )
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Lakehouse report</title>'
        f"<style>{STYLE}</style><script>{plotly.offline.get_plotlyjs()}</script></head><body>"
        f'<h1>Lakehouse report</h1><div class="meta">{html.escape(root)} &middot; {through} &middot; made {made}</div>'
        + "\n".join(body)
        + "</body></html>\n"
    )

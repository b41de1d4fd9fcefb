"""The lakehouse dashboard: `lakehouse dashboard [--root URI] [--port N]` serves this Streamlit app.

Each page reads the gold, quality and run tables it needs with delta-rs (cached by table version, so a
new pipeline run shows on the next interaction) and computes its figures with lakehouse.dashboard.data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from lakehouse.bronze.contract import file_date
from lakehouse.dashboard import data, figures
from lakehouse.monitoring.definitions import PIPELINE_METRICS


def _root() -> str:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--root", required=True)
    return p.parse_known_args(sys.argv[1:])[0].root


ROOT = ""  # set by main(), from the command line Streamlit passes on
LAKE = data.Lake(ROOT)


@st.cache_data(show_spinner=False, max_entries=64)
def _read(
    root: str, layer: str, name: str, columns: tuple[str, ...] | None, version: int
) -> pd.DataFrame | None:
    return data.Lake(root).read(layer, name, columns)


def table(layer: str, name: str, columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    version = LAKE.version(layer, name)
    return None if version is None else _read(ROOT, layer, name, columns, version)


def require(*tables: tuple[str, str]) -> bool:
    """Whether the tables a page needs exist (from their logs: nothing is read); when some do not, say
    which and what to run."""
    missing = [f"{layer}.{name}" for layer, name in tables if LAKE.version(layer, name) is None]
    if missing:
        job = (
            "lakehouse run all"
            if any(m.startswith("silver") for m in missing)
            else "lakehouse run silver_to_gold"
        )
        st.warning(
            f"Not built yet under `{ROOT}`: {', '.join(missing)}. Generate data and run the pipeline: "
            f"`lakehouse generate --root {ROOT}` then `{job} --root {ROOT}`."
        )
    return not missing


def counted_orders() -> pd.DataFrame:
    """gold's counted orders with country, channel and new/returning, computed once per version of the
    tables they come from (not on every interaction; `lakehouse dashboard` computes them before the
    first visitor arrives)."""
    return data.lake_counted_orders(LAKE)


def show_table(df: pd.DataFrame, name: str, **kw: object) -> None:
    st.dataframe(df, hide_index=True, width="stretch", **kw)
    st.download_button(
        f"Download {name}.csv", df.to_csv(index=False).encode(), f"{name}.csv", "text/csv", key=f"csv-{name}"
    )


def chart(fig: go.Figure, key: str) -> None:
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend_title_text="")
    st.plotly_chart(fig, width="stretch", key=key)


def pick(label: str, values: pd.Series, key: str) -> list[str]:
    """A sidebar multiselect; nothing selected means everything."""
    options = sorted(v for v in values.dropna().unique())
    return st.sidebar.multiselect(label, options, key=key) or options


def period(dates: pd.Series, key: str, default_days: int = 7) -> tuple[dt.date, dt.date]:
    lo, hi = dates.min().date(), dates.max().date()
    start = max(lo, hi - dt.timedelta(days=default_days - 1))
    got = st.sidebar.date_input("Period", (start, hi), min_value=lo, max_value=hi, key=key)
    return (got[0], got[1]) if isinstance(got, tuple) and len(got) == 2 else (start, hi)


def _pct(change: float | None) -> str | None:
    return None if change is None else f"{change:+.1%}"


def overview() -> None:
    st.title("Overview")
    if not require(
        ("gold", "fact_orders"), ("gold", "dim_customer"), ("gold", "dim_channel"), ("gold", "dim_date")
    ):
        return
    orders = counted_orders()
    if orders.empty:
        st.info("No counted orders in gold.fact_orders yet.")
        return
    start, end = period(orders["date"], "overview-period")
    countries = pick("Country", orders["country"], "overview-country")
    channels = pick("Channel", orders["channel"], "overview-channel")
    orders = orders[orders["country"].isin(countries) & orders["channel"].isin(channels)]
    funnel_kpi = table("gold", "kpi_conversion_funnel")
    funnel = None
    if funnel_kpi is not None:
        funnel = data.funnel_by_day(funnel_kpi)
        funnel = funnel[
            funnel["traffic_source"].isin(pick("Traffic source", funnel["traffic_source"], "overview-source"))
        ]
    h = data.headline(orders, funnel, start, end)
    days = (end - start).days + 1
    st.caption(f"{start} to {end} ({days} days), against the {days} days before. Lake: `{ROOT}`")
    cols = st.columns(5)
    cols[0].metric("Revenue", f"${h.revenue:,.0f}", _pct(h.change("revenue")), help=f"${h.revenue:,.2f}")
    cols[1].metric("Orders", f"{h.orders:,}", _pct(h.change("orders")))
    cols[2].metric(
        "Average order value",
        f"${h.average_order_value:,.2f}" if h.average_order_value else "-",
        _pct(h.change("average_order_value")),
    )
    cols[3].metric(
        "Conversion",
        f"{h.conversion_rate:.2%}" if h.conversion_rate is not None else "-",
        _pct(h.change("conversion_rate")),
        help="purchase sessions over sessions (all countries: sessions carry no billing country)",
    )
    cols[4].metric("New customers", f"{h.new_customers:,}", _pct(h.change("new_customers")))
    daily = data.daily_sales(orders)
    shown = daily[(daily["date"] >= pd.Timestamp(start)) & (daily["date"] <= pd.Timestamp(end))]
    spec = figures.daily_revenue_and_orders_spec(shown, table("gold", "dim_date"))
    st.vega_lite_chart(spec, width="stretch", key="overview-daily")
    show_table(shown.assign(date=shown["date"].dt.date), "daily_sales")


def products() -> None:
    st.title("Products and categories")
    if not require(("gold", "kpi_top_products_monthly"), ("gold", "kpi_revenue_by_category_country_month")):
        return
    top = table("gold", "kpi_top_products_monthly")
    months = sorted(top["month"].unique())
    month = st.sidebar.selectbox("Month", months, index=len(months) - 1, key="products-month")
    m = top[top["month"] == month]
    left, right = st.columns(2)
    by_rev = m.nsmallest(10, "revenue_rank").sort_values("revenue")
    with left:
        chart(px.bar(by_rev, x="revenue", y="name", orientation="h", title=f"Top products by revenue, {month}",
                     labels={"revenue": "Revenue ($)", "name": ""}), "products-revenue")  # fmt: skip
    by_units = m.nsmallest(10, "units_rank").sort_values("units")
    with right:
        chart(px.bar(by_units, x="units", y="name", orientation="h", title=f"Top products by units, {month}",
                     labels={"units": "Units", "name": ""}), "products-units")  # fmt: skip
    cat = table("gold", "kpi_revenue_by_category_country_month")
    cat = cat[cat["country"].isin(pick("Country", cat["country"], "products-country"))]
    cat = cat[cat["category"].isin(pick("Category", cat["category"], "products-category"))]
    per = cat.groupby(["month", "category"], as_index=False)[["revenue", "units", "orders"]].sum()
    chart(px.bar(per, x="month", y="revenue", color="category", title="Revenue by category and month",
                 labels={"revenue": "Revenue ($)", "month": "Month"}), "products-by-category")  # fmt: skip
    lines, dims = (
        table("gold", "fact_order_items", ("product_sk", "revenue", "order_date_key")),
        table("gold", "dim_product", ("product_sk", "list_price")),
    )
    if lines is not None and dims is not None:
        lines = lines[lines["revenue"] > 0].merge(dims, on="product_sk", how="left")
        lines["price_band"] = data.price_band(lines["list_price"])
        lines["month"] = data.to_date(lines["order_date_key"]).dt.strftime("%Y-%m")
        mix = lines.groupby(["month", "price_band"], as_index=False)["revenue"].sum()
        chart(px.bar(mix, x="month", y="revenue", color="price_band", title="Revenue by list-price band",
                     labels={"revenue": "Revenue ($)", "month": "Month", "price_band": "List price"}), "products-bands")  # fmt: skip
    show_table(m.sort_values("revenue_rank"), f"top_products_{month}")


def customers() -> None:
    st.title("Customers")
    if not require(
        ("gold", "kpi_retention_cohorts"),
        ("gold", "kpi_customer_value"),
        ("gold", "fact_orders"),
        ("gold", "dim_customer"),
        ("gold", "dim_channel"),
    ):
        return
    grain = st.sidebar.radio("Cohorts by", ["month", "week"], key="customers-grain")
    matrix = data.retention_matrix(table("gold", "kpi_retention_cohorts"), grain)
    fig = px.imshow(matrix, aspect="auto", color_continuous_scale="Blues", text_auto=".0%",
                    labels={"x": f"{grain}s since first order", "y": "cohort (first order)", "color": "retained"},
                    title=f"Retention by {grain}ly cohort (complete periods only)", range_color=(0, 1))  # fmt: skip
    fig.update_xaxes(type="category").update_yaxes(type="category").update_coloraxes(
        colorbar_tickformat=".0%"
    )
    chart(fig, "customers-retention")
    value = table("gold", "kpi_customer_value")
    seg = value.groupby("segment", as_index=False).agg(
        customers=("customer_id", "size"), revenue=("revenue_to_date", "sum")
    )
    left, right = st.columns(2)
    with left:
        chart(px.bar(seg.sort_values("customers"), x="customers", y="segment", orientation="h", title="RFM segments",
                     labels={"customers": "Customers", "segment": ""}, hover_data={"revenue": ":$,.2f"}), "customers-rfm")  # fmt: skip
    with right:
        chart(px.histogram(value, x="revenue_to_date", nbins=60, log_y=True, title="Customer value (revenue to date)",
                           labels={"revenue_to_date": "Revenue to date ($)"}).update_yaxes(dtick=1, title="Customers (log scale)"), "customers-value")  # fmt: skip
    orders = counted_orders()
    nvr = data.new_vs_returning(data.daily_sales(orders), "W-MON" if grain == "week" else "MS")
    chart(px.line(nvr, x="period", y=["new_customers", "returning_customers"], markers=True, title=f"New and returning customers per {grain}",
                  labels={"period": grain.capitalize(), "value": "Customers", "variable": ""}), "customers-nvr")  # fmt: skip
    show_table(seg, "rfm_segments")


def funnel() -> None:
    st.title("Funnel")
    if not require(("gold", "kpi_conversion_funnel")):
        return
    f = data.funnel_by_day(table("gold", "kpi_conversion_funnel"))
    start, end = period(f["date"], "funnel-period", 30)
    f = f[(f["date"] >= pd.Timestamp(start)) & (f["date"] <= pd.Timestamp(end))]
    f = f[f["traffic_source"].isin(pick("Traffic source", f["traffic_source"], "funnel-source"))]
    f = f[f["device"].isin(pick("Device", f["device"], "funnel-device"))]
    steps = data.funnel_steps(f)
    chart(px.funnel(steps, x="sessions", y="step", title=f"Sessions through the funnel, {start} to {end}",
                    labels={"sessions": "Sessions", "step": ""}), "funnel-steps")  # fmt: skip
    rates = data.conversion_over_time(f)
    chart(px.line(rates, x="date", y=["conversion_rate", "cart_abandonment_rate"], markers=True, title="Conversion and cart abandonment",
                  labels={"date": "Day", "value": "Rate", "variable": ""}).update_yaxes(tickformat=".0%"), "funnel-rates")  # fmt: skip
    by = f.groupby(["traffic_source", "device"], as_index=False)[[c for c, _ in data.STEPS]].sum()
    by["conversion_rate"] = (by["purchase_sessions"] / by["sessions"]).round(4)
    show_table(by.sort_values("sessions", ascending=False), "funnel_by_source_and_device")


def operations() -> None:
    st.title("Operations")
    inv, ship = table("gold", "kpi_inventory_health"), table("gold", "kpi_shipping_performance")
    if inv is None and ship is None:
        require(("gold", "kpi_inventory_health"), ("gold", "kpi_shipping_performance"))
        return
    if inv is not None and len(inv):
        inv = inv[inv["warehouse_id"].isin(pick("Warehouse", inv["warehouse_id"], "ops-warehouse"))]
        # Weekly snapshots as categories: one bar per warehouse and Sunday, however few Sundays there are.
        weeks = inv.assign(snapshot=pd.to_datetime(inv["snapshot_date"]).dt.strftime("%Y-%m-%d")).sort_values(
            "snapshot"
        )
        left, right = st.columns(2)
        with left:
            chart(px.bar(weeks, x="snapshot", y="stock_outs", color="warehouse_id", barmode="group", title="Stock-outs per warehouse (nothing available)",
                         labels={"snapshot": "Snapshot (Sunday)", "stock_outs": "Products out of stock", "warehouse_id": ""}).update_xaxes(type="category"), "ops-stockouts")  # fmt: skip
        with right:
            chart(px.bar(weeks, x="snapshot", y="median_days_of_cover", color="warehouse_id", barmode="group", title="Median days of cover",
                         labels={"snapshot": "Snapshot (Sunday)", "median_days_of_cover": "Days", "warehouse_id": ""}).update_xaxes(type="category"), "ops-cover")  # fmt: skip
        latest = inv[inv["snapshot_date"] == inv["snapshot_date"].max()]
        show_table(latest, "inventory_health_latest")
    else:
        st.info("No inventory snapshots in gold yet (the weekly workbooks arrive on Sundays).")
    if ship is not None and len(ship):
        carriers = pick("Carrier", ship["carrier"], "ops-carrier")
        ship = ship[ship["carrier"].isin(carriers)]
        per = ship.groupby("carrier", as_index=False).apply(
            lambda g: pd.Series({"shipments": g["shipments"].sum(), "avg_days_to_ship": (g["avg_days_to_ship"] * g["shipments"]).sum() / g["shipments"].sum(),
                                 "avg_days_to_deliver": (g["avg_days_to_deliver"] * g["orders"]).sum() / g["orders"].sum(),
                                 "cost_per_order": g["shipping_cost"].sum() / g["orders"].sum()}), include_groups=False)  # fmt: skip
        days = per.rename(columns={"avg_days_to_ship": "to ship", "avg_days_to_deliver": "to deliver"})
        chart(px.bar(days.melt(id_vars="carrier", value_vars=["to ship", "to deliver"]), x="carrier", y="value", color="variable",
                     barmode="group", title="Days to ship and to deliver by carrier", labels={"value": "Days", "carrier": "", "variable": ""}), "ops-carriers")  # fmt: skip
        show_table(per.round(2), "shipping_by_carrier")


def quality() -> None:
    st.title("Data quality")
    if require(("gold", "dq_scorecard"), ("gold", "dq_results")):
        expectations()
    anomalies(key="dq-anomalies")


def expectations() -> None:
    """The suites' scores over runs, failed expectations, quarantine, unknown members."""
    cards = table("gold", "dq_scorecard").sort_values("validated_at")
    cards["table"] = cards["layer"] + "." + cards["table_name"]
    tables = st.sidebar.multiselect("Tables", sorted(cards["table"].unique()), key="dq-tables") or sorted(
        cards["table"].unique()
    )
    cards = cards[cards["table"].isin(tables)]
    chart(figures.scores_over_runs(cards), "dq-scores")
    results = table("gold", "dq_results")
    latest = data.latest_per_table(results)
    latest = latest[~latest["success"].astype(bool)]
    st.subheader("Failed and warning expectations in each table's latest run")
    show_table(
        latest[
            [
                "layer",
                "table_name",
                "severity",
                "expectation",
                "observed_value",
                "unexpected_count",
                "element_count",
                "published",
                "run_id",
            ]
        ].sort_values(["severity", "layer", "table_name"]),
        "failed_expectations",
    )
    q = table("silver", "quarantine", ("source", "reasons", "quarantined_at"))
    by = data.quarantine_by_reason(q) if q is not None else pd.DataFrame()
    if len(by):
        chart(px.bar(by, x="day", y="rows", color="reason", facet_col="source", facet_col_wrap=4, title="Quarantined rows by source and reason",
                     labels={"day": "Quarantined on", "rows": "Rows", "reason": ""}), "dq-quarantine")  # fmt: skip
    facts = {
        n: df
        for n in ("fact_order_items", "fact_orders", "fact_shipments")
        if (df := table("gold", n)) is not None
    }
    shares = data.unknown_shares(facts)
    if len(shares):
        chart(px.bar(shares, x="unknown_share", y="key", color="fact", orientation="h", barmode="group", title="Share of fact rows pointing to an unknown member",
                     labels={"unknown_share": "Share of rows", "key": ""}).update_xaxes(tickformat=".1%"), "dq-unknown")  # fmt: skip


def anomalies(only: tuple[str, ...] | None = None, key: str = "anomalies") -> None:
    """gold.metric_anomalies (all, or only these metrics): when and how far each metric left its band."""
    from lakehouse.monitoring.read import filtered

    st.subheader("Anomalies the monitoring found" + (" in the pipeline's own numbers" if only else ""))
    found = table("gold", "metric_anomalies")
    if found is None:
        st.info(f"gold.metric_anomalies is not built yet: run `lakehouse run silver-to-gold --root {ROOT}`.")
        return
    for col in ("period_start", "period_end"):
        found[col] = pd.to_datetime(found[col], utc=True).dt.tz_localize(None)
    found = filtered(found if only is None else found[found["metric"].isin(only)])
    if not len(found):
        st.info(
            "No anomalies: every watched metric stayed in its band (a series is watched after four weeks)."
        )
        return
    shown = found.assign(
        size=found["score"].abs().clip(upper=50), what=found["metric"] + " · " + found["slice"]
    )
    chart(px.scatter(shown, x="period_start", y="what", color="severity", size="size", hover_data=["observed", "expected", "score", "periods", "grain"],
                     color_discrete_map={"warning": "#f2a900", "critical": "#d62728"}, title="Anomalies by metric and slice (size: |score|)",
                     labels={"period_start": "Period", "what": ""}), f"{key}-chart")  # fmt: skip
    show_table(found.drop(columns=["method"]), key)


def health() -> None:
    st.title("Pipeline health")
    if not require(("silver", "ingest_runs"), ("silver", "_ingest_ledger")):
        return
    runs = data.runs_summary(table("silver", "ingest_runs"))
    chart(px.bar(runs, x="started_at", y="seconds", color="validation", title="bronze_to_silver runs: duration and verdict",
                 labels={"started_at": "Started at", "seconds": "Seconds", "validation": ""}, hover_data=["run_id", "rows_read", "rows_written"]), "health-runs")  # fmt: skip
    st.subheader("bronze_to_silver runs")
    show_table(runs, "ingest_runs")
    builds = table("gold", "_build_log")
    if builds is not None:
        st.subheader("silver_to_gold builds")
        show_table(
            builds.drop(columns=["silver_versions"]).sort_values("built_at", ascending=False), "gold_builds"
        )
    ledger = table("silver", "_ingest_ledger")
    rejected = ledger[ledger["status"] == "rejected"]
    st.subheader(f"Rejected files ({len(rejected)})")
    show_table(rejected[["path", "source", "reason", "run_id", "ingested_at"]], "rejected_files")
    newest_bronze = max((d for d in map(file_date, ledger["path"]) if d is not None), default=None)
    st.subheader("Freshness against the newest bronze data")
    show_table(data.freshness(_newest_dates(), newest_bronze), "freshness")
    anomalies(PIPELINE_METRICS, key="health-anomalies")


def _newest_dates() -> dict[str, dt.date | None]:
    checks = {"gold.fact_orders": ("gold", "fact_orders", "order_date_key"), "gold.fact_shipments": ("gold", "fact_shipments", "shipment_date_key"),
              "gold.fact_sessions": ("gold", "fact_sessions", "date_key"), "gold.fact_inventory_snapshot": ("gold", "fact_inventory_snapshot", "snapshot_date_key"),
              "gold.kpi_daily_sales": ("gold", "kpi_daily_sales", "date_key")}  # fmt: skip
    out: dict[str, dt.date | None] = {}
    for label, (layer, name, col) in checks.items():
        df = table(layer, name, (col,))
        dates = data.to_date(df[col]).dropna() if df is not None else pd.Series(dtype="datetime64[ns]")
        out[label] = dates.max().date() if len(dates) else None
    return out


PAGES: list[tuple[Callable[[], None], str, str]] = [
    (overview, "Overview", ""),
    (products, "Products", "products"),
    (customers, "Customers", "customers"),
    (funnel, "Funnel", "funnel"),
    (operations, "Operations", "operations"),
    (quality, "Data quality", "quality"),
    (health, "Pipeline health", "health"),
]


def main() -> None:
    global ROOT, LAKE
    ROOT = _root()
    LAKE = data.Lake(ROOT)
    st.set_page_config(page_title="Lakehouse", layout="wide")
    nav = st.navigation(
        [st.Page(f, title=title, url_path=path, default=i == 0) for i, (f, title, path) in enumerate(PAGES)]
    )
    nav.run()


if __name__ == "__main__":  # as Streamlit runs it
    main()

"""What the dashboard shows, computed with pandas from the gold and silver Delta tables as delta-rs reads
them (no Spark session: the dashboard opens in seconds on a lake written by any engine). Every function
here is DataFrame in, DataFrame (or numbers) out, and is tested on a few rows."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lakehouse.core import storage
from lakehouse.tables import GOLD, SILVER, UNKNOWN_SK

if TYPE_CHECKING:
    from deltalake import DeltaTable


@dataclass(frozen=True)
class Lake:
    """The tables under a storage root, read with delta-rs."""

    root: str

    def uri(self, layer: str, name: str) -> str:
        if layer == "gold" and name in GOLD:
            return GOLD[name].uri(self.root)
        if layer == "silver" and name in SILVER:
            return SILVER[name].uri(self.root)
        return storage.join(self.root, layer, name)

    def _open(self, layer: str, name: str) -> DeltaTable | None:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return DeltaTable(storage.spark_path(self.uri(layer, name)))
        except (TableNotFoundError, FileNotFoundError, OSError):
            return None

    def version(self, layer: str, name: str) -> int | None:
        """The table's current version, or None when it does not exist (yet)."""
        table = self._open(layer, name)
        return None if table is None else int(table.version())

    def read(self, layer: str, name: str, columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
        import pyarrow as pa

        table = self._open(layer, name)
        if table is None:
            return None
        t = table.to_pyarrow_table(columns=list(columns) if columns else None)
        # Money is DECIMAL in the lake: as doubles here, to sum and chart (cents survive a double).
        money = pa.schema(
            [pa.field(f.name, pa.float64()) if pa.types.is_decimal(f.type) else f for f in t.schema]
        )
        return t.cast(money).to_pandas()


def latest_per_table(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of each table's latest validation (dq_results or dq_scorecard rows)."""
    last = df.groupby(["layer", "table_name"])["validated_at"].transform("max")
    return df[df["validated_at"] == last]


def to_date(key: pd.Series) -> pd.Series:
    """A yyyymmdd date key as a date (NaT for the unknown key -1)."""
    return pd.to_datetime(
        key.where(key > 0).astype("Int64").astype("string"), format="%Y%m%d", errors="coerce"
    )


def counted_orders(
    fact_orders: pd.DataFrame, customers: pd.DataFrame, channels: pd.DataFrame
) -> pd.DataFrame:
    """The orders that count for sales (known date, not cancelled), as gold's kpi_daily_sales counts
    them, with the customer's country as of the order, the channel, and whether it was the customer's
    first counted order ever (history included: a new customer)."""
    o = fact_orders[~fact_orders["is_cancelled"].astype(bool) & (fact_orders["order_date_key"] != UNKNOWN_SK)]
    cust = customers[["customer_sk", "customer_id", "country"]]
    o = o.merge(cust, on="customer_sk", how="left").merge(channels, on="channel_sk", how="left")
    first = o.dropna(subset=["customer_id"]).groupby("customer_id")["order_date_key"].min().rename("_first")
    o = o.merge(first, left_on="customer_id", right_index=True, how="left")
    return pd.DataFrame(
        {
            "date": to_date(o["order_date_key"]),
            "order_id": o["order_id"].to_numpy(),
            "customer_id": o["customer_id"].to_numpy(),
            "country": o["country"].fillna("Unknown").to_numpy(),
            "channel": o["channel"].fillna("Unknown").to_numpy(),
            "revenue": o["revenue"].astype(float).to_numpy(),
            "units": o["units"].to_numpy(),
            "is_new": (o["_first"] == o["order_date_key"]).to_numpy(),
            "is_returning": (o["_first"] < o["order_date_key"]).to_numpy(),
        }
    )


# The columns counted_orders uses, of the tables it takes (a year of history is read at first sight).
COUNTED_FROM = {
    "fact_orders": (
        "order_id",
        "customer_sk",
        "channel_sk",
        "order_date_key",
        "is_cancelled",
        "revenue",
        "units",
    ),
    "dim_customer": ("customer_sk", "customer_id", "country"),
    "dim_channel": ("channel_sk", "channel"),
}


@functools.lru_cache(maxsize=4)
def _counted_orders_at(root: str, versions: tuple[int | None, ...]) -> pd.DataFrame:
    lake = Lake(root)
    return counted_orders(*(lake.read("gold", name, cols) for name, cols in COUNTED_FROM.items()))  # type: ignore[arg-type]


def lake_counted_orders(lake: Lake) -> pd.DataFrame:
    """counted_orders of the lake's current gold tables, computed once per version of them in this
    process (Streamlit runs its script afresh on every interaction; this module stays loaded). A copy:
    callers may add columns."""
    versions = tuple(lake.version("gold", name) for name in COUNTED_FROM)
    return _counted_orders_at(lake.root, versions).copy()


def daily_sales(orders: pd.DataFrame) -> pd.DataFrame:
    """Per day: revenue, orders, units, average order value, new and returning customers."""
    if orders.empty:
        return pd.DataFrame(
            columns=[
                "date",
                "revenue",
                "orders",
                "units",
                "average_order_value",
                "new_customers",
                "returning_customers",
            ]
        )
    g = orders.groupby("date")
    out = pd.DataFrame(
        {
            "revenue": g["revenue"].sum().round(2),
            "orders": g.size(),
            "units": g["units"].sum(),
            "new_customers": orders[orders["is_new"]].groupby("date")["customer_id"].nunique(),
            "returning_customers": orders[orders["is_returning"]].groupby("date")["customer_id"].nunique(),
        }
    ).fillna({"new_customers": 0, "returning_customers": 0})
    out["average_order_value"] = (out["revenue"] / out["orders"]).round(2)
    out[["new_customers", "returning_customers"]] = out[["new_customers", "returning_customers"]].astype(int)
    return out.reset_index()[
        ["date", "revenue", "orders", "units", "average_order_value", "new_customers", "returning_customers"]
    ]


@dataclass(frozen=True)
class Headline:
    """A period's headline figures and the same figures for the period just before it."""

    revenue: float
    orders: int
    average_order_value: float | None
    conversion_rate: float | None
    new_customers: int
    previous: Headline | None = None

    def change(self, name: str) -> float | None:
        """Relative change against the previous period, or None when there is nothing to compare."""
        now, before = getattr(self, name), getattr(self.previous, name) if self.previous else None
        if now is None or before in (None, 0):
            return None
        return (now - before) / before


def headline(
    orders: pd.DataFrame, funnel: pd.DataFrame | None, start: dt.date, end: dt.date, compare: bool = True
) -> Headline:
    """Revenue, orders, average order value, session conversion and new customers from `start` to `end`
    (both included), and with `compare` the same for the equally long period before."""
    days = orders[(orders["date"] >= pd.Timestamp(start)) & (orders["date"] <= pd.Timestamp(end))]
    revenue, n = round(float(days["revenue"].sum()), 2), len(days)
    conversion = None
    if funnel is not None and len(funnel):
        f = funnel[(funnel["date"] >= pd.Timestamp(start)) & (funnel["date"] <= pd.Timestamp(end))]
        sessions = int(f["sessions"].sum())
        conversion = round(int(f["purchase_sessions"].sum()) / sessions, 4) if sessions else None
    new = int(days.loc[days["is_new"], "customer_id"].nunique())
    previous = None
    if compare:
        length = (end - start).days + 1
        previous = headline(
            orders, funnel, start - dt.timedelta(days=length), start - dt.timedelta(days=1), compare=False
        )
    return Headline(revenue, n, round(revenue / n, 2) if n else None, conversion, new, previous)


def funnel_by_day(funnel_kpi: pd.DataFrame) -> pd.DataFrame:
    """The conversion funnel KPI with its date, ready to filter and sum."""
    out = funnel_kpi.copy()
    out["date"] = to_date(out["date_key"])
    return out


STEPS = (
    ("sessions", "Visit"),
    ("product_view_sessions", "Product view"),
    ("add_to_cart_sessions", "Add to cart"),
    ("checkout_start_sessions", "Checkout"),
    ("purchase_sessions", "Purchase"),
)


def funnel_steps(funnel: pd.DataFrame) -> pd.DataFrame:
    """Sessions reaching each funnel step, summed over the rows given, with the share of visits."""
    total = int(funnel["sessions"].sum()) if len(funnel) else 0
    rows = [(label, int(funnel[col].sum()) if len(funnel) else 0) for col, label in STEPS]
    out = pd.DataFrame(rows, columns=["step", "sessions"])
    out["share_of_visits"] = (out["sessions"] / total).round(4) if total else 0.0
    return out


def conversion_over_time(funnel: pd.DataFrame) -> pd.DataFrame:
    """Per day: conversion (purchase sessions over sessions) and cart abandonment (carts not bought over
    carts), recomputed from the counts so that any filter adds up correctly."""
    g = funnel.groupby("date")[["sessions", "add_to_cart_sessions", "purchase_sessions"]].sum()
    carts = g["add_to_cart_sessions"].replace(0, np.nan)
    out = pd.DataFrame(
        {
            "conversion_rate": (g["purchase_sessions"] / g["sessions"].replace(0, np.nan)).round(4),
            "cart_abandonment_rate": ((carts - g["purchase_sessions"]).clip(lower=0) / carts).round(4),
        }
    )
    return out.reset_index()


def price_band(price: pd.Series) -> pd.Series:
    bands = [0, 25, 50, 100, 250, 500, 1000, np.inf]
    labels = ["< $25", "$25-50", "$50-100", "$100-250", "$250-500", "$500-1,000", "$1,000+"]
    return pd.cut(price, bands, labels=labels, right=False).astype(str)


def retention_matrix(cohorts: pd.DataFrame, grain: str) -> pd.DataFrame:
    """Cohorts (rows) by period since the first order (columns), retention rate in each cell; periods
    that are not complete yet are left empty rather than shown as if they were."""
    c = cohorts[(cohorts["grain"] == grain) & cohorts["is_complete"].astype(bool)]
    m = c.pivot_table(index="cohort_start", columns="period", values="retention_rate", aggfunc="first")
    m.index = pd.to_datetime(m.index).strftime("%Y-%m-%d" if grain == "week" else "%Y-%m")
    return m.sort_index()


def new_vs_returning(daily: pd.DataFrame, grain: str = "W") -> pd.DataFrame:
    """New and returning customers per week (or month, 'MS')."""
    if daily.empty:
        return pd.DataFrame(columns=["period", "new_customers", "returning_customers"])
    d = daily.set_index(pd.to_datetime(daily["date"]))[["new_customers", "returning_customers"]]
    return d.resample(grain).sum().reset_index(names="period")


def quarantine_by_reason(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows per day, source and first reason (what made the row unusable)."""
    if quarantine is None or quarantine.empty:
        return pd.DataFrame(columns=["day", "source", "reason", "rows"])
    reason = quarantine["reasons"].map(
        lambda r: str(r[0]).split(":")[0] if r is not None and len(r) else "unknown"
    )
    q = pd.DataFrame(
        {
            "day": pd.to_datetime(quarantine["quarantined_at"]).dt.floor("D"),
            "source": quarantine["source"],
            "reason": reason,
        }
    )
    return q.groupby(["day", "source", "reason"]).size().rename("rows").reset_index()


def unknown_shares(facts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per fact and dimension key: the share of rows that point to the unknown member (-1)."""
    rows = []
    for name, df in facts.items():
        for col in [c for c in df.columns if c.endswith("_sk")]:
            if len(df):
                rows.append((name, col, round(float((df[col] == UNKNOWN_SK).mean()), 4), len(df)))
    return pd.DataFrame(rows, columns=["fact", "key", "unknown_share", "rows"])


def runs_summary(ingest_runs: pd.DataFrame) -> pd.DataFrame:
    """One row per bronze_to_silver run: when, how long, rows read, written, quarantined, duplicate,
    held back, files rejected, and the worst validation verdict of its sources."""
    order = {"passed": 0, "skipped": 1, "warnings": 2, "blocked": 3}
    g = ingest_runs.groupby("run_id")
    out = pd.DataFrame(
        {
            "started_at": g["started_at"].min(),
            "seconds": g["seconds"].max().round(1),
            "sources": g.size(),
            **{
                c: g[c].sum()
                for c in (
                    "files",
                    "files_rejected",
                    "rows_read",
                    "rows_written",
                    "rows_quarantined",
                    "duplicates",
                    "rows_held",
                )
            },
            "validation": g["validation"].agg(
                lambda v: max(v.fillna("skipped"), key=lambda x: order.get(x, 1))
            ),
        }
    )
    return out.sort_values("started_at", ascending=False).reset_index()


def freshness(newest: dict[str, dt.date | None], bronze_newest: dt.date | None) -> pd.DataFrame:
    """Each table's newest business date beside the newest bronze data, and how many days it lags."""
    rows = []
    for table, day in newest.items():
        lag = (bronze_newest - day).days if day is not None and bronze_newest is not None else None
        rows.append((table, day, bronze_newest, lag))
    return pd.DataFrame(rows, columns=["table", "newest_data", "newest_bronze", "days_behind"])

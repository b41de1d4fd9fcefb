"""The generated world's behaviour, measured from its bronze files beside the bands it is built to hit.

Read straight from bronze with pandas and Arrow (no Spark), so it describes what the shop exported,
whatever the pipeline does with it. Rows a defect made unreadable are skipped; duplicates and older
versions count once (the latest version of an order wins).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.bronze.contract import SOURCES
from lakehouse.core import storage
from lakehouse.core.calendar import holiday_name


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    source: str  # where the band comes from (README "Sources")

    def holds(self, value: float | None) -> bool:
        return value is not None and self.low <= value <= self.high


# The bands the simulated shop is built to hit; each is checked by a test on a generated world.
BANDS = {
    "orders_per_buyer_month": Band(1.0, 1.4, "purchase frequency of general online retail"),
    "single_order_buyers_month": Band(0.75, 0.95, "most buyers order once a month or less"),
    "repeat_customer_rate": Band(0.15, 0.35, "repeat customer rate 15-30%, average 28.2%"),
    "monthly_buyers_of_accounts": Band(0.03, 0.25, "accounts far outnumber monthly buyers"),
    "session_conversion": Band(0.02, 0.04, "e-commerce session conversion 2-4%"),
    "cart_abandonment": Band(0.65, 0.76, "Baymard Institute: 70.19% average"),
    "top_product_revenue_share": Band(0.0, 0.05, "a long tail: no product holds more than a few percent"),
    "top_20pct_products_revenue_share": Band(0.5, 0.85, "Pareto: the top 20% of products hold most revenue"),
    "multi_parcel_orders": Band(0.12, 0.18, "about 15% of shipped orders ship in several parcels"),
    "black_friday_vs_ordinary_day": Band(2.0, 4.5, "Black Friday is the year's peak"),
}


def _csv_frames(bronze: str, source: str) -> pd.DataFrame:
    folder = storage.join(bronze, SOURCES[source].folder)
    frames = []
    for uri in sorted(storage.list_files(folder)) if storage.exists(folder) else []:
        if uri.lower().endswith(".csv"):
            frames.append(pd.read_csv(io.BytesIO(storage.read_bytes(uri)), dtype=str, keep_default_na=False))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _num(col: pd.Series) -> pd.Series:
    return pd.to_numeric(col.str.strip(), errors="coerce")


def _date(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col.str.strip(), format="%Y-%m-%d", errors="coerce")


def _sessions(bronze: str) -> pd.DataFrame:
    """Per session: whether it added to cart and whether it purchased."""
    folder = storage.join(bronze, SOURCES["clickstream"].folder)
    parts = []
    for uri in storage.list_files(folder) if storage.exists(folder) else []:
        if not uri.endswith(".jsonl"):
            continue
        lines = pa.array(storage.read_bytes(uri).decode("utf-8", "replace").split("\n"), pa.string())
        found = pc.extract_regex(lines, r'"session_id":"(?P<s>[0-9a-f-]{36})".*"event_type":"(?P<e>[a-z_]+)"')
        valid = found.is_valid()
        parts.append(
            pa.table({"s": pc.struct_field(found, "s"), "e": pc.struct_field(found, "e")}).filter(valid)
        )
    if not parts:
        return pd.DataFrame(columns=["cart", "purchase"])
    ev = pa.concat_tables(parts).to_pandas()
    ev = ev.drop_duplicates()
    flags = pd.DataFrame({"s": ev["s"], "cart": ev["e"] == "add_to_cart", "purchase": ev["e"] == "purchase"})
    return flags.groupby("s")[["cart", "purchase"]].any()


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def profile(root: str) -> dict[str, float | None]:
    """The behaviour metrics of the world under `root`/bronze (None where the data cannot say)."""
    bronze = storage.join(root, "bronze")
    orders = _csv_frames(bronze, "orders")
    items = _csv_frames(bronze, "order_items")
    ships = _csv_frames(bronze, "shipments")
    customers = _csv_frames(bronze, "customers")
    out: dict[str, float | None] = {}

    o = pd.DataFrame(
        {"order_id": _num(orders["order_id"]), "customer_id": _num(orders["customer_id"]),
         "date": _date(orders["order_date"]), "status": orders["status"].str.strip().str.title(),
         "updated_at": orders["updated_at"]}
    ).dropna(subset=["order_id", "customer_id", "date"])  # fmt: skip
    o = o[o["customer_id"] < 900_000_000]  # injected orphans are not customers
    o = o.sort_values("updated_at").drop_duplicates("order_id", keep="last")
    counted = o[o["status"] != "Cancelled"]
    out["accounts"] = float(_num(customers["customer_id"]).dropna().nunique())
    out["orders"] = float(len(counted))
    if counted.empty:
        return out

    # The last complete calendar month of orders.
    last = counted["date"].max()
    month_end = (last + pd.Timedelta(days=1)).to_period("M").start_time - pd.Timedelta(days=1)
    month = counted[counted["date"].dt.to_period("M") == month_end.to_period("M")]
    per_buyer = month.groupby("customer_id").size()
    out["orders_per_buyer_month"] = _ratio(per_buyer.sum(), len(per_buyer))
    out["single_order_buyers_month"] = _ratio((per_buyer == 1).sum(), len(per_buyer))
    accounts_then = customers[_date(customers["signup_date"]) <= month_end]
    out["monthly_buyers_of_accounts"] = _ratio(len(per_buyer), _num(accounts_then["customer_id"]).nunique())
    lifetime = counted.groupby("customer_id").size()
    out["repeat_customer_rate"] = _ratio((lifetime >= 2).sum(), len(lifetime))
    out["max_orders_one_customer_30d"] = float(per_buyer.max()) if len(per_buyer) else None

    days = counted.groupby("date").size()
    ordinary = [n for d, n in days.items() if holiday_name(d.date()) is None and d.month != 12]
    out["orders_per_ordinary_day_last_30"] = float(np.mean(ordinary[-30:])) if ordinary else None
    bf = [n for d, n in days.items() if holiday_name(d.date()) == "Black Friday"]
    week_before = [
        n for d, n in days.items() if bf and 7 <= (days.index[days.values == bf[-1]][0] - d).days <= 13
    ]
    out["black_friday_vs_ordinary_day"] = _ratio(bf[-1], np.mean(week_before)) if bf and week_before else None

    it = pd.DataFrame({"order_id": _num(items["order_id"]), "product_id": _num(items["product_id"]),
                       "revenue": _num(items["quantity"]) * _num(items["item_price"])}).dropna()  # fmt: skip
    it = it[it["order_id"].isin(counted["order_id"])]
    by_product = it.groupby("product_id")["revenue"].sum().sort_values(ascending=False)
    total = by_product.sum()
    out["top_product_revenue_share"] = _ratio(by_product.iloc[0], total) if len(by_product) else None
    top = max(1, round(len(by_product) * 0.2))
    out["top_20pct_products_revenue_share"] = _ratio(by_product.iloc[:top].sum(), total)
    out["lines_per_order"] = _ratio(len(it), it["order_id"].nunique())
    out["average_order_value"] = _ratio(total, it["order_id"].nunique())

    sh = pd.DataFrame(
        {"shipment_id": _num(ships["shipment_id"]), "order_id": _num(ships["order_id"])}
    ).dropna()
    parcels = sh.drop_duplicates("shipment_id").groupby("order_id").size()
    out["multi_parcel_orders"] = _ratio((parcels >= 2).sum(), len(parcels))

    sessions = _sessions(bronze)
    out["sessions"] = float(len(sessions))
    out["session_conversion"] = _ratio(sessions["purchase"].sum(), len(sessions))
    carts = sessions[sessions["cart"]]
    out["cart_abandonment"] = _ratio((~carts["purchase"]).sum(), len(carts))
    return out


LABELS = {  # metric: (what it is, how it is shown)
    "accounts": ("customer accounts", "{:,.0f}"),
    "orders": ("orders (not cancelled)", "{:,.0f}"),
    "orders_per_ordinary_day_last_30": ("orders per ordinary day (last 30, holidays excluded)", "{:,.0f}"),
    "orders_per_buyer_month": ("orders per buyer, last complete month", "{:.2f}"),
    "single_order_buyers_month": ("buyers ordering once that month", "{:.1%}"),
    "monthly_buyers_of_accounts": ("that month's buyers among accounts", "{:.1%}"),
    "max_orders_one_customer_30d": ("most orders of one customer that month", "{:.0f}"),
    "repeat_customer_rate": ("customers with two or more orders", "{:.1%}"),
    "session_conversion": ("sessions with a purchase", "{:.2%}"),
    "cart_abandonment": ("carts not purchased", "{:.1%}"),
    "sessions": ("clickstream sessions", "{:,.0f}"),
    "top_product_revenue_share": ("revenue of the top product", "{:.2%}"),
    "top_20pct_products_revenue_share": ("revenue of the top 20% of products", "{:.1%}"),
    "lines_per_order": ("lines per order", "{:.2f}"),
    "average_order_value": ("average order value ($)", "{:,.2f}"),
    "multi_parcel_orders": ("shipped orders in several parcels", "{:.1%}"),
    "black_friday_vs_ordinary_day": ("Black Friday orders against the week before last", "{:.2f}x"),
}


def shown(metric: str, value: float | None) -> str:
    return "n/a" if value is None else LABELS[metric][1].format(value)


def band_text(metric: str) -> str:
    b = BANDS.get(metric)
    return "" if b is None else f"{shown(metric, b.low)} - {shown(metric, b.high)}"

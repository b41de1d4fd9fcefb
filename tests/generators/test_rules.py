"""The rules clean generated data must obey (issue: generators), checked on a small clean world."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from generators.world import COUPON_DISCOUNT, PROMOTION_STEPS
from lakehouse.bronze.contract import CARRIERS, CATEGORIES, ORDER_STATUSES, SOURCES
from tests.bronze.audit import Bronze, invalid_rows
from tests.conftest import WORLD_DAYS, WORLD_HISTORY_DAYS, WORLD_START

RANK = {"Pending": 0, "Processing": 1, "Shipped": 2, "Delivered": 3, "Cancelled": 4}


def latest(df: pd.DataFrame, key: str) -> pd.DataFrame:
    return df.sort_values("updated_at").groupby(key).tail(1).set_index(key)


def test_every_row_of_a_clean_world_meets_the_contract(clean_world: Bronze) -> None:
    assert invalid_rows(clean_world) == set()
    assert clean_world.defects.empty


def test_headers_match_the_contract(clean_world: Bronze) -> None:
    for name, df in clean_world.tables.items():
        assert [c for c in df.columns if not c.startswith("_")] == list(SOURCES[name].column_names)


def test_categories_and_prices(clean_world: Bronze) -> None:
    p = clean_world.tables["products"]
    assert set(p["category"]) == set(CATEGORIES)
    price = p["price"].astype(float)
    assert price.between(5.0, 5000.0).all()
    by_cat = p.assign(price=price).groupby("category")["price"].median()
    assert by_cat["Electronics"] > 3 * by_cat["Books"]  # category-specific distributions
    assert by_cat["Automotive"] > by_cat["Food & Beverages"]


def test_order_statuses_and_ship_dates(clean_world: Bronze) -> None:
    o = clean_world.tables["orders"]
    assert set(o["status"]) <= set(ORDER_STATUSES)
    shipped = o["status"].isin(["Shipped", "Delivered"])
    assert (o.loc[~shipped, "ship_date"] == "").all()
    days = (
        pd.to_datetime(o.loc[shipped, "ship_date"]) - pd.to_datetime(o.loc[shipped, "order_date"])
    ).dt.days
    assert days.between(1, 7).all() and len(days) > 0


def test_status_only_moves_forward_in_time(clean_world: Bronze) -> None:
    o = clean_world.tables["orders"].sort_values(["order_id", "updated_at"])
    o["rank"] = o["status"].map(RANK)
    grouped = o.groupby("order_id")
    assert (grouped["rank"].diff().dropna() > 0).all(), "each change is a step forward"
    assert (grouped["updated_at"].nunique() == grouped.size()).all()
    cancelled_after = o[o["status"] == "Cancelled"].merge(
        o[o["status"].isin(["Shipped", "Delivered"])], on="order_id"
    )
    assert cancelled_after.empty, "shipped orders are never cancelled"
    # Order attributes never change across versions.
    assert (grouped[["customer_id", "order_date", "payment_method", "channel"]].nunique() == 1).all().all()


def test_orders_after_signup_and_products_after_launch(clean_world: Bronze) -> None:
    c = latest(clean_world.tables["customers"], "customer_id")
    o = clean_world.tables["orders"].drop_duplicates("order_id")
    signup = o["customer_id"].map(c["signup_date"])
    assert (o["order_date"] >= signup).all()
    p = latest(clean_world.tables["products"], "product_id")
    items = clean_world.tables["order_items"].merge(o[["order_id", "order_date"]], on="order_id")
    assert (items["order_date"] >= items["product_id"].map(p["launch_date"])).all()


def test_quantities_and_item_prices_follow_the_price_in_force(clean_world: Bronze) -> None:
    items = clean_world.tables["order_items"]
    assert items["quantity"].astype(int).between(1, 5).all()
    o = clean_world.tables["orders"].drop_duplicates("order_id")[["order_id", "order_date"]]
    prices = clean_world.tables["products"][["product_id", "price", "updated_at"]].copy()
    prices["from"] = prices["updated_at"].str[:10]
    it = items.merge(o, on="order_id")
    history = prices.sort_values("from")
    # The price in force on the order date: the latest version dated on or before it.
    merged = pd.merge_asof(
        it.assign(d=pd.to_datetime(it["order_date"])).sort_values("d"),
        history.assign(d=pd.to_datetime(history["from"])).sort_values("d")[["product_id", "price", "d"]],
        on="d", by="product_id", direction="backward",
    )  # fmt: skip
    # At the list price in force, or on promotion at one of the discount steps (no coupons in a clean world).
    paid, listed = merged["item_price"].astype(float), merged["price"].astype(float)
    steps = np.array([0.0, *PROMOTION_STEPS])
    gap = np.abs(paid.to_numpy()[:, None] - np.round(listed.to_numpy()[:, None] * (1 - steps), 2)).min(axis=1)
    assert (gap < 0.006).all()
    promoted = (paid < listed - 0.005).mean()
    assert 0.08 <= promoted <= 0.16, promoted
    assert (paid <= listed).all(), "never above the list price"
    assert 1.6 <= len(items) / items["order_id"].nunique() <= 2.4, "about two items per order"


def test_coupons_take_their_discount_off_every_line(dirty_world: Bronze) -> None:
    o = dirty_world.tables["orders"]
    o = o[o["coupon_code"].fillna("").str.strip() != ""].drop_duplicates("order_id")
    items = dirty_world.tables["order_items"].merge(o[["order_id", "coupon_code"]], on="order_id")
    prices = (
        dirty_world.tables["products"].sort_values("updated_at").drop_duplicates("product_id", keep="last")
    )
    items = items.merge(prices[["product_id", "price"]], on="product_id")
    items = items[
        items["item_price"].str.fullmatch(r"\d+\.\d{2}") & items["price"].str.fullmatch(r"\d+\.\d{2}")
    ]
    ratio = items["item_price"].astype(float) / items["price"].astype(float)
    for code, off in COUPON_DISCOUNT.items():
        r = ratio[items["coupon_code"].str.strip().str.upper() == code]
        assert len(r) >= 3, code
        # The typical line pays list less the coupon (promotions come on top; prices rarely change).
        assert abs(r.median() - (1 - off)) < 0.011, (code, r.median())


def test_shipments(clean_world: Bronze) -> None:
    s = clean_world.tables["shipments"]
    assert set(s["carrier"]) <= set(CARRIERS) and len(set(s["carrier"])) >= 4
    assert s["shipment_cost"].astype(float).between(5.0, 50.0).all()
    assert s["tracking_number"].is_unique and s["shipment_id"].is_unique
    o = clean_world.tables["orders"]
    ship = o[o["ship_date"] != ""].drop_duplicates("order_id").set_index("order_id")["ship_date"]
    assert (s["shipment_date"] >= s["order_id"].map(ship)).all()
    assert (s.groupby("order_id").size() > 1).any(), "some orders ship in several shipments"


def test_each_parcel_holds_what_one_warehouse_picked_of_its_order(clean_world: Bronze) -> None:
    t = clean_world.tables
    items = t["order_items"].drop_duplicates("order_item_id")
    ships = t["shipments"]
    picked = set(zip(items["order_id"], items["warehouse_id"], strict=True))
    parcels = list(zip(ships["order_id"], ships["warehouse_id"], strict=True))
    assert set(ships["warehouse_id"]) == {"WH-01", "WH-02", "WH-03"}
    assert len(parcels) == len(set(parcels)), "one parcel per order and warehouse"
    # Every parcel whose order's lines are in the files leaves a warehouse that picked some of them.
    known = set(items["order_id"])
    assert all(p in picked for p in parcels if p[0] in known)
    # A delivered order's every warehouse has shipped its parcel.
    state = latest(t["orders"], "order_id")
    delivered = set(state.index[state["status"] == "Delivered"]) & set(ships["order_id"])
    assert delivered and {p for p in picked if p[0] in delivered} <= set(parcels)
    # Split orders come from several warehouses: a parcel per warehouse, a sixth or so of shipped orders.
    per_order = ships.groupby("order_id")["warehouse_id"].nunique()
    assert (per_order == ships.groupby("order_id").size()).all()
    assert 0.08 < (per_order > 1).mean() < 0.25


def test_stock_leaves_the_warehouse_its_parcel_ships_from() -> None:
    from generators.pools import build_pools
    from generators.world import day_number, initial_state, simulate_day

    state = initial_state(11, dt.date(2026, 3, 2), 0.05, 3, build_pools(11), history_days=20)
    pools = build_pools(11)
    lines = []
    for _ in range(30):
        inv = state.inventory.set_index(["warehouse", "product_idx"])
        before, arriving = inv["on_hand"], inv["restock_day"] == state.next_day
        restock = inv["restock_qty"].where(arriving, 0)
        out = simulate_day(state, pools, None)
        lines.append(out.order_items)
        items = pd.concat(lines)
        shipped = out.shipments.merge(items, on=["order_id", "warehouse"])
        units = shipped.groupby(["warehouse", shipped["product_id"] - 1])["quantity"].sum()
        units.index.names = ["warehouse", "product_idx"]
        after = state.inventory.set_index(["warehouse", "product_idx"])["on_hand"]
        want = (before - units.reindex(before.index, fill_value=0)).clip(lower=0) + restock
        assert (after.reindex(want.index) == want).all(), (
            f"day {out.day}: stock moved elsewhere than its parcels"
        )
    assert out.day == day_number(dt.date(2026, 3, 2)) + 9 and len(shipped) > 0


def test_foreign_keys_resolve(clean_world: Bronze) -> None:
    t = clean_world.tables
    assert t["orders"]["customer_id"].isin(t["customers"]["customer_id"]).all()
    assert t["order_items"]["order_id"].isin(t["orders"]["order_id"]).all()
    assert t["order_items"]["product_id"].isin(t["products"]["product_id"]).all()
    assert t["shipments"]["order_id"].isin(t["orders"]["order_id"]).all()
    assert clean_world.inventory["product_id"].astype(str).isin(t["products"]["product_id"]).all()


def test_purchases_belong_to_real_orders_of_the_same_customer_that_day(clean_world: Bronze) -> None:
    ev = pd.DataFrame(list(clean_world.events["obj"]))
    buys = ev[ev["event_type"] == "purchase"]
    o = clean_world.tables["orders"].drop_duplicates("order_id").set_index("order_id")
    oid = buys["order_id"].astype(int).astype(str)
    assert oid.isin(o.index).all()
    assert (
        buys["customer_id"].astype(int).astype(str).to_numpy() == o.loc[oid, "customer_id"].to_numpy()
    ).all()
    assert (buys["event_ts"].str[:10].to_numpy() == o.loc[oid, "order_date"].to_numpy()).all()
    assert oid.is_unique
    online = o[o["channel"].isin(["web", "mobile_app"]) & (o["order_date"] >= WORLD_START.isoformat())]
    assert set(oid) == set(online.index), "every web/app order of the daily period has one purchase event"


def test_clickstream_files_hold_their_hour_in_time_order(clean_world: Bronze) -> None:
    ev = clean_world.events.assign(ts=[o["event_ts"] for o in clean_world.events["obj"]])
    hour_of_file = ev["_file"].str.extract(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})")
    assert (ev["ts"].str[:10] == hour_of_file[0]).all() and (ev["ts"].str[11:13] == hour_of_file[1]).all()
    # In time order, but for the events of sessions that started the day before, appended at the end.
    started = ev.groupby(ev["obj"].map(lambda o: o["session_id"]))["ts"].transform("min")
    carried = started.str[:10] < hour_of_file[0]
    assert carried.any(), "some sessions run past midnight"
    own = ev[~carried]
    assert (own.groupby("_file")["ts"].apply(lambda s: s.is_monotonic_increasing)).all()
    tail = ev.assign(carried=carried).groupby("_file")["carried"].apply(lambda c: c.is_monotonic_increasing)
    assert tail.all(), "carried events come after the file's own"
    assert ev["obj"].map(lambda o: o["event_id"]).is_unique


def test_sessions_cross_midnight_without_a_pile_at_the_day_boundary(clean_world: Bronze) -> None:
    ev = pd.DataFrame(list(clean_world.events["obj"]))
    ts = pd.to_datetime(ev["event_ts"])
    span = ts.groupby(ev["session_id"]).agg(["min", "max"])
    last_second = (span["max"].dt.strftime("%H:%M:%S") == "23:59:59").sum()
    first_second = (span["min"].dt.strftime("%H:%M:%S") == "00:00:00").sum()
    assert last_second <= 3 and first_second <= 3, (last_second, first_second)
    assert (span["max"].dt.date > span["min"].dt.date).sum() >= 1


def test_logged_in_sessions_start_after_the_customer_signed_up(clean_world: Bronze) -> None:
    ev = pd.DataFrame(list(clean_world.events["obj"]))
    ev = ev[ev["customer_id"].notna()]
    first = (
        clean_world.tables["customers"].sort_values("updated_at").groupby("customer_id")["updated_at"].first()
    )
    signed_up = pd.to_datetime(first.set_axis(first.index.astype(int)))
    # Every event that carries a customer comes after that customer's signup (a first order's session
    # may start anonymous and sign up on the way to checkout).
    at = pd.to_datetime(ev["event_ts"]).dt.tz_localize(None).to_numpy()
    assert (at >= signed_up.loc[ev["customer_id"].astype(int)].dt.tz_localize(None).to_numpy()).all()
    assert ev["session_id"].nunique() > 100


def test_funnel_and_conversion_are_realistic(clean_world: Bronze) -> None:
    ev = pd.DataFrame(list(clean_world.events["obj"]))
    sessions = ev.groupby("session_id")["event_type"].agg(set)
    n = len(sessions)
    purchased = sessions.map(lambda s: "purchase" in s).sum()
    carted = sessions.map(lambda s: "add_to_cart" in s).sum()
    assert 0.02 <= purchased / n <= 0.04, purchased / n
    assert 1 - purchased / carted > 0.5, "most carts are abandoned"
    first = ev.sort_values("event_ts").groupby("session_id")["event_type"].first()
    assert (first == "page_view").mean() > 0.95
    # About 150 events per order (150,000 on an ordinary day at scale 1).
    o = clean_world.tables["orders"].drop_duplicates("order_id")
    per_order = len(ev) / (o["order_date"] >= WORLD_START.isoformat()).sum()
    assert 120 <= per_order <= 180, per_order
    props = ev[ev["event_type"] == "search"]["properties"]
    assert props.map(lambda p: isinstance(p, dict) and "query" in p).all()


def test_long_tail_popularity(clean_world: Bronze) -> None:
    units = (
        clean_world.tables["order_items"]
        .assign(q=lambda d: d["quantity"].astype(int))
        .groupby("product_id")["q"]
        .sum()
    )
    top = units.sort_values(ascending=False)
    top_decile = top.iloc[: max(1, len(top) // 10)].sum() / top.sum()
    assert top_decile > 0.3, top_decile


def test_weekly_and_holiday_seasonality(clean_world: Bronze) -> None:
    o = clean_world.tables["orders"].drop_duplicates("order_id")
    per_day = o.groupby("order_date").size()
    black_friday, cyber_monday = "2025-11-28", "2025-12-01"
    ordinary = per_day.drop([black_friday, cyber_monday, "2025-11-27"]).median()
    assert per_day[black_friday] > 2 * ordinary
    assert per_day[cyber_monday] > 1.7 * ordinary


def test_repeat_customers(clean_world: Bronze) -> None:
    o = clean_world.tables["orders"].drop_duplicates("order_id")
    counts = o.groupby("customer_id").size()
    assert (counts >= 2).sum() >= 0.05 * len(counts)


def test_customer_and_product_changes_carry_history(clean_world: Bronze) -> None:
    c = clean_world.tables["customers"]
    changed = c.groupby("customer_id").filter(lambda g: len(g) > 1)
    assert not changed.empty
    versions = changed.sort_values("updated_at").groupby("customer_id")
    moved_or_new_email = versions.agg({"email": "nunique", "country": "nunique"})
    assert ((moved_or_new_email["email"] > 1) | (moved_or_new_email["country"] > 1)).all()
    assert (versions["signup_date"].nunique() == 1).all()
    p = clean_world.tables["products"]
    assert (p.groupby("product_id")["price"].nunique() > 1).any(), "some prices change"


def test_the_history_export_holds_the_shop_since_it_opened(clean_world: Bronze) -> None:
    opened = WORLD_START - dt.timedelta(days=WORLD_HISTORY_DAYS)
    months = sorted({(opened + dt.timedelta(days=i)).strftime("%Y-%m") for i in range(WORLD_HISTORY_DAYS)})
    for source in ("customers", "products", "orders", "order_items", "shipments"):
        t = clean_world.tables[source]
        files = sorted(f for f in set(t["_file"]) if "_history_" in f)
        assert files == [f"{source}/{source}_history_{m}.csv" for m in months], source
    o = clean_world.tables["orders"]
    hist = o[o["_file"].str.contains("_history_")]
    assert hist["order_id"].is_unique, "the export holds each order once, as it stood"
    assert (
        hist["order_date"].min() >= opened.isoformat() and hist["order_date"].max() < WORLD_START.isoformat()
    )
    assert (hist["order_date"].str[:7] == hist["_file"].str[-11:-4]).all(), (
        "orders by the month they were placed"
    )
    assert not hist["status"].isin(["Pending", "Processing"]).all()
    daily = o[~o["_file"].str.contains("_history_")]
    carried = daily[daily["order_date"] < WORLD_START.isoformat()]
    assert carried["order_id"].isin(hist["order_id"]).all(), "later changes of exported orders"
    assert not clean_world.tables["customers"].empty and (clean_world.events is not None)
    ev_days = {o_["event_ts"][:10] for o_ in clean_world.events["obj"]}
    assert min(ev_days) == WORLD_START.isoformat(), "clickstream only for the daily period"
    p = clean_world.tables["products"]
    first = p[p["_file"].str.contains(f"_history_{months[0]}")]
    catalog = first[first["updated_at"] < opened.isoformat()]  # the catalog the shop opened with
    assert catalog["product_id"].is_unique and len(catalog) >= 25
    assert (catalog["launch_date"] < opened.isoformat()).all()


def test_inventory_is_weekly_never_negative_and_moves(clean_world: Bronze) -> None:
    inv = clean_world.inventory
    files = sorted(set(inv["_file"]))
    assert files == ["inventory/inventory_2025-W48.xlsx", "inventory/inventory_2025-W49.xlsx"]
    assert set(inv["_sheet"]) == {"WH-01", "WH-02", "WH-03"}
    assert (inv["on_hand"] >= 0).all() and (inv["reserved"] >= 0).all()
    assert {d.date() for d in inv["snapshot_date"]} == {dt.date(2025, 11, 30), dt.date(2025, 12, 7)}
    a, b = (inv[inv["_file"] == f].set_index(["warehouse_id", "product_id"])["on_hand"] for f in files)
    delta = (b - a).dropna()
    assert (delta < 0).any(), "stock falls with sales"
    assert (delta > 0).any(), "stock is restocked"


@pytest.mark.parametrize("source", ["customers", "products", "orders", "order_items", "shipments"])
def test_daily_csv_files_exist_for_every_day(clean_world: Bronze, source: str) -> None:
    files = {p.name for p in (clean_world.root / "bronze" / source).glob(f"{source}_2*.csv")}
    assert files == {f"{source}_{WORLD_START + dt.timedelta(days=i)}.csv" for i in range(WORLD_DAYS)}

"""The shop's business simulation: customers, catalog, orders, items, shipments and stock, one day at a time.

Everything is vectorised numpy/pandas. Times are int64 seconds since the Unix epoch (UTC), dates are
int days since 1970-01-01. Each day draws from its own random streams seeded by (seed, day, stream),
so a day's output depends only on the seed and the state before it: generating 5 days in one run or
in runs of 3 and 2 writes the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from generators import vocab
from generators.pools import Pools, slug
from generators.state import STATE_VERSION, WorldState
from lakehouse.bronze.contract import CATEGORIES, PRICE_RANGE, SHIPMENT_COST_RANGE, SOURCES, warehouse_ids
from lakehouse.core.calendar import demand_multiplier

if TYPE_CHECKING:
    from generators.incidents import Incident

DAY = 86_400
EPOCH = dt.date(1970, 1, 1)
STATUS_RANK = {"Pending": 0, "Processing": 1, "Shipped": 2, "Delivered": 3, "Cancelled": 4}


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def rng_for(seed: int, day: int, stream: str) -> np.random.Generator:
    """An independent random stream per (seed, day, stream name)."""
    salt = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, day, salt]))


def _weighted(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(weights), dtype=object)
    p = np.array(list(weights.values()), dtype=float)
    return keys[rng.choice(len(keys), size=n, p=p / p.sum())]


def _times_in_day(rng: np.random.Generator, day: int, n: int) -> np.ndarray:
    hw = np.array(vocab.HOUR_WEIGHTS)
    hours = rng.choice(24, size=n, p=hw / hw.sum())
    return day * DAY + hours * 3600 + rng.integers(0, 3600, size=n)


@dataclass(frozen=True)
class Sizes:
    signups_per_day: float
    products: int
    orders_per_day: float  # what the purchase model gives on an ordinary day a year after opening

    @staticmethod
    def for_scale(scale: float) -> Sizes:
        return Sizes(
            max(4.0, SIGNUPS_PER_DAY * scale), max(25, round(1_000 * scale)), max(6.0, 1_000 * scale)
        )


# The purchase model (a BG/NBD-style buy-till-you-die process, the standard model of non-contractual
# retail customers): a share of sign-ups buys once, mostly in the sign-up session; after a first order
# a customer stays active with FIRST_ORDER_RETENTION, then buys at a personal Gamma-distributed rate
# and drops out after each further order with REPEAT_DROPOUT. Calibrated so that a year after opening
# scale 1 takes about 1,000 orders a day from a base of about 200,000 accounts (README, `lakehouse profile`).
SIGNUPS_PER_DAY = 730.0
SIGNUP_BUYS = 0.75  # share of sign-ups that ever order
FIRST_ORDER_IN_SESSION = 0.7  # of those, share that order minutes after signing up
FIRST_ORDER_RETENTION = 0.3
REPEAT_DROPOUT = 0.25
REPEAT_DAYS = 40.0  # mean days between orders of an active customer
PROFILE_CHANGES_PER_DAY = 0.0004  # share of accounts that change e-mail or country on a day
PRICE_ELASTICITY = 0.6  # units sold fall with price: demand weight = popularity x price^-elasticity
PROMOTED_LINES = 0.12  # share of order lines sold on promotion, at one of these discounts
PROMOTION_STEPS = (0.10, 0.15, 0.20, 0.25, 0.30)
COUPON_DISCOUNT = {"WELCOME10": 0.10, "SPRING15": 0.15, "FREESHIP": 0.0, "VIP20": 0.20, "FLASH5": 0.05}
SPLIT_MULTI_LINE_ORDERS = 0.25  # share of orders with several lines that ship in several parcels


def demand_weights(products: pd.DataFrame) -> np.ndarray:
    """How likely each product is to be chosen for an order line (cheaper products sell more units)."""
    return products["popularity"].to_numpy() * products["price"].to_numpy() ** -PRICE_ELASTICITY


def _prices(rng: np.random.Generator, categories: np.ndarray) -> np.ndarray:
    med = np.array([vocab.CATEGORY_PRICE[c][0] for c in categories])
    sig = np.array([vocab.CATEGORY_PRICE[c][1] for c in categories])
    # Tails are cut at 2.5 sigma (and the rare draw above the cap redrawn lower), so no price piles up at the cap.
    raw = med * np.exp(np.clip(rng.normal(0.0, 1.0, len(categories)), -2.5, 2.5) * sig)
    raw = np.where(
        raw > PRICE_RANGE[1] * 0.9, med * np.exp(rng.uniform(0.0, 1.5, len(categories)) * sig), raw
    )
    # Retail price points: x.99 above $10, rounded cents below.
    pretty = np.where(raw >= 10, np.floor(raw) + 0.99, np.round(raw, 2))
    return np.clip(pretty, PRICE_RANGE[0], PRICE_RANGE[1])


def _new_products(rng: np.random.Generator, pools: Pools, n: int, first_id: int) -> pd.DataFrame:
    cats = np.array(CATEGORIES, dtype=object)
    share = np.array([vocab.CATEGORY_SHARE[c] for c in CATEGORIES])
    category = cats[rng.choice(len(cats), size=n, p=share / share.sum())]
    adjective = np.array(vocab.ADJECTIVES, dtype=object)[rng.integers(0, len(vocab.ADJECTIVES), n)]
    noun = np.array(
        [
            vocab.CATEGORY_NOUNS[c][i % len(vocab.CATEGORY_NOUNS[c])]
            for c, i in zip(category, rng.integers(0, 1000, n), strict=True)
        ],
        dtype=object,
    )
    brand = pools.brands[rng.integers(0, len(pools.brands), n)]
    ids = np.arange(first_id, first_id + n)
    name = brand + " " + adjective + " " + noun + " " + np.char.mod("%03d", ids % 1000).astype(object)
    return pd.DataFrame(
        {
            "product_id": ids.astype(np.int64),
            "name": name,
            "category": category,
            "price": _prices(rng, category),
            # Long-tailed popularity (lognormal, as sales ranks are): a few hits, many slow sellers.
            "popularity": rng.lognormal(0.0, 1.1, n),
        }
    )


def _new_customers(rng: np.random.Generator, pools: Pools, n: int, first_id: int) -> pd.DataFrame:
    first = pools.first_names[rng.integers(0, len(pools.first_names), n)]
    last = pools.last_names[rng.integers(0, len(pools.last_names), n)]
    ids = np.arange(first_id, first_id + n)
    domain = np.array(vocab.EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(vocab.EMAIL_DOMAINS), n)]
    email = slug(first) + "." + slug(last) + np.char.mod("%d", ids).astype(object) + "@" + domain
    return pd.DataFrame(
        {
            "customer_id": ids.astype(np.int64),
            "first_name": first,
            "last_name": last,
            "email": email,
            "country": _weighted(rng, vocab.COUNTRY_WEIGHTS, n),
        }
    )


CUSTOMER_STATE = {  # the columns the world keeps per account, beyond what the export shows
    "signup_at": "int64", "rate": "float64", "active": "int8", "n_orders": "int64",
    "last_order_day": "int64", "first_order_at": "int64",
}  # fmt: skip


def initial_state(
    seed: int, start: dt.date, scale: float, warehouses: int, pools: Pools, history_days: int = 0
) -> WorldState:
    """The shop on its opening morning, `history_days` before `start` (the first daily file): the
    catalog and the warehouses' stock, no customers and no orders yet."""
    k0 = day_number(start) - history_days
    rng = rng_for(seed, k0, "initial")
    sz = Sizes.for_scale(scale)

    cust = _new_customers(rng, pools, 0, 1)
    cust["signup_day"] = np.zeros(0, dtype=np.int64)
    cust["updated_at"] = np.zeros(0, dtype=np.int64)
    for col, dtype in CUSTOMER_STATE.items():
        cust[col] = np.zeros(0, dtype=dtype)

    prod = _new_products(rng, pools, sz.products, 1)
    prod["launch_day"] = k0 - rng.integers(1, 2 * 365, sz.products)
    prod["updated_at"] = prod["launch_day"] * DAY - rng.integers(3600, 20 * DAY, sz.products)
    prod["cost_ratio"] = np.array([vocab.CATEGORY_COST_RATIO[c] for c in prod["category"]]) * rng.uniform(
        0.9, 1.1, sz.products
    )

    return WorldState(
        meta={
            "version": STATE_VERSION,
            "seed": seed,
            "scale": scale,
            "warehouses": warehouses,
            "start_date": start.isoformat(),
            "open_date": to_date(k0).isoformat(),
            "next_day": k0,
            "next_order_id": 100_001,
            "next_order_item_id": 1,
            "next_shipment_id": 1,
        },
        customers=cust,
        products=prod,
        open_orders=pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in [("order_id", "int64"), ("customer_id", "int64"), ("order_day", "int64"),
             ("ship_day", "int64"), ("payment_method", "object"), ("channel", "object"), ("coupon_code", "object"),
             ("status_at", "int64")]}
        ),
        order_events=pd.DataFrame({"order_id": pd.Series(dtype="int64"), "status": pd.Series(dtype="object"), "ts": pd.Series(dtype="int64")}),
        open_items=pd.DataFrame({c: pd.Series(dtype="int64") for c in ("order_id", "warehouse", "product_idx", "quantity", "release_day", "ships")}),
        pending_shipments=pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in [("shipment_id", "int64"), ("order_id", "int64"), ("shipment_day", "int64"),
             ("warehouse", "int64"), ("carrier", "object"), ("tracking_number", "object"), ("shipment_cost", "float64")]}
        ),
        inventory=_initial_inventory(rng, prod, sz, warehouses),
    )  # fmt: skip


def open_day(meta: dict) -> int:  # type: ignore[type-arg]
    return day_number(dt.date.fromisoformat(meta.get("open_date", meta["start_date"])))


def _warehouse_weights(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** 0.6
    return w / w.sum()


def _initial_inventory(
    rng: np.random.Generator, prod: pd.DataFrame, sz: Sizes, warehouses: int
) -> pd.DataFrame:
    pop = prod["popularity"].to_numpy()
    units_per_day = sz.orders_per_day * 2.0 * 1.7 * pop / pop.sum()
    ww = _warehouse_weights(warehouses)
    wh = np.repeat(np.arange(warehouses), len(prod))
    pidx = np.tile(np.arange(len(prod)), warehouses)
    demand = units_per_day[pidx] * ww[wh]
    reorder = np.ceil(demand * 7 + 3).astype(np.int64)
    return pd.DataFrame(
        {
            "warehouse": wh.astype(np.int64),
            "product_idx": pidx.astype(np.int64),
            "on_hand": np.ceil(reorder * rng.uniform(1.5, 4.0, len(wh))).astype(np.int64),
            "reorder_point": reorder,
            "restock_day": np.full(len(wh), -1, dtype=np.int64),
            "restock_qty": np.zeros(len(wh), dtype=np.int64),
        }
    )


@dataclass
class DayOutput:
    """What happened on one day, as typed frames; `*_previous` hold the versions the changes replaced."""

    day: int
    customers: pd.DataFrame
    customers_previous: pd.DataFrame
    products: pd.DataFrame
    products_previous: pd.DataFrame
    orders: pd.DataFrame
    orders_previous: pd.DataFrame
    order_items: pd.DataFrame
    shipments: pd.DataFrame
    new_orders: pd.DataFrame  # today's new orders with their placement time, for the clickstream
    inventory: pd.DataFrame | None  # the weekly snapshot, on the last day of an ISO week
    # Placement times of online checkouts that failed (a payment outage): sessions that end at checkout.
    failed_checkouts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


CUSTOMER_COLS = ["customer_id", "first_name", "last_name", "email", "signup_day", "country", "updated_at"]
PRODUCT_COLS = ["product_id", "name", "category", "price", "launch_day", "updated_at"]


def simulate_day(
    state: WorldState, pools: Pools, new_column_from: int | None, incidents: Sequence[Incident] = ()
) -> DayOutput:
    """Advance the world by one day (mutating `state`) and return what the day's files should hold;
    `incidents` are those touching the day (generators.incidents)."""
    seed, k = int(state.meta["seed"]), state.next_day
    sz = Sizes.for_scale(float(state.meta["scale"]))
    epoch = dt.date.fromisoformat(state.meta["start_date"])
    demand = demand_multiplier(to_date(k), epoch)

    cust_out, cust_prev = _customers_day(state, pools, rng_for(seed, k, "customers"), sz, k, demand)
    prod_out, prod_prev = _products_day(state, pools, rng_for(seed, k, "products"), sz, k)
    new_orders, items, failed = _place_orders(
        state, rng_for(seed, k, "orders"), sz, k, demand, new_column_from, incidents
    )
    orders_out, orders_prev = _order_status_rows(state, k)
    for incident in incidents:
        if incident.kind == "carrier_delay":
            _delay_deliveries(state, k, incident)
    shipments = _shipments_day(state, k)
    _move_stock(state, rng_for(seed, k, "stock"), k)
    for incident in incidents:
        if incident.kind == "stockout_wave":
            _stock_out(state, k, incident)
    weekly = to_date(k).isoweekday() == 7 and k >= day_number(epoch)  # no snapshots in the history export
    inventory = _snapshot(state, rng_for(seed, k, "snapshot"), k) if weekly else None

    state.meta["next_day"] = k + 1
    return DayOutput(
        k,
        cust_out,
        cust_prev,
        prod_out,
        prod_prev,
        orders_out,
        orders_prev,
        items,
        shipments,
        new_orders,
        inventory,
        failed,
    )


def _customers_day(
    state: WorldState, pools: Pools, rng: np.random.Generator, sz: Sizes, k: int, demand: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    cust = state.customers
    # Profile changes first (email or country), then today's signups.
    n_change = rng.binomial(len(cust), PROFILE_CHANGES_PER_DAY) if len(cust) else 0
    changed = (
        np.sort(rng.choice(len(cust), size=n_change, replace=False))
        if n_change
        else np.array([], dtype=np.int64)
    )
    changed = changed[cust["signup_day"].to_numpy()[changed] < k]
    previous = cust.iloc[changed][CUSTOMER_COLS].copy()
    if len(changed):
        new_country = _weighted(rng, vocab.COUNTRY_WEIGHTS, len(changed))
        # A move goes to another country; a customer drawn to "move" within the same one changes e-mail instead.
        moves = (rng.random(len(changed)) < 0.4) & (new_country != cust["country"].to_numpy()[changed])
        new_domain = np.array(vocab.EMAIL_DOMAINS, dtype=object)[
            rng.integers(0, len(vocab.EMAIL_DOMAINS), len(changed))
        ]
        local = cust["email"].to_numpy()[changed]
        new_email = (
            np.array([e.split("@")[0] for e in local], dtype=object)
            + np.char.mod("%d", k % 97).astype(object)
            + "@"
            + new_domain
        )
        # Whole columns replaced (a positional update of a few rows is slow on a large mixed frame).
        country, email, updated = (cust[c].to_numpy(copy=True) for c in ("country", "email", "updated_at"))
        country[changed] = np.where(moves, new_country, country[changed])
        email[changed] = np.where(moves, email[changed], new_email)
        updated[changed] = np.maximum(
            _times_in_day(rng, k, len(changed)), previous["updated_at"].to_numpy() + 1
        )
        cust["country"], cust["email"], cust["updated_at"] = country, email, updated

    n_new = int(rng.poisson(sz.signups_per_day * demand))
    new = _new_customers(rng, pools, n_new, len(cust) + 1)
    signup_at = np.sort(
        _times_in_day(rng, k, n_new)
    )  # ids follow signup time, so "signed up before t" is a prefix
    new["signup_day"] = k
    new["updated_at"] = signup_at
    buys = rng.random(n_new) < SIGNUP_BUYS
    in_session = rng.random(n_new) < FIRST_ORDER_IN_SESSION
    delay = np.where(
        in_session, 120 + rng.exponential(900.0, n_new), 3600 + rng.exponential(9.0 * DAY, n_new)
    )
    new["signup_at"] = signup_at
    new["rate"] = rng.gamma(2.0, 1.0 / REPEAT_DAYS / 2.0, n_new)
    new["active"] = np.zeros(n_new, dtype=np.int8)
    new["n_orders"] = np.zeros(n_new, dtype=np.int64)
    new["last_order_day"] = np.full(n_new, -1, dtype=np.int64)
    new["first_order_at"] = np.where(buys, signup_at + delay.astype(np.int64), -1)
    state.customers = pd.concat([cust, new], ignore_index=True) if n_new else cust

    out = pd.concat([state.customers.iloc[changed][CUSTOMER_COLS], new[CUSTOMER_COLS]], ignore_index=True)
    return out.reset_index(drop=True), previous.reset_index(drop=True)


def _products_day(
    state: WorldState, pools: Pools, rng: np.random.Generator, sz: Sizes, k: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    prod = state.products
    first_day = k == open_day(state.meta)
    n_price = 0 if first_day else min(rng.poisson(sz.products * 0.004), len(prod))
    n_recat = 0 if first_day else rng.binomial(1, min(1.0, sz.products * 0.0005))
    changed = (
        np.sort(rng.choice(len(prod), size=n_price + n_recat, replace=False))
        if n_price + n_recat
        else np.array([], dtype=np.int64)
    )
    previous = prod.iloc[changed][PRODUCT_COLS].copy()
    if len(changed):
        pi = prod.columns.get_loc
        is_recat = np.zeros(len(changed), dtype=bool)
        is_recat[rng.permutation(len(changed))[:n_recat]] = True
        factor = rng.choice([0.8, 0.85, 0.9, 0.95, 1.05, 1.1, 1.15, 1.2], size=len(changed))
        new_price = np.clip(
            np.floor(prod["price"].to_numpy()[changed] * factor) + 0.99, PRICE_RANGE[0], PRICE_RANGE[1]
        )
        prod.iloc[changed, pi("price")] = np.where(is_recat, prod["price"].to_numpy()[changed], new_price)
        cats = np.array(CATEGORIES, dtype=object)
        prod.iloc[changed, pi("category")] = np.where(
            is_recat, cats[rng.integers(0, len(cats), len(changed))], prod["category"].to_numpy()[changed]
        )
        # Changes take effect at the start of the day, so the new price is in force for all of it.
        prod.iloc[changed, pi("updated_at")] = np.maximum(
            k * DAY + rng.integers(0, 3600, len(changed)), previous["updated_at"].to_numpy() + 1
        )

    n_new = 0 if first_day else rng.poisson(sz.products * 0.002)
    new = _new_products(rng, pools, n_new, len(prod) + 1)
    new["launch_day"] = k + rng.integers(0, 15, n_new)  # announced up to two weeks before launch
    new["updated_at"] = _times_in_day(rng, k, n_new)
    new["cost_ratio"] = np.array([vocab.CATEGORY_COST_RATIO[c] for c in new["category"]]) * rng.uniform(
        0.9, 1.1, n_new
    )
    if n_new:
        state.products = pd.concat([prod, new], ignore_index=True)
        inv = state.inventory
        wh = int(state.meta["warehouses"])
        add = pd.DataFrame(
            {
                "warehouse": np.repeat(np.arange(wh), n_new).astype(np.int64),
                "product_idx": np.tile(np.arange(len(prod), len(prod) + n_new), wh).astype(np.int64),
                "on_hand": np.zeros(wh * n_new, dtype=np.int64),
                "reorder_point": np.full(wh * n_new, 5, dtype=np.int64),
                "restock_day": np.tile(new["launch_day"].to_numpy(), wh).astype(np.int64) - 1,
                "restock_qty": np.full(wh * n_new, 20, dtype=np.int64),
            }
        )
        state.inventory = pd.concat([inv, add], ignore_index=True)
    out = state.products if first_day else pd.concat([state.products.iloc[changed], new], ignore_index=True)
    return out[PRODUCT_COLS].reset_index(drop=True), previous.reset_index(drop=True)


def _place_orders(
    state: WorldState, rng: np.random.Generator, sz: Sizes, k: int, demand: float, new_column_from: int | None,
    incidents: Sequence[Incident] = (),
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:  # fmt: skip
    cust, prod, meta = state.customers, state.products, state.meta
    # First orders fall when the sign-up planned them; active customers buy again at their own rate.
    first_at = cust["first_order_at"].to_numpy()
    first = np.flatnonzero((first_at >= k * DAY) & (first_at < (k + 1) * DAY))
    last = cust["last_order_day"].to_numpy()
    active = np.flatnonzero((cust["active"].to_numpy() == 1) & (last < k))
    repeats = np.minimum(rng.poisson(cust["rate"].to_numpy()[active] * demand), 2)
    again = np.repeat(active, repeats)
    cidx = np.r_[first, again].astype(np.int64)
    ts = np.r_[first_at[first], _times_in_day(rng, k, len(again))].astype(np.int64)
    by_time = np.argsort(ts, kind="stable")  # order ids follow placement time
    cidx, ts = cidx[by_time], ts[by_time]
    outages = [i for i in incidents if i.kind == "payment_outage"]
    lost, failed = _failed_payments(int(meta["seed"]), k, ts, outages)
    if lost.any():  # those customers did not order today (a first-time buyer gives up)
        cidx, ts = cidx[~lost], ts[~lost]
        first, again = first[np.isin(first, cidx)], again[np.isin(again, cidx)]
    n = len(cidx)
    order_ids = np.arange(meta["next_order_id"], meta["next_order_id"] + n, dtype=np.int64)
    meta["next_order_id"] += n
    np.maximum.at(last, cidx, k)
    cust["last_order_day"] = last
    cust["n_orders"] = cust["n_orders"].to_numpy() + np.bincount(cidx, minlength=len(cust))
    first_at[first] = -1
    cust["first_order_at"] = first_at
    act = cust["active"].to_numpy().copy()
    act[first] = rng.random(len(first)) < FIRST_ORDER_RETENTION
    came_back = np.unique(again)
    act[came_back] = rng.random(len(came_back)) >= REPEAT_DROPOUT
    cust["active"] = act.astype(np.int8)

    channel = _weighted(rng, vocab.CHANNEL_WEIGHTS, n)
    payment = _weighted(rng, vocab.PAYMENT_WEIGHTS, n)
    for incident in outages:  # the customers who retried paid another way
        payment = _other_payment(int(meta["seed"]), k, ts, payment, incident)
    coupon = np.full(n, None, dtype=object)
    world_day = k - day_number(dt.date.fromisoformat(meta["start_date"])) + 1
    if new_column_from is not None and world_day >= new_column_from:
        has = rng.random(n) < 0.15
        codes = np.array(list(COUPON_DISCOUNT), dtype=object)
        coupon[has] = codes[rng.integers(0, len(codes), int(has.sum()))]

    # Items: about two per order on average, products by long-tailed popularity among launched ones.
    n_items = 1 + np.minimum(rng.poisson(1.0, n), 7)
    launched = np.flatnonzero(prod["launch_day"].to_numpy() <= k)
    pop = demand_weights(prod)[launched]
    item_order = np.repeat(np.arange(n), n_items)
    pidx = launched[rng.choice(len(launched), size=len(item_order), p=pop / pop.sum())]
    # A product drawn twice for one order is one line (the first draw).
    keep = np.zeros(len(pidx), dtype=bool)
    keep[np.unique(item_order * (len(prod) + 1) + pidx, return_index=True)[1]] = True
    item_order, pidx = item_order[keep], pidx[keep]
    qty = rng.choice(5, size=len(pidx), p=[0.62, 0.2, 0.1, 0.05, 0.03]) + 1
    # Lines sell at the list price in force, some on promotion; a coupon takes its share off every line.
    list_price = prod["price"].to_numpy()[pidx]
    promo = np.where(rng.random(len(pidx)) < PROMOTED_LINES, rng.choice(PROMOTION_STEPS, size=len(pidx)), 0.0)
    coupon_off = np.array([COUPON_DISCOUNT.get(c, 0.0) if c else 0.0 for c in coupon], dtype=float)
    item_price = np.round(list_price * (1 - promo) * (1 - coupon_off[item_order]), 2)
    for incident in incidents:
        if incident.kind == "pricing_bug":
            wrong = (prod["category"].to_numpy()[pidx] == incident.target) & _in_window(
                ts[item_order], incident
            )
            item_price = np.where(
                wrong, np.minimum(np.round(item_price * incident.magnitude, 2), ITEM_PRICE_CAP), item_price
            )
    item_ids = np.arange(meta["next_order_item_id"], meta["next_order_item_id"] + len(pidx), dtype=np.int64)
    meta["next_order_item_id"] += len(pidx)
    items = pd.DataFrame(
        {
            "order_item_id": item_ids,
            "order_id": order_ids[item_order],
            "product_id": pidx + 1,
            "quantity": qty,
            "item_price": item_price,
        }
    )

    # Each order's future: cancellation, or processing, shipping and delivery on later days.
    cancelled = rng.random(n) < 0.06
    processing_ts = ts + rng.integers(600, 20 * 3600, n)
    cancel_ts = ts + rng.integers(1800, 48 * 3600, n)
    ship_day = k + rng.choice(np.arange(1, 8), size=n, p=[0.3, 0.28, 0.18, 0.1, 0.06, 0.05, 0.03])
    ship_ts = ship_day * DAY + rng.integers(8 * 3600, 20 * 3600, n)
    processing_ts = np.minimum(processing_ts, ship_ts - 1800)  # ship_ts is at least 8 hours into a later day
    ok = ~cancelled
    parcels = _fulfilment(rng, item_order, n, ship_day, int(meta["warehouses"]))
    # Delivered once the last parcel has arrived.
    deliver_ts = (
        parcels.last_day + rng.choice(np.arange(1, 7), size=n, p=[0.15, 0.3, 0.25, 0.15, 0.1, 0.05])
    ) * DAY + rng.integers(9 * 3600, 21 * 3600, n)
    proc = ~cancelled | (processing_ts < cancel_ts)
    steps = [("Pending", np.ones(n, bool), ts), ("Processing", proc, processing_ts), ("Cancelled", cancelled, cancel_ts),
             ("Shipped", ok, ship_ts), ("Delivered", ok, deliver_ts)]  # fmt: skip
    ev = pd.DataFrame(
        {
            "order_id": np.concatenate([order_ids[m] for _, m, _ in steps]),
            "status": np.concatenate([np.full(int(m.sum()), name, dtype=object) for name, m, _ in steps]),
            "ts": np.concatenate([t[m] for _, m, t in steps]).astype(np.int64),
        }
    )
    state.order_events = pd.concat([state.order_events, ev], ignore_index=True)
    new_orders = pd.DataFrame(
        {"order_id": order_ids, "customer_id": cidx + 1, "order_day": k, "ship_day": np.where(ok, ship_day, -1),
         "payment_method": payment, "channel": channel, "coupon_code": coupon, "placed_at": ts}
    )  # fmt: skip
    state.open_orders = pd.concat(
        [state.open_orders, new_orders.rename(columns={"placed_at": "status_at"})], ignore_index=True
    )

    # Units are reserved in their warehouse now and leave it with their parcel (or are released on cancel).
    items["warehouse"] = parcels.line_warehouse
    release = np.where(ok[item_order], parcels.line_day, cancel_ts[item_order] // DAY)
    state.open_items = pd.concat(
        [state.open_items, pd.DataFrame({"order_id": order_ids[item_order], "warehouse": parcels.line_warehouse,
                                         "product_idx": pidx, "quantity": qty, "release_day": release,
                                         "ships": ok[item_order].astype(np.int64)})],
        ignore_index=True,
    )  # fmt: skip
    _plan_shipments(state, rng, order_ids, parcels, ok)
    return new_orders, items, failed


ITEM_PRICE_CAP = SOURCES["order_items"].column("item_price").range[1]  # what bronze accepts for a line
ONLINE_SHARE = vocab.CHANNEL_WEIGHTS["web"] + vocab.CHANNEL_WEIGHTS["mobile_app"]


def _in_window(ts: np.ndarray, incident: Incident) -> np.ndarray:
    return (ts >= incident.start_ts) & (ts < incident.end_ts)


def _failed_payments(
    seed: int, k: int, ts: np.ndarray, outages: list[Incident]
) -> tuple[np.ndarray, np.ndarray]:
    """Orders lost to a payment outage: those that would have paid with the failing method, less the
    share (`magnitude`) that retried another way; and the times of the online ones, which end as
    abandoned checkouts in the clickstream."""
    lost = np.zeros(len(ts), dtype=bool)
    weights = vocab.PAYMENT_WEIGHTS
    for incident in outages:
        r = rng_for(seed, k, "incident-" + incident.id)
        share = weights[incident.target] / sum(weights.values())
        lost |= _in_window(ts, incident) & (r.random(len(ts)) < share * (1 - incident.magnitude))
    if not lost.any():
        return lost, np.zeros(0, dtype=np.int64)
    r = rng_for(seed, k, "incident-checkouts")
    online = r.random(int(lost.sum())) < ONLINE_SHARE
    return lost, ts[lost][online].astype(np.int64)


def _other_payment(seed: int, k: int, ts: np.ndarray, payment: np.ndarray, incident: Incident) -> np.ndarray:
    hit = np.flatnonzero(_in_window(ts, incident) & (payment == incident.target))
    if not len(hit):
        return payment
    others = {m: w for m, w in vocab.PAYMENT_WEIGHTS.items() if m != incident.target}
    payment = payment.copy()
    payment[hit] = _weighted(rng_for(seed, k, "incident-retry-" + incident.id), others, len(hit))
    return payment


def _delay_deliveries(state: WorldState, k: int, incident: Incident) -> None:
    """Orders whose last parcel leaves today with the delayed carrier arrive `magnitude` days later."""
    ps = state.pending_shipments
    if not len(ps):
        return
    last_day = ps.groupby("order_id")["shipment_day"].transform("max").to_numpy()
    today = (
        (ps["shipment_day"].to_numpy() == k) & (last_day == k) & (ps["carrier"].to_numpy() == incident.target)
    )
    late = np.unique(ps["order_id"].to_numpy()[today])
    ev = state.order_events
    hit = (ev["status"].to_numpy() == "Delivered") & np.isin(ev["order_id"].to_numpy(), late)
    if hit.any():
        ts = ev["ts"].to_numpy().copy()
        ts[hit] += int(incident.magnitude) * DAY
        ev["ts"] = ts


def _stock_out(state: WorldState, k: int, incident: Incident) -> None:
    """A warehouse's most popular products at zero, their restocks held back until the incident ends."""
    inv, prod = state.inventory, state.products
    wh = warehouse_ids(int(state.meta["warehouses"])).index(incident.target)
    launched = np.flatnonzero(prod["launch_day"].to_numpy() <= k)
    top = launched[np.argsort(-prod["popularity"].to_numpy()[launched], kind="stable")]
    top = top[: max(1, round(len(launched) * incident.magnitude))]
    hit = (inv["warehouse"].to_numpy() == wh) & np.isin(inv["product_idx"].to_numpy(), top)
    end_day = -(-incident.end_ts // DAY)
    inv["on_hand"] = np.where(hit, 0, inv["on_hand"].to_numpy())
    restock = inv["restock_day"].to_numpy()
    inv["restock_day"] = np.where(hit & (restock >= 0) & (restock < end_day), end_day, restock)


@dataclass(frozen=True)
class Parcels:
    """How a day's orders are fulfilled: one parcel per warehouse an order's lines are picked from."""

    order: np.ndarray  # per parcel: the order's position among the day's orders
    warehouse: np.ndarray  # per parcel
    day: np.ndarray  # per parcel: the day it ships (the first on the order's ship day)
    lines: np.ndarray  # per parcel: how many order lines it holds
    line_warehouse: np.ndarray  # per order line
    line_day: np.ndarray  # per order line: its parcel's day
    last_day: np.ndarray  # per order: the day its last parcel ships


def _fulfilment(
    rng: np.random.Generator, item_order: np.ndarray, n: int, ship_day: np.ndarray, warehouses: int
) -> Parcels:
    """Each order is picked in its home warehouse (the larger ones more often); a share of orders with
    several lines is split across two or three warehouses (never more than exist), each shipping what it
    holds of the order as one parcel, the first on the order's ship day and the others up to two days later."""
    home = rng.choice(warehouses, size=n, p=_warehouse_weights(warehouses))
    n_lines = np.bincount(item_order, minlength=n)
    split = (n_lines >= 2) & (rng.random(n) < SPLIT_MULTI_LINE_ORDERS)
    sizes = rng.choice([2, 3], size=n, p=[0.8, 0.2])
    n_parcels = np.where(split, np.minimum(np.minimum(sizes, n_lines), warehouses), 1)
    # Line r of an order: the first lines open the parcels, the rest join one at random.
    starts = np.cumsum(n_lines) - n_lines
    rank = np.arange(len(item_order)) - starts[item_order]
    line_parcel = np.where(
        rank < n_parcels[item_order],
        rank,
        (rng.random(len(item_order)) * n_parcels[item_order]).astype(np.int64),
    )
    order = np.repeat(np.arange(n), n_parcels)
    p_starts = np.cumsum(n_parcels) - n_parcels
    parcel_no = np.arange(len(order)) - p_starts[order]
    day = ship_day[order] + np.where(parcel_no == 0, 0, rng.integers(0, 3, len(order)))
    warehouse = (home[order] + parcel_no) % warehouses
    parcel_of_line = p_starts[item_order] + line_parcel
    last_day = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_day, order, day)
    return Parcels(
        order=order,
        warehouse=warehouse.astype(np.int64),
        day=day.astype(np.int64),
        lines=np.bincount(parcel_of_line, minlength=len(order)),
        line_warehouse=warehouse[parcel_of_line].astype(np.int64),
        line_day=day[parcel_of_line].astype(np.int64),
        last_day=last_day,
    )


def _plan_shipments(
    state: WorldState, rng: np.random.Generator, order_ids: np.ndarray, parcels: Parcels, ok: np.ndarray
) -> None:
    """The parcels of the orders that were not cancelled, to be shipped on their day."""
    keep = ok[parcels.order]
    oi, day, wh, lines = parcels.order[keep], parcels.day[keep], parcels.warehouse[keep], parcels.lines[keep]
    carrier = _weighted(rng, vocab.CARRIER_WEIGHTS, len(oi))
    base = np.array([vocab.CARRIER_BASE_COST[c] for c in carrier]) if len(oi) else np.array([])
    cost = np.clip(np.round(base + 2.2 * lines + rng.gamma(2.0, 2.5, len(oi)), 2), *SHIPMENT_COST_RANGE)
    sid = np.arange(state.meta["next_shipment_id"], state.meta["next_shipment_id"] + len(oi), dtype=np.int64)
    state.meta["next_shipment_id"] += len(oi)
    state.pending_shipments = pd.concat(
        [state.pending_shipments, pd.DataFrame({"shipment_id": sid, "order_id": order_ids[oi], "shipment_day": day,
                                                 "warehouse": wh, "carrier": carrier,
                                                 "tracking_number": tracking_numbers(carrier, sid),
                                                 "shipment_cost": cost})],
        ignore_index=True,
    )  # fmt: skip


def tracking_numbers(carrier: np.ndarray, shipment_id: np.ndarray) -> np.ndarray:
    """Carrier-style tracking numbers, unique because each encodes a bijective scramble of the id."""
    scrambled = (shipment_id.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) % np.uint64(10**12)
    digits = np.char.mod("%012d", scrambled.astype(np.int64)).astype(object)
    prefix = {
        "UPS": "1Z",
        "FedEx": "7",
        "USPS": "9400",
        "DHL": "JD",
        "Amazon Logistics": "TBA",
        "OnTrac": "C",
    }
    ids = np.char.mod("%08d", shipment_id).astype(object)
    pre = np.array([prefix[c] for c in carrier], dtype=object) if len(carrier) else np.array([], dtype=object)
    return pre + digits + ids


def _order_status_rows(state: WorldState, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per order whose status changed today, with its end-of-day status; plus its previous version."""
    ev = state.order_events
    ts = ev["ts"].to_numpy()
    day = ts // DAY
    today = day == k
    oid, status, at = ev["order_id"].to_numpy()[today], ev["status"].to_numpy()[today], ts[today]
    by = np.lexsort((at, oid))  # by order, then time (stable: ties keep their order)
    oid, status, at = oid[by], status[by], at[by]
    change = oid[1:] != oid[:-1]
    last, first = np.r_[change, True], np.r_[True, change]
    state.order_events = ev[day > k].reset_index(drop=True)

    oo = state.open_orders  # in order_id order: orders are appended as placed and only ever removed
    pos = np.searchsorted(oo["order_id"].to_numpy(), oid[last])
    rows = oo.iloc[pos].reset_index(drop=True)
    rows["status"] = status[last]
    rows["updated_at"] = at[last]
    shipped = np.isin(rows["status"].to_numpy(), ["Shipped", "Delivered"])
    ship_day = rows["ship_day"].to_numpy()
    rows["ship_day"] = np.where(shipped, ship_day, -1)

    # The version each row replaces: the status before today's first change (none for new orders).
    prev_status = _previous_status(status[first])
    has_prev = rows["order_day"].to_numpy() < k
    prev = rows[has_prev].copy()
    prev["status"] = prev_status[has_prev]
    prev["ship_day"] = np.where(
        np.isin(prev_status[has_prev], ["Shipped", "Delivered"]), ship_day[has_prev], -1
    )
    # The replaced version is the one the last file showed: its time is when that status was reached.
    prev["updated_at"] = prev["status_at"]
    rows, prev = rows.drop(columns="status_at"), prev.drop(columns="status_at")
    status_at = oo["status_at"].to_numpy().copy()
    status_at[pos] = at[last]
    oo["status_at"] = status_at

    done = oid[last][np.isin(status[last], ["Delivered", "Cancelled"])]
    state.open_orders = oo[~np.isin(oo["order_id"].to_numpy(), done)].reset_index(drop=True)
    return rows, prev.reset_index(drop=True)


def _previous_status(first_today: np.ndarray) -> np.ndarray:
    before = {
        "Pending": "Pending",
        "Processing": "Pending",
        "Shipped": "Processing",
        "Delivered": "Shipped",
        "Cancelled": "Processing",
    }
    return np.array([before[s] for s in first_today], dtype=object)


def _shipments_day(state: WorldState, k: int) -> pd.DataFrame:
    ps = state.pending_shipments
    due = ps["shipment_day"].to_numpy() == k
    out = ps[due].sort_values("shipment_id").reset_index(drop=True)
    state.pending_shipments = ps[~due].reset_index(drop=True)
    return out


def _move_stock(state: WorldState, rng: np.random.Generator, k: int) -> None:
    """Ship today's units out of stock (never below zero), receive restocks, reorder what runs low."""
    inv = state.inventory
    n_prod = len(state.products)
    wh_n = int(state.meta["warehouses"])
    slot = inv["warehouse"].to_numpy() * n_prod + inv["product_idx"].to_numpy()
    pos = np.full(wh_n * n_prod, -1, dtype=np.int64)
    pos[slot] = np.arange(len(inv))

    items = state.open_items
    release = items["release_day"].to_numpy() == k
    shipped = items[release & (items["ships"].to_numpy() == 1)]
    on_hand = inv["on_hand"].to_numpy().copy()
    out_units = np.bincount(pos[shipped["warehouse"].to_numpy() * n_prod + shipped["product_idx"].to_numpy()],
                            weights=shipped["quantity"].to_numpy(), minlength=len(inv)).astype(np.int64)  # fmt: skip
    on_hand = np.maximum(on_hand - out_units, 0)
    state.open_items = items[~release].reset_index(drop=True)

    arriving = inv["restock_day"].to_numpy() == k
    on_hand = on_hand + np.where(arriving, inv["restock_qty"].to_numpy(), 0)
    restock_day = np.where(arriving, -1, inv["restock_day"].to_numpy())

    reserved = _reserved(state, pos, n_prod, len(inv))
    available = on_hand - reserved
    low = (available <= inv["reorder_point"].to_numpy()) & (restock_day < 0)
    target = inv["reorder_point"].to_numpy() * 3
    restock_day = np.where(low, k + rng.integers(2, 7, len(inv)), restock_day)
    restock_qty = np.where(
        low, np.maximum(target - available, inv["reorder_point"].to_numpy()), inv["restock_qty"].to_numpy()
    )
    inv["on_hand"], inv["restock_day"], inv["restock_qty"] = on_hand, restock_day, restock_qty


def _reserved(state: WorldState, pos: np.ndarray, n_prod: int, size: int) -> np.ndarray:
    it = state.open_items
    idx = pos[it["warehouse"].to_numpy() * n_prod + it["product_idx"].to_numpy()]
    return np.bincount(idx, weights=it["quantity"].to_numpy(), minlength=size).astype(np.int64)


def _snapshot(state: WorldState, rng: np.random.Generator, k: int) -> pd.DataFrame:
    inv = state.inventory
    n_prod = len(state.products)
    slot = inv["warehouse"].to_numpy() * n_prod + inv["product_idx"].to_numpy()
    pos = np.full(int(state.meta["warehouses"]) * n_prod, -1, dtype=np.int64)
    pos[slot] = np.arange(len(inv))
    prod = state.products
    pidx = inv["product_idx"].to_numpy()
    launched = prod["launch_day"].to_numpy()[pidx] <= k
    unit_cost = np.round(prod["price"].to_numpy()[pidx] * prod["cost_ratio"].to_numpy()[pidx], 2)
    snap = pd.DataFrame(
        {
            "snapshot_day": k,
            "warehouse": inv["warehouse"].to_numpy(),
            "product_id": pidx + 1,
            "on_hand": inv["on_hand"].to_numpy(),
            "reserved": np.minimum(_reserved(state, pos, n_prod, len(inv)), inv["on_hand"].to_numpy()),
            "reorder_point": inv["reorder_point"].to_numpy(),
            "unit_cost": np.maximum(unit_cost, 0.01),
        }
    )[launched]
    return snap.sort_values(["warehouse", "product_id"]).reset_index(drop=True)

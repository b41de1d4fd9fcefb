"""Clickstream sessions that walk a shopping funnel, vectorised, and their JSON-lines encoding.

Every purchase event belongs to a real web or app order of the same customer, at the order's
placement time. Sessions stay within their day (a session starting before midnight is shifted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from generators import vocab
from generators.world import DAY, _times_in_day, _weighted
from lakehouse.sources import CATEGORIES

STAGE = {"page_view": 1, "search": 1, "product_view": 1, "add_to_cart": 2, "remove_from_cart": 3, "checkout_start": 4, "purchase": 5}
TARGET_PURCHASE_RATE = 0.03


def _uuid4(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    lut = np.frombuffer(b"0123456789abcdef", dtype="S1")
    hexed = np.empty((n, 32), dtype="S1")
    hexed[:, 0::2], hexed[:, 1::2] = lut[raw >> 4], lut[raw & 15]
    out = np.full((n, 36), b"-", dtype="S1")
    for dst, src in ((0, 0), (9, 8), (14, 12), (19, 16), (24, 20)):
        width = {0: 8, 9: 4, 14: 4, 19: 4, 24: 12}[dst]
        out[:, dst : dst + width] = hexed[:, src : src + width]
    return out.view("S36").ravel().astype("U36")


def simulate_sessions(
    rng: np.random.Generator, day: int, customers: pd.DataFrame, products: pd.DataFrame, new_orders: pd.DataFrame, items: pd.DataFrame
) -> pd.DataFrame:
    """One day's events as a frame sorted by event time, with everything the JSON lines need."""
    online = new_orders[new_orders["channel"].isin(["web", "mobile_app"])].reset_index(drop=True)
    n_buy = len(online)
    n_browse = max(int(rng.poisson(max(n_buy, 1) / TARGET_PURCHASE_RATE)) - n_buy, 1)
    launched = np.flatnonzero(products["launch_day"].to_numpy() <= day)
    pop = products["popularity"].to_numpy()[launched]
    pop = pop / pop.sum()

    # Browsing sessions: landing page, more pages, searches, product views; some carts, fewer checkouts.
    n_pv = 1 + rng.poisson(1.3, n_browse)
    n_search = rng.poisson(0.7, n_browse)
    n_view = rng.poisson(1.9, n_browse)
    carts = (n_view > 0) & (rng.random(n_browse) < 0.12)
    n_add = np.where(carts, 1 + rng.poisson(0.3, n_browse), 0)
    n_remove = np.where(carts & (rng.random(n_browse) < 0.25), 1, 0)
    n_checkout = np.where(carts & (rng.random(n_browse) < 0.35), 1, 0)

    # Buying sessions: the order's products viewed and added, checkout, purchase.
    order_items = items.groupby("order_id", sort=False)
    buy_items = online[["order_id"]].merge(items, on="order_id", how="left")
    k_items = online["order_id"].map(order_items.size()).fillna(0).to_numpy().astype(np.int64)
    b_pv = 1 + rng.poisson(0.8, n_buy)
    b_search = rng.poisson(0.8, n_buy)
    b_extra_view = rng.poisson(1.0, n_buy)

    n_sess = n_browse + n_buy
    counts = {
        "page_view": np.r_[n_pv, b_pv],
        "search": np.r_[n_search, b_search],
        "product_view": np.r_[n_view, b_extra_view + k_items],
        "add_to_cart": np.r_[n_add, k_items],
        "remove_from_cart": np.r_[n_remove, np.zeros(n_buy, np.int64)],
        "checkout_start": np.r_[n_checkout, np.ones(n_buy, np.int64)],
        "purchase": np.r_[np.zeros(n_browse, np.int64), np.ones(n_buy, np.int64)],
    }
    parts = []
    for etype, cnt in counts.items():
        sess = np.repeat(np.arange(n_sess), cnt)
        parts.append(pd.DataFrame({"sess": sess, "event_type": etype}))
    ev = pd.concat(parts, ignore_index=True)
    n = len(ev)
    sess = ev["sess"].to_numpy()
    etype = ev["event_type"].to_numpy()
    is_buy_sess = sess >= n_browse
    bi = sess - n_browse  # index into `online` for buying sessions

    # Funnel order within a session: landing page first, browsing in random order, then cart steps.
    stage = np.array([STAGE[t] for t in vocab_event_types()], dtype=float)[pd.Categorical(etype, categories=vocab_event_types()).codes]
    first_pv = (etype == "page_view") & np.r_[True, sess[1:] != sess[:-1]]  # parts start with page views
    rank = np.where(first_pv, 0.0, stage + rng.random(n) * 0.9)
    order = np.lexsort((rank, sess))
    ev = ev.iloc[order].reset_index(drop=True)
    sess, etype, is_buy_sess, bi = sess[order], etype[order], is_buy_sess[order], bi[order]

    # Products: buying sessions view and add exactly the ordered items; others draw by popularity.
    product_idx = launched[rng.choice(len(launched), size=n, p=pop)]
    quantity = rng.choice(3, size=n, p=[0.8, 0.15, 0.05]) + 1
    start_of = np.r_[0, np.flatnonzero(sess[1:] != sess[:-1]) + 1]
    sess_start = start_of[np.cumsum(np.r_[True, sess[1:] != sess[:-1]]) - 1]
    if n_buy:
        buy_items = buy_items.dropna(subset=["product_id"])
        item_first = np.r_[0, np.cumsum(k_items)[:-1]]
        for step in ("add_to_cart", "product_view"):
            m = is_buy_sess & (etype == step)
            idx = np.flatnonzero(m)
            nth = idx - np.r_[0, np.flatnonzero(np.diff(sess[idx]) != 0) + 1][np.cumsum(np.r_[True, np.diff(sess[idx]) != 0]) - 1] if len(idx) else idx
            take = nth < k_items[bi[idx]]
            src = item_first[bi[idx[take]]] + nth[take]
            product_idx[idx[take]] = buy_items["product_id"].to_numpy().astype(np.int64)[src] - 1
            if step == "add_to_cart":
                quantity[idx[take]] = buy_items["quantity"].to_numpy().astype(np.int64)[src]
    # Browsing carts add one of the products the session viewed.
    views = etype == "product_view"
    last_view = np.maximum.accumulate(np.where(views, np.arange(n), -1))
    cart_like = np.isin(etype, ["add_to_cart", "remove_from_cart"]) & ~is_buy_sess & (last_view >= sess_start)
    product_idx[cart_like] = product_idx[last_view[cart_like]]
    has_product = np.isin(etype, ["product_view", "add_to_cart", "remove_from_cart"])

    # Times: buying sessions end at the order's placement; browsing ones start at a diurnal time.
    gaps = rng.exponential(45.0, n)
    gaps[sess_start == np.arange(n)] = 0.0
    cum = np.cumsum(gaps)
    offset = cum - cum[sess_start]
    end_idx = np.r_[start_of[1:] - 1, n - 1]
    duration = offset[end_idx]
    start_ts = _times_in_day(rng, day, n_sess).astype(float)
    placed = online["placed_at"].to_numpy().astype(float)
    start_ts[n_browse:] = placed - duration[n_browse:]
    day_start, day_end = float(day * DAY), float((day + 1) * DAY - 1)
    # Squeeze sessions that would cross midnight so each stays within its day (only buying sessions,
    # which end at a fixed time, can start early; only browsing ones can run past midnight).
    scale = np.ones(n_sess)
    early = start_ts < day_start
    scale[early] = (start_ts[early] + duration[early] - day_start) / np.maximum(duration[early], 1e-9)
    start_ts = np.where(early, day_start, start_ts)
    overrun = (start_ts + duration > day_end) & (np.arange(n_sess) < n_browse)
    scale[overrun] = (day_end - start_ts[overrun]) / np.maximum(duration[overrun], 1e-9)
    ts_ms = np.floor((start_ts[sess] + offset * scale[sess]) * 1000).astype(np.int64)
    purchase = etype == "purchase"
    if n_buy:
        ts_ms[purchase] = (placed[bi[purchase]] * 1000).astype(np.int64)

    # Session attributes: visitor, device, traffic source, country.
    logged_in_browse = rng.random(n_browse) < 0.35
    eligible = np.flatnonzero(customers["signup_day"].to_numpy() <= day)
    browse_cust = np.where(logged_in_browse, customers["customer_id"].to_numpy()[eligible[rng.integers(0, len(eligible), n_browse)]], -1)
    sess_customer = np.r_[browse_cust, online["customer_id"].to_numpy()].astype(np.int64)
    known = sess_customer > 0
    sess_country = _weighted(rng, vocab.COUNTRY_WEIGHTS, n_sess)
    sess_country[known] = customers["country"].to_numpy()[sess_customer[known] - 1]
    sess_device = _weighted(rng, vocab.DEVICE_WEIGHTS, n_sess)
    sess_source = _weighted(rng, vocab.TRAFFIC_WEIGHTS, n_sess)
    app = np.r_[np.zeros(n_browse, bool), online["channel"].to_numpy() == "mobile_app"]
    app |= (sess_device == "mobile") & (rng.random(n_sess) < 0.3)
    sess_device[app] = "mobile"
    sess_source[app] = "app"
    session_ids = _uuid4(rng, n_sess)

    cats = products["category"].to_numpy()
    prices = products["price"].to_numpy()
    pid = np.where(has_product, product_idx + 1, -1)
    search_terms = np.array(vocab.SEARCH_TERMS, dtype=object)[rng.integers(0, len(vocab.SEARCH_TERMS), n)]
    page = np.array(vocab.PAGE_TITLES, dtype=object)[rng.integers(0, len(vocab.PAGE_TITLES), n)]
    cat_slug = np.array([c.lower().replace(" & ", "-").replace(" ", "-") for c in CATEGORIES], dtype=object)
    cat_page = "/category/" + cat_slug[rng.integers(0, len(CATEGORIES), n)]
    page = np.where(rng.random(n) < 0.4, cat_page, page)
    pid_str = np.char.mod("%d", np.maximum(pid, 0)).astype(object)
    page = np.select(
        [etype == "search", has_product & (etype != "remove_from_cart"), etype == "remove_from_cart", etype == "checkout_start", purchase],
        ["/search?q=" + np.char.replace(search_terms.astype(str), " ", "+").astype(object), "/product/" + pid_str, "/cart", "/checkout", "/checkout/confirmation"],
        page,
    )
    first_event = sess_start == np.arange(n)
    referrer = np.array([vocab.REFERRERS[s] for s in sess_source], dtype=object)[sess]
    referrer = np.where(first_event, referrer, None)

    order_id = np.full(n, -1, dtype=np.int64)
    revenue = np.zeros(n)
    n_lines = np.zeros(n, dtype=np.int64)
    if n_buy:
        order_id[purchase] = online["order_id"].to_numpy()[bi[purchase]]
        rev = (items["quantity"] * items["item_price"]).groupby(items["order_id"]).sum()
        revenue[purchase] = np.round(online["order_id"].map(rev).fillna(0).to_numpy()[bi[purchase]], 2)
        n_lines[purchase] = k_items[bi[purchase]]

    out = pd.DataFrame(
        {
            "event_id": _uuid4(rng, n),
            "ts_ms": ts_ms,
            "session_id": session_ids[sess],
            "customer_id": sess_customer[sess],
            "event_type": etype,
            "product_id": pid,
            "order_id": order_id,
            "page": page,
            "referrer": referrer,
            "traffic_source": sess_source[sess],
            "device": sess_device[sess],
            "country": sess_country[sess],
            "query": search_terms,
            "results": rng.integers(0, 240, n),
            "category": np.where(has_product, cats[np.maximum(pid, 1) - 1], None),
            "price": np.where(has_product, prices[np.maximum(pid, 1) - 1], 0.0),
            "quantity": quantity,
            "revenue": revenue,
            "items": n_lines,
            "load_ms": np.round(rng.lognormal(6.0, 0.5, n)).astype(np.int64),
        }
    )
    out = out.sort_values(["ts_ms", "event_id"], kind="stable").reset_index(drop=True)
    out["hour"] = (out["ts_ms"] // 3_600_000) % 24
    return out


def vocab_event_types() -> list[str]:
    return list(STAGE)


def _q(values: pa.Array) -> pa.Array:
    """JSON string literal, or null; values are from controlled vocabularies and need no escaping."""
    s = pc.cast(values, pa.string())
    return pc.fill_null(pc.binary_join_element_wise('"', s, '"', ""), "null")


def _n(values: pa.Array) -> pa.Array:
    return pc.fill_null(pc.cast(values, pa.string()), "null")


def _obj(pairs: list[tuple[str, pa.Array]]) -> pa.Array:
    frags = [pc.binary_join_element_wise(f'"{k}":', v, "") for k, v in pairs]
    return pc.binary_join_element_wise("{", pc.binary_join_element_wise(*frags, ","), "}", "")


PROPERTY_KEYS = {
    "page_view": [("title", "q:page"), ("load_ms", "n:load_ms")],
    "search": [("query", "q:query"), ("results", "n:results"), ("load_ms", "n:load_ms")],
    "product_view": [("category", "q:category"), ("price", "n:price"), ("load_ms", "n:load_ms")],
    "add_to_cart": [("quantity", "n:quantity"), ("price", "n:price")],
    "remove_from_cart": [("quantity", "n:quantity")],
    "checkout_start": [("step", "q:_checkout"), ("load_ms", "n:load_ms")],
    "purchase": [("revenue", "n:revenue"), ("items", "n:items"), ("currency", "q:_usd")],
}


def encode_json_lines(events: pd.DataFrame) -> pa.Array:
    """One JSON object per event, newline-terminated, built column-wise with Arrow compute."""
    n = len(events)
    if n == 0:
        return pa.array([], pa.string())
    ts = np.datetime_as_string(events["ts_ms"].to_numpy().astype("datetime64[ms]"), unit="ms")
    nullable = {c: pa.array(np.where(events[c].to_numpy() > 0, events[c].to_numpy(), 0), mask=events[c].to_numpy() <= 0) for c in ("customer_id", "product_id", "order_id")}
    top = [
        ("event_id", _q(pa.array(events["event_id"].to_numpy().astype(str)))),
        ("event_ts", _q(pc.binary_join_element_wise(pa.array(ts), "Z", ""))),
        ("session_id", _q(pa.array(events["session_id"].to_numpy().astype(str)))),
        ("customer_id", _n(nullable["customer_id"])),
        ("event_type", _q(pa.array(events["event_type"], pa.string()))),
        ("product_id", _n(nullable["product_id"])),
        ("order_id", _n(nullable["order_id"])),
        ("page", _q(pa.array(events["page"], pa.string()))),
        ("referrer", _q(pa.array(events["referrer"], pa.string()))),
        ("traffic_source", _q(pa.array(events["traffic_source"], pa.string()))),
        ("device", _q(pa.array(events["device"], pa.string()))),
        ("country", _q(pa.array(events["country"], pa.string()))),
    ]
    # Properties differ by event type: build each type's object on its rows, then put rows back in order.
    etype = events["event_type"].to_numpy()
    cols = {
        "page": events["page"], "load_ms": events["load_ms"], "query": events["query"], "results": events["results"],
        "category": events["category"], "price": events["price"], "quantity": events["quantity"],
        "revenue": events["revenue"], "items": events["items"],
    }  # fmt: skip
    pieces, positions = [], []
    for t, keys in PROPERTY_KEYS.items():
        idx = np.flatnonzero(etype == t)
        if not len(idx):
            continue
        pairs = []
        for key, spec in keys:
            how, col = spec.split(":")
            if col == "_usd":
                arr = pa.array(np.full(len(idx), "USD"))
            elif col == "_checkout":
                arr = pa.array(np.full(len(idx), "shipping"))
            else:
                arr = pa.array(cols[col].to_numpy()[idx])
            pairs.append((key, _q(arr) if how == "q" else _n(arr)))
        pieces.append(_obj(pairs))
        positions.append(idx)
    props = pa.concat_arrays(pieces).take(pa.array(np.argsort(np.concatenate(positions), kind="stable")))
    frags = [pc.binary_join_element_wise(f'"{k}":', v, "") for k, v in [*top, ("properties", props)]]
    return pc.binary_join_element_wise("{", pc.binary_join_element_wise(*frags, ","), "}\n", "")


"""Clickstream sessions that walk a shopping funnel, and their JSON-lines encoding, fully vectorised.

Every purchase event belongs to a real web or app order of the same customer, at the order's placement
time. A session belongs to the day it started; its events after midnight go to the next day's files. Columns are numpy arrays; text columns are integer codes into
small vocabularies, decoded only by Arrow when the JSON lines are built.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from generators import vocab
from generators.world import DAY, _times_in_day
from lakehouse.bronze.contract import CATEGORIES, COUNTRIES, DEVICES, EVENT_TYPES, TRAFFIC_SOURCES

TARGET_PURCHASE_RATE = 0.03
BROWSING_CARTS = 0.075  # share of browsing sessions that fill a cart: about 70% of carts are abandoned
PV, SEARCH, VIEW, ADD, REMOVE, CHECKOUT, PURCHASE = range(7)
STAGE = np.array([1, 1, 1, 2, 3, 4, 5], dtype=float)  # funnel position of each event type

# Page vocabulary: generic pages and category pages, then the fixed funnel pages.
CATEGORY_PAGES = tuple("/category/" + c.lower().replace(" & ", "-").replace(" ", "-") for c in CATEGORIES)
PAGES = (
    *vocab.PAGE_TITLES,
    *CATEGORY_PAGES,
    "/search?q=",
    "/product/",
    "/cart",
    "/checkout",
    "/checkout/confirmation",
)
P_SEARCH, P_PRODUCT, P_CART, P_CHECKOUT, P_CONFIRM = (PAGES.index(p) for p in PAGES[-5:])
SEARCH_SLUGS = tuple(t.replace(" ", "+") for t in vocab.SEARCH_TERMS)
PAGE_PATHS = (*PAGES, *(PAGES[P_SEARCH] + slug for slug in SEARCH_SLUGS))  # search pages with their query
REFERRER_BY_SOURCE = tuple(vocab.REFERRERS[s] for s in TRAFFIC_SOURCES)
COUNTRY_CODE = {c: i for i, c in enumerate(COUNTRIES)}


def _codes(
    rng: np.random.Generator, weights: dict[str, float], vocabulary: tuple[str, ...], n: int
) -> np.ndarray:
    p = np.array([weights.get(v, 0.0) for v in vocabulary])
    return rng.choice(len(vocabulary), size=n, p=p / p.sum()).astype(np.int32)


def _uuid4_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 36) uint8 ASCII of random version-4 UUIDs."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.frombuffer(raw.tobytes().hex().encode(), dtype=np.uint8).reshape(n, 32)
    out = np.empty((n, 36), dtype=np.uint8)
    out[:, [8, 13, 18, 23]] = ord("-")
    for dst, src, width in ((0, 0, 8), (9, 8, 4), (14, 12, 4), (19, 16, 4), (24, 20, 12)):
        out[:, dst : dst + width] = hexed[:, src : src + width]
    return out


def fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An Arrow string array over an (n, width) uint8 matrix, without a Python object per row."""
    n, width = chars.shape
    offsets = pa.py_buffer(np.arange(n + 1, dtype=np.int32) * width)
    return pa.Array.from_buffers(
        pa.string(), n, [None, offsets, pa.py_buffer(np.ascontiguousarray(chars).reshape(-1))]
    )


def _searchsorted_right(cdf: np.ndarray, u: np.ndarray, buckets: int = 1 << 14) -> np.ndarray:
    """`np.searchsorted(cdf, u, side="right")` for u in [0, 1), about three times faster: a table of
    bucket edges answers every u whose bucket holds no cdf step; only the rest are searched. Buckets are
    a power of two, so u * buckets and the edges are exact."""
    edges = np.searchsorted(cdf, np.arange(buckets + 1) / buckets, side="right")
    bucket = (u * buckets).astype(np.int64)
    found, upper = edges[bucket], edges[bucket + 1]
    unsure = np.flatnonzero(found != upper)
    found[unsure] = np.searchsorted(cdf, u[unsure], side="right")
    return found


def _segments(sess: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows grouped by session: index of each row's session start, and the start of every session."""
    new = np.r_[True, sess[1:] != sess[:-1]]
    starts = np.flatnonzero(new)
    return starts[np.cumsum(new) - 1], starts


def simulate_sessions(
    rng: np.random.Generator,
    day: int,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    new_orders: pd.DataFrame,
    items: pd.DataFrame,
    failed_checkouts: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One day's events as columns sorted by event time. `failed_checkouts` are the times of checkouts
    whose payment failed (a payment outage): browsing sessions that fill a cart and end at checkout."""
    online = new_orders[new_orders["channel"].isin(["web", "mobile_app"])].reset_index(drop=True)
    n_buy = len(online)
    failed = np.zeros(0) if failed_checkouts is None else failed_checkouts.astype(float)
    n_fail = len(failed)
    # Traffic does not fall with a payment outage: the failed checkouts count as would-be buyers.
    n_browse = max(int(rng.poisson(max(n_buy + n_fail, 1) / TARGET_PURCHASE_RATE)) - n_buy, n_fail, 1)
    fail_sess = np.arange(n_browse - n_fail, n_browse)
    n_sess = n_browse + n_buy
    launched = np.flatnonzero(products["launch_day"].to_numpy() <= day)
    pop = products["popularity"].to_numpy()[launched]

    # Buying sessions view and add exactly the ordered items (items are grouped by order, in order).
    buy_items = items[items["order_id"].isin(online["order_id"])]
    k_items = (
        online["order_id"].map(buy_items.groupby("order_id").size()).fillna(0).to_numpy().astype(np.int64)
    )
    first_item = np.r_[0, np.cumsum(k_items)[:-1]]
    item_product = (
        buy_items.set_index("order_id").loc[online["order_id"]]["product_id"].to_numpy() - 1
        if n_buy
        else np.array([], np.int64)
    )
    item_qty = (
        buy_items.set_index("order_id").loc[online["order_id"]]["quantity"].to_numpy()
        if n_buy
        else np.array([], np.int64)
    )

    carts = rng.random(n_browse) < BROWSING_CARTS
    carts[fail_sess] = True
    n_view_b = rng.poisson(1.9, n_browse) + carts  # a cart needs a viewed product
    counts = np.stack(
        [
            np.r_[1 + rng.poisson(1.2, n_browse), 1 + rng.poisson(0.8, n_buy)],  # page views, landing first
            np.r_[rng.poisson(0.7, n_browse), rng.poisson(0.8, n_buy)],  # searches
            np.r_[n_view_b, rng.poisson(1.0, n_buy) + k_items],  # product views
            np.r_[np.where(carts, 1 + rng.poisson(0.3, n_browse), 0), k_items],  # add to cart
            np.r_[carts & (rng.random(n_browse) < 0.25), np.zeros(n_buy, bool)].astype(np.int64),  # remove
            np.r_[_forced(carts & (rng.random(n_browse) < 0.35), fail_sess), np.ones(n_buy, bool)].astype(
                np.int64
            ),  # checkout
            np.r_[np.zeros(n_browse, np.int64), np.ones(n_buy, np.int64)],  # purchase
        ]
    )
    sess = np.repeat(np.tile(np.arange(n_sess), 7), counts.ravel())
    etype = np.repeat(np.repeat(np.arange(7), n_sess), counts.ravel()).astype(np.int8)
    n = len(sess)

    # Funnel order within a session: the landing page first, browsing in random order, then cart steps.
    rank = STAGE[etype] + rng.random(n) * 0.9
    rank[np.r_[0, np.cumsum(counts[PV])[:-1]]] = 0.0  # page views come first, one per session at least
    order = np.argsort(sess * 8.0 + rank)  # by session, then funnel rank (all keys distinct)
    sess, etype = sess[order], etype[order]
    start_of_row, starts = _segments(sess)
    pos = np.arange(n) - start_of_row
    is_buy = sess >= n_browse
    bi = np.where(is_buy, sess - n_browse, 0)

    # Products: popularity for browsing; buying sessions' first k views and adds are the order's items.
    cdf = np.cumsum(pop) / pop.sum()
    product = launched[np.minimum(_searchsorted_right(cdf, rng.random(n)), len(launched) - 1)]
    quantity = (rng.choice(3, size=n, p=[0.8, 0.15, 0.05]) + 1).astype(np.int64)
    for step in (VIEW, ADD):
        m = np.flatnonzero(is_buy & (etype == step))
        if not len(m):
            continue
        nth = np.arange(len(m)) - _segments(sess[m])[0]  # rank of each row within its session
        take = nth < k_items[bi[m]]
        src = first_item[bi[m[take]]] + nth[take]
        product[m[take]] = item_product[src]
        if step == ADD:
            quantity[m[take]] = item_qty[src]
    # Browsing carts add (or remove) the product the session viewed last.
    last_view = np.maximum.accumulate(np.where(etype == VIEW, np.arange(n), -1))
    cartish = ((etype == ADD) | (etype == REMOVE)) & ~is_buy & (last_view >= start_of_row)
    product[cartish] = product[last_view[cartish]]
    has_product = (etype == VIEW) | (etype == ADD) | (etype == REMOVE)

    # Times: buying sessions end at the order's placement; browsing ones start at a diurnal time.
    gaps = rng.exponential(45.0, n)
    gaps[pos == 0] = 0.0
    cum = np.cumsum(gaps)
    offset = cum - cum[start_of_row]
    duration = offset[np.r_[starts[1:] - 1, n - 1]]
    start_ts = _times_in_day(rng, day, n_sess).astype(float)
    placed = online["placed_at"].to_numpy().astype(float)
    start_ts[n_browse:] = placed - duration[n_browse:]
    start_ts[fail_sess] = failed - duration[fail_sess]
    day_start = float(day * DAY)
    # A buying session that would have started before midnight starts at a random time after it, its
    # steps closer together; browsing sessions may run past midnight (they belong to the day they started).
    scale = np.ones(n_sess)
    early = np.flatnonzero(start_ts < day_start)
    fresh = day_start + rng.random(len(early)) * (start_ts[early] + duration[early] - day_start)
    scale[early] = (start_ts[early] + duration[early] - fresh) / np.maximum(duration[early], 1e-9)
    start_ts[early] = fresh
    ts_ms = np.floor((start_ts[sess] + offset * scale[sess]) * 1000).astype(np.int64)
    purchase = etype == PURCHASE
    ts_ms[purchase] = (placed[bi[purchase]] * 1000).astype(np.int64)

    # Visitors: buyers are their order's customer; a third of browsers are logged in, as customers who
    # had signed up when the session started (ids follow signup time, so those are a prefix), half of
    # them active buyers.
    signed_up = customers["signup_at"].to_numpy()
    browse_start = start_ts[:n_browse]
    eligible = np.searchsorted(signed_up, browse_start, side="left")
    active_ids = np.flatnonzero(customers["active"].to_numpy() == 1)
    eligible_active = np.searchsorted(signed_up[active_ids], browse_start, side="left")
    pick_any = np.floor(rng.random(n_browse) * eligible).astype(np.int64)
    pick_active = pick_any
    if len(active_ids):
        nth = np.floor(rng.random(n_browse) * eligible_active).astype(np.int64)
        pick_active = active_ids[np.minimum(nth, len(active_ids) - 1)]
    chosen = np.where((rng.random(n_browse) < 0.5) & (eligible_active > 0), pick_active, pick_any) + 1
    logged_in = (rng.random(n_browse) < 0.35) & (eligible > 0)
    sess_customer = np.r_[np.where(logged_in, chosen, 0), online["customer_id"].to_numpy()].astype(np.int64)
    # A first order's session may begin before the signup: its events until then are anonymous.
    signup_of = np.where(sess_customer > 0, signed_up[np.maximum(sess_customer, 1) - 1], 0)
    cust_country = customers["country_code"].to_numpy().astype(np.int32)
    sess_country = _codes(rng, vocab.COUNTRY_WEIGHTS, COUNTRIES, n_sess)
    known = sess_customer > 0
    sess_country[known] = cust_country[sess_customer[known] - 1]
    sess_device = _codes(rng, vocab.DEVICE_WEIGHTS, DEVICES, n_sess)
    sess_source = _codes(rng, vocab.TRAFFIC_WEIGHTS, TRAFFIC_SOURCES, n_sess)
    app = np.r_[np.zeros(n_browse, bool), online["channel"].to_numpy() == "mobile_app"]
    app |= (sess_device == DEVICES.index("mobile")) & (rng.random(n_sess) < 0.3)
    sess_device[app] = DEVICES.index("mobile")
    sess_source[app] = TRAFFIC_SOURCES.index("app")
    session_uuid = _uuid4_bytes(rng, n_sess)

    page = rng.integers(0, len(vocab.PAGE_TITLES) + len(CATEGORY_PAGES), n).astype(np.int32)
    page = np.select(
        [etype == SEARCH, (etype == VIEW) | (etype == ADD), etype == REMOVE, etype == CHECKOUT, purchase],
        [P_SEARCH, P_PRODUCT, P_CART, P_CHECKOUT, P_CONFIRM],
        page,
    ).astype(np.int32)
    referrer = np.where(pos == 0, sess_source[sess], -1).astype(np.int32)  # only the landing hit has one

    order_id = np.zeros(n, dtype=np.int64)
    revenue = np.zeros(n)
    n_lines = np.zeros(n, dtype=np.int64)
    if n_buy:
        order_id[purchase] = online["order_id"].to_numpy()[bi[purchase]]
        rev = (items["quantity"] * items["item_price"]).groupby(items["order_id"]).sum()
        revenue[purchase] = np.round(online["order_id"].map(rev).fillna(0).to_numpy()[bi[purchase]], 2)
        n_lines[purchase] = k_items[bi[purchase]]

    pid = np.where(has_product, product + 1, 0)
    cat_code = pd.Categorical(products["category"], categories=CATEGORIES).codes.astype(np.int32)
    by_time = np.argsort(ts_ms, kind="stable")
    events = {
        "ts_ms": ts_ms,
        "session": sess.astype(np.int32),
        "event_type": etype.astype(np.int32),
        "product_id": pid,
        "order_id": order_id,
        "page": page,
        "referrer": referrer,
        "quantity": quantity,
        "revenue": revenue,
        "items": n_lines,
    }
    events = {k: v[by_time] for k, v in events.items()}
    # Session and product attributes are looked up in final order, which saves reordering them.
    in_session, product_of = events["session"], np.maximum(events["product_id"], 1) - 1
    events |= {
        "customer_id": np.where(
            events["ts_ms"] >= signup_of[in_session] * 1000, sess_customer[in_session], 0
        ),
        "traffic_source": sess_source[in_session],
        "device": sess_device[in_session],
        "country": sess_country[in_session],
        "category": cat_code[product_of],
    }
    n_events = len(by_time)
    # Independent random attributes are drawn in final order too.
    events["event_uuid"] = _uuid4_bytes(rng, n_events)
    events["query"] = rng.integers(0, len(SEARCH_SLUGS), n_events).astype(np.int32)
    events["results"] = rng.integers(0, 240, n_events)
    events["load_ms"] = np.round(rng.lognormal(6.0, 0.5, n_events)).astype(np.int64)
    events["hour"] = (events["ts_ms"] // 3_600_000) % 24
    events["session_uuids"] = session_uuid  # per session, not per event: indexed by events["session"]
    events["product_prices"] = products["price"].to_numpy()  # per product: indexed by product_id - 1
    return events


def _forced(flags: np.ndarray, rows: np.ndarray) -> np.ndarray:
    flags[rows] = True
    return flags


def bot_sessions(
    rng: np.random.Generator, start: int, end: int, n_sess: int, products: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Bot traffic between `start` and `end` (epoch seconds): anonymous desktop sessions that land
    directly and crawl pages and products for a while, seconds apart, never filling a cart."""
    length = rng.integers(8, 40, n_sess)
    sess = np.repeat(np.arange(n_sess), length).astype(np.int32)
    n = len(sess)
    start_of_row, _ = _segments(sess)
    pos = np.arange(n) - start_of_row
    etype = np.where((pos > 0) & (rng.random(n) < 0.6), VIEW, PV).astype(np.int32)
    t0 = start + rng.random(n_sess) * max(end - start - 600, 1)
    gaps = rng.uniform(1.0, 6.0, n)
    gaps[pos == 0] = 0.0
    cum = np.cumsum(gaps)
    ts_ms = np.floor((t0[sess] + cum - cum[start_of_row]) * 1000).astype(np.int64)
    launched = np.flatnonzero(products["launch_day"].to_numpy() <= start // DAY)
    product = np.where(etype == VIEW, launched[rng.integers(0, len(launched), n)] + 1, 0)
    cat_code = pd.Categorical(products["category"], categories=CATEGORIES).codes.astype(np.int32)
    page = np.where(
        etype == VIEW, P_PRODUCT, rng.integers(0, len(vocab.PAGE_TITLES) + len(CATEGORY_PAGES), n)
    )
    country = _codes(rng, vocab.COUNTRY_WEIGHTS, COUNTRIES, n_sess)
    return {
        "ts_ms": ts_ms, "session": sess, "event_type": etype, "product_id": product.astype(np.int64),
        "order_id": np.zeros(n, np.int64), "page": page.astype(np.int32),
        "referrer": np.where(pos == 0, TRAFFIC_SOURCES.index("direct"), -1).astype(np.int32),
        "quantity": np.ones(n, np.int64), "revenue": np.zeros(n), "items": np.zeros(n, np.int64),
        "customer_id": np.zeros(n, np.int64), "traffic_source": np.full(n, TRAFFIC_SOURCES.index("direct"), np.int32),
        "device": np.full(n, DEVICES.index("desktop"), np.int32), "country": country[sess],
        "category": cat_code[np.maximum(product, 1) - 1], "event_uuid": _uuid4_bytes(rng, n),
        "query": rng.integers(0, len(SEARCH_SLUGS), n).astype(np.int32), "results": rng.integers(0, 240, n),
        "load_ms": np.round(rng.lognormal(5.0, 0.3, n)).astype(np.int64), "hour": (ts_ms // 3_600_000) % 24,
        "session_uuids": _uuid4_bytes(rng, n_sess),
    }  # fmt: skip


def merge_events(events: dict[str, np.ndarray], more: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A day's event columns with more events of the same day added, in event time order (`more`
    carries no product prices: both index the same catalog)."""
    n_sess = len(events["session_uuids"])
    per_event = [k for k in events if k not in ("session_uuids", "product_prices")]
    merged = {k: np.concatenate([events[k], more[k] + (n_sess if k == "session" else 0)]) for k in per_event}
    by_time = np.argsort(merged["ts_ms"], kind="stable")
    out = {k: v[by_time] for k, v in merged.items()}
    out["session_uuids"] = np.concatenate([events["session_uuids"], more["session_uuids"]])
    out["product_prices"] = events["product_prices"]
    return out


def event_ids(events: dict[str, np.ndarray], rows: np.ndarray) -> list[str]:
    text = events["event_uuid"][rows].tobytes().decode()
    return [text[i : i + 36] for i in range(0, len(text), 36)]


Field = tuple[np.ndarray, tuple[str | None, ...], str, str | None]  # codes, vocabulary, template, null


def _decode(*fields: Field) -> pa.Array:
    """Integer codes to strings through a dictionary; each word is `template` around the vocabulary
    entry, so JSON punctuation rides along for free. Several fields side by side decode as one, through a
    dictionary of every combination: one piece to join instead of several. A negative code or a None
    entry gives the field's `null` text (or, with no null text, a null string)."""
    code = np.zeros(len(fields[0][0]), dtype=np.int32)
    for codes, vocabulary, _, _ in fields:
        code = code * (len(vocabulary) + 1) + np.where(codes < 0, len(vocabulary), codes)
    return _dictionary(tuple((v, t, null) for _, v, t, null in fields)).take(pa.array(code))


@functools.lru_cache(maxsize=32)  # vocabularies are fixed, but for the product ids, which grow by day
def _dictionary(fields: tuple[tuple[tuple[str | None, ...], str, str | None], ...]) -> pa.Array:
    choices = [[null if w is None else template.format(w) for w in (*vocabulary, None)] for vocabulary, template, null in fields]  # fmt: skip
    return pa.array(
        [None if None in words else "".join(words) for words in itertools.product(*choices)],  # type: ignore[arg-type]
        pa.string(),
    )


def _num(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _nullable_id(values: np.ndarray) -> pa.Array:
    """Positive ids as text, absent (0) as the JSON literal null."""
    return pc.fill_null(pc.cast(pa.array(values, mask=values <= 0), pa.string()), "null")


def _join(*parts: object) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


# Per event type, the properties object: (key, column or =constant). Constants and vocabulary columns
# are quoted, numbers are not.
PROPERTIES = {
    PV: [("title", "page"), ("load_ms", "load_ms")],
    SEARCH: [("query", "query"), ("results", "results"), ("load_ms", "load_ms")],
    VIEW: [("category", "category"), ("price", "price"), ("load_ms", "load_ms")],
    ADD: [("quantity", "quantity"), ("price", "price")],
    REMOVE: [("quantity", "quantity")],
    CHECKOUT: [("step", "=shipping"), ("load_ms", "load_ms")],
    PURCHASE: [("revenue", "revenue"), ("items", "items"), ("currency", "=USD")],
}  # the object closes the line too: "}}\n"
_TEXT = {"page": PAGES, "query": tuple(vocab.SEARCH_TERMS), "category": CATEGORIES}


def _properties(events: dict[str, np.ndarray]) -> pa.Array:
    etype = events["event_type"]
    # A price is the product's: formatted once per product, not once per event.
    prices = _num(events["product_prices"])
    pieces, positions = [], []
    for t, keys in PROPERTIES.items():
        idx = np.flatnonzero(etype == t)
        if not len(idx):
            continue
        parts: list[object] = []
        for i, (key, col) in enumerate(keys):
            head = ("{" if i == 0 else ",") + f'"{key}":'
            if col.startswith("="):
                parts.append(f'{head}"{col[1:]}"')
            elif col in _TEXT:
                parts.append(_decode((events[col][idx], _TEXT[col], head.replace("{", "{{") + '"{}"', None)))
            elif col == "price":
                parts.append(_join(head, prices).take(pa.array(events["product_id"][idx] - 1)))
            else:
                parts += [head, _num(events[col][idx])]
        parts.append("}}\n")
        pieces.append(_join(*parts))
        positions.append(idx)
    return pa.concat_arrays(pieces).take(pa.array(np.argsort(np.concatenate(positions), kind="stable")))


_UUID = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
_PREFIX = ('{"event_id":"', _UUID, '","event_ts":"', "YYYY-MM-DD", "T", "HH:MM:SS", ".", "mmm",
           'Z","session_id":"', _UUID, '","customer_id":')  # fmt: skip


def _digits(count: int, width: int) -> np.ndarray:
    """(count, width) ASCII digits of 0..count-1, zero-padded."""
    v = np.arange(count)
    return np.stack([v // 10 ** (width - 1 - d) % 10 + 48 for d in range(width)], axis=1).astype(np.uint8)


_CLOCK = np.concatenate(  # "HH:MM:SS" of every second of a day
    [_digits(24, 2).repeat(3600, axis=0), np.full((86_400, 1), ord(":"), np.uint8),
     np.tile(_digits(60, 2).repeat(60, axis=0), (24, 1)), np.full((86_400, 1), ord(":"), np.uint8),
     np.tile(_digits(60, 2), (1440, 1))], axis=1)  # fmt: skip
_MILLIS = _digits(1000, 3)


def _fixed_prefix(events: dict[str, np.ndarray]) -> pa.Array:
    """The fixed-width start of every line, up to the customer id, laid out in one byte matrix:
    {"event_id":"<uuid>","event_ts":"YYYY-MM-DDTHH:MM:SS.mmmZ","session_id":"<uuid>","customer_id":"""
    ts = events["ts_ms"]
    day = ts // 86_400_000
    first = int(day.min()) if len(ts) else 0
    days = np.arange(first, int(day.max()) + 1 if len(ts) else first).astype("datetime64[D]")
    # Dates formatted once per distinct day, clock times through a table of the day's seconds.
    dates = np.frombuffer("".join(np.datetime_as_string(days, unit="D")).encode(), np.uint8).reshape(-1, 10)
    values = {1: events["event_uuid"], 3: dates[day - first], 5: _CLOCK[ts // 1000 % 86_400],
              7: _MILLIS[ts % 1000], 9: events["session_uuids"][events["session"]]}  # fmt: skip
    out = np.empty((len(ts), sum(len(p) for p in _PREFIX)), dtype=np.uint8)
    out[:] = np.frombuffer("".join(_PREFIX).encode(), np.uint8)  # the literal text, then the values over it
    pos = 0
    for i, piece in enumerate(_PREFIX):
        if i in values:
            out[:, pos : pos + len(piece)] = values[i]
        pos += len(piece)
    return fixed_width_strings(out)


def encode_json_lines(events: dict[str, np.ndarray]) -> pa.Array:
    """One compact JSON object per event, newline-terminated. Vocabulary values need no escaping."""
    if len(events["ts_ms"]) == 0:
        return pa.array([], pa.string())
    et = events["event_type"]
    # The page path: a vocabulary entry, the search slug included; product pages add the product id.
    page = np.where(et == SEARCH, len(PAGES) + events["query"], events["page"])
    # Product ids are few: they decode through a dictionary too, with the event type before them.
    product_ids = tuple(str(i) for i in range(1, len(events["product_prices"]) + 1))
    product = events["product_id"] - 1  # -1: none
    return _join(
        _fixed_prefix(events), _nullable_id(events["customer_id"]),
        _decode((et, EVENT_TYPES, ',"event_type":"{}","product_id":', None),
                (product, product_ids, '{},"order_id":', 'null,"order_id":')),
        _nullable_id(events["order_id"]),
        _decode((page, PAGE_PATHS, ',"page":"{}', None)),
        _decode((np.where(events["page"] == P_PRODUCT, product, -1), product_ids, "{}", "")),
        _decode(
            (events["referrer"], REFERRER_BY_SOURCE, '","referrer":"{}"', '","referrer":null'),
            (events["traffic_source"], TRAFFIC_SOURCES, ',"traffic_source":"{}"', None),
            (events["device"], DEVICES, ',"device":"{}"', None),
            (events["country"], COUNTRIES, ',"country":"{}","properties":', None),
        ),
        _properties(events),
    )  # fmt: skip

"""Clickstream sessions that walk a shopping funnel, and their JSON-lines encoding, fully vectorised.

Every purchase event belongs to a real web or app order of the same customer, at the order's placement
time. Sessions stay within their day. Columns are numpy arrays; text columns are integer codes into
small vocabularies, decoded only by Arrow when the JSON lines are built.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from generators import vocab
from generators.world import DAY, _times_in_day
from lakehouse.sources import CATEGORIES, COUNTRIES, DEVICES, EVENT_TYPES, TRAFFIC_SOURCES

TARGET_PURCHASE_RATE = 0.03
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
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(
        pa.string(), n, [None, offsets, pa.py_buffer(np.ascontiguousarray(chars).tobytes())]
    )


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
) -> dict[str, np.ndarray]:
    """One day's events as columns sorted by event time."""
    online = new_orders[new_orders["channel"].isin(["web", "mobile_app"])].reset_index(drop=True)
    n_buy = len(online)
    n_browse = max(int(rng.poisson(max(n_buy, 1) / TARGET_PURCHASE_RATE)) - n_buy, 1)
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

    carts = rng.random(n_browse) < 0.12
    n_view_b = rng.poisson(1.9, n_browse) + carts  # a cart needs a viewed product
    counts = np.stack(
        [
            np.r_[1 + rng.poisson(1.2, n_browse), 1 + rng.poisson(0.8, n_buy)],  # page views, landing first
            np.r_[rng.poisson(0.7, n_browse), rng.poisson(0.8, n_buy)],  # searches
            np.r_[n_view_b, rng.poisson(1.0, n_buy) + k_items],  # product views
            np.r_[np.where(carts, 1 + rng.poisson(0.3, n_browse), 0), k_items],  # add to cart
            np.r_[carts & (rng.random(n_browse) < 0.25), np.zeros(n_buy, bool)].astype(np.int64),  # remove
            np.r_[carts & (rng.random(n_browse) < 0.35), np.ones(n_buy, bool)].astype(np.int64),  # checkout
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
    product = launched[np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(launched) - 1)]
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
    day_start, day_end = float(day * DAY), float((day + 1) * DAY - 1)
    # Squeeze sessions that would cross midnight (buying ones can only start early, browsing ones only end late).
    scale = np.ones(n_sess)
    early = start_ts < day_start
    scale[early] = (start_ts[early] + duration[early] - day_start) / np.maximum(duration[early], 1e-9)
    start_ts[early] = day_start
    late = start_ts + duration > day_end
    scale[late] = (day_end - start_ts[late]) / np.maximum(duration[late], 1e-9)
    ts_ms = np.floor((start_ts[sess] + offset * scale[sess]) * 1000).astype(np.int64)
    purchase = etype == PURCHASE
    ts_ms[purchase] = (placed[bi[purchase]] * 1000).astype(np.int64)

    # Visitors: buyers are their order's customer; a third of browsers are logged in.
    eligible = customers["customer_id"].to_numpy()[customers["signup_day"].to_numpy() <= day]
    logged_in = rng.random(n_browse) < 0.35
    sess_customer = np.r_[
        np.where(logged_in, eligible[rng.integers(0, len(eligible), n_browse)], 0),
        online["customer_id"].to_numpy(),
    ].astype(np.int64)
    cust_country = customers["country"].map(COUNTRY_CODE).to_numpy().astype(np.int32)
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
        "customer_id": sess_customer[sess],
        "event_type": etype.astype(np.int32),
        "product_id": pid,
        "order_id": order_id,
        "page": page,
        "referrer": referrer,
        "traffic_source": sess_source[sess],
        "device": sess_device[sess],
        "country": sess_country[sess],
        "category": cat_code[np.maximum(pid, 1) - 1],
        "price": products["price"].to_numpy()[np.maximum(pid, 1) - 1],
        "quantity": quantity,
        "revenue": revenue,
        "items": n_lines,
    }
    events = {k: v[by_time] for k, v in events.items()}
    n_events = len(by_time)
    # Independent random attributes are drawn in final order, which saves reordering them.
    events["event_uuid"] = _uuid4_bytes(rng, n_events)
    events["query"] = rng.integers(0, len(SEARCH_SLUGS), n_events).astype(np.int32)
    events["results"] = rng.integers(0, 240, n_events)
    events["load_ms"] = np.round(rng.lognormal(6.0, 0.5, n_events)).astype(np.int64)
    events["hour"] = (events["ts_ms"] // 3_600_000) % 24
    events["session_uuids"] = session_uuid  # per session, not per event: indexed by events["session"]
    return events


def event_id(events: dict[str, np.ndarray], row: int) -> str:
    return events["event_uuid"][row].tobytes().decode()


def _decode(
    codes: np.ndarray, vocabulary: tuple[str | None, ...], template: str = "{}", null: str | None = None
) -> pa.Array:
    """Integer codes to strings through a small dictionary; each entry is `template` around the word, so
    JSON punctuation rides along for free. A negative code or a None word gives `null` (or a null)."""
    words = [null if w is None else template.format(w) for w in vocabulary]
    mask = codes < 0
    if null is not None and mask.any():
        words.append(null)
        codes, mask = np.where(mask, len(words) - 1, codes), None
    dictionary = pa.array(words, pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=mask), dictionary).cast(
        pa.string()
    )


def _num(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _nullable_id(values: np.ndarray) -> pa.Array:
    """Positive ids as text, absent (0) as the JSON literal null."""
    return pc.fill_null(pc.cast(pa.array(values, mask=values <= 0), pa.string()), "null")


def _join(*parts: object) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


# Per event type, the properties object: (key, column or =constant, quoted).
PROPERTIES = {
    PV: [("title", "page", True), ("load_ms", "load_ms", False)],
    SEARCH: [("query", "query", True), ("results", "results", False), ("load_ms", "load_ms", False)],
    VIEW: [("category", "category", True), ("price", "price", False), ("load_ms", "load_ms", False)],
    ADD: [("quantity", "quantity", False), ("price", "price", False)],
    REMOVE: [("quantity", "quantity", False)],
    CHECKOUT: [("step", "=shipping", True), ("load_ms", "load_ms", False)],
    PURCHASE: [("revenue", "revenue", False), ("items", "items", False), ("currency", "=USD", True)],
}  # the object closes the line too: "}}\n"
_TEXT = {"page": PAGES, "query": tuple(vocab.SEARCH_TERMS), "category": CATEGORIES}


def _properties(events: dict[str, np.ndarray]) -> pa.Array:
    etype = events["event_type"]
    pieces, positions = [], []
    for t, keys in PROPERTIES.items():
        idx = np.flatnonzero(etype == t)
        if not len(idx):
            continue
        parts: list[object] = []
        for i, (key, col, quoted) in enumerate(keys):
            sep = "{" if i == 0 else ","
            if col.startswith("="):
                parts.append(f'{sep}"{key}":"{col[1:]}"')
                continue
            parts.append(f'{sep}"{key}":' + ('"' if quoted else ""))
            values = events[col][idx]
            parts.append(_decode(values, _TEXT[col]) if col in _TEXT else _num(values))
            if quoted:
                parts.append('"')
        parts.append("}}\n")
        pieces.append(_join(*parts))
        positions.append(idx)
    return pa.concat_arrays(pieces).take(pa.array(np.argsort(np.concatenate(positions), kind="stable")))


def _fixed_prefix(events: dict[str, np.ndarray]) -> pa.Array:
    """The fixed-width start of every line, up to the customer id, laid out in one byte matrix:
    {"event_id":"<uuid>","event_ts":"YYYY-MM-DDTHH:MM:SS.mmmZ","session_id":"<uuid>","customer_id":"""
    ts = events["ts_ms"]
    n = len(ts)
    parts: list[tuple[str, object]] = [
        ("lit", '{"event_id":"'), ("raw", events["event_uuid"]), ("lit", '","event_ts":"'), ("date", None), ("lit", "T"),
        ("2", ts // 3_600_000 % 24), ("lit", ":"), ("2", ts // 60_000 % 60), ("lit", ":"), ("2", ts // 1000 % 60), ("lit", "."),
        ("3", ts % 1000), ("lit", 'Z","session_id":"'), ("raw", events["session_uuids"][events["session"]]), ("lit", '","customer_id":'),
    ]  # fmt: skip
    width = sum(
        len(v) if k == "lit" else 36 if k == "raw" else 10 if k == "date" else int(k) for k, v in parts
    )
    out = np.empty((n, width), dtype=np.uint8)
    # Dates formatted once per distinct day, not per event (datetime_as_string costs ~0.7 us a value).
    days, day_of_event = np.unique(ts // 86_400_000, return_inverse=True)
    day_bytes = np.frombuffer(
        "".join(np.datetime_as_string(days.astype("datetime64[D]"), unit="D")).encode(), np.uint8
    )
    pos = 0
    for kind, value in parts:
        if kind == "lit":
            out[:, pos : pos + len(value)] = np.frombuffer(value.encode(), dtype=np.uint8)  # type: ignore[union-attr]
            pos += len(value)  # type: ignore[arg-type]
        elif kind == "raw":
            out[:, pos : pos + 36] = value
            pos += 36
        elif kind == "date":
            out[:, pos : pos + 10] = day_bytes.reshape(len(days), 10)[day_of_event]
            pos += 10
        else:
            digits = int(kind)
            for d in range(digits):
                out[:, pos + d] = value // 10 ** (digits - 1 - d) % 10 + 48  # type: ignore[operator]
            pos += digits
    return fixed_width_strings(out)


def encode_json_lines(events: dict[str, np.ndarray]) -> pa.Array:
    """One compact JSON object per event, newline-terminated. Vocabulary values need no escaping."""
    if len(events["ts_ms"]) == 0:
        return pa.array([], pa.string())
    et = events["event_type"]
    # The page path: a vocabulary prefix plus, for searches and product pages, a suffix.
    suffix = pc.if_else(
        pa.array(et == SEARCH),
        _decode(events["query"], SEARCH_SLUGS),
        pc.if_else(pa.array(events["page"] == P_PRODUCT), _num(events["product_id"]), ""),
    )
    return _join(
        _fixed_prefix(events), _nullable_id(events["customer_id"]),
        _decode(et, EVENT_TYPES, ',"event_type":"{}","product_id":'),
        _nullable_id(events["product_id"]),
        ',"order_id":', _nullable_id(events["order_id"]),
        _decode(events["page"], PAGES, ',"page":"{}'), suffix,
        _decode(events["referrer"], REFERRER_BY_SOURCE, '","referrer":"{}"', null='","referrer":null'),
        _decode(events["traffic_source"], TRAFFIC_SOURCES, ',"traffic_source":"{}"'),
        _decode(events["device"], DEVICES, ',"device":"{}"'),
        _decode(events["country"], COUNTRIES, ',"country":"{}","properties":'),
        _properties(events),
    )  # fmt: skip

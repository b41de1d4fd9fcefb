"""The generator's fast encoders against plain, obviously correct versions of the same thing."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from generators import clickstream as cs
from generators.dirty import Defect
from generators.pools import build_pools
from generators.runner import _click_customers, _click_products
from generators.world import initial_state, rng_for, simulate_day
from generators.writers import csv_bytes, ints, money
from lakehouse.bronze.contract import COUNTRIES, DEVICES, EVENT_TYPES, SOURCES, TRAFFIC_SOURCES


@pytest.fixture(scope="module")
def events() -> dict[str, np.ndarray]:
    seed, pools = 11, build_pools(11)
    state = initial_state(seed, dt.date(2025, 11, 28), 0.05, 3, pools)
    out = simulate_day(state, pools, None)
    rng = rng_for(seed, out.day, "clickstream")
    return cs.simulate_sessions(
        rng, out.day, _click_customers(state), _click_products(state), out.new_orders, out.order_items
    )


def _expected(events: dict[str, np.ndarray], i: int) -> dict[str, object]:
    """One event as a dict, written the slow and plain way."""

    def nullable(v: int) -> int | None:
        return int(v) if v > 0 else None

    et, page, pid = int(events["event_type"][i]), int(events["page"][i]), int(events["product_id"][i])
    ts = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(events["ts_ms"][i]))
    path = cs.PAGES[page]
    if et == cs.SEARCH:
        path += cs.SEARCH_SLUGS[events["query"][i]]
    elif page == cs.P_PRODUCT:
        path += str(pid)
    ref = int(events["referrer"][i])
    price = float(events["product_prices"][pid - 1]) if pid else None
    load_ms, qty = int(events["load_ms"][i]), int(events["quantity"][i])
    props = {
        cs.PV: {"title": cs.PAGES[page], "load_ms": load_ms},
        cs.SEARCH: {"query": cs._TEXT["query"][events["query"][i]], "results": int(events["results"][i]),
                    "load_ms": load_ms},
        cs.VIEW: {"category": cs.CATEGORIES[events["category"][i]], "price": price, "load_ms": load_ms},
        cs.ADD: {"quantity": qty, "price": price},
        cs.REMOVE: {"quantity": qty},
        cs.CHECKOUT: {"step": "shipping", "load_ms": load_ms},
        cs.PURCHASE: {"revenue": float(events["revenue"][i]), "items": int(events["items"][i]), "currency": "USD"},
    }[et]  # fmt: skip
    return {
        "event_id": bytes(events["event_uuid"][i]).decode(),
        "event_ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
        "session_id": bytes(events["session_uuids"][events["session"][i]]).decode(),
        "customer_id": nullable(events["customer_id"][i]),
        "event_type": EVENT_TYPES[et],
        "product_id": nullable(pid),
        "order_id": nullable(events["order_id"][i]),
        "page": path,
        "referrer": cs.REFERRER_BY_SOURCE[ref] if ref >= 0 else None,
        "traffic_source": TRAFFIC_SOURCES[events["traffic_source"][i]],
        "device": DEVICES[events["device"][i]],
        "country": COUNTRIES[events["country"][i]],
        "properties": props,
    }


def test_json_lines_say_exactly_what_the_events_hold(events: dict[str, np.ndarray]) -> None:
    lines = cs.encode_json_lines(events).to_pylist()
    assert len(lines) == len(events["ts_ms"]) > 1000
    seen_types = set()
    for i, line in enumerate(lines):
        assert line.endswith("}\n") and "\n" not in line[:-1]
        got = json.loads(line)
        assert got == _expected(events, i), i
        assert list(got) == list(SOURCES["clickstream"].column_names)
        seen_types.add(got["event_type"])
    assert seen_types == set(EVENT_TYPES), "every event type (and so every properties shape) is covered"


def test_fast_bucketed_search_equals_searchsorted() -> None:
    rng = np.random.default_rng(5)
    for size in (1, 3, 1000, 50_000):
        w = rng.pareto(1.1, size) + 1e-3
        cdf = np.cumsum(w) / w.sum()
        edges = np.arange(0, 1 << 14) / (1 << 14)  # exactly on bucket edges
        u = np.concatenate([rng.random(20_000), edges, cdf[:-1], np.nextafter(cdf[:-1], 0), [0.0]])
        assert (cs._searchsorted_right(cdf, u) == np.searchsorted(cdf, u, side="right")).all()


def test_csv_bytes_are_what_pandas_writes() -> None:
    frame = pd.DataFrame(
        {
            "a": ["1", "x,y", 'say "hi"', "two\nlines", "", None],
            "b": ["é", float("nan"), " pad ", "-", "3.50", "tail"],
        }
    )
    assert csv_bytes(frame) == frame.to_csv(index=False, lineterminator="\n").encode()
    assert csv_bytes(frame.iloc[:0]) == frame.iloc[:0].to_csv(index=False, lineterminator="\n").encode()


def test_number_text_is_what_printf_writes() -> None:
    values = np.array([0, 7, -12, 10**12])
    assert list(ints(values)) == list(np.char.mod("%d", values))
    prices = np.array([5.0, 0.125, 1.005, 4999.995, 12.3456])
    assert list(money(prices)) == list(np.char.mod("%.2f", prices))


@pytest.mark.parametrize(
    "defect",
    [
        Defect("orders", "orders/orders_2026-01-01.csv", 3, "17", "type_mismatch", "ship_date", "TBD", "2026-01-03"),
        Defect("customers", "c.csv", 1, "5", "whitespace_case", "email", ' A"B\\c ', "ab@x", note="é ünïcode"),
        Defect("inventory", "i.xlsx", 2, "9", "out_of_range", "on_hand", np.int64(-4), np.int64(12), sheet="WH-1"),
        Defect("products", "p.csv", 4, "3", "type_mismatch", "price", 1.5, np.float64(2.25)),
        Defect("orders", "o.csv", None, None, "new_column", "coupon_code", note="first file with this column"),
        Defect("clickstream", "e.jsonl", 9, "u-1", "date_format", "event_ts", dt.date(2026, 1, 2), True),
    ],
)  # fmt: skip
def test_manifest_entries_are_what_json_dumps_writes(defect: Defect) -> None:
    assert defect.to_json_text() == json.dumps(defect.to_json())

"""Incidents the shop suffers on purpose (`lakehouse generate --incidents`), each recorded in the manifest.

The plan depends only on the seed, the first daily day and the settings, never on how many days a run
generates, so a world generated in several runs has the same incidents as one generated at once. Each
incident changes the world where it would in a real shop (lost orders are not placed, their stock stays,
delayed parcels arrive late) and names the metrics it should move and when: its signature, which the
monitoring scores against (lakehouse.monitoring).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np

from generators import vocab
from generators.world import DAY, day_number, rng_for, to_date
from lakehouse.bronze.contract import CATEGORIES, warehouse_ids
from lakehouse.core.config import INCIDENT_KINDS

KINDS = INCIDENT_KINDS

# What each kind moves (metric names of gold.metric_series) and what it looks like.
AFFECTS: dict[str, tuple[str, ...]] = {
    "payment_outage": ("orders_by_payment_method", "orders", "revenue", "checkout_abandonment", "conversion_rate"),
    "collector_outage": ("events_received", "late_event_share", "events", "sessions", "page_views", "conversion_rate", "orders_by_payment_method"),
    "pricing_bug": ("price_index_by_category", "revenue", "revenue_by_category", "average_order_value"),
    "bot_traffic": ("sessions", "page_views", "events", "events_received", "conversion_rate", "cart_abandonment"),
    "carrier_delay": ("days_to_deliver_by_carrier",),
    "stockout_wave": ("stock_outs_by_warehouse",),
    "feed_silent": ("rows_landed",),
    "schema_break": ("rows_landed", "file_problems", "quarantine_share", "orphan_share"),
}  # fmt: skip
SIGNATURE = {
    "payment_outage": "orders paid by {target} collapse for the outage's hours; checkouts abandoned rise",
    "collector_outage": "{target}: events missing for the outage's hours, then a burst of late events",
    "pricing_bug": "{target} sells at about {magnitude:g}x list price: revenue and AOV jump",
    "bot_traffic": "sessions and page views spike by about {magnitude:.0%} of a day's sessions; conversion falls",
    "carrier_delay": "{target} delivers about {magnitude:g} days later than usual",
    "stockout_wave": "{target}'s most popular products at zero stock until the incident ends",
    "feed_silent": "the {target} file of the day is {variant}",
    "schema_break": "the {target} file of the day renames column {column}: its rows are quarantined, their children orphaned",
}
RENAMED = {"customers": ("email", "email_address"), "orders": ("payment_method", "payment_type"),
           "shipments": ("carrier", "carrier_name")}  # fmt: skip


@dataclass(frozen=True)
class Incident:
    id: str
    kind: str
    start: str  # ISO timestamps (UTC): the incident itself, end exclusive
    end: str
    target: str  # the payment method, collector, category, carrier, warehouse or bronze source it hits
    magnitude: float  # kind-specific: price factor, extra days, bot sessions per session, share lost
    variant: str  # feed_silent: empty | missing; schema_break: the renamed column; else ""
    affects: tuple[str, ...]
    signature_start: str  # dates: when its metrics are expected to show it (deliveries lag the delay)
    signature_end: str  # inclusive
    signature: str

    @property
    def start_ts(self) -> int:
        return _epoch(self.start)

    @property
    def end_ts(self) -> int:
        return _epoch(self.end)

    def touches(self, day: int) -> bool:
        return self.start_ts < (day + 1) * DAY and self.end_ts > day * DAY

    def hours_on(self, day: int) -> tuple[int, int]:
        """The hours [first, end) of `day` the incident covers."""
        lo = max(self.start_ts, day * DAY) - day * DAY
        hi = min(self.end_ts, (day + 1) * DAY) - day * DAY
        return lo // 3600, -(-hi // 3600)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["affects"] = list(self.affects)
        return out


def _epoch(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).replace(tzinfo=None).isoformat()


def plan(
    seed: int, start: dt.date, warehouses: int, per_30_days: float, warmup_days: int, kinds: tuple[str, ...],
    through: dt.date,
) -> list[Incident]:  # fmt: skip
    """The incidents starting from `start` + `warmup_days` (a baseline for the monitoring first) to
    `through`: about `per_30_days` per 30 days, the kinds taken in a shuffled cycle so that every kind
    occurs before any repeats."""
    if not kinds or per_30_days <= 0:
        return []
    rng = rng_for(seed, 0, "incident-plan")
    out: list[Incident] = []
    day = day_number(start) + warmup_days
    cycle: list[str] = []
    last = day_number(through)
    while day <= last:
        if not cycle:
            cycle = [kinds[i] for i in rng.permutation(len(kinds))]
        kind = cycle.pop(0)
        out.append(_incident(rng, f"INC-{len(out) + 1:03d}", kind, day, warehouses))
        day += max(2, round(rng.exponential(30.0 / per_30_days)))
    return out


def _incident(rng: np.random.Generator, ident: str, kind: str, day: int, warehouses: int) -> Incident:
    t0 = day * DAY
    variant, magnitude = "", 0.0
    sig_days = (0, 0)
    if kind == "payment_outage":
        target = str(rng.choice(["Credit Card", "PayPal", "Debit Card"], p=[0.55, 0.25, 0.2]))
        h0, hours = int(rng.integers(8, 13)), int(rng.integers(6, 11))
        start, end, magnitude = t0 + h0 * 3600, t0 + (h0 + hours) * 3600, 0.3  # share that retries
    elif kind == "collector_outage":
        target = "clickstream"
        h0, hours = int(rng.integers(6, 19)), int(rng.integers(1, 4))
        start, end, magnitude = t0 + h0 * 3600, t0 + (h0 + hours) * 3600, 0.3  # share never delivered
    elif kind == "pricing_bug":
        share = np.array([vocab.CATEGORY_SHARE[c] for c in CATEGORIES])
        target = str(CATEGORIES[int(rng.choice(len(CATEGORIES), p=share / share.sum()))])
        start, end, magnitude = t0, t0 + DAY, float(np.round(rng.uniform(2.5, 4.0), 1))  # fmt: skip
    elif kind == "bot_traffic":
        target = "web"
        h0 = int(rng.integers(0, 19))
        start, end = t0 + h0 * 3600, t0 + (h0 + int(rng.integers(3, 6))) * 3600
        magnitude = float(np.round(rng.uniform(0.8, 1.5), 2))
    elif kind == "carrier_delay":
        target = str(rng.choice(["UPS", "USPS", "FedEx"], p=[0.4, 0.35, 0.25]))
        start, end, magnitude = t0, t0 + 7 * DAY, float(rng.integers(4, 7))
        sig_days = (1, 7 + int(magnitude) + 2)
    elif kind == "stockout_wave":
        target = warehouse_ids(warehouses)[int(rng.integers(0, warehouses))]
        start, end, magnitude = t0, t0 + 10 * DAY, 0.25  # share of the warehouse's products
        sig_days = (0, 10)
    elif kind == "feed_silent":
        target = "shipments"
        variant = str(rng.choice(["empty", "missing"]))
        start, end = t0, t0 + DAY
    else:  # schema_break
        target = str(rng.choice(list(RENAMED)))
        variant = RENAMED[target][0]
        start, end = t0, t0 + DAY
        sig_days = (0, 7)  # rows referring to what was lost arrive for days
    text = SIGNATURE[kind].format(target=target, magnitude=magnitude, variant=variant, column=variant)
    return Incident(
        ident, kind, _iso(start), _iso(end), target, magnitude, variant, AFFECTS[kind],
        to_date(day + sig_days[0]).isoformat(), to_date(day + sig_days[1]).isoformat(), text,
    )  # fmt: skip


def active(incidents: list[Incident], kind: str, day: int) -> list[Incident]:
    return [i for i in incidents if i.kind == kind and i.touches(day)]


def in_window(ts: np.ndarray, incident: Incident) -> np.ndarray:
    return (ts >= incident.start_ts) & (ts < incident.end_ts)

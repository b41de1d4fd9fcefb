"""Incidents change the world where a real shop's would, and the manifest records each with its
signature (the monitoring's ground truth)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from generators.incidents import KINDS, plan
from generators.runner import GeneratorError, generate
from lakehouse.monitoring.scoring import manifest_incidents
from tests.conftest import INCIDENT_DAYS, INCIDENT_START, Lake, incident_settings

pytestmark = pytest.mark.xdist_group("incidents")


def incidents(root: Path) -> dict[str, dict[str, object]]:
    return {str(i["id"]): i for i in manifest_incidents(str(root))}


def of_kind(root: Path, kind: str) -> dict[str, object]:
    return next(i for i in incidents(root).values() if i["kind"] == kind)


def day_of(incident: dict[str, object]) -> str:
    return str(incident["start"])[:10]


def events(root: Path, day: str) -> pd.DataFrame:
    files = sorted((root / "bronze" / "clickstream" / f"date={day}").rglob("*.jsonl"))
    frames = []
    for f in files:
        rows = [
            json.loads(line)
            for line in f.read_text().splitlines()
            if line.startswith("{") and line.endswith("}")
        ]
        frame = pd.DataFrame(rows)
        frame["file_hour"] = int(f.parent.name.split("=")[1])
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["ts"] = pd.to_datetime(out["event_ts"], errors="coerce", utc=True, format="mixed").dt.tz_localize(
        None
    )
    return out


def test_the_plan_depends_on_the_seed_and_start_not_on_how_far_a_run_goes() -> None:
    start = INCIDENT_START
    short = plan(11, start, 3, 10.0, 28, KINDS, start + dt.timedelta(days=40))
    long = plan(11, start, 3, 10.0, 28, KINDS, start + dt.timedelta(days=80))
    assert long[: len(short)] == short and len(long) > len(short)
    first_eight = {i.kind for i in long[:8]}
    assert first_eight == set(KINDS), "every kind before any repeats"
    assert all(i.start >= (start + dt.timedelta(days=28)).isoformat() for i in long), "after the warm-up"


def test_every_incident_is_in_the_manifest_with_its_signature(incident_lake: Lake) -> None:
    found = incidents(incident_lake.root)
    last = INCIDENT_START + dt.timedelta(days=INCIDENT_DAYS - 1)
    assert sorted(found) == [i.id for i in plan(11, INCIDENT_START, 3, 10.0, 28, KINDS, last)]
    assert {i["kind"] for i in found.values()} == set(KINDS)
    for i in found.values():
        assert i["affects"] and i["signature"] and i["start"] < i["end"]
        assert i["signature_start"] <= i["signature_end"]


def test_no_incident_in_a_clean_world(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="never injected into a clean world"):
        generate(str(tmp_path), incident_settings(days=1), clean=True, incidents=True)


def test_continuing_a_world_keeps_its_incidents_unless_told_otherwise(tmp_path: Path) -> None:
    settings = dataclasses.replace(incident_settings(days=2), history_days=3, scale=0.02)
    generate(str(tmp_path), settings, incidents=True)
    with pytest.raises(GeneratorError, match="incidents off"):
        generate(str(tmp_path), settings, incidents=False)
    generate(str(tmp_path), dataclasses.replace(settings, days=1))  # unsaid: as the world has them
    meta = json.loads((tmp_path / "bronze" / "_state" / "meta.json").read_text())
    assert meta["incidents"]["per_30_days"] == 10.0


def test_a_payment_outage_loses_the_orders_of_its_method(incident_lake: Lake) -> None:
    inc = of_kind(incident_lake.root, "payment_outage")
    day = day_of(inc)
    ev = events(incident_lake.root, day)
    orders = pd.read_csv(incident_lake.root / "bronze" / "orders" / f"orders_{day}.csv")
    buys = ev[(ev["event_type"] == "purchase")].merge(orders, on="order_id")
    start, end = pd.Timestamp(str(inc["start"])), pd.Timestamp(str(inc["end"]))
    during = buys[(buys["ts"] >= start) & (buys["ts"] < end)]
    assert len(during) > 10 and not (during["payment_method"] == inc["target"]).any()
    assert (buys[buys["ts"] < start]["payment_method"] == inc["target"]).any()
    sessions = ev[(ev["ts"] >= start) & (ev["ts"] < end)].groupby("session_id")["event_type"].agg(set)
    abandoned = sessions.map(lambda s: "checkout_start" in s and "purchase" not in s).sum()
    assert abandoned > len(during) * 0.3, "the failed payments are checkouts abandoned"


def test_a_collector_outage_delivers_its_hours_late_and_loses_some(incident_lake: Lake) -> None:
    inc = of_kind(incident_lake.root, "collector_outage")
    ev = events(incident_lake.root, day_of(inc))
    start, end = pd.Timestamp(str(inc["start"])), pd.Timestamp(str(inc["end"]))
    hours = range(start.hour, end.hour or 24)
    own = ev[ev["file_hour"].isin(hours) & (ev["ts"] >= start)]
    assert own.empty, "nothing arrives while the collector is down"
    burst = ev[(ev["file_hour"] == end.hour) & (ev["ts"] >= start) & (ev["ts"] < end)]
    before = ev[(ev["file_hour"] == start.hour - 1) & (ev["ts"].dt.hour == start.hour - 1)]
    assert len(burst) > len(before) * 0.4 * len(hours), "the held events arrive in one burst"


def test_a_pricing_bug_sells_a_category_far_above_list(incident_lake: Lake) -> None:
    inc = of_kind(incident_lake.root, "pricing_bug")
    day = day_of(inc)
    bronze = incident_lake.root / "bronze"
    items = pd.read_csv(bronze / "order_items" / f"order_items_{day}.csv")
    products = pd.concat(
        [pd.read_csv(f) for f in sorted((bronze / "products").glob("*.csv"))], ignore_index=True
    ).drop_duplicates("product_id", keep="last")
    lines = items.merge(products[["product_id", "category", "price"]], on="product_id")
    lines = lines[pd.to_numeric(lines["item_price"], errors="coerce").notna()]
    ratio = pd.to_numeric(lines["item_price"]) / pd.to_numeric(lines["price"], errors="coerce")
    hit = ratio[lines["category"] == inc["target"]].median()
    assert hit > float(inc["magnitude"]) * 0.6 and ratio[lines["category"] != inc["target"]].median() < 1.05


def test_bot_traffic_multiplies_the_sessions_and_buys_nothing(incident_lake: Lake) -> None:
    inc = of_kind(incident_lake.root, "bot_traffic")
    day = pd.Timestamp(day_of(inc))
    that = events(incident_lake.root, f"{day:%Y-%m-%d}")
    week_before = events(incident_lake.root, f"{day - pd.Timedelta(days=7):%Y-%m-%d}")
    ratio = that["session_id"].nunique() / week_before["session_id"].nunique()
    assert ratio > 1 + float(inc["magnitude"]) * 0.7
    assert (that["event_type"] == "purchase").sum() < (week_before["event_type"] == "purchase").sum() * 1.5


def test_a_stock_out_wave_empties_a_warehouse_s_best_sellers(incident_lake: Lake) -> None:
    inc = of_kind(incident_lake.root, "stockout_wave")
    start, end = pd.Timestamp(str(inc["start"])), pd.Timestamp(str(inc["end"]))
    sunday = start + pd.Timedelta(days=(6 - start.weekday()) % 7)
    assert sunday < end
    iso = sunday.isocalendar()
    book = pd.read_excel(
        incident_lake.root / "bronze" / "inventory" / f"inventory_{iso.year}-W{iso.week:02d}.xlsx",
        sheet_name=None,
    )
    hit = book[str(inc["target"])]
    other = next(v for k, v in book.items() if k != inc["target"])
    zero = lambda df: (pd.to_numeric(df["on_hand"], errors="coerce") == 0).mean()  # noqa: E731
    assert zero(hit) > 0.2 and zero(hit) > zero(other) * 3


def test_a_feed_gone_silent_and_a_schema_break_show_in_their_files(incident_lake: Lake) -> None:
    bronze = incident_lake.root / "bronze"
    silent = of_kind(incident_lake.root, "feed_silent")
    path = bronze / str(silent["target"]) / f"{silent['target']}_{day_of(silent)}.csv"
    if silent["variant"] == "missing":
        assert not path.exists()
    else:
        assert len(pd.read_csv(path)) == 0
    broken = of_kind(incident_lake.root, "schema_break")
    header = (
        (bronze / str(broken["target"]) / f"{broken['target']}_{day_of(broken)}.csv")
        .read_text()
        .splitlines()[0]
    )
    assert str(broken["variant"]) not in header.split(",")
    manifest = json.loads((bronze / "_manifest" / f"manifest_{day_of(broken)}.json").read_text())
    assert not [d for d in manifest["defects"] if d["file"].startswith(str(broken["target"]))], (
        "no defects are recorded in a file whose rows never reach silver"
    )

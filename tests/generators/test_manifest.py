"""Dirty data: every injected defect is in the ground-truth manifest, and the manifest matches the files."""

from __future__ import annotations

import json
import re

import pandas as pd

from generators.dirty import EXPECTED, ORPHAN_ID_BASE, VALUE_KINDS
from tests.bronze.audit import Bronze, invalid_rows

ROW_LEVEL = {*VALUE_KINDS, "malformed_json"}  # defects that leave a row breaking the contract


def _where(d: pd.Series) -> tuple[str, str, int]:
    file = d["file"] if d["source"] != "inventory" else f"{d['file']}#{d['sheet']}"
    return (d["source"], file, int(d["row"]))


def test_rows_that_break_the_contract_are_exactly_the_recorded_defects(dirty_world: Bronze) -> None:
    d = dirty_world.defects
    recorded = {_where(r) for _, r in d[d["kind"].isin(ROW_LEVEL)].iterrows()}
    assert invalid_rows(dirty_world) == recorded
    assert len(recorded) == int(d["kind"].isin(ROW_LEVEL).sum()), "one defect per row"


def test_every_defect_kind_is_injected_and_has_an_expected_outcome(dirty_world: Bronze) -> None:
    kinds = set(dirty_world.defects["kind"])
    assert kinds == set(EXPECTED), set(EXPECTED) - kinds
    d = dirty_world.defects
    nulled = d["expected"] == "nulled"
    assert (d.loc[~nulled, "expected"] == d.loc[~nulled, "kind"].map(EXPECTED)).all()
    assert nulled.any() and d.loc[nulled, "kind"].isin(["type_mismatch", "out_of_range"]).all()
    per_source = dirty_world.defects.groupby("source")["kind"].agg(set)
    assert set(per_source.index) == {
        "customers",
        "products",
        "orders",
        "order_items",
        "shipments",
        "clickstream",
        "inventory",
    }
    assert per_source["clickstream"] == set(EXPECTED) - {"key_update", "new_column"}
    assert "key_update" in per_source["customers"] | per_source["orders"]


def test_value_defects_record_what_was_written_and_what_it_replaced(dirty_world: Bronze) -> None:
    d = dirty_world.defects
    csv = d[d["kind"].isin(ROW_LEVEL - {"malformed_json"}) & d["source"].isin(dirty_world.tables)]
    for _, r in csv.iterrows():
        t = dirty_world.tables[r["source"]]
        row = t[(t["_file"] == r["file"]) & (t["_row"] == r["row"])].iloc[0]
        written = row[r["column"]]
        assert written == ("" if pd.isna(r["value"]) else str(r["value"])), r.to_dict()
        assert str(r["original"]) != written
        assert row[_key_column(r["source"])] == r["key"]
    orphans = d[d["kind"] == "orphan_fk"]
    assert (orphans["value"].astype(int) >= ORPHAN_ID_BASE).all()


def _key_column(source: str) -> str:
    from lakehouse.bronze.contract import SOURCES

    return SOURCES[source].key[-1]


def test_duplicates_are_exact_copies_and_key_updates_are_older_versions(dirty_world: Bronze) -> None:
    d = dirty_world.defects
    for _, r in d[(d["kind"] == "duplicate_row") & d["source"].isin(dirty_world.tables)].iterrows():
        t = dirty_world.tables[r["source"]]
        f = t[t["_file"] == r["file"]].drop(columns="_row")
        copy = f[t.loc[f.index, "_row"] == r["row"]].iloc[0]
        original_row = int(r["note"].rsplit(" ", 1)[1])
        assert original_row < r["row"]
        assert copy.equals(f[t.loc[f.index, "_row"] == original_row].iloc[0])
    # A newer version may itself carry a defect in updated_at: compare what it replaced.
    spoiled = {
        (r["file"], r["row"]): r["original"]
        for _, r in d[
            (d["column"] == "updated_at") & d["kind"].isin(["date_format", "whitespace_case"])
        ].iterrows()
    }
    for _, r in d[d["kind"] == "key_update"].iterrows():
        t = dirty_world.tables[r["source"]]
        same_key = t[(t["_file"] == r["file"]) & (t[_key_column(r["source"])] == r["key"])]
        stale = same_key[same_key["_row"] == r["row"]].iloc[0]
        others = same_key[same_key["_row"] != r["row"]]
        newer = [
            spoiled.get((r["file"], row), ts)
            for row, ts in zip(others["_row"], others["updated_at"], strict=True)
        ]
        assert len(others) >= 1 and all(ts > stale["updated_at"] for ts in newer)
        if r["source"] == "orders":  # a plausible earlier state: never before the order was placed
            assert stale["updated_at"][:10] >= stale["order_date"]


def test_late_events_arrive_in_a_later_file_and_redelivered_copies_repeat_an_event(
    dirty_world: Bronze,
) -> None:
    d = dirty_world.defects
    ev = dirty_world.events.set_index(["_file", "_row"])
    late = d[d["kind"] == "late_event"]
    assert len(late) > 0
    for _, r in late.iterrows():
        obj = ev.loc[(r["file"], r["row"]), "obj"]
        assert obj["event_id"] == r["key"]
        file_hour = r["file"].split("date=")[1][:10] + "T" + r["file"].split("hour=")[1][:2]
        assert obj["event_ts"][:13] < file_hour, "arrives after its hour"
        assert re.search(
            rf"hour={obj['event_ts'][11:13]}/events_{obj['event_ts'][:13]}(_part\d+)?\.jsonl$", r["note"]
        )
    dups = d[(d["kind"] == "duplicate_row") & (d["source"] == "clickstream")]
    raw = dirty_world.events.set_index(["_file", "_row"])["raw"]
    for _, r in dups.iterrows():
        line = raw.loc[(r["file"], r["row"])]
        assert (dirty_world.events["raw"] == line).sum() >= 2
        assert json.loads(line)["event_id"] == r["key"]


def test_new_column_appears_part_way_and_stays(dirty_world: Bronze) -> None:
    d = dirty_world.defects
    first = d[d["kind"] == "new_column"]
    assert len(first) == 1 and first.iloc[0]["column"] == "coupon_code"
    from tests.conftest import WORLD_START

    orders = sorted((dirty_world.root / "bronze" / "orders").glob("orders_2*.csv"))  # the daily files
    headers = [p.read_text().splitlines()[0] for p in orders]
    day_of_change = next(i for i, h in enumerate(headers) if "coupon_code" in h)
    assert day_of_change > 0 and all("coupon_code" in h for h in headers[day_of_change:])
    assert orders[day_of_change].name == first.iloc[0]["file"].split("/")[-1]
    assert WORLD_START.isoformat() not in first.iloc[0]["file"]


def test_manifest_file_counts_match_the_files(dirty_world: Bronze) -> None:
    for m in dirty_world.manifests:
        for f in m["files"]:
            path = dirty_world.root / "bronze" / f["file"]
            if f["source"] == "inventory":
                assert len(dirty_world.inventory[dirty_world.inventory["_file"] == f["file"]]) == f["rows"]
            elif f["source"] == "clickstream":
                assert len(path.read_text().splitlines()) == f["rows"]
            else:
                assert len(pd.read_csv(path, dtype=str)) == f["rows"]


def test_clean_world_has_no_defects_and_no_new_column(clean_world: Bronze) -> None:
    assert clean_world.defects.empty
    assert all(not m["dirty"] for m in clean_world.manifests)
    assert "coupon_code" not in clean_world.tables["orders"].columns


def test_dirty_rates_are_small_and_as_configured(dirty_world: Bronze) -> None:
    n_rows = sum(f["rows"] for m in dirty_world.manifests for f in m["files"])
    d = dirty_world.defects
    share = d[d["kind"] != "new_column"].groupby("kind").size() / n_rows
    assert share.max() < 0.01 and share.min() > 0

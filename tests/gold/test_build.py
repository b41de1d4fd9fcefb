"""silver_to_gold on the ingested dirty world: facts reconcile with silver, no personal data, and a
failed check publishes nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from lakehouse.core.config import load_config
from lakehouse.gold.build import GoldReconciliationError, silver_to_gold
from lakehouse.gold.models import UNKNOWN_SK
from lakehouse.tables import GOLD
from tests.bronze.audit import Bronze


def table(root: Path, layer: str, name: str) -> pd.DataFrame:
    return DeltaTable(str(root / layer / name)).to_pandas()


def test_facts_reconcile_with_silver(published: Bronze) -> None:
    root = published.root
    orders, items = table(root, "silver", "orders"), table(root, "silver", "order_items")
    fo, fi = table(root, "gold", "fact_orders"), table(root, "gold", "fact_order_items")
    assert len(fo) == len(orders) and fo["order_id"].is_unique
    assert len(fi) == len(items) and fi["order_item_id"].is_unique
    counted = items.merge(orders[orders["status"] != "Cancelled"][["order_id"]], on="order_id")
    want = sum(
        (Decimal(q) * p for q, p in zip(counted["quantity"], counted["item_price"], strict=True)), Decimal(0)
    )
    assert sum(fi["revenue"], Decimal(0)) == want == sum(fo["revenue"], Decimal(0))


def test_dimensions_have_history_and_unknown_members(published: Bronze) -> None:
    dc = table(published.root, "gold", "dim_customer")
    assert (dc["customer_sk"] == UNKNOWN_SK).sum() == 1 and dc["customer_sk"].is_unique
    real = dc[dc["customer_sk"] != UNKNOWN_SK]
    assert (real.groupby("customer_id")["is_current"].sum() == 1).all(), "one current version per customer"
    assert (real.groupby("customer_id").size() > 1).any(), (
        "customers that moved or changed e-mail have history"
    )
    dp = table(published.root, "gold", "dim_product")
    assert (dp[dp["product_sk"] != UNKNOWN_SK].groupby("product_id").size() > 1).any(), (
        "price changes make versions"
    )
    dd = table(published.root, "gold", "dim_date")
    assert "Black Friday" in set(dd["holiday_name"]) and dd["date_key"].is_unique


def test_orphans_point_to_the_unknown_member(published: Bronze) -> None:
    def flagged(df: pd.DataFrame, column: str) -> pd.DataFrame:
        return df[df["_orphan_fks"].map(lambda a: column in list(a))]

    items = flagged(table(published.root, "silver", "order_items"), "product_id")
    orders = flagged(table(published.root, "silver", "orders"), "customer_id")
    assert len(items) + len(orders) > 0
    fi = table(published.root, "gold", "fact_order_items").set_index("order_item_id")
    assert (fi.loc[list(items["order_item_id"]), "product_sk"] == UNKNOWN_SK).all()
    fo = table(published.root, "gold", "fact_orders").set_index("order_id")
    assert (fo.loc[list(orders["order_id"]), "customer_sk"] == UNKNOWN_SK).all()


def test_gold_holds_no_raw_personal_data(published: Bronze) -> None:
    emails = set(table(published.root, "silver", "customers")["email"])
    names = set(table(published.root, "silver", "customers")["last_name"])
    for name in GOLD:
        df = table(published.root, "gold", name)
        assert not {"email", "first_name", "last_name"} & set(df.columns), name
        for col in df.columns:
            if df[col].dtype == object:
                values = set(df[col].dropna().map(str))
                assert not values & emails and not values & names, (name, col)


def test_a_failed_check_publishes_nothing(
    published: Bronze, spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lakehouse.gold.models as gold

    versions = {n: DeltaTable(str(published.root / "gold" / n)).version() for n in GOLD}
    real = gold.fact_orders
    monkeypatch.setattr(gold, "fact_orders", lambda *a: real(*a).where("order_id % 97 <> 0"))
    with pytest.raises(GoldReconciliationError, match=r"fact_orders has \d+ rows for \d+ silver orders"):
        silver_to_gold(spark, load_config(root=str(published.root), env={}), "gold-bad", full=True)  # type: ignore[arg-type]
    assert {n: DeltaTable(str(published.root / "gold" / n)).version() for n in GOLD} == versions


def test_sessions_reconcile_with_the_clickstream(published: Bronze) -> None:
    events = table(published.root, "silver", "clickstream_events")
    sessions = table(published.root, "gold", "fact_sessions")
    assert len(sessions) == events["session_id"].nunique() and sessions["session_id"].is_unique
    assert 0.02 <= sessions["converted"].mean() <= 0.045


def test_unchanged_silver_changes_no_gold_table_and_full_rebuilds(published: Bronze, spark: object) -> None:
    cfg = load_config(root=str(published.root), env={})
    versions = {n: DeltaTable(str(published.root / "gold" / n)).version() for n in GOLD}
    assert silver_to_gold(spark, cfg, "gold-again").nothing_new  # type: ignore[arg-type]
    assert {n: DeltaTable(str(published.root / "gold" / n)).version() for n in GOLD} == versions
    report = silver_to_gold(spark, cfg, "gold-full", full=True, validate=False)  # type: ignore[arg-type]
    assert not report.nothing_new
    assert all(DeltaTable(str(published.root / "gold" / n)).version() == versions[n] + 1 for n in GOLD)


def test_tables_are_reachable_by_name(published: Bronze, spark: object) -> None:
    from lakehouse.catalog import register_tables

    found = register_tables(spark, str(published.root))  # type: ignore[arg-type]
    assert (
        set(found["gold"]) == {*GOLD, "dq_results", "dq_scorecard", "_build_log"}
        and "orders" in found["silver"]
    )
    assert spark.table("gold.dq_scorecard").where("table_name = 'fact_orders'").count() > 0  # type: ignore[attr-defined]
    n = spark.sql("SELECT count(*) AS n FROM gold.fact_orders").first()["n"]  # type: ignore[attr-defined]
    assert n == len(table(published.root, "gold", "fact_orders"))
    assert spark.table("silver.quarantine").count() > 0  # type: ignore[attr-defined]


def test_lakehouse_shell(published: Bronze) -> None:
    import subprocess
    import sys

    script = "print('ROWS', spark.table('gold.kpi_daily_sales').count())\n"
    out = subprocess.run(
        [str(Path(sys.executable).parent / "lakehouse"), "shell", "--root", str(published.root)],
        input=script, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "gold: dim_date" in out.stderr + out.stdout
    assert f"ROWS {len(table(published.root, 'gold', 'kpi_daily_sales'))}" in out.stdout


def test_sessions_built_in_parts_are_the_sessions_built_at_once(
    published: Bronze, spark: object, tmp_path: Path
) -> None:
    import math

    from lakehouse.core.delta import materialize
    from lakehouse.gold.build import build_dimensions, build_facts

    root = str(published.root)
    dims = build_dimensions(spark, root)  # type: ignore[arg-type]
    events = DeltaTable(str(published.root / "silver" / "clickstream_events")).to_pyarrow_table(
        columns=["session_id"]
    )
    at_once = build_facts(spark, root, dims)["fact_sessions"]  # type: ignore[arg-type]
    per_part = events.num_rows // 4
    in_parts = build_facts(spark, root, dims, max_events_per_part=per_part)["fact_sessions"]  # type: ignore[arg-type]
    assert len(at_once) == 1 and len(in_parts) == math.ceil(events.num_rows / per_part) >= 4
    whole = materialize(spark, at_once, str(tmp_path / "whole")).toPandas()  # type: ignore[arg-type]
    parts = materialize(spark, in_parts, str(tmp_path / "parts")).toPandas()  # type: ignore[arg-type]
    key = ["session_id"]
    pd.testing.assert_frame_equal(  # a session split between parts would be two rows
        parts.sort_values(key).reset_index(drop=True), whole.sort_values(key).reset_index(drop=True)
    )

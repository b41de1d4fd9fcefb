"""Incremental gold refresh: after more days reach silver, refreshing only the affected orders and
sessions gives the same gold tables as a full rebuild."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from deltalake import DeltaTable

from generators.runner import generate
from lakehouse.core.config import load_config
from lakehouse.gold.build import silver_to_gold
from lakehouse.silver.ingest import bronze_to_silver
from lakehouse.tables import GOLD
from tests.conftest import small_settings


def _gold(root: Path, name: str) -> pd.DataFrame:
    df = DeltaTable(str(root / "gold" / name)).to_pandas()
    return df.sort_values(list(GOLD[name].key)).reset_index(drop=True)


def _version(root: Path, name: str) -> int:
    return DeltaTable(str(root / "gold" / name)).version()


def _backdate(spark: Any, root: Path, table: str, key: str, column: str, change: Any) -> None:
    """A new version of the first ordered key, in force from just after its first version."""
    from pyspark.sql import functions as F

    from lakehouse.core.delta import read_table, write_table
    from lakehouse.tables import SILVER

    uri = SILVER[table].uri(str(root))
    history = read_table(spark, uri)
    ordered = read_table(spark, SILVER["order_items"].uri(str(root))).join(
        read_table(spark, SILVER["orders"].uri(str(root))), "order_id"
    )
    target = ordered.orderBy("order_date", "order_id").first()[key]
    first = history.where(F.col(key) == target).orderBy("updated_at").limit(1)
    row = first.first()
    fixed = first.withColumn(column, F.lit(change(row[column])).cast(dict(history.dtypes)[column]))
    fixed = fixed.withColumn("updated_at", F.col("updated_at") + F.expr("INTERVAL 1 SECOND"))
    write_table(fixed.withColumn("_run_id", F.lit("manual-correction")), uri, mode="append")


def test_incremental_refresh_equals_a_full_rebuild(tmp_path: Path, spark: object) -> None:
    settings = dataclasses.replace(small_settings(), scale=0.02)
    inc = tmp_path / "inc"
    cfg = load_config(root=str(inc), env={})
    generate(str(inc), settings, days=6)
    # Validated only where this test needs it (the incremental refresh); the gates are tested elsewhere.
    bronze_to_silver(spark, cfg, "b1", validate=False)  # type: ignore[arg-type]
    first = silver_to_gold(spark, cfg, "g1", validate=False)  # type: ignore[arg-type]
    assert first.mode == "full" and first.failure is None
    before = {n: _version(inc, n) for n in GOLD if (inc / "gold" / n).exists()}
    assert "fact_inventory_snapshot" not in before  # the first Sunday snapshot comes with day 7

    # Three more days: new orders, status changes of old ones, late events of earlier sessions, new
    # customer and product versions, a weekly inventory snapshot.
    generate(str(inc), settings, days=3)
    bronze_to_silver(spark, cfg, "b2", validate=False)  # type: ignore[arg-type]
    # And a correction loaded straight into silver: back-dated versions of a customer and a product that
    # had orders, which re-key those old orders (their type 2 version as of the order date changes).
    _backdate(
        spark,
        inc,
        "customers_history",
        "customer_id",
        "country",
        lambda v: "Canada" if v != "Canada" else "Mexico",
    )
    _backdate(spark, inc, "products_history", "product_id", "price", lambda v: v + 1)
    report = silver_to_gold(spark, cfg, "g2")  # type: ignore[arg-type]
    assert report.mode == "incremental" and report.failure is None, report.failure
    for fact in ("fact_orders", "fact_order_items", "fact_sessions", "fact_shipments"):
        assert 0 < report.refreshed[fact] < len(_gold(inc, fact)), fact  # only part of it was recomputed
    assert _version(inc, "dim_channel") == before["dim_channel"]  # nothing it depends on changed
    assert _version(inc, "fact_orders") == before["fact_orders"] + 1  # one merge

    full = tmp_path / "full"
    for layer in ("bronze", "silver"):
        shutil.copytree(inc / layer, full / layer)
    rebuilt = silver_to_gold(spark, load_config(root=str(full), env={}), "g3", full=True, validate=False)  # type: ignore[arg-type]
    assert rebuilt.mode == "full" and rebuilt.failure is None
    for name in GOLD:
        pd.testing.assert_frame_equal(
            _gold(inc, name), _gold(full, name), obj=name, check_exact=False, rtol=1e-9
        )

    assert silver_to_gold(spark, cfg, "g4").nothing_new  # type: ignore[arg-type]


def test_a_refresh_over_an_older_versions_tables_rebuilds_them_with_this_versions_columns(
    tmp_path: Path, spark: Any
) -> None:
    from lakehouse.core.delta import read_table, write_table

    settings = dataclasses.replace(small_settings(), scale=0.02)
    cfg = load_config(root=str(tmp_path), env={})
    generate(str(tmp_path), settings, days=7)
    bronze_to_silver(spark, cfg, "b1", validate=False)
    assert silver_to_gold(spark, cfg, "g1", validate=False).failure is None
    # As an older version of the code left them: a fact kept by key and a fixed-list dimension without
    # their last column, and the inventory fact without its warehouse key.
    dropped = {}
    for name in ("fact_orders", "dim_carrier", "fact_inventory_snapshot"):
        uri = GOLD[name].uri(str(tmp_path))
        table = read_table(spark, uri)
        dropped[name] = "warehouse_sk" if name == "fact_inventory_snapshot" else table.columns[-1]
        write_table(table.drop(dropped[name]), uri, mode="overwrite")
    generate(str(tmp_path), settings, days=1)
    bronze_to_silver(spark, cfg, "b2", validate=False)
    report = silver_to_gold(spark, cfg, "g2")
    assert report.mode == "full" and report.failure is None, report.failure
    for name, column in dropped.items():
        assert column in DeltaTable(str(tmp_path / "gold" / name)).schema().to_arrow().names, name
    assert silver_to_gold(spark, cfg, "g3").nothing_new

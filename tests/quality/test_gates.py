"""The expectation suites and the gates: suites load and cover every table; every critical expectation
fails on data that breaks it; a failed critical keeps the previous version published; results, scorecards
and Data Docs are written; `lakehouse validate` runs on demand."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from lakehouse.core.config import load_config
from lakehouse.core.delta import read_table
from lakehouse.quality import gates as quality
from lakehouse.quality.gates import Check, Gate, Outcome, Suite, SuiteError, Verdict, load_suites
from lakehouse.tables import GOLD, REGISTRIES, SILVER
from tests.bronze.audit import Bronze

SUITES_DIR = load_config(env={}).quality.expectations
SUITES = load_suites(SUITES_DIR)


def test_every_table_has_a_suite_with_critical_expectations() -> None:
    assert set(SUITES) == {f"silver.{n}" for n in SILVER} | {f"gold.{n}" for n in GOLD}
    for suite in SUITES.values():
        assert any(c.severity == "critical" for c in suite.checks), suite.name
    types = {c.type for s in SUITES.values() for c in s.checks}
    # schema, keys, allowed values, ranges, integrity, business rules, freshness, row counts, distributions
    assert {
        "expect_table_columns_to_match_set", "expect_column_values_to_be_of_type", "expect_column_values_to_not_be_null",
        "expect_column_proportion_of_unique_values_to_be_between", "expect_compound_columns_to_be_unique", "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_between", "expect_column_values_to_not_be_in_set", "unexpected_rows_expectation",
        "expect_column_max_to_be_between", "expect_table_row_count_to_be_between", "expect_column_mean_to_be_between",
    } <= types  # fmt: skip
    assert {c.dimension for s in SUITES.values() for c in s.checks} == set(quality.DIMENSIONS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("expectations:\n  - {type: expect_column_values_to_not_be_null, kwargs: {column: a}, meta: {severity: fatal}}", "meta.severity"),
        ("expectations:\n  - {type: expect_column_to_be_purple, kwargs: {column: a}, meta: {severity: critical}}", "not a valid expectation"),
        ("expectations:\n  - {type: expect_column_values_to_not_be_null, kwargs: {column: a}, meta: {severity: warning, dimension: vibes}}", "meta.dimension"),
        ("expectations: {}", "expectations` list"),
        ("expectations: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_malformed_suites_are_refused_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "silver").mkdir()
    (tmp_path / "silver" / "orders.yaml").write_text(text)
    with pytest.raises(SuiteError, match=message) as err:
        load_suites(tmp_path)
    assert "orders.yaml" in str(err.value)


def test_a_suite_for_an_unknown_table_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / "fact_nothing.yaml").write_text("expectations: []")
    with pytest.raises(SuiteError, match="no gold table named 'fact_nothing'"):
        load_suites(tmp_path)


def test_scores_weigh_rows_and_average_dimensions() -> None:
    def outcome(dimension: str, success: bool, unexpected: float | None = None) -> Outcome:
        check = Check("expect_x", {}, "critical", dimension)
        return Outcome(check, success, None, None, 100 if unexpected is not None else None, unexpected)

    v = Verdict(
        "silver",
        "orders",
        100,
        [outcome("completeness", False, 2.0), outcome("completeness", True, 0.0), outcome("validity", False)],
    )
    s = v.scores()
    assert (s["completeness"], s["validity"], s["uniqueness"], s["overall"]) == (99.0, 0.0, None, 49.5)
    assert [o.check.dimension for o in v.critical_failures] == ["completeness", "validity"] and not v.passed


# ---- every critical expectation fails on data that breaks it ----

Breaker = Callable[[Any, dict[str, Any]], Any]  # (DataFrame, parameters) -> broken DataFrame


def _param(value: Any, params: dict[str, Any]) -> Any:
    return params[value["$PARAMETER"]] if isinstance(value, dict) else value


def _where(check: Check) -> Any:
    cond = check.kwargs.get("row_condition")
    return F.expr(cond) if cond else F.lit(True)


def _set(df: Any, column: str, value: Any, where: Any) -> Any:
    typ = dict(df.dtypes)[column]
    return df.withColumn(column, F.when(where, F.lit(value).cast(typ)).otherwise(F.col(column)))


def _dupe_a_version(df: Any, sk: str) -> Any:
    """A second row for one real member (not a special member: those have negative keys) under a new
    surrogate key, covering the same period."""
    row = df.where(F.col(sk) >= 0).limit(1)
    return df.unionByName(row.withColumn(sk, F.col(sk) + 1_000_000_000))


def _launch_after_order(df: Any, spark: Any) -> Any:
    """Point every line at the product launched last and the order placed first."""
    late = spark.table("silver_products").orderBy(F.col("launch_date").desc()).first()["product_id"]
    early = spark.table("silver_orders").orderBy("order_date").first()["order_id"]
    return df.withColumn("product_id", F.lit(late).cast("bigint")).withColumn(
        "order_id", F.lit(early).cast("bigint")
    )


RULE_BREAKERS: dict[str, Callable[[Any, Any], Any]] = {
    "order date not before the customer's signup date": lambda df, s: df.withColumn("order_date", F.lit(dt.date(1990, 1, 1))),
    "no product ordered before its launch date": _launch_after_order,
    "event_date is the date of event_ts": lambda df, s: df.withColumn("event_date", F.date_add("event_date", 1)),
    "weekend flag agrees with the weekday": lambda df, s: df.withColumn("is_weekend", ~F.col("is_weekend")),
    "every version starts before it ends": lambda df, s: df.withColumn("valid_to", F.col("valid_from")),
    "no warehouse's latest snapshot before its first": lambda df, s: df.withColumn("first_snapshot_date", F.date_add("last_snapshot_date", 1)),
    "no warehouse's latest shipment before its first": lambda df, s: df.withColumn("first_shipment_date", F.date_add("last_shipment_date", 1)),
    "exactly one current version per customer_id": lambda df, s: _dupe_a_version(df.where("is_current"), "customer_sk"),
    "exactly one current version per product_id": lambda df, s: _dupe_a_version(df.where("is_current"), "product_sk"),
    "versions of one customer_id never overlap in time": lambda df, s: _dupe_a_version(df, "customer_sk"),
    "versions of one product_id never overlap in time": lambda df, s: _dupe_a_version(df, "product_sk"),
    "revenue is the line's gross amount, or 0 when the order does not count": lambda df, s: df.withColumn("revenue", F.col("gross_amount") + 1),
    "cancelled orders carry no revenue": lambda df, s: df.withColumn("is_cancelled", F.lit(True)),
    "no more customers than orders in a day": lambda df, s: df.withColumn("new_customers", F.col("orders") + 1),
    "every cohort is fully active in its first period": lambda df, s: df.withColumn("retention_rate", F.lit(0.5)),
    "only the latest periods can be incomplete": lambda df, s: df.withColumn("is_complete", ~F.col("is_complete")),
    "stock-out and reorder flags use the same available stock": lambda df, s: df.withColumn("is_stock_out", ~F.col("is_stock_out")),
    "equal frequency gets an equal score": lambda df, s: df.withColumn("f_score", (F.col("customer_id") % 2 + 1).cast("int")),
    "each funnel step has no more sessions than the one before": lambda df, s: df.withColumn("purchase_sessions", F.col("sessions") + 1),
}  # fmt: skip


def break_it(df: Any, check: Check, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A copy of clean data that breaks `check` (and parameters to validate it with)."""
    k, t, where = check.kwargs, check.type, _where(check)
    if t == "unexpected_rows_expectation":
        name = next((n for n in RULE_BREAKERS if n.startswith(check.notes)), None)
        if name is None and "unknown member" in check.notes:
            return df.where(F.col(check.notes.split("(")[1].split(" ")[0]) != -1), params
        assert name, f"no breaker for the rule {check.notes!r}: add one to RULE_BREAKERS"
        return RULE_BREAKERS[name](df, df.sparkSession), params
    if t == "expect_table_columns_to_match_set":
        return df.drop(df.columns[0]), params
    if t == "expect_table_row_count_to_be_between":
        return df, {**params, "previous_rows": 10**9}
    if t == "expect_column_values_to_not_be_null":
        return _set(df, k["column"], None, where), params
    if t == "expect_column_values_to_be_null":
        return df.withColumn(
            k["column"], F.when(where, F.current_date()).otherwise(F.col(k["column"]))
        ), params
    if t in (
        "expect_column_proportion_of_unique_values_to_be_between",
        "expect_compound_columns_to_be_unique",
    ):
        return df.unionByName(df), params
    if t == "expect_column_values_to_be_in_set":
        return _set(df, k["column"], "no such value", where), params
    if t == "expect_column_values_to_not_be_in_set":
        return _set(df, k["column"], _param(k["value_set"], params)[0], where), params
    if t == "expect_column_values_to_match_regex":
        return _set(df, k["column"], "no match here", where), params
    if t == "expect_column_values_to_be_between":
        low, high = _param(k.get("min_value"), params), _param(k.get("max_value"), params)
        return _set(df, k["column"], low - 1 if low is not None else high + 1, where), params
    if t == "expect_column_pair_values_a_to_be_greater_than_b":
        return df.withColumn(k["column_A"], F.col(k["column_B"])), params
    raise AssertionError(f"no breaker for {t}: add one to break_it")


def _critical_checks() -> list[Any]:
    return [
        pytest.param(name, i, id=f"{name}:{c.label}")
        for name, suite in sorted(SUITES.items())
        for i, c in enumerate(suite.checks)
        if c.severity == "critical" and c.type != "expect_column_values_to_be_of_type"
    ]


@pytest.fixture(scope="module")
def gate(published: Bronze, spark: Any) -> Gate:
    quality.register_views(spark, str(published.root), "silver")
    return Gate(spark, str(published.root), "breakers", "test", {}, data_docs=False)


@pytest.fixture(scope="module")
def params(published: Bronze, spark: Any) -> dict[str, Any]:
    data = quality.data_date(str(published.root))
    return {
        **quality.contract_parameters(),
        **quality.freshness(data, 3),
        **quality.batch_band(None, 0),
        "previous_rows": 0,
    }


def test_the_data_date_is_the_newest_daily_file_not_the_end_of_the_history_month(
    spark: Any, tmp_path: Path
) -> None:
    """A world that starts on 2026-01-03 exports January 1-2 in orders_history_2026-01.csv, whose
    business date is the month's end: the run's data date is still its newest daily file's."""
    from lakehouse.core.delta import write_table
    from lakehouse.tables import LEDGER, silver_uri

    paths = ["orders/orders_history_2025-12.csv", "orders/orders_history_2026-01.csv",
             "orders/orders_2026-01-03.csv", "clickstream/date=2026-01-04/hour=00/events_2026-01-04T00.jsonl"]  # fmt: skip
    root = str(tmp_path)
    write_table(spark.createDataFrame([(p,) for p in paths[:2]], "path string"), silver_uri(root, LEDGER))
    assert quality.data_date(root) == dt.date(2026, 1, 31), "only the history: its month's end"
    write_table(spark.createDataFrame([(p,) for p in paths[2:]], "path string"), silver_uri(root, LEDGER))
    assert quality.data_date(root) == dt.date(2026, 1, 4)


def _anomaly_rows(spark: Any) -> Any:
    """Anomalies as the monitoring writes them: the small world is younger than the four weeks a series
    needs before it is watched, so its table is empty."""
    from lakehouse.monitoring.build import ANOMALY_SCHEMA

    start = dt.datetime(2025, 12, 1)
    rows = [
        ("orders", "all", "day", start, start + dt.timedelta(days=1), 1, "high", 300.0, 100.0, 60.0, 140.0, 9.5, "critical", "m"),
        ("orders_by_payment_method", "PayPal", "hour", start, start + dt.timedelta(hours=4), 4, "low", 0.0, 25.0, 5.0, 45.0, -6.1, "warning", "m"),
    ]  # fmt: skip
    return spark.createDataFrame(rows, ANOMALY_SCHEMA)


def _table(spark: Any, root: Path, name: str, limit: int | None = 400) -> Any:
    layer, table = name.split(".")
    t = REGISTRIES[layer][table]
    df = read_table(spark, t.uri(str(root)))
    if name == "gold.metric_anomalies" and df.isEmpty():
        return _anomaly_rows(spark)
    # A few hundred rows keep each validation quick; whole tables for rules that need their neighbours.
    # Ordered by key, so that every evaluation of the sample holds the same rows.
    key = t.merge_key if isinstance(t, type(SILVER["orders"])) else t.key
    return df.orderBy(*key).limit(limit) if limit else df


def _one(gate: Gate, suite: Suite, i: int, df: Any, params: dict[str, Any]) -> Verdict:
    check = suite.checks[i]
    name = f"{suite.table}#{i}"
    gate.suites[f"{suite.layer}.{name}"] = Suite(suite.layer, name, (check,), suite.path)
    return gate.validate(suite.layer, name, df, params)


@pytest.mark.parametrize(("suite_name", "index"), _critical_checks())
def test_each_critical_expectation_fails_on_data_that_breaks_it(
    gate: Gate, params: dict[str, Any], published: Bronze, spark: Any, suite_name: str, index: int
) -> None:
    suite = SUITES[suite_name]
    check = suite.checks[index]
    # Whole tables where a sample could miss the rows that matter (joins, shares, row conditions).
    whole = check.type in ("unexpected_rows_expectation", "expect_column_values_to_not_be_in_set")
    whole = whole or bool(check.kwargs.get("row_condition"))
    clean = _table(spark, published.root, suite_name, None if whole else 400)
    assert _one(gate, suite, index, clean, params).passed, f"{check.label} fails on clean data"
    broken, broken_params = break_it(clean, check, params)
    verdict = _one(gate, suite, index, broken, broken_params)
    assert not verdict.outcomes[0].success, f"{check.label} passed on data that breaks it"
    # What the jobs act on: a verdict with a failed critical expectation is not published (the two gate
    # tests below show that path end to end, with the previous version staying current).
    assert verdict.critical_failures and not verdict.passed


@pytest.mark.parametrize("suite_name", sorted(SUITES))
def test_schema_types_fail_when_a_column_changes_type(
    gate: Gate, params: dict[str, Any], published: Bronze, spark: Any, suite_name: str
) -> None:
    suite = SUITES[suite_name]
    typed = [i for i, c in enumerate(suite.checks) if c.type == "expect_column_values_to_be_of_type"]
    df = _table(spark, published.root, suite_name, 50)
    kinds = dict(df.dtypes)
    broken = df.select(
        *[F.lit(None).cast("int" if kinds[c] == "string" else "string").alias(c) for c in df.columns]
    )
    name = f"{suite.table}#types"
    checks = tuple(suite.checks[i] for i in typed)
    gate.suites[f"{suite.layer}.{name}"] = Suite(suite.layer, name, checks, suite.path)
    assert all(o.success for o in gate.validate(suite.layer, name, df, params).outcomes)
    outcomes = gate.validate(suite.layer, name, broken, params).outcomes
    assert len(outcomes) == len(df.columns) and not any(o.success for o in outcomes)


# ---- the gates in the jobs ----


def _versions(root: Path, layer: str, names: Any) -> dict[str, int]:
    return {n: DeltaTable(str(root / layer / n)).version() for n in names}


def test_gold_gate_holds_back_a_failing_table_and_what_is_built_from_it(
    published: Bronze, spark: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lakehouse.gold.models as gold
    from lakehouse.gold.build import downstream, silver_to_gold

    root = published.root
    cfg = load_config(root=str(root), env={})
    before = _versions(root, "gold", GOLD)
    real = gold.fact_orders
    monkeypatch.setattr(gold, "fact_orders", lambda *a: real(*a).withColumn("status", F.lit("Lost")))
    report = silver_to_gold(spark, cfg, "gold-blocked", full=True)
    held = downstream({"fact_orders"})
    assert held == {
        "fact_orders",
        "kpi_daily_sales",
        "kpi_retention_cohorts",
        "kpi_customer_value",
        "metric_series",
        "metric_anomalies",
        "kpi_shipping_performance",
    }
    assert set(report.blocked) == held and report.validation == "blocked"
    assert (
        report.failure is not None
        and "gold.fact_orders (column_values_to_be_in_set(status): expected in {" in str(report.failure)
    )
    assert "1,116 of 1,116 rows unexpected" in str(report.failure) or "rows unexpected (100.00%)" in str(
        report.failure
    )
    after = _versions(root, "gold", GOLD)
    assert {n for n in GOLD if after[n] == before[n]} == held  # readers keep the previous version
    assert all(after[n] == before[n] + 1 for n in set(GOLD) - held)
    rejected = spark.read.parquet(quality.rejected_uri(str(root), "gold-blocked", "gold", "fact_orders"))
    assert rejected.where("status = 'Lost'").count() == rejected.count() > 0
    results = read_table(spark, str(root / "gold" / "dq_results")).where("run_id = 'gold-blocked'")
    failed = (
        results.where("NOT success AND severity = 'critical'").select("table_name", "expectation").collect()
    )
    assert [(r["table_name"], r["expectation"]) for r in failed] == [
        ("fact_orders", "column_values_to_be_in_set(status)")
    ]
    assert results.where("table_name = 'fact_orders'").select("published").distinct().collect()[0][0] is False
    # --skip-validation publishes what the suites would have held back, and says so in the build log.
    assert silver_to_gold(spark, cfg, "gold-skip", full=True, validate=False).validation == "skipped"
    skipped = read_table(spark, str(root / "gold" / "_build_log")).where("run_id = 'gold-skip'").first()
    assert skipped["validation"] == "skipped"
    assert _versions(root, "gold", ["fact_orders"])["fact_orders"] == before["fact_orders"] + 1
    monkeypatch.undo()
    report = silver_to_gold(spark, cfg, "gold-repaired", full=True)
    assert report.failure is None and not report.blocked


def test_silver_gate_holds_back_a_source_and_takes_it_in_once_fixed(
    dirty_world: Bronze, spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lakehouse.silver.ingest as ingest

    bronze = tmp_path / "bronze"
    for folder in ("customers", "products", "orders"):
        (bronze / folder).mkdir(parents=True)
        for f in sorted((dirty_world.root / "bronze" / folder).glob("*.csv"))[:3]:
            shutil.copy(f, bronze / folder / f.name)
    cfg = load_config(root=str(tmp_path), env={})
    real = ingest.table_batch

    def lost(written: Any, table: Any) -> Any:
        rows = real(written, table)
        return rows.withColumn("status", F.lit("Lost")) if table.source == "orders" else rows

    monkeypatch.setattr(ingest, "table_batch", lost)
    report = ingest.bronze_to_silver(spark, cfg, "silver-blocked")
    by_source = {s.source: s for s in report.sources}
    assert by_source["orders"].validation == "blocked" and by_source["orders"].rows_written == 0
    assert by_source["orders"].rows_held > 0 and by_source["customers"].validation in ("passed", "warnings")
    assert (
        report.failure is not None
        and "silver.orders (column_values_to_be_in_set(status): expected in {" in str(report.failure)
    )
    assert not (tmp_path / "silver" / "orders").exists()  # nothing published
    assert (tmp_path / "silver" / "customers").exists()  # the other sources were
    rejected = spark.read.parquet(
        quality.rejected_uri(str(tmp_path), "silver-blocked", "silver", "orders_history")
    )
    assert rejected.count() == by_source["orders"].rows_held
    runs = read_table(spark, str(tmp_path / "silver" / "ingest_runs")).where("source = 'orders'").first()
    assert (runs["validation"], runs["rows_held"]) == ("blocked", by_source["orders"].rows_held)
    monkeypatch.undo()
    again = ingest.bronze_to_silver(spark, cfg, "silver-fixed")  # the held files are taken in again
    assert [s.source for s in again.sources] == ["orders"] and again.failure is None
    assert again.sources[0].rows_written == by_source["orders"].rows_held
    assert (
        read_table(spark, str(tmp_path / "silver" / "orders_history")).count()
        == again.sources[0].rows_written
    )
    assert ingest.bronze_to_silver(spark, cfg, "silver-nothing").nothing_new


def test_clean_runs_record_results_scorecards_and_data_docs(published: Bronze, spark: Any) -> None:
    root = published.root
    cards = read_table(spark, str(root / "gold" / "dq_scorecard")).where("run_id IN ('test-run-1', 'gold-1')")
    got = {(r["layer"], r["table_name"]): r for r in cards.collect()}
    assert set(got) == {("silver", n) for n in SILVER} | {("gold", n) for n in GOLD}
    for r in got.values():
        assert r["published"] and r["failed_critical"] == 0 and 95 <= r["overall"] <= 100
        assert all(r[d] is None or 0 <= r[d] <= 100 for d in quality.DIMENSIONS)
    results = read_table(spark, str(root / "gold" / "dq_results")).where("run_id = 'gold-1'")
    assert results.count() == sum(len(SUITES[f"gold.{n}"].checks) for n in GOLD)
    assert results.where("severity = 'critical' AND NOT success").count() == 0
    site = root / "dq" / "data_docs"  # one site for the lake, both jobs' runs in it
    index = (site / "index.html").read_text()
    assert "bronze_to_silver test-run-1" in index and "silver_to_gold gold-1" in index
    assert (
        index.count("<tr><td>gold.fact_orders</td>") >= 1 and index.count("<tr><td>silver.orders</td>") >= 1
    )
    assert list((site / "validations").rglob("*gold.fact_orders*.html")), (
        "the validation results are in the site"
    )
    assert not (site / "silver_to_gold").exists() and not (site / "bronze_to_silver").exists()


def test_data_docs_leave_no_temporary_files(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    check = Check(
        "expect_column_values_to_not_be_null", {"column": "customer_id"}, "critical", "completeness"
    )
    suite = Suite("silver", "customers", (check,), "customers.yaml")
    gate = Gate(spark, str(tmp_path / "lake"), "docs-run", "test", {suite.name: suite}, data_docs=True)
    assert gate.validate(
        "silver", "customers", spark.createDataFrame([(1,)], "customer_id bigint"), {}
    ).passed
    assert not list(temp.iterdir()), "nothing rendered before the results are recorded"
    for value in (1, 2):  # recording twice renders the site twice
        gate.validate("silver", "customers", spark.createDataFrame([(value,)], "customer_id bigint"), {})
        index = gate.record()
        assert index is not None and Path(index).is_file()
        assert not list(temp.iterdir()), "the site was rendered in a temporary directory, then removed"


def test_lakehouse_validate_on_demand(published: Bronze, capsys: pytest.CaptureFixture[str]) -> None:
    from lakehouse.cli import main

    assert main(["validate", "gold.fact_orders", "--root", str(published.root)]) == 0
    out = capsys.readouterr().out
    assert "gold.fact_orders" in out and "Data Docs:" in out and "gold.kpi_daily_sales" not in out
    assert main(["validate", "fact_nothing", "--root", str(published.root)]) == 2
    assert "no table 'fact_nothing'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (Check("expect_column_values_to_be_between", {"column": "days_to_ship", "min_value": 1, "max_value": 7}, "critical", "validity"), "between 1 and 7"),
        (Check("expect_column_values_to_be_between", {"column": "revenue", "min_value": 0}, "critical", "validity"), "at least 0"),
        (Check("expect_column_values_to_not_be_in_set", {"column": "customer_sk", "value_set": [-1], "mostly": 0.95}, "critical", "consistency"), "not in {-1}, for at least 95% of rows"),
        (Check("expect_column_values_to_be_in_set", {"column": "status", "value_set": {"$PARAMETER": "allowed_status"}}, "critical", "validity"), "in $allowed_status"),
        (Check("expect_column_values_to_not_be_null", {"column": "order_id"}, "critical", "completeness"), "column values to not be null"),
    ],
)  # fmt: skip
def test_a_failed_expectation_says_what_was_expected_and_what_was_found(check: Check, expected: str) -> None:
    assert check.expected() == expected
    outcome = Outcome(check, False, "12", 3, 100, 3.0)
    failure = quality.ValidationFailed(
        [Verdict("gold", "fact_orders", 100, [outcome])], "/lake/_rejected/r1/gold"
    )
    assert f"gold.fact_orders ({check.label}: expected {expected}, 3 of 100 rows unexpected (3.00%))" in str(
        failure
    )

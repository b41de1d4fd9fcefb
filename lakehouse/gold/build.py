"""silver_to_gold: build the gold dimensions, facts and KPIs from silver; write, audit, publish.

After the first build, a run refreshes only what changed: the fact rows of the orders and sessions that
silver changes touch are recomputed and merged by key (lakehouse.gold.refresh); dimensions, inventory
snapshots and KPIs, which are small, are rebuilt whole. `full` rebuilds everything.

Every gold table is built into a staging area, the staged tables must reconcile with silver and pass
their critical expectations (lakehouse.quality.gates), and only then replace the published ones (one Delta
commit per table). A table that fails, and every table built from it, is not published: readers keep
the previous version and the rejected data stays under _rejected/<run_id>/gold/ for inspection.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from lakehouse.bronze.contract import CARRIERS, CHANNELS, PAYMENT_METHODS, TRAFFIC_SOURCES
from lakehouse.core import storage
from lakehouse.core.config import Config
from lakehouse.core.delta import (
    materialize,
    merge_upsert,
    read_rows,
    read_table,
    row_count,
    table_exists,
    table_version,
    write_table,
)
from lakehouse.gold import kpis, refresh
from lakehouse.gold import models as gold
from lakehouse.monitoring import build as monitoring
from lakehouse.quality import gates as quality
from lakehouse.tables import BUILD_LOG, GOLD, SILVER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


class GoldReconciliationError(RuntimeError):
    """Gold totals disagree with silver: nothing inconsistent is published."""


@dataclass
class GoldReport:
    run_id: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    nothing_to_do: bool = False  # silver is empty
    nothing_new: bool = False  # silver unchanged since the last build
    validation: str = "passed"  # passed | warnings | blocked | skipped
    verdicts: list[quality.Verdict] = field(default_factory=list)
    # Tables not published: they failed a critical expectation, or were built from one that did.
    blocked: list[str] = field(default_factory=list)
    failure: quality.ValidationFailed | None = None
    data_docs: str | None = None
    mode: str = "full"  # full | incremental
    refreshed: dict[str, int] = field(default_factory=dict)  # incremental: fact rows recomputed
    unchanged: list[str] = field(default_factory=list)  # incremental: tables left as they were
    reporting_problem: str | None = None  # results and Data Docs not recorded (the tables are published)
    anomalies: list[dict[str, object]] = field(default_factory=list)  # new in gold.metric_anomalies


def _silver(spark: SparkSession, root: str, name: str) -> DataFrame:
    return read_table(spark, SILVER[name].uri(root))


def _silver_if_exists(spark: SparkSession, root: str, name: str) -> DataFrame | None:
    """A silver table, or None before any of its source has arrived."""
    return _silver(spark, root, name) if table_exists(SILVER[name].uri(root)) else None


FACTS_BY_KEY = ("fact_order_items", "fact_orders", "fact_shipments", "fact_sessions")  # refreshed by key


def build_dimensions(spark: SparkSession, root: str) -> dict[str, DataFrame]:
    """Every gold dimension, from silver (they are small: always rebuilt whole)."""
    orders = _silver(spark, root, "orders")
    first, last = orders.agg(
        F.min("order_date"), F.max(F.greatest("order_date", F.coalesce("ship_date", "order_date")))
    ).first()

    return {
        "dim_date": gold.dim_date(spark, first or dt.date.today(), last or dt.date.today()),
        "dim_customer": gold.dim_customer(_silver(spark, root, "customers_history")),
        "dim_product": gold.dim_product(_silver(spark, root, "products_history")),
        "dim_channel": gold.small_dimension(spark, "channel", CHANNELS),
        "dim_payment_method": gold.small_dimension(spark, "payment_method", PAYMENT_METHODS),
        "dim_carrier": gold.small_dimension(spark, "carrier", CARRIERS),
        "dim_traffic_source": gold.small_dimension(spark, "traffic_source", TRAFFIC_SOURCES),
        "dim_warehouse": gold.dim_warehouse(
            _silver(spark, root, "order_items"),
            _silver_if_exists(spark, root, "shipments"),
            _silver_if_exists(spark, root, "inventory_snapshots"),
        ),
    }


def session_parts(events: int, max_events_per_part: int | None) -> int:
    """How many parts of at most about `max_events_per_part` events (None: one)."""
    return max(1, math.ceil(events / max_events_per_part)) if max_events_per_part else 1


def by_session_parts(events: DataFrame, parts: int) -> list[DataFrame]:
    """The events in `parts` parts by a hash of their session: each session whole in one part."""
    if parts <= 1:
        return [events]
    part = F.pmod(F.xxhash64("session_id"), F.lit(parts))
    return [events.where(part == i) for i in range(parts)]


def build_facts(
    spark: SparkSession,
    root: str,
    dims: dict[str, DataFrame],
    scope: refresh.Scope | None = None,
    max_events_per_part: int | None = None,
) -> dict[str, DataFrame | list[DataFrame]]:
    """The facts kept by key, from silver and the (staged) dimensions: every row, or with a `scope`
    only the rows of the affected orders and sessions. fact_sessions, which groups every event of the
    history by session, comes in parts of at most about `max_events_per_part` events (a list of
    DataFrames to be materialized one after another)."""

    def only(df: DataFrame, key: str, ids: DataFrame | None) -> DataFrame:
        return df if ids is None else df.join(ids, key, "left_semi")

    order_ids = scope.order_ids if scope else None
    orders = _silver(spark, root, "orders")
    lines = gold.fact_order_items(
        only(_silver(spark, root, "order_items"), "order_id", order_ids),
        orders,
        dims["dim_customer"],
        dims["dim_product"],
        dims["dim_channel"],
        dims["dim_payment_method"],
        dims["dim_warehouse"],
    )
    shipments = _silver_if_exists(spark, root, "shipments")
    shipments = only(shipments, "order_id", order_ids) if shipments is not None else None
    out = {
        "fact_order_items": lines,
        "fact_orders": gold.fact_orders(
            lines,
            only(orders, "order_id", order_ids),
            only(_silver(spark, root, "orders_history"), "order_id", order_ids),
            dims["dim_customer"],
            dims["dim_channel"],
            dims["dim_payment_method"],
            shipments,
        ),
    }
    if shipments is not None:
        out["fact_shipments"] = gold.fact_shipments(
            shipments, orders, dims["dim_carrier"], dims["dim_warehouse"]
        )
    if table_exists(SILVER["clickstream_events"].uri(root)):
        events_uri = SILVER["clickstream_events"].uri(root)
        events = only(read_table(spark, events_uri), "session_id", scope.session_ids if scope else None)
        total = row_count(spark, events_uri)
        if scope is not None and max_events_per_part:  # about the share of the sessions it touches
            published = row_count(spark, GOLD["fact_sessions"].uri(root))
            total = int(total * min(1.0, scope.session_ids.count() / max(published, 1)))
        n = session_parts(total, max_events_per_part)
        out["fact_sessions"] = [
            gold.fact_sessions(part, dims["dim_customer"], dims["dim_traffic_source"])
            for part in by_session_parts(events, n)
        ]
    return out


def build_snapshots(spark: SparkSession, root: str, tables: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """fact_inventory_snapshot (small, rebuilt whole: days of cover follow the sales of every order line)."""
    if not table_exists(SILVER["inventory_snapshots"].uri(root)):
        return {}
    snapshots = _silver(spark, root, "inventory_snapshots")
    return {
        "fact_inventory_snapshot": gold.fact_inventory_snapshot(
            snapshots,
            tables["fact_order_items"],
            tables["dim_product"],
            tables["dim_warehouse"],
            tables.get("fact_shipments"),
        )
    }


# Dimensions an incremental refresh leaves as published unless this silver table changed (None: the
# fixed lists, which only a new version of the code changes, and then their columns tell).
UNCHANGED_UNLESS: dict[str, str | None] = {
    "dim_channel": None,
    "dim_payment_method": None,
    "dim_carrier": None,
    "dim_traffic_source": None,
    "dim_customer": "customers_history",
    "dim_product": "products_history",
    "dim_date": "orders",
}


def first(df: DataFrame | list[DataFrame]) -> DataFrame:
    """A fact as built, or its first part (the parts share one schema)."""
    return df[0] if isinstance(df, list) else df


def same_columns(published: DataFrame, built: DataFrame) -> bool:
    """Whether a published table has the columns (names and types) this version builds: a refresh
    that keeps or merges into it must not mix two versions' schemas."""
    return sorted(published.dtypes) == sorted(built.dtypes)


def with_refreshed(published: DataFrame, refreshed: DataFrame, key: tuple[str, ...]) -> DataFrame:
    """The published table with the rows of the refreshed keys replaced (and new keys added)."""
    kept = published.join(refreshed.select(*key), list(key), "left_anti")
    return gold.plain_strings(kept.unionByName(refreshed))


def build_kpis(tables: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """The KPI tables, from the (staged) gold facts and dimensions: each KPI function takes the gold
    tables its registry entry lists as inputs, in that order; a KPI whose inputs are absent is skipped."""
    return {
        name: getattr(kpis, name)(*[tables[i] for i in t.inputs], *[tables.get(i) for i in t.optional])
        for name, t in GOLD.items()
        if name.startswith("kpi_") and all(i in tables for i in t.inputs)
    }


def reconcile(
    spark: SparkSession, root: str, published: dict[str, DataFrame], max_events_per_part: int | None = None
) -> None:
    """Facts must agree with silver: one fact_orders row per silver order, and revenue equal to the
    silver order lines of the orders that count (not cancelled)."""
    orders = _silver(spark, root, "orders")
    items = _silver(spark, root, "order_items")
    n_orders, n_facts = row_count(spark, SILVER["orders"].uri(root)), published["fact_orders"].count()
    if n_orders != n_facts:
        raise GoldReconciliationError(f"fact_orders has {n_facts} rows for {n_orders} silver orders")
    counted = items.join(orders.where(F.col("status") != "Cancelled").select("order_id"), "order_id")
    want = counted.agg(F.sum(F.col("quantity") * F.col("item_price"))).first()[0] or Decimal(0)
    got = published["fact_order_items"].agg(F.sum("revenue")).first()[0] or Decimal(0)
    if Decimal(want).quantize(Decimal("0.01")) != Decimal(got).quantize(Decimal("0.01")):
        raise GoldReconciliationError(
            f"fact_order_items revenue {got} differs from silver order lines of counted orders {want}"
        )
    if published["fact_order_items"].count() != row_count(spark, SILVER["order_items"].uri(root)):
        raise GoldReconciliationError("fact_order_items does not have one row per silver order line")
    if "fact_sessions" in published:
        events_uri = SILVER["clickstream_events"].uri(root)
        parts = session_parts(row_count(spark, events_uri), max_events_per_part)
        sessions = sum(  # by parts of whole sessions, as fact_sessions was built: memory stays bounded
            part.distinct().count()
            for part in by_session_parts(read_table(spark, events_uri).select("session_id"), parts)
        )
        if published["fact_sessions"].count() != sessions:
            raise GoldReconciliationError(
                f"fact_sessions has {published['fact_sessions'].count()} rows for {sessions} clickstream sessions"
            )


def silver_versions(root: str) -> dict[str, int | None]:
    return {name: table_version(t.uri(root)) for name, t in SILVER.items()}


def last_build(root: str) -> dict[str, int | None] | None:
    """The silver versions the published gold was built from, if any."""
    builds = read_rows(storage.join(root, "gold", BUILD_LOG), ("built_at", "silver_versions"))
    if builds is None or builds.empty:
        return None
    return json.loads(builds.sort_values("built_at").iloc[-1]["silver_versions"])


def downstream(tables: set[str]) -> set[str]:
    """The tables and every gold table built from them, directly or not (GOLD[...].inputs)."""
    out = set(tables)
    while True:
        more = {n for n, t in GOLD.items() if n not in out and any(i in out for i in t.sources)}
        if not more:
            return out
        out |= more


class StagedValidation:
    """The gold suites, each run as soon as its table is staged, on one worker thread: Great
    Expectations' work (mostly Python, on one core) overlaps the engine building the next tables.
    One worker, so two validations never run side by side (Great Expectations' query metrics share
    one temp view name) and the verdicts keep the staging order. `previous_rows` is each published
    table's row count."""

    def __init__(self, spark: SparkSession, cfg: Config, gate: quality.Gate) -> None:
        self.spark, self.cfg, self.gate = spark, cfg, gate
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="validate-gold")
        self._pending: list[Future[None]] = []
        self._params: dict[str, object] | None = None

    def submit(self, name: str, df: DataFrame) -> None:
        self._pending.append(self._pool.submit(self._validate, name, df))

    def _validate(self, name: str, df: DataFrame) -> None:
        root = self.cfg.root
        if not self.gate.has_suite("gold", name):
            log.warning(
                "gold.%s has no suite under %s: published unvalidated", name, self.cfg.quality.expectations
            )
            return
        if self._params is None:
            self._params = quality.job_parameters(self.cfg, quality.data_date(root))
        uri = GOLD[name].uri(root)
        previous = row_count(self.spark, uri)
        self.gate.validate("gold", name, df, {**self._params, "previous_rows": previous})

    def wait(self) -> None:
        """Every submitted validation done; the first that raised raises here."""
        for future in self._pending:
            future.result()

    def close(self) -> None:
        """Drop what has not started and wait for what has (it reads the staging area): before the
        staging area is deleted, whether the job succeeded or not."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def silver_to_gold(
    spark: SparkSession,
    cfg: Config,
    run_id: str,
    full: bool = False,
    validate: bool = True,
    guard: Callable[[], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> GoldReport:
    """Refresh gold from what changed in silver since the last build (everything when there is no
    complete previous build, or with `full`); nothing when silver has not changed. `guard` runs before
    publishing and raises to stop the run (the job's lock, when it has been lost)."""
    started = time.perf_counter()
    report = GoldReport(run_id)
    root = cfg.root
    needed = ["orders", "order_items", "customers_history", "products_history"]
    missing = [n for n in needed if not table_exists(SILVER[n].uri(root))]
    if missing:
        report.nothing_to_do = True
        log.warning("silver tables %s are missing under %s: run bronze_to_silver first", missing, root)
        return report
    versions = silver_versions(root)
    previous = last_build(root)
    if not full and previous == versions:
        report.nothing_new = True
        log.info("silver has not changed since the last gold build: no gold table changed")
        return report
    complete = all(table_exists(GOLD[n].uri(root)) for n in FACTS_BY_KEY)
    report.mode = "incremental" if previous is not None and complete and not full else "full"
    # Write, audit, publish: build into staging, check the staged tables, and only then replace the
    # published ones (each an atomic Delta commit, dimensions before facts).
    storage.delete_tree(storage.join(root, "_staging", "silver_to_gold"))  # left by killed runs
    staging = storage.join(root, "_staging", "silver_to_gold", run_id)
    staged: dict[str, DataFrame] = {}  # every gold table as it is to be published
    refreshed: dict[str, DataFrame] = {}  # incremental: the recomputed rows of the facts kept by key
    unchanged: set[str] = set()  # incremental: dimensions whose silver inputs did not change

    gate: quality.Gate | None = None
    checks: StagedValidation | None = None
    if validate:  # Great Expectations and the suites load in the background while gold is built
        quality.preload()
        gate = quality.Gate.for_job(spark, cfg, run_id, "silver_to_gold")
        checks = StagedValidation(spark, cfg, gate)

    def add(name: str, df: DataFrame) -> None:
        staged[name] = df
        if checks is not None:
            checks.submit(name, df)
        if progress and getattr(progress, "enabled", True):  # a count: only for someone watching
            progress(f"gold.{name}: {df.count():,} rows staged")

    def stage(tables: Mapping[str, DataFrame | list[DataFrame]]) -> None:
        for name, df in tables.items():
            add(name, materialize(spark, df, storage.join(staging, name)))

    try:
        stage(build_dimensions(spark, root))
        if report.mode == "incremental":
            scope = refresh.affected(spark, root, previous or {})
            scope.order_ids = materialize(spark, scope.order_ids, storage.join(staging, "_orders"))
            scope.session_ids = materialize(spark, scope.session_ids, storage.join(staging, "_sessions"))
            facts = build_facts(spark, root, staged, scope, cfg.gold.max_events_per_part)
            published = {name: read_table(spark, GOLD[name].uri(root)) for name in facts}
            if stale := [name for name, df in facts.items() if not same_columns(published[name], first(df))]:
                log.warning(
                    "%s: published with other columns than this version builds: rebuilding gold in full",
                    ", ".join(stale),
                )
                report.mode = "full"
        if report.mode == "incremental":
            unchanged = {
                dim
                for dim, source in UNCHANGED_UNLESS.items()
                if not (source and scope.changed[source])
                and table_exists(GOLD[dim].uri(root))
                and same_columns(read_table(spark, GOLD[dim].uri(root)), staged[dim])
            }
            for name, df in facts.items():
                refreshed[name] = materialize(spark, df, storage.join(staging, f"_{name}"))
                merged = with_refreshed(published[name], refreshed[name], GOLD[name].key)
                add(name, materialize(spark, merged, storage.join(staging, name)))
            report.refreshed = {name: df.count() for name, df in refreshed.items()}
            report.unchanged = sorted(unchanged)
            log.info("incremental refresh: recomputed %s", report.refreshed)
        else:
            stage(build_facts(spark, root, staged, max_events_per_part=cfg.gold.max_events_per_part))
        stage(build_snapshots(spark, root, staged))
        stage(build_kpis(dict(staged)))
        stage({"metric_series": monitoring.metric_series(spark, root, dict(staged))})
        stage(
            {"metric_anomalies": monitoring.metric_anomalies(spark, staged["metric_series"], cfg.monitoring)}
        )
        uri = GOLD["metric_anomalies"].uri(root)
        published_anomalies = read_table(spark, uri) if table_exists(uri) else None
        report.anomalies = monitoring.new_anomalies(staged["metric_anomalies"], published_anomalies).to_dict(
            "records"
        )
        log.info("%d gold tables built and staged in %.1f s", len(staged), time.perf_counter() - started)
        reconcile(spark, root, staged, cfg.gold.max_events_per_part)
        if checks is not None:
            t0 = time.perf_counter()
            checks.wait()
            verdicts = checks.gate.verdicts
            log.info(
                "%d gold tables validated in %.1f s, beside the build; waited %.1f s for the last",
                len(verdicts), checks.gate.seconds, time.perf_counter() - t0,
            )  # fmt: skip
            failed = {v.table for v in verdicts if not v.passed}
            report.blocked = sorted(downstream(failed) & set(staged), key=list(staged).index)
            report.validation = (
                "blocked" if failed else "warnings" if any(v.warnings for v in verdicts) else "passed"
            )
        else:
            report.validation = "skipped"
            log.warning("validation skipped (--skip-validation): gold published without its expectations")
        if guard is not None:
            guard()
        if progress:
            progress(f"{len(staged)} gold tables staged and validated: publishing")
        for name, df in staged.items():
            if name in report.blocked:  # kept for inspection; readers keep the published version
                quality.keep_rejected(df, root, run_id, "gold", name)
            elif name in unchanged:
                continue
            elif name in refreshed:  # only the recomputed rows change
                merge_upsert(
                    spark,
                    refreshed[name],
                    GOLD[name].uri(root),
                    GOLD[name].key,
                    has_rows=report.refreshed[name] > 0,
                )
            else:
                write_table(df, GOLD[name].uri(root), mode="overwrite", partition_by=GOLD[name].partition_by)
        log.info("published in %.1f s", time.perf_counter() - started)
        report.rows = {  # from the tables' logs: no query
            name: row_count(spark, GOLD[name].uri(root)) for name in staged if name not in report.blocked
        }
        if gate is not None:
            for v in gate.verdicts:
                v.published = v.table not in report.blocked
            report.verdicts = gate.verdicts
            t0 = time.perf_counter()
            report.data_docs, report.reporting_problem = gate.record_after_commit()
            log.info("results and Data Docs recorded in %.1f s", time.perf_counter() - t0)
        if report.blocked:
            failed_verdicts = [v for v in report.verdicts if not v.passed]
            report.failure = quality.ValidationFailed(
                failed_verdicts, storage.join(root, "_rejected", run_id, "gold"), held=report.blocked
            )
        else:  # a build with tables held back is not recorded: the next run refreshes them again
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            built = [(run_id, now, json.dumps(versions, sort_keys=True), report.mode, report.validation)]
            schema = (
                "run_id STRING, built_at TIMESTAMP, silver_versions STRING, mode STRING, validation STRING"
            )
            write_table(
                spark.createDataFrame(built, schema), storage.join(root, "gold", BUILD_LOG), mode="append"
            )
    finally:
        if checks is not None:
            checks.close()
        storage.delete_tree(staging)
    report.seconds = round(time.perf_counter() - started, 3)
    return report

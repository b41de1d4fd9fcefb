"""bronze_to_silver: take in every new or changed bronze file, exactly once in effect.

Per run: files whose content hash the ledger has not seen are landed (parsed into a staging area),
typed and checked (lakehouse.silver.transforms), classified (written, quarantined or duplicate), merged into the
silver tables with MERGE INTO, reconciled, and only then recorded in the ledger. A run killed at any
point is simply run again: the merges are idempotent by key, so files taken in twice do no harm.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from lakehouse.bronze.contract import HISTORY_MARK, SOURCES, file_date, warehouse_ids
from lakehouse.bronze.landing import (
    BronzeFile,
    Landed,
    LandedFile,
    Seen,
    discover,
    land_on_engine,
    landing_pool,
    start_landing,
)
from lakehouse.core import storage
from lakehouse.core.config import Config
from lakehouse.core.delta import (
    add_missing_columns,
    append_rows,
    materialize,
    merge_insert_new,
    merge_latest,
    merge_upsert,
    read_rows,
    read_table,
    row_count,
    sql_string,
    table_exists,
    update_matched,
    write_table,
)
from lakehouse.core.engines import resolve_engine, ship_code
from lakehouse.quality import gates as quality
from lakehouse.silver.transforms import (
    event_columns,
    event_time_window,
    labels_where,
    parse_events,
    typed_records,
)
from lakehouse.tables import (
    INGEST_BATCHES,
    INGEST_RUNS,
    LEDGER,
    QUARANTINE,
    SILVER,
    SilverTable,
    silver_uri,
    targets_of,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

_COUNTS = (
    "run_id STRING, source STRING, started_at TIMESTAMP, files INT, files_rejected INT, rows_read BIGINT, rows_written BIGINT, "
    "rows_quarantined BIGINT, duplicates BIGINT, values_repaired BIGINT, values_nulled BIGINT, orphans BIGINT, seconds DOUBLE, "
    "rows_held BIGINT, validation STRING, rows_rescued BIGINT"
)
RUNS_SCHEMA = f"{_COUNTS}, batches INT, landed_by STRING"  # ingest_runs: one row per source and completed run
BATCHES_SCHEMA = (
    f"{_COUNTS}, batch INT, landed_by STRING"  # ingest_batches: one per source and committed batch
)
LEDGER_SCHEMA = (
    "path STRING, source STRING, size BIGINT, modified DOUBLE, sha256 STRING, run_id STRING, status STRING, reason STRING, rows_read BIGINT, "
    "rows_written BIGINT, rows_quarantined BIGINT, duplicates BIGINT, ingested_at TIMESTAMP"
)


class ReconciliationError(RuntimeError):
    """Rows read do not equal rows written + quarantined + duplicates: something was lost."""


@dataclass
class SourceReport:
    source: str
    files: int = 0
    files_rejected: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    duplicates: int = 0
    values_repaired: int = 0
    values_nulled: int = 0
    orphans: int = 0
    seconds: float = 0.0
    rows_updated: int = 0  # of rows_written: corrections from re-exported files that replaced silver's rows
    rows_rescued: int = (
        0  # of rows_written: rows with values of columns the contract does not know (_rescued)
    )
    rows_held: int = 0  # usable rows held back because their batch failed a critical expectation
    validation: str = "passed"  # passed | warnings | blocked | skipped
    landed_by: tuple[str, ...] = ()  # host:pid of the processes that landed its files

    def plus(self, other: SourceReport) -> SourceReport:
        """Two batches' reports of one source as one: counts added, the worse validation kept."""
        counts = {
            k: getattr(self, k) + getattr(other, k)
            for k, v in asdict(self).items()
            if isinstance(v, int | float) and k != "source"
        }
        worst = max(self.validation, other.validation, key=VALIDATION_ORDER.index)
        by = tuple(sorted({*self.landed_by, *other.landed_by}))
        return SourceReport(self.source, **counts, validation=worst, landed_by=by)

    def row(self, run_id: str, started_at: dt.datetime, **more: object) -> dict[str, object]:
        """As ingest_runs and ingest_batches keep it."""
        kept = {k: v for k, v in asdict(self).items() if k != "rows_updated"}  # in the log and summary only
        return {
            **kept,
            "landed_by": ",".join(self.landed_by),
            "run_id": run_id,
            "started_at": started_at,
            **more,
        }


VALIDATION_ORDER = ("skipped", "passed", "warnings", "blocked")


@dataclass
class RunReport:
    run_id: str
    sources: list[SourceReport] = field(default_factory=list)
    rejected: list[LandedFile] = field(default_factory=list)
    orphans_resolved: int = 0  # rows of earlier runs whose parent arrived in this one
    noted: list[LandedFile] = field(default_factory=list)  # ingested with a note (a sheet left out, a column)
    reporting_problem: str | None = None  # results and Data Docs not recorded (the tables are committed)
    nothing_new: bool = False
    seconds: float = 0.0
    verdicts: list[quality.Verdict] = field(default_factory=list)
    failure: quality.ValidationFailed | None = None
    data_docs: str | None = None


def _primary(source: str) -> SilverTable:
    """The table whose keys decide duplicates: the history table of versioned sources, else the table."""
    tables = targets_of(source)
    return next((t for t in tables if t.mode == "history"), None) or next(
        t for t in tables if t.mode == "unique"
    )


def read_ledger(root: str) -> dict[str, Seen]:
    """What the ledger has seen of each file (a ledger from before mtimes has none: 0)."""
    rows = read_rows(silver_uri(root, LEDGER), ("path", "size", "modified", "sha256"))
    if rows is None:
        return {}
    return {
        r.path: Seen(int(r.size), float(r.modified) if pd.notna(r.modified) else 0.0, r.sha256)
        for r in rows.itertuples(index=False)
    }


def plan_batches(files: list[BronzeFile], max_files: int, max_bytes: int) -> list[list[BronzeFile]]:
    """The files in batches of at most `max_files` files and `max_bytes` bytes (a file larger than that
    is a batch of its own), in the order of the days they hold (files without a date first), and
    within a day by source in the contract's order, so parents come before the rows that point to
    them. Whole days stay together when they fit."""
    order = {s: i for i, s in enumerate(SOURCES)}
    by_day: dict[dt.date, list[BronzeFile]] = {}
    for f in files:
        by_day.setdefault(file_date(f.path) or dt.date.min, []).append(f)
    batches: list[list[BronzeFile]] = []
    current: list[BronzeFile] = []
    size = 0
    for day in sorted(by_day):
        group = sorted(by_day[day], key=lambda f: (order[f.source], f.path))
        group_size = sum(f.size for f in group)
        if current and (len(current) + len(group) > max_files or size + group_size > max_bytes):
            batches.append(current)
            current, size = [], 0
        for f in group:  # a day larger than a batch is split, parents first
            if current and (len(current) + 1 > max_files or size + f.size > max_bytes):
                batches.append(current)
                current, size = [], 0
            current.append(f)
            size += f.size
    if current:
        batches.append(current)
    return batches


def landing_mode(cfg: Config) -> str:
    """Where files are parsed: worker processes beside an engine running in this process (its tasks
    would share this interpreter), the engine's own tasks otherwise."""
    if cfg.ingest.landing != "auto":
        return cfg.ingest.landing
    return "processes" if resolve_engine(cfg) == "embedded" else "engine"


def bronze_to_silver(
    spark: SparkSession,
    cfg: Config,
    run_id: str,
    progress: Callable[[str], None] | None = None,
    validate: bool = True,
    guard: Callable[[], None] | None = None,
) -> RunReport:
    """Take every new or changed bronze file into silver, in batches bounded by files and bytes, each
    committed with its ledger rows (a run killed between batches keeps what it finished). `guard` runs
    before each batch and raises to stop the run (the job's lock, when it has been lost)."""
    root = cfg.root
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    report = RunReport(run_id)
    todo = discover(root, read_ledger(root))
    if not todo:
        report.nothing_new = True
        log.info("nothing new in %s/bronze: no table changed", root)
        return report
    batches = plan_batches(todo, cfg.ingest.max_files_per_batch, cfg.ingest.max_bytes)
    mode = landing_mode(cfg)
    log.info(
        "%d new or changed files (%s) in %d batch(es), landed by %s",
        len(todo), _size(sum(f.size for f in todo)), len(batches), mode,
    )  # fmt: skip
    # Staging of earlier runs of this job that were killed before cleaning up is of no further use.
    storage.delete_tree(storage.join(root, "_staging", "bronze_to_silver"))
    gate: quality.Gate | None = None
    if validate:
        quality.preload()
        gate = quality.Gate.for_job(spark, cfg, run_id, "bronze_to_silver")
    else:
        log.warning(
            "validation skipped (--skip-validation): silver batches merged without their expectations"
        )
    # Tables an earlier version wrote get the columns this one adds (null in their rows).
    add_missing_columns(spark, silver_uri(root, QUARANTINE), QUARANTINE_RESOLUTION)
    for table in SILVER.values():
        add_missing_columns(spark, table.uri(root), dict(table.columns()))
    if mode == "engine":
        ship_code(spark)
    lander = landing_pool() if mode == "processes" else None
    totals: dict[str, SourceReport] = {}
    batches_of: dict[str, int] = {}
    blocked: set[str] = set()  # sources held back: their later files wait for the next run too
    try:
        for number, batch in enumerate(batches, start=1):
            files = [f for f in batch if f.source not in blocked]
            if not files:
                continue
            if len(batches) > 1 or progress:
                first, last = _day_range(files)
                what = f"batch {number} of {len(batches)}: {len(files):,} files, {_size(sum(f.size for f in files))}, {first} to {last}"
                if progress:
                    progress(what)
                elif len(batches) > 1:
                    log.warning("%s", what)
            if guard is not None:
                guard()
            staging = storage.join(root, "_staging", "bronze_to_silver", run_id, f"batch-{number:04d}")
            try:
                reports = _ingest_batch(
                    spark, cfg, run_id, started_at, number, files, staging, lander, gate, progress
                )
            finally:
                storage.delete_tree(staging)
            for sr, landed in reports:
                report.rejected += [lf for lf in landed if lf.status == "rejected"]
                report.noted += [lf for lf in landed if lf.status == "ingested" and lf.warnings]
                totals[sr.source] = totals[sr.source].plus(sr) if sr.source in totals else sr
                batches_of[sr.source] = batches_of.get(sr.source, 0) + 1
                if sr.validation == "blocked":
                    blocked.add(sr.source)
        report.sources = list(totals.values())
        if totals:
            report.orphans_resolved = resolve_orphans(spark, root)
        if totals:  # the run is complete: one row per source
            rows = [sr.row(run_id, started_at, batches=batches_of[sr.source]) for sr in report.sources]
            write_table(
                spark.createDataFrame(rows, RUNS_SCHEMA), silver_uri(root, INGEST_RUNS), mode="append"
            )
        if gate is not None:
            report.verdicts = gate.verdicts
            report.data_docs, report.reporting_problem = gate.record_after_commit()
            failed = [v for v in gate.verdicts if not v.passed]
            if failed:
                held = [t.name for s in sorted(blocked, key=list(SOURCES).index) for t in targets_of(s)]
                report.failure = quality.ValidationFailed(
                    failed, storage.join(root, "_rejected", run_id, "silver"), held=held
                )
    finally:
        if lander is not None:
            lander.shutdown(cancel_futures=True)
        storage.delete_tree(storage.join(root, "_staging", "bronze_to_silver", run_id))
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _size(n: int) -> str:
    return f"{n / 1024**2:,.1f} MiB"


def _day_range(files: list[BronzeFile]) -> tuple[str, str]:
    days = sorted(d for d in (file_date(f.path) for f in files) if d)
    return (str(days[0]), str(days[-1])) if days else ("-", "-")


def _ingest_batch(
    spark: SparkSession,
    cfg: Config,
    run_id: str,
    started_at: dt.datetime,
    number: int,
    files: list[BronzeFile],
    staging: str,
    lander: Executor | None,
    gate: quality.Gate | None,
    progress: Callable[[str], None] | None = None,
) -> list[tuple[SourceReport, list[LandedFile]]]:
    """One batch: land, type, classify, validate and merge each source, then record the batch in
    ingest_batches and, last, its files in the ledger."""
    root = cfg.root
    by_source = {s: [f for f in files if f.source == s] for s in SOURCES}
    by_source = {s: fs for s, fs in by_source.items() if fs}
    if lander is not None:
        # Landed by worker processes ahead of the engine: the clickstream is parsed while the engine
        # works on the smaller sources.
        waits = {
            s: start_landing(lander, s, fs, staging, _expected_sheets(cfg, s)) for s, fs in by_source.items()
        }
    else:
        waits = {
            s: functools.partial(land_on_engine, spark, s, fs, staging, _expected_sheets(cfg, s))
            for s, fs in by_source.items()
        }
    params: dict[str, object] = {}
    if gate is not None:
        dates = [d for d in (file_date(f.path) for f in files) if d]
        params = quality.job_parameters(cfg, max(dates) if dates else dt.date.today())
    typical = _typical_rows_per_file(root)
    out: list[tuple[SourceReport, list[LandedFile]]] = []
    ledger_rows: list[dict[str, object]] = []
    runs: list[dict[str, object]] = []
    quarantined: list[DataFrame] = []  # every source's, written in one merge (one commit per batch)
    for source, source_files in by_source.items():
        t0 = time.perf_counter()
        landing = waits[source]()
        log.info(
            "%s: landed %d rows from %d files in %.1f s",
            source,
            landing.rows,
            len(source_files),
            landing.seconds,
        )
        checks = (
            (gate, {**params, **quality.batch_band(typical.get(source), len(source_files))}) if gate else None
        )
        sr, landed, outcomes, bad = _ingest_source(
            spark, cfg, run_id, started_at, source, landing, staging, checks
        )
        if bad is not None:
            quarantined.append(bad)
        sr.seconds = round(time.perf_counter() - t0 + (landing.seconds if lander is not None else 0), 3)
        out.append((sr, landed))
        if progress:
            progress(
                f"{source}: {sr.files:,} files, {sr.rows_read:,} rows read, {sr.rows_written:,} written, "
                f"{sr.rows_quarantined:,} quarantined, {sr.duplicates:,} duplicates ({sr.seconds:.1f} s)"
            )
        sr.landed_by = tuple(landing.landed_by)
        runs.append(sr.row(run_id, started_at, batch=number))
        if sr.validation == "blocked":  # not in the ledger: the next run takes these files in again
            log.error("%s: batch held back by failed critical expectations", source)
        else:
            ledger_rows += _ledger_rows(landed, outcomes, run_id, started_at)
        log.info("%s: %s", source, asdict(sr))
    _write_quarantine(spark, root, quarantined)
    write_table(spark.createDataFrame(runs, BATCHES_SCHEMA), silver_uri(root, INGEST_BATCHES), mode="append")
    # The ledger last: a run killed before this point takes the same files in again next time.
    if ledger_rows:
        ledger = spark.createDataFrame(ledger_rows, LEDGER_SCHEMA)
        merge_latest(spark, ledger, silver_uri(root, LEDGER), ("path",), "ingested_at", has_rows=True)
    return out


def _expected_sheets(cfg: Config, source: str) -> tuple[str, ...]:
    """The sheets a workbook of this source should have (none for other formats)."""
    return warehouse_ids(cfg.generator.warehouses) if SOURCES[source].format == "xlsx" else ()


def _ingest_source(
    spark: SparkSession,
    cfg: Config,
    run_id: str,
    started_at: dt.datetime,
    source: str,
    landing: Landed,
    staging: str,
    checks: tuple[quality.Gate, dict[str, object]] | None = None,
) -> tuple[SourceReport, list[LandedFile], dict[str, dict[str, int]], DataFrame | None]:
    """Type, classify, validate and merge one source's landed batch. Returns its report, its files,
    each file's rows by outcome (for the ledger), and its quarantined rows (written by the batch)."""
    contract = SOURCES[source]
    landed = landing.files
    sr = SourceReport(source, files=len(landed), validation="passed" if checks else "skipped")
    t_start = time.perf_counter()
    sr.files_rejected = sum(lf.status == "rejected" for lf in landed)
    sr.rows_read = landing.rows
    if not landing.rows:
        return sr, landed, {}, None

    raw = landing.records(spark)
    if contract.format == "jsonl":
        typed = event_columns(event_time_window(typed_records(parse_events(raw), contract)))
    else:
        typed = typed_records(raw, contract)
    typed = with_usable(typed).withColumns(
        {
            "_raw": F.when(~F.col("_usable"), F.col("_raw")),  # only quarantine keeps the raw text
            "_source_file": F.col("_file"),
            "_source_row": F.col("_row"),
            "_ingested_at": F.lit(started_at).cast("timestamp"),
            "_run_id": F.lit(run_id),
            "_id": F.monotonically_increasing_id(),  # fixed once materialized: names the row in this batch
        }
    )
    # Materialized once: the engines do not cache, and classifying reads the typed rows several times.
    typed = materialize(spark, typed, storage.join(staging, f"{source}.typed.parquet"))
    log.info("%s: typed in %.1f s", source, time.perf_counter() - t_start)
    # Only the few rows that are duplicates or orphans are written down; the batch is the typed rows
    # joined with them, which costs far less than writing the whole batch again with its outcome (or
    # joining every parent table to the whole batch).
    flags = materialize(
        spark,
        row_flags(
            duplicates(spark, typed, _primary(source), cfg.root), orphans(spark, cfg.root, typed, contract)
        ),
        storage.join(staging, f"{source}.flags.parquet"),
    )
    batch = with_outcome(typed, flags)
    log.info("%s: typed and classified in %.1f s", source, time.perf_counter() - t_start)

    written_row = F.col("_outcome") == "written"

    def repairs(kind: str) -> Column:
        # Filtering arrays only where there is something to filter: most rows have no repairs.
        labelled = F.when(F.size("_repairs") > 0, F.size(F.filter("_repairs", lambda x: x.startswith(kind))))
        return F.sum(F.when(written_row, labelled))

    per_file = (
        batch.groupBy("_file", "_outcome")
        .agg(
            F.count(F.lit(1)).alias("n"),
            repairs("repaired:").alias("rep"),
            repairs("nulled:").alias("nul"),
            F.sum(F.when(written_row & (F.size("_orphan_fks") > 0), 1)).alias("orph"),
            F.sum(F.when(written_row & F.col("_updated"), 1)).alias("upd"),
            F.sum(F.when(written_row & F.col("_recovered"), 1)).alias("rec"),
            F.sum(
                F.when(written_row & F.col("_rescued").isNotNull(), 1)
                if "_rescued" in batch.columns
                else F.lit(0)
            ).alias("resc"),
        )
        .collect()
    )  # one pass: the counts, the repairs and orphans of the written rows, and each file's outcomes
    outcomes: dict[str, dict[str, int]] = {}
    for r in per_file:
        outcomes.setdefault(r["_file"], {})[r["_outcome"]] = int(r["n"])
    sr.rows_written, sr.rows_quarantined, sr.duplicates = (
        sum(int(r["n"]) for r in per_file if r["_outcome"] == k)
        for k in ("written", "quarantined", "duplicate")
    )
    sr.values_repaired, sr.values_nulled, sr.orphans, sr.rows_updated, recovered, sr.rows_rescued = (
        sum(int(r[k] or 0) for r in per_file) for k in ("rep", "nul", "orph", "upd", "rec", "resc")
    )
    seen = sum(int(r["n"]) for r in per_file)

    if checks is not None:
        checks[0].ready()  # a malformed suite fails the run here, before this source writes anything
    quarantined = batch.where(F.col("_outcome") == "quarantined")
    bad = quarantine_rows(quarantined, source, run_id, started_at) if sr.rows_quarantined else None
    written = batch.where(F.col("_outcome") == "written")
    primary = _primary(source)
    batches = {}
    for t in targets_of(source):
        rows = table_batch(written, t)
        if t.mode == "current":  # the newest version per key: computed once, not in every check and merge
            rows = materialize(spark, rows, storage.join(staging, f"{source}.{t.name}.parquet"))
        batches[t.name] = (t, rows)
    verdicts = _validated(spark, cfg.root, run_id, sr, batches, *checks) if checks is not None else []
    if sr.validation == "blocked":
        # Held back: no silver table of this source changes, and the batches stay for inspection.
        sr.rows_held, sr.rows_written = sr.rows_written, 0
        _check_counts(sr, seen)
        return sr, landed, outcomes, bad
    # Counted from the tables' logs (the row count of every data file): no query on any engine.
    before = row_count(spark, primary.uri(cfg.root))
    for table, rows in batches.values():
        if table.mode == "current":
            merge_latest(
                spark, rows, table.uri(cfg.root), table.key, table.version or "", table.partition_by,
                has_rows=sr.rows_written > 0,
            )  # fmt: skip
        else:
            # New keys are appended: classification already left out every key the table holds, so this
            # is MERGE ... WHEN NOT MATCHED INSERT without scanning the whole table. The few corrected
            # rows of re-exported files replace theirs by key.
            new = table_batch(written.where(~F.col("_updated") & ~F.col("_recovered")), table)
            fresh = sr.rows_written - sr.rows_updated - recovered
            append_rows(new, table.uri(cfg.root), table.partition_by, has_rows=fresh > 0)
            if sr.rows_updated:
                updates = table_batch(written.where("_updated"), table)
                merge_upsert(spark, updates, table.uri(cfg.root), table.merge_key)
    after = row_count(spark, primary.uri(cfg.root))
    log.info(
        "%s: merged into %s in %.1f s",
        source,
        [t.name for t in targets_of(source)],
        time.perf_counter() - t_start,
    )
    for v in verdicts:
        v.published = True
    resolve_quarantine(
        spark, cfg.root, batch.where(F.col("_outcome") != "quarantined"),
        sorted({lf.file.path for lf in landed if lf.file.sha256 is not None}), run_id, started_at,
    )  # fmt: skip

    # Nothing lost: every landed row is accounted for, and the rows called written are really there.
    _check_counts(sr, seen)
    if after - before != sr.rows_written - sr.rows_updated - recovered:
        raise ReconciliationError(
            f"{source}: {sr.rows_written - sr.rows_updated - recovered} rows classified as new, but {primary.name} "
            f"grew by {after - before}; was the table changed by another writer during this run?"
        )
    if recovered:
        log.warning(
            "%s: %d row(s) written by a run killed before its ledger commit credited to their files",
            source,
            recovered,
        )
    if sr.rows_updated:
        log.warning(
            "%s: %d row(s) of re-exported files replaced the ones silver held", source, sr.rows_updated
        )
    return sr, landed, outcomes, bad


def _check_counts(sr: SourceReport, seen: int) -> None:
    total = sr.rows_written + sr.rows_held + sr.rows_quarantined + sr.duplicates
    if total != sr.rows_read or seen != sr.rows_read:
        raise ReconciliationError(
            f"{sr.source}: read {sr.rows_read} rows but written {sr.rows_written} + held {sr.rows_held} + quarantined "
            f"{sr.rows_quarantined} + duplicates {sr.duplicates} (Spark saw {seen}); the silver tables were not reconciled"
        )


def table_batch(written: DataFrame, table: SilverTable) -> DataFrame:
    """The rows a batch adds to one silver table: its columns, and for a current table the newest
    version of each key."""
    rows = written.select(*[F.col(n).cast(t).alias(n) for n, t in table.columns()])
    return latest_per_key(rows, table) if table.mode == "current" else rows


def _validated(
    spark: SparkSession,
    root: str,
    run_id: str,
    sr: SourceReport,
    batches: dict[str, tuple[SilverTable, DataFrame]],
    gate: quality.Gate,
    params: dict[str, object],
) -> list[quality.Verdict]:
    """Validate each table's batch and set the source's validation outcome; on a critical failure
    ("blocked") keep every batch of the source for inspection."""
    if any(
        quality.cross_table(gate.suites[f"silver.{n}"], "silver")
        for n in batches
        if gate.has_suite("silver", n)
    ):
        quality.register_views(spark, root, "silver")
    verdicts = [
        gate.validate("silver", name, rows, params, skip_empty=True, has_rows=sr.rows_written > 0)
        for name, (_, rows) in batches.items()
        if gate.has_suite("silver", name)
    ]
    if all(v.passed for v in verdicts):
        sr.validation = "warnings" if any(v.warnings for v in verdicts) else "passed"
        return verdicts
    sr.validation = "blocked"
    for name, (_, rows) in batches.items():
        quality.keep_rejected(rows, root, run_id, "silver", name)
    return verdicts


RECENT_FILES = 30  # the files a batch's plausible size is judged against, per source


def typical_rows_per_file(ledger: pd.DataFrame, recent: int = RECENT_FILES) -> dict[str, float]:
    """Per source, the median rows written per file over its `recent` latest daily files taken in (of an
    even number, the lower middle one). The one-time history export (`*_history_YYYY-MM`, a month per
    file) is no measure of a day, and would make every ordinary day after it look implausibly small."""
    daily = ledger[(ledger["status"] != "rejected") & ~ledger["path"].str.contains(HISTORY_MARK, regex=False)]
    latest = daily.sort_values(["ingested_at", "path"], ascending=False).groupby("source").head(recent)
    return {
        source: float(sorted(rows)[(len(rows) - 1) // 2])
        for source, rows in latest.groupby("source")["rows_written"]
    }


def _typical_rows_per_file(root: str) -> dict[str, float]:
    ledger = read_rows(silver_uri(root, LEDGER), ("source", "path", "status", "rows_written", "ingested_at"))
    return {} if ledger is None else typical_rows_per_file(ledger)


def with_orphan_flags(spark: SparkSession, root: str, typed: DataFrame, contract) -> DataFrame:  # type: ignore[no-untyped-def]
    """`_orphan_fks`: the foreign-key columns whose parent is not in silver (yet). Such rows are kept,
    not dropped; gold maps them to the unknown member of the dimension."""
    flags: list[tuple[Column, str]] = []
    for c in contract.columns:
        if not c.references:
            continue
        parent_source, parent_key = c.references.split(".")
        parent = next(t for t in targets_of(parent_source) if t.mode in ("current", "unique"))
        alias = f"_has_{c.name}"
        if table_exists(parent.uri(root)):
            keys = (
                read_table(spark, parent.uri(root))
                .select(F.col(parent_key).alias(f"_k_{c.name}"), F.lit(True).alias(alias))
                .distinct()
            )
            typed = typed.join(keys, typed[c.name] == keys[f"_k_{c.name}"], "left").drop(f"_k_{c.name}")
        else:
            typed = typed.withColumn(alias, F.lit(None).cast("boolean"))
        flags.append((F.col(c.name).isNotNull() & F.col(alias).isNull(), c.name))
    return typed.withColumn("_orphan_fks", labels_where(flags)).drop(
        *[f"_has_{c.name}" for c in contract.columns if c.references]
    )


def with_usable(typed: DataFrame) -> DataFrame:
    """`_usable`: the row has no reason to be quarantined. Materialized with the typed batch, it is what
    classification reads on every pass over the batch: reading a flag costs far less than the array of
    reasons."""
    return typed.withColumn("_usable", F.size("_reasons") == 0)


def content_hash(table: SilverTable, columns: Iterable[str]) -> Column:
    """A 64-bit hash of a row's contract values among `columns`, typed as the table stores them: two
    exports of one key with the same hash are copies; with another, the later export is a correction."""
    compared = {c.name for c in (*table.contract.columns, *table.contract.optional_columns)} & set(columns)
    return F.xxhash64(*[F.col(n).cast(t) for n, t in table.columns() if n in compared])


def duplicates(spark: SparkSession, typed: DataFrame, primary: SilverTable, root: str) -> DataFrame:
    """`_id` of the usable rows that are duplicates, with `_updated` for the ones that are not but
    replace a row silver holds, and `_recovered` for the ones silver already holds from this file and
    row, written by a run killed before its ledger commit (credited to the file, not written again).

    A key (or key and version) seen several times in the batch is written once: the first copy when all
    copies have the same values, else the latest export (file, then row), a correction. A key already in
    silver with the same values is a duplicate; with other values the row is written as an update
    (`_updated` true: latest export wins). Only keys seen more than once in the batch are ranked, which
    spares sorting the whole batch; they are found by a 64-bit hash of the key first, and a hash shared
    by two different keys only makes both candidates, which the ranking by the key itself tells apart.
    `_id` must name each row stably (a materialized batch)."""
    key = list(primary.merge_key)
    existing = read_table(spark, primary.uri(root)) if table_exists(primary.uri(root)) else None
    # The values both sides have (a table from before an optional column compares the others).
    compared = [c for c in typed.columns if existing is None or c in existing.columns]
    usable = typed.where("_usable").withColumns(
        {"_key_hash": F.xxhash64(*key), "_content": content_hash(primary, compared)}
    )
    repeated = usable.groupBy("_key_hash").count().where("count > 1").select("_key_hash")
    copies = Window.partitionBy(*key)
    order = ("_source_file", "_sheet", "_source_row")
    ranked = (
        usable.join(repeated, "_key_hash", "left_semi")
        .withColumns(
            {
                "_rank": F.row_number().over(copies.orderBy(*order)),
                "_last": F.row_number().over(copies.orderBy(*[F.col(c).desc() for c in order])),
                "_versions": F.size(F.collect_set("_content").over(copies)),
            }
        )
        .where(F.when(F.col("_versions") == 1, F.col("_rank") > 1).otherwise(F.col("_last") > 1))
        .select("_id", F.lit(False).alias("_updated"), F.lit(False).alias("_recovered"))
    )
    if existing is None:
        return ranked
    for part in primary.partition_by:  # only the partitions this batch can touch
        lo, hi = usable.agg(F.min(part), F.max(part)).first()
        existing = (
            existing.where(F.col(part).between(lo, hi)) if lo is not None else existing.where(F.lit(False))
        )

    def lineage(name: str, kind: str) -> Column:  # a table without lineage (not one of ours) has none
        return F.col(name) if name in existing.columns else F.lit(None).cast(kind)

    held = existing.select(
        *key,
        content_hash(primary, compared).alias("_held"),
        lineage("_source_file", "string").alias("_held_file"),
        lineage("_source_row", "int").alias("_held_row"),
        lineage("_run_id", "string").alias("_held_by"),
    )
    # A row silver holds from this very file and row, by a run the ledger does not credit with the
    # file (a run killed before its ledger commit), is this file's row: written, not a duplicate.
    ledger_uri = silver_uri(root, LEDGER)
    credited = (
        read_table(spark, ledger_uri).select(
            F.col("path").alias("_held_file"), F.col("run_id").alias("_credited")
        )
        if table_exists(ledger_uri)
        else spark.createDataFrame([], "_held_file string, _credited string")
    )
    same = F.col("_content") == F.col("_held")
    mine = F.coalesce(
        (F.col("_held_file") == F.col("_source_file"))
        & (F.col("_held_row") == F.col("_source_row"))
        & ~F.coalesce(F.col("_held_by") == F.col("_credited"), F.lit(False)),
        F.lit(False),
    )
    in_silver = (
        usable.join(held, key, "inner")
        .join(F.broadcast(credited), "_held_file", "left")
        .select("_id", (~same).alias("_updated"), (same & mine).alias("_recovered"))
    )
    # A copy the batch drops anyway stays a duplicate, whatever silver holds.
    return in_silver.join(ranked.select("_id"), "_id", "left_anti").unionByName(ranked)


def orphans(spark: SparkSession, root: str, typed: DataFrame, contract) -> DataFrame:  # type: ignore[no-untyped-def]
    """`_id` and `_orphan_fks` of the usable rows with an orphan foreign key (see `with_orphan_flags`),
    found on the ids and keys alone: joining the parents to the whole rows would copy every column."""
    keys = [c.name for c in contract.columns if c.references]
    if not keys:
        return spark.createDataFrame([], "_id bigint, _orphan_fks array<string>")
    usable = typed.where("_usable").select("_id", *keys)
    flagged = with_orphan_flags(spark, root, usable, contract)
    return flagged.where(F.size("_orphan_fks") > 0).select("_id", "_orphan_fks")


def row_flags(duplicate_ids: DataFrame, orphan_rows: DataFrame) -> DataFrame:
    """The rows that are duplicates, updates, recovered or orphans, by `_id`: `_dup` (true: a
    duplicate, false: an update of a row silver holds or one it already holds from a killed run, null:
    neither), `_recovered` and `_orphan_fks`."""
    dup = ~F.col("_updated") & ~F.col("_recovered")
    flagged = duplicate_ids.select("_id", dup.alias("_dup"), "_recovered")
    return flagged.join(orphan_rows, "_id", "full")


def with_outcome(typed: DataFrame, flags: DataFrame) -> DataFrame:
    """`_outcome` for every row: quarantined (has reasons), duplicate (`flags` marks its `_id` so), or
    written; `_updated` for a written row that replaces one silver holds (a corrected re-export); and
    `_orphan_fks` from `flags` (empty for the rows it does not name)."""
    outcome = (
        F.when(~F.col("_usable"), F.lit("quarantined"))
        .when(F.coalesce("_dup", F.lit(False)), F.lit("duplicate"))
        .otherwise(F.lit("written"))
    )
    return (
        typed.join(F.broadcast(flags), "_id", "left")
        .withColumn("_outcome", outcome)
        .withColumn("_recovered", F.col("_usable") & F.coalesce("_recovered", F.lit(False)))
        .withColumn(
            "_updated", F.col("_usable") & ~F.col("_recovered") & F.coalesce(~F.col("_dup"), F.lit(False))
        )
        .withColumn("_orphan_fks", F.coalesce("_orphan_fks", F.array().cast("array<string>")))
        .drop("_dup")
    )


def classify(spark: SparkSession, typed: DataFrame, primary: SilverTable, root: str, contract) -> DataFrame:  # type: ignore[no-untyped-def]
    """Every row with its `_outcome` and `_orphan_fks` (see `duplicates`, `orphans` and `with_outcome`)."""
    return with_outcome(
        typed, row_flags(duplicates(spark, typed, primary, root), orphans(spark, root, typed, contract))
    )


def latest_per_key(rows: DataFrame, table: SilverTable) -> DataFrame:
    """The newest version of each key in a batch (ties: the later file, then the later row)."""
    w = Window.partitionBy(*table.key).orderBy(
        F.col(table.version or "_source_file").desc(),
        F.col("_source_file").desc(),
        F.col("_source_row").desc(),
    )
    return rows.withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n")


# A quarantined record that a re-export of its file has fixed: the run that took the fixed row in.
QUARANTINE_RESOLUTION = {"resolved_by": "STRING", "resolved_at": "TIMESTAMP"}


def resolve_orphans(spark: SparkSession, root: str) -> int:
    """Clear `_orphan_fks` of the rows whose parent has arrived since (a child may land before its parent,
    or the parent's row was quarantined until a re-export fixed it). Returns how many rows changed."""
    changed_rows = 0
    for table in SILVER.values():
        contract = table.contract
        fks = [c.name for c in contract.columns if c.references]
        if not fks or not table_exists(table.uri(root)):
            continue
        flagged = read_table(spark, table.uri(root)).where(F.size("_orphan_fks") > 0)
        flagged = flagged.select(
            *table.merge_key, *table.partition_by, *fks, F.col("_orphan_fks").alias("_was")
        )
        now = with_orphan_flags(spark, root, flagged, contract)
        changed = now.where(F.col("_orphan_fks") != F.col("_was")).drop("_was").cache()
        n = changed.count()
        if n:
            key = (*table.partition_by, *table.merge_key)  # the partition columns let MERGE prune files
            update_matched(spark, changed, table.uri(root), key, {"_orphan_fks": "s._orphan_fks"})
            log.info("%s: %d row(s) whose parent arrived are no longer orphans", table.name, n)
        changed.unpersist()
        changed_rows += n
    return changed_rows


def resolve_quarantine(
    spark: SparkSession, root: str, taken: DataFrame, files: list[str], run_id: str, at: dt.datetime
) -> None:
    """Mark resolved the open quarantine entries of re-exported `files` whose address (file, sheet,
    row) now holds a record silver took in (`taken`: written or duplicate), so no record counts in
    both silver and quarantine."""
    if not files:
        return
    fixed = taken.where(F.col("_file").isin(*files)).select(
        F.col("_file").alias("file"), F.col("_sheet").alias("sheet"), F.col("_row").alias("row")
    )
    stamp = f"CAST({sql_string(at.isoformat(sep=' '))} AS TIMESTAMP)"
    update_matched(
        spark, fixed, silver_uri(root, QUARANTINE), ("file", "sheet", "row"),
        {"resolved_by": sql_string(run_id), "resolved_at": stamp}, condition="t.resolved_by IS NULL",
    )  # fmt: skip


def quarantine_rows(bad: DataFrame, source: str, run_id: str, at: dt.datetime) -> DataFrame:
    """Quarantined rows as the quarantine table keeps them: address, raw text and reasons."""
    return bad.select(
        F.lit(source).alias("source"),
        F.col("_file").alias("file"),
        F.col("_sheet").alias("sheet"),
        F.col("_row").alias("row"),
        F.col("_raw").alias("raw"),
        F.col("_reasons").alias("reasons"),
        F.lit(run_id).alias("run_id"),
        F.lit(at).cast("timestamp").alias("quarantined_at"),
        *[F.lit(None).cast(t).alias(c) for c, t in QUARANTINE_RESOLUTION.items()],
    )


def _write_quarantine(spark: SparkSession, root: str, parts: list[DataFrame]) -> None:
    """The batch's quarantined rows, every source's, in one merge: an address (file, sheet, row) is
    inserted once, so a batch taken in again after a killed run adds nothing twice."""
    if parts:
        rows = functools.reduce(lambda a, b: a.unionByName(b), parts)
        merge_insert_new(spark, rows, silver_uri(root, QUARANTINE), ("file", "sheet", "row"), has_rows=True)


def _ledger_rows(
    landed: list[LandedFile], outcomes: dict[str, dict[str, int]], run_id: str, at: dt.datetime
) -> list[dict[str, object]]:
    out = []
    for lf in landed:
        c = outcomes.get(lf.file.path, {})
        out.append(
            {
                "path": lf.file.path, "source": lf.file.source, "size": lf.file.size, "modified": lf.file.modified,
                "sha256": lf.sha256, "run_id": run_id,
                "status": lf.status if not (lf.status == "ingested" and lf.warnings) else "ingested_with_warnings",
                "reason": lf.reason, "rows_read": lf.rows, "rows_written": c.get("written", 0),
                "rows_quarantined": c.get("quarantined", 0), "duplicates": c.get("duplicate", 0), "ingested_at": at,
            }
        )  # fmt: skip
    return out

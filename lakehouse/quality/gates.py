"""Data-quality gates: the Great Expectations suites under expectations/ run against what a job is about
to publish. A failed critical expectation keeps that table's new data away from readers; a failed
warning is recorded and does not block. Every result goes to gold/dq_results, a scorecard per table and
run to gold/dq_scorecard, and the run's Data Docs pages to the lake's site, <root>/dq/data_docs/ (docs.py).

A suite is a YAML file in Great Expectations' own suite shape (`type`, `kwargs`, `meta`), one per table:
expectations/<layer>/<table>.yaml. `meta.severity` is critical or warning; `meta.dimension` (which
scorecard column the expectation counts towards) defaults from the expectation type. Suites may use
these parameters ({"$PARAMETER": name}): data_date (the newest business date of the run's bronze files),
fresh_after[_ts|_key] and fresh_after_week[_ts|_key] (that date less quality.freshness_days, and a week
more), previous_rows (rows in the published table), batch_rows_min/max (a silver batch's plausible size),
allowed_<column>, min_<column>, max_<column> (from the bronze contract) and funnel_steps.

In unexpected-rows queries, compare two columns through a difference (datediff(a, b) < 0, a - b > 0),
not `a < b`: Sail 0.7.2's planner can fail estimating the selectivity of a comparison between columns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import tempfile
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lakehouse.core import storage
from lakehouse.core.config import yaml_problem
from lakehouse.core.delta import is_empty
from lakehouse.core.log import one_line
from lakehouse.quality import docs
from lakehouse.tables import DQ_RESULTS, DQ_SCORECARD, FUNNEL, GOLD, LEDGER, REGISTRIES, SILVER, silver_uri

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

LAYERS = ("silver", "gold")
SEVERITIES = ("critical", "warning")
DIMENSIONS = ("completeness", "validity", "consistency", "uniqueness", "timeliness")
_DIMENSION_OF_TYPE = {
    "expect_column_values_to_not_be_null": "completeness",
    "expect_column_values_to_be_unique": "uniqueness",
    # Unique keys as a distinct-count proportion of 1: one aggregate, where the row-level form costs a
    # window over the whole batch (three times slower on a day of clickstream).
    "expect_column_proportion_of_unique_values_to_be_between": "uniqueness",
    "expect_compound_columns_to_be_unique": "uniqueness",
    "expect_select_column_values_to_be_unique_within_record": "uniqueness",
    "expect_column_values_to_be_in_set": "validity",
    "expect_column_values_to_be_between": "validity",
    "expect_column_values_to_be_of_type": "validity",
    "expect_table_columns_to_match_set": "validity",
    "expect_table_columns_to_match_ordered_list": "validity",
    "expect_column_values_to_match_regex": "validity",
    "expect_column_max_to_be_between": "timeliness",
}
RESULTS_SCHEMA = (
    "run_id STRING, job STRING, layer STRING, suite STRING, table_name STRING, expectation STRING, "
    "expectation_type STRING, column_name STRING, severity STRING, dimension STRING, success BOOLEAN, "
    "observed_value STRING, unexpected_count BIGINT, element_count BIGINT, unexpected_percent DOUBLE, "
    "published BOOLEAN, validated_at TIMESTAMP"
)
SCORECARD_SCHEMA = (
    "run_id STRING, job STRING, layer STRING, table_name STRING, rows BIGINT, completeness DOUBLE, "
    "validity DOUBLE, consistency DOUBLE, uniqueness DOUBLE, timeliness DOUBLE, overall DOUBLE, "
    "expectations INT, failed_critical INT, failed_warning INT, published BOOLEAN, validated_at TIMESTAMP"
)


class SuiteError(ValueError):
    """A suite file is malformed: the message names the file and the expectation."""


class ValidationFailed(RuntimeError):
    """Critical expectations failed: the named tables were not published."""

    def __init__(self, verdicts: list[Verdict], where: str, held: list[str] | None = None) -> None:
        self.verdicts = verdicts
        parts = [
            f"{v.suite} ({', '.join(f'{o.label}: expected {o.wanted()}, {o.found()}' for o in v.critical_failures)})"
            for v in verdicts
        ]
        also = sorted(set(held or []) - {v.table for v in verdicts})
        built_from = f"; also held back, being built from them: {', '.join(also)}" if also else ""
        super().__init__(
            f"critical expectations failed, not published: {'; '.join(parts)}{built_from}. The rejected data "
            f"is under {where}; see gold/dq_results, fix the cause and rerun (--skip-validation only in an emergency)"
        )


@dataclass(frozen=True)
class Check:
    type: str
    kwargs: dict[str, Any]
    severity: str
    dimension: str
    notes: str = ""

    def resolved(self, parameters: dict[str, Any]) -> Check:
        """This check with its parameters ({"$PARAMETER": name}) replaced by the run's values."""

        def value(v: Any) -> Any:
            if isinstance(v, dict) and "$PARAMETER" in v:
                return parameters.get(v["$PARAMETER"], v)
            return v

        return dataclasses.replace(self, kwargs={k: value(v) for k, v in self.kwargs.items()})

    def expected(self) -> str:
        """What the expectation asks, for people: its band, set, type or share of rows."""

        def shown(v: Any) -> str:
            if isinstance(v, dict) and "$PARAMETER" in v:
                return f"${v['$PARAMETER']}"
            if isinstance(v, list | tuple):
                return "{" + ", ".join(map(str, v[:6])) + (", ..." if len(v) > 6 else "") + "}"
            return str(v)

        k, parts = self.kwargs, []
        if "min_value" in k or "max_value" in k:
            lo, hi = k.get("min_value"), k.get("max_value")
            parts.append(
                f"between {shown(lo)} and {shown(hi)}" if lo is not None and hi is not None
                else f"at least {shown(lo)}" if lo is not None else f"at most {shown(hi)}"
            )  # fmt: skip
        for name, words in (("value_set", "not in" if "not_be_in_set" in self.type else "in"), ("column_set", "columns"),
                            ("type_", "of type"), ("regex", "matching")):  # fmt: skip
            if name in k:
                parts.append(f"{words} {shown(k[name])}")
        if "mostly" in k:
            parts.append(f"for at least {float(k['mostly']):.0%} of rows")
        return ", ".join(parts) or self.type.removeprefix("expect_").replace("_", " ")

    @property
    def label(self) -> str:
        """A short readable name: the type without its prefix, and the column(s)."""
        short = self.type.removeprefix("expect_")
        cols = self.kwargs.get("column") or self.kwargs.get("column_list") or ""
        if isinstance(cols, list):
            cols = "+".join(cols) if len(cols) <= 3 else f"{len(cols)} columns"
        cond = f" where {self.kwargs['row_condition']}" if self.kwargs.get("row_condition") else ""
        cond += f" mostly {self.kwargs['mostly']}" if self.kwargs.get("mostly") is not None else ""
        return f"{short}({cols}){cond}" if cols else f"{short}{cond}" if not self.notes else self.notes


@dataclass(frozen=True)
class Suite:
    layer: str
    table: str
    checks: tuple[Check, ...]
    path: str

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.table}"


def _check_of(raw: Any, where: str) -> Check:
    _loaded()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    if not isinstance(raw, dict) or "type" not in raw:
        raise SuiteError(f"{where}: each expectation needs a `type` (and `kwargs`, `meta`), got {raw!r}")
    unknown = set(raw) - {"type", "kwargs", "meta"}
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: type, kwargs, meta)")
    meta = raw.get("meta") or {}
    severity = meta.get("severity")
    if severity not in SEVERITIES:
        raise SuiteError(f"{where}: meta.severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    dimension = meta.get("dimension") or _DIMENSION_OF_TYPE.get(raw["type"], "consistency")
    if dimension not in DIMENSIONS:
        raise SuiteError(f"{where}: meta.dimension must be one of {', '.join(DIMENSIONS)}, got {dimension!r}")
    kwargs = dict(raw.get("kwargs") or {})
    if kwargs.get("row_condition"):
        kwargs.setdefault("condition_parser", "spark")
    try:  # an unknown type or bad arguments fail here, when the suite is loaded, not mid-run
        ExpectationConfiguration(type=raw["type"], kwargs=kwargs).to_domain_obj()
    except Exception as exc:
        raise SuiteError(f"{where}: {raw['type']} is not a valid expectation: {exc}") from None
    return Check(raw["type"], kwargs, severity, dimension, str(meta.get("notes") or ""))


def load_suite(path: Path) -> Suite:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path} is not valid YAML: {yaml_problem(exc)}") from None
    layer, table = path.parent.name, path.stem
    if table not in REGISTRIES.get(layer, {}):
        raise SuiteError(
            f"{path}: no {layer} table named {table!r} (suites live in expectations/<layer>/<table>.yaml)"
        )
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise SuiteError(f"{path}: expected a mapping with an `expectations` list")
    checks = tuple(_check_of(e, f"{path} expectation {i + 1}") for i, e in enumerate(data["expectations"]))
    return Suite(layer, table, checks, str(path))


def load_suites(directory: str | Path) -> dict[str, Suite]:
    """Every suite under `directory`, by name (silver.orders, gold.fact_orders, ...)."""
    base = Path(directory)
    if not base.is_dir():
        raise SuiteError(f"expectations directory {base} does not exist (quality.expectations in the config)")
    suites = [load_suite(p) for layer in LAYERS for p in sorted((base / layer).glob("*.yaml"))]
    return {s.name: s for s in suites}


@dataclass
class Outcome:
    check: Check
    success: bool
    observed: str | None
    unexpected_count: int | None
    element_count: int | None
    unexpected_percent: float | None
    expected: str | None = None  # what the check asked, with the run's parameters (None: from the check)

    @property
    def label(self) -> str:
        return self.check.label

    def wanted(self) -> str:
        return self.expected or self.check.expected()

    def found(self) -> str:
        """What was found, for people: unexpected rows when counted, else the observed value."""
        if self.unexpected_count is not None and self.element_count:
            pct = self.unexpected_percent if self.unexpected_percent is not None else 0.0
            return f"{self.unexpected_count:,} of {self.element_count:,} rows unexpected ({pct:.2f}%)"
        return f"observed {self.observed}"

    @property
    def score(self) -> float:
        """0-100: the share of rows that met a row-level expectation, else all or nothing."""
        if self.unexpected_percent is not None and self.element_count:
            return max(0.0, 100.0 - float(self.unexpected_percent))
        return 100.0 if self.success else 0.0


@dataclass
class Verdict:
    layer: str
    table: str
    rows: int
    outcomes: list[Outcome]
    published: bool = False

    @property
    def suite(self) -> str:
        return f"{self.layer}.{self.table}"

    @property
    def critical_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.check.severity == "critical"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.check.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.critical_failures

    @property
    def status(self) -> str:
        """passed, warnings (published with failed warnings), blocked (not published), or failed
        (critical failures found in tables already published, by `lakehouse validate`)."""
        if not self.published:
            return "blocked"
        if self.critical_failures:
            return "failed"
        return "warnings" if self.warnings else "passed"

    def scores(self) -> dict[str, float | None]:
        by_dim: dict[str, list[float]] = {}
        for o in self.outcomes:
            by_dim.setdefault(o.check.dimension, []).append(o.score)
        out: dict[str, float | None] = {
            d: round(sum(v) / len(v), 2) if (v := by_dim.get(d)) else None for d in DIMENSIONS
        }
        present = [s for s in out.values() if s is not None]
        out["overall"] = round(sum(present) / len(present), 2) if present else None
        return out


def _plain(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= 500 else text[:497] + "..."


@dataclass
class Gate:
    """One job run's validations: a Great Expectations context, the suites, and what they found.
    The suites may be given as a future: loading them waits for Great Expectations' import, which a
    job does not wait for before it starts on its data."""

    spark: SparkSession
    root: str
    run_id: str
    job: str
    suites_loaded: dict[str, Suite] | Future[dict[str, Suite]]
    data_docs: bool = True
    data_docs_runs: int = 60
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def for_job(cls, spark: SparkSession, cfg: Any, run_id: str, job: str) -> Gate:
        """A job's gate: the configured suites (loaded in the background; a malformed suite fails the
        job when they are first needed, before anything is published), Data Docs as configured."""
        loading = ThreadPoolExecutor(1, thread_name_prefix="load-suites")
        suites = loading.submit(load_suites, cfg.quality.expectations)
        loading.shutdown(wait=False)
        return cls(spark, cfg.root, run_id, job, suites, cfg.quality.data_docs, cfg.quality.data_docs_runs)

    @property
    def suites(self) -> dict[str, Suite]:
        return self.ready()

    def ready(self) -> dict[str, Suite]:
        """The suites, once loaded: a malformed one raises SuiteError here."""
        if isinstance(self.suites_loaded, Future):
            self.suites_loaded = self.suites_loaded.result()
        return self.suites_loaded

    def __post_init__(self) -> None:
        self._ctx: Any = None  # the Great Expectations context, made on first use (its import is slow)
        self._source: Any = None
        self._defs: dict[str, Any] = {}

    def _context(self) -> Any:
        if self._ctx is not None:
            return self._ctx
        _loaded()
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        for name in ("great_expectations", "great_expectations.data_context.types.base"):
            logging.getLogger(name).setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._ctx = gx.get_context(mode="ephemeral")
        self._ctx.variables.progress_bars = ProgressBarsConfig(globally=False)  # our own log says what runs
        self._source = self._ctx.data_sources.add_spark("lakehouse")
        return self._ctx

    def has_suite(self, layer: str, table: str) -> bool:
        return f"{layer}.{table}" in self.suites

    def _definition(self, suite: Suite) -> Any:
        import great_expectations as gx
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        if suite.name not in self._defs:
            self._context()
            batch = self._source.add_dataframe_asset(suite.name).add_batch_definition_whole_dataframe("batch")
            expectations = []
            for i, c in enumerate(suite.checks):
                meta = {"severity": c.severity, "dimension": c.dimension, "check": i}
                meta.update({"notes": c.notes} if c.notes else {})
                cfg = ExpectationConfiguration(type=c.type, kwargs=c.kwargs, meta=meta)
                expectations.append(cfg.to_domain_obj())
            # Built whole: adding one at a time would merge checks Great Expectations deems equivalent
            # (two unexpected-rows queries, for one).
            gx_suite = self._ctx.suites.add(gx.ExpectationSuite(name=suite.name, expectations=expectations))
            self._defs[suite.name] = self._ctx.validation_definitions.add(
                gx.ValidationDefinition(name=f"{suite.name} [{self.run_id}]", data=batch, suite=gx_suite)
            )
        return self._defs[suite.name]

    def validate(
        self,
        layer: str,
        table: str,
        df: DataFrame,
        parameters: dict[str, Any],
        skip_empty: bool = False,
        has_rows: bool | None = None,
    ) -> Verdict:
        """Run the table's suite on `df` (what is about to be published). With `skip_empty`, an empty
        batch (which adds nothing) is not validated and gets an empty verdict, not recorded; `has_rows`
        is whether the caller already knows it has rows (saving a query)."""
        suite = self.suites[f"{layer}.{table}"]
        started = time.perf_counter()
        if skip_empty and is_empty(df, has_rows):
            return Verdict(layer, table, 0, [])
        # Counts only: sampling unexpected values would cost a scan per expectation, so samples are
        # taken afterwards, and only for the expectations that failed.
        result = self._run(suite, df, parameters, {"result_format": "SUMMARY", "partial_unexpected_count": 0})
        outcomes = []
        for check, r in zip(suite.checks, _in_suite_order(suite, result.results), strict=True):
            res = r.result or {}
            error = _error_of(r.exception_info)
            failed_to_run = error is not None
            observed = f"error: {error}" if failed_to_run else res.get("observed_value")
            outcomes.append(
                Outcome(
                    check,
                    bool(r.success) and not failed_to_run,
                    _plain(observed),
                    res.get("unexpected_count"),
                    res.get("element_count"),
                    res.get("unexpected_percent"),
                    check.resolved(parameters).expected(),
                )
            )
        counted = [
            o.element_count
            for o in outcomes
            if o.element_count is not None and not o.check.kwargs.get("row_condition")
        ]
        verdict = Verdict(layer, table, counted[0] if counted else df.count(), outcomes)
        self.verdicts.append(verdict)
        failed = [o for o in outcomes if not o.success]
        samples = self._samples(suite, failed, df, parameters) if failed else {}
        self.seconds += time.perf_counter() - started
        for o in failed:
            log.warning(
                "%s: %s %s failed: %s%s",
                verdict.suite, o.check.severity, o.label, o.found(),
                f"; for example {', '.join(map(str, list(dict.fromkeys(map(str, samples[o.label])))[:5]))}"
                if samples.get(o.label)
                else "",
            )  # fmt: skip
        return verdict

    def _run(self, suite: Suite, df: DataFrame, parameters: dict[str, Any], result_format: Any) -> Any:
        from great_expectations.core.run_identifier import RunIdentifier

        definition = self._definition(suite)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return definition.run(
                batch_parameters={"dataframe": df},
                expectation_parameters=parameters,
                result_format=result_format,
                # Named so in the Data Docs' paths, where docs.publish finds the run's pages.
                run_id=RunIdentifier(run_name=docs.run_name(self.job, self.run_id)),
            )

    def _samples(
        self, suite: Suite, failed: list[Outcome], df: DataFrame, parameters: dict[str, Any]
    ) -> dict[str, list[Any]]:
        """Up to 20 unexpected values of each failed expectation (also shown in the Data Docs)."""
        checks = tuple(o.check for o in failed)
        failures = Suite(suite.layer, f"{suite.table}.failed", checks, suite.path)
        result = self._run(failures, df, parameters, "SUMMARY")
        return {
            c.label: (r.result or {}).get("partial_unexpected_list") or []
            for c, r in zip(checks, _in_suite_order(failures, result.results), strict=True)
        }

    def record_after_commit(self) -> tuple[str | None, str | None]:
        """`record`, for a job whose tables are already committed: a failure here (a full disk under
        the Data Docs) cannot undo them, so it is returned as one line, not raised. (index, problem)."""
        try:
            return self.record(), None
        except Exception as exc:  # reporting must not fail a committed run
            log.exception("%s: recording results and Data Docs failed", self.job)
            return None, (
                f"the tables are committed, but the expectation results and Data Docs were not recorded "
                f"({type(exc).__name__}: {one_line(str(exc))}); record them with: lakehouse validate --root {self.root}"
            )

    def record(self) -> str | None:
        """Results and scorecards to their Delta tables, and the Data Docs site; returns the site's index."""
        from lakehouse.core.delta import write_table

        if not self.verdicts:
            return None
        log.info("%s: %d tables validated in %.1f s", self.job, len(self.verdicts), self.seconds)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        results = [
            (
                self.run_id, self.job, v.layer, v.suite, v.table, o.label, o.check.type, _column_of(o.check),
                o.check.severity, o.check.dimension, o.success, o.observed,
                None if o.unexpected_count is None else int(o.unexpected_count),
                None if o.element_count is None else int(o.element_count),
                None if o.unexpected_percent is None or math.isnan(o.unexpected_percent) else float(o.unexpected_percent),
                v.published, now,
            )
            for v in self.verdicts
            for o in v.outcomes
        ]  # fmt: skip
        cards = []
        for v in self.verdicts:
            s = v.scores()
            cards.append(
                (
                    self.run_id, self.job, v.layer, v.table, v.rows, *[s[d] for d in DIMENSIONS], s["overall"],
                    len(v.outcomes), len(v.critical_failures), len(v.warnings), v.published, now,
                )
            )  # fmt: skip
        write_table(
            self.spark.createDataFrame(results, RESULTS_SCHEMA), storage.join(self.root, "gold", DQ_RESULTS)
        )
        write_table(
            self.spark.createDataFrame(cards, SCORECARD_SCHEMA), storage.join(self.root, "gold", DQ_SCORECARD)
        )
        return self._write_docs() if self.data_docs else None

    def _write_docs(self) -> str:
        """Render this run's Data Docs pages locally, then add them to the lake's site (any URI)."""
        import shutil

        local = Path(tempfile.mkdtemp(prefix="lakehouse-docs-"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                site = f"lakehouse-{local.name}"  # one site per rendering: record() may be called again
                self._context().add_data_docs_site(
                    site,
                    {
                        "class_name": "SiteBuilder",
                        "store_backend": {
                            "class_name": "TupleFilesystemStoreBackend",
                            "base_directory": str(local),
                        },
                        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    },
                )
                self._ctx.build_data_docs(site_names=[site])
            return docs.publish(self.root, local, self.job, self.run_id, self.verdicts, self.data_docs_runs)
        finally:
            shutil.rmtree(local, ignore_errors=True)


def _error_of(info: Any) -> str | None:
    """The message of an exception Great Expectations caught, whether it reports it at the top level or
    per metric (a dict of such dicts)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return one_line(str(info.get("exception_message") or "unknown error")) or "unknown error"
    for value in info.values():
        if (msg := _error_of(value)) is not None:
            return msg
    return None


def _column_of(check: Check) -> str | None:
    cols = check.kwargs.get("column") or check.kwargs.get("column_list")
    if isinstance(cols, list):
        return ",".join(cols)
    return cols


def _in_suite_order(suite: Suite, results: list[Any]) -> list[Any]:
    """Great Expectations returns results grouped its own way; meta.check maps them back."""
    by_index = {r.expectation_config.meta.get("check"): r for r in results}
    missing = [c.label for i, c in enumerate(suite.checks) if i not in by_index]
    if missing:
        raise RuntimeError(f"{suite.path}: Great Expectations returned no result for {missing}")
    return [by_index[i] for i in range(len(suite.checks))]


def rejected_uri(root: str, run_id: str, layer: str, table: str) -> str:
    """Where a batch that failed its critical expectations is kept for inspection."""
    return storage.join(root, "_rejected", run_id, layer, table)


def keep_rejected(df: DataFrame, root: str, run_id: str, layer: str, table: str) -> None:
    """Keep a batch that was not published, as Parquet, where the job's message says it is."""
    df.write.mode("overwrite").parquet(storage.spark_path(rejected_uri(root, run_id, layer, table)))


def freshness(data_date: dt.date, days: int) -> dict[str, Any]:
    """The date parameters suites use: the run's data date and the floors recent data must reach."""
    after = data_date - dt.timedelta(days=days)
    week = data_date - dt.timedelta(days=days + 7)
    return {
        "data_date": data_date,
        "fresh_after": after,
        "fresh_after_ts": dt.datetime.combine(after, dt.time()),
        "fresh_after_key": int(after.strftime("%Y%m%d")),
        "fresh_after_week": week,
        "fresh_after_week_ts": dt.datetime.combine(week, dt.time()),
        "fresh_after_week_key": int(week.strftime("%Y%m%d")),
    }


_preloading: list[Any] = []  # the background import, which every other import of it waits for


def preload() -> None:
    """Import Great Expectations in the background (it takes seconds) while a job does other work."""
    import threading

    def load() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import great_expectations  # noqa: F401

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not _preloading:
        thread = threading.Thread(target=load, name="preload-great-expectations", daemon=True)
        _preloading.append(thread)
        thread.start()


def _loaded() -> None:
    """Wait for a background import: importing the package from two threads at once breaks it."""
    for thread in _preloading:
        thread.join()


def cross_table(suite: Suite, layer: str) -> bool:
    """Whether the suite's queries read other tables of the layer (views named <layer>_<table>)."""
    return any(f"{layer}_" in str(c.kwargs.get("unexpected_rows_query", "")) for c in suite.checks)


def contract_parameters() -> dict[str, Any]:
    """Allowed values and ranges from the bronze contract (allowed_<column>, min_<column>, max_<column>)
    and the funnel's steps, so suites state rules without restating the lists."""
    from lakehouse.bronze.contract import SOURCES

    out: dict[str, Any] = {"funnel_steps": list(FUNNEL)}
    for src in SOURCES.values():
        for c in (*src.columns, *src.optional_columns):
            values: dict[str, Any] = {}
            if c.allowed:
                values[f"allowed_{c.name}"] = list(c.allowed)
            if c.range:
                values[f"min_{c.name}"], values[f"max_{c.name}"] = c.range
            for k, v in values.items():
                if k in out and out[k] != v:
                    raise RuntimeError(f"contract parameter {k} differs between sources: {out[k]} and {v}")
                out[k] = v
    return out


def job_parameters(cfg: Any, data_day: dt.date) -> dict[str, Any]:
    """The parameters every suite may use in a run whose data reaches `data_day`."""
    return {**contract_parameters(), **freshness(data_day, cfg.quality.freshness_days)}


def batch_band(rows_per_file: float | None, files: int) -> dict[str, float]:
    """The plausible size of a silver batch: a quarter to four times what the same number of the
    source's typical files bring (anything, when none was taken in before)."""
    if not rows_per_file or not files:
        return {"batch_rows_min": 0, "batch_rows_max": 1e15}
    expected = rows_per_file * files
    return {"batch_rows_min": math.floor(expected / 4), "batch_rows_max": math.ceil(expected * 4)}


def register_views(spark: SparkSession, root: str, layer: str) -> None:
    """Published tables as temp views <layer>_<table>, for suites' cross-table queries."""
    from lakehouse.core.delta import read_table, table_exists

    for name, t in REGISTRIES[layer].items():
        if table_exists(t.uri(root)):
            read_table(spark, t.uri(root)).createOrReplaceTempView(f"{layer}_{name}")


def data_date(root: str) -> dt.date:
    """The newest business date of the bronze files silver has taken in (today if none is dated). The
    history export counts only without daily files: its last month's file is dated the month's end,
    past the day before the first daily file that it really ends on."""
    from lakehouse.bronze.contract import HISTORY_MARK, file_date
    from lakehouse.core.delta import read_rows

    ledger = read_rows(silver_uri(root, LEDGER), ("path",))
    paths = [] if ledger is None else list(ledger["path"])
    daily = [p for p in paths if HISTORY_MARK not in p]
    dates = [d for d in map(file_date, daily or paths) if d]
    return max(dates) if dates else dt.date.today()


def select_tables(target: str) -> list[tuple[str, str]]:
    """(layer, table) pairs for `lakehouse validate`: all, silver, gold, a table name or layer.table."""
    every = [("silver", n) for n in SILVER] + [("gold", n) for n in GOLD]
    if target == "all":
        return every
    if target in LAYERS:
        return [(layer, n) for layer, n in every if layer == target]
    layer, _, name = target.rpartition(".")
    chosen = [(la, n) for la, n in every if n == name and (not layer or la == layer)]
    if not chosen:
        raise SuiteError(
            f"no table {target!r}: give all, silver, gold, or a table such as orders or gold.fact_orders"
        )
    return chosen


def validate_published(
    spark: SparkSession, cfg: Any, run_id: str, target: str | Sequence[str] = "all"
) -> Gate:
    """Run the suites on the published tables (on demand: nothing is held back); results are recorded
    like a job's. `target` is all, a layer or a table, or several of them. `previous_rows` is the row
    count the table had when a job last published it."""
    from pyspark.sql import functions as F

    from lakehouse.core.delta import read_table, table_exists

    root = cfg.root
    gate = Gate.for_job(spark, cfg, run_id, "validate")
    params = {**job_parameters(cfg, data_date(root)), **batch_band(None, 0)}
    published_rows: dict[tuple[str, str], int] = {}
    cards = storage.join(root, "gold", DQ_SCORECARD)
    if table_exists(cards):
        rows = (
            read_table(spark, cards)
            .where(F.col("published") & (F.col("job") != "validate"))
            .orderBy("validated_at")
            .select("layer", "table_name", "rows")
            .collect()
        )
        published_rows = {(r["layer"], r["table_name"]): int(r["rows"]) for r in rows}  # the latest wins
    register_views(spark, root, "silver")
    targets = [target] if isinstance(target, str) else target
    for layer, name in dict.fromkeys(t for each in targets for t in select_tables(each)):
        uri = REGISTRIES[layer][name].uri(root)
        if not table_exists(uri) or not gate.has_suite(layer, name):
            continue
        previous = published_rows.get((layer, name), 0)
        verdict = gate.validate(layer, name, read_table(spark, uri), {**params, "previous_rows": previous})
        verdict.published = True
    return gate

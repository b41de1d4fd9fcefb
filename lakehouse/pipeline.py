"""Job drivers shared by `spark-submit jobs/*.py`, `python jobs/*.py` and `lakehouse run ...`:
parse arguments, set up logging with the run id, build the session, run the step, report, exit code."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import signal
import sys
import threading
from collections.abc import Mapping, Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from lakehouse.core import exits
from lakehouse.core.config import ConfigError, load_config
from lakehouse.core.engines import EngineError, get_spark, resolve_engine
from lakehouse.core.lease import JobLock, LockHeld
from lakehouse.core.log import Progress, new_run_id, one_line, setup_logging

console = Console(width=None if sys.stdout.isatty() else 140)
EXIT_LOCKED = exits.TRY_LATER
EXIT_REJECTED = exits.REJECTED
EXIT_ANOMALIES = exits.ANOMALIES
EXIT_BLOCKED = exits.BLOCKED


def job_arguments(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--root", help="storage root (path or URI); overrides storage.root and LAKEHOUSE_ROOT")
    p.add_argument("--conf", help="configuration file; overrides LAKEHOUSE_CONF")
    p.add_argument(
        "--engine", choices=["auto", "embedded", "remote", "classic"], help="overrides engine.mode"
    )
    add_job_options(p)
    return p


def add_job_options(p: argparse.ArgumentParser, log_level: str = "INFO", holder: str = "this job") -> None:
    """The options of a pipeline run, shared by the jobs and `lakehouse run` (which passes them on)."""
    p.add_argument(
        "--log-level", default=log_level, type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on a terminal")
    p.add_argument(
        "--allow-rejected",
        action="store_true",
        help=f"exit 0 even when bronze files were rejected whole (by default such a run exits {EXIT_REJECTED})",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"if another run of {holder} holds the lake, wait up to this long for it (default 0: exit "
        f"at once with code {EXIT_LOCKED})",
    )
    p.add_argument(
        "--skip-validation",
        action="store_true",
        help="emergencies only: publish without running the expectation suites (recorded in the run log)",
    )


def bronze_present(cfg) -> None:  # type: ignore[no-untyped-def]
    """bronze_to_silver needs a bronze folder: a root without one is a wrong --root, not 'nothing new'."""
    from lakehouse.core import storage

    if not storage.exists(storage.join(cfg.root, "bronze")):
        raise ConfigError(
            f"{cfg.root} holds no bronze/ folder, so there is nothing to ingest: check --root (or "
            f"LAKEHOUSE_ROOT), or write data first with: lakehouse generate --root {cfg.root}"
        )


def _run_job(
    name: str, description: str, argv: Sequence[str] | None, step, full_flag: bool = False, precheck=None
) -> int:  # type: ignore[no-untyped-def]
    """Arguments, logging with the run id, the session, the step, and a one-line cause on failure."""
    parser = job_arguments(name, description)
    if full_flag:
        parser.add_argument("--full", action="store_true", help="rebuild even if silver has not changed")
    return _run_parsed(name, parser.parse_args(argv), step, precheck)


def _run_parsed(name: str, args: argparse.Namespace, step, precheck=None) -> int:  # type: ignore[no-untyped-def]
    from lakehouse.gold.build import GoldReconciliationError
    from lakehouse.quality.gates import SuiteError
    from lakehouse.silver.ingest import ReconciliationError

    run_id = new_run_id()
    log = setup_logging(run_id, args.log_level)
    try:
        cfg = load_config(args.conf, root=args.root, engine=args.engine)
        if precheck is not None:
            precheck(cfg)
        with JobLock(cfg.root, name, run_id, wait=args.wait) as lock:
            log.info("%s starting: root=%s engine=%s", name, cfg.root, resolve_engine(cfg))
            return step(get_spark(cfg, name), cfg, run_id, log, args, lock.check)
    except LockHeld as exc:
        print(f"{name} [{run_id}]: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except (ConfigError, EngineError, SuiteError) as exc:
        print(f"{name} [{run_id}]: {exc}", file=sys.stderr)
        return 2
    except (ReconciliationError, GoldReconciliationError) as exc:
        print(f"{name} [{run_id}]: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the traceback goes to the log; the last line says what failed
        log.exception("%s failed", name)
        print(
            f"{name} [{run_id}]: failed with {type(exc).__name__}: {one_line(str(exc))} (rerun it: runs are idempotent)",
            file=sys.stderr,
        )
        return 1


def _bronze_to_silver_step(spark, cfg, run_id, log, args, guard, reports=None) -> int:  # type: ignore[no-untyped-def]
    from lakehouse.silver.ingest import bronze_to_silver

    report = bronze_to_silver(
        spark,
        cfg,
        run_id,
        progress=None if args.quiet else Progress(run_id),
        validate=not args.skip_validation,
        guard=guard,
    )
    if reports is not None:
        reports.append(report)
    if report.nothing_new:
        console.print(f"[{run_id}] Nothing new in bronze: no silver table changed.")
        return 0
    # Two tables, each readable at 100 columns: what became of the rows, then the values and checks.
    rows = Table(title=f"bronze_to_silver {run_id} ({report.seconds:.1f} s)")
    checks = Table(
        title="rows updated by re-exports, values repaired and nulled, orphans kept, rows with _rescued"
    )
    for table, cols in (
        (rows, ("source", "files", "rejected", "read", "written", "quarantined", "duplicates", "held")),
        (checks, ("source", "validation", "seconds", "updated", "repaired", "nulled", "orphans", "rescued")),
    ):
        for col in cols:
            table.add_column(
                col, justify="left" if col in ("source", "validation") else "right", no_wrap=True
            )
    for s in report.sources:
        rows.add_row(
            s.source, f"{s.files:,}", f"{s.files_rejected:,}", f"{s.rows_read:,}", f"{s.rows_written:,}",
            f"{s.rows_quarantined:,}", f"{s.duplicates:,}", f"{s.rows_held:,}",
        )  # fmt: skip
        checks.add_row(
            s.source, s.validation, f"{s.seconds:.1f}", f"{s.rows_updated:,}", f"{s.values_repaired:,}", f"{s.values_nulled:,}",
            f"{s.orphans:,}", f"{s.rows_rescued:,}",
        )  # fmt: skip
    console.print(rows)
    console.print(checks)
    for lf in report.rejected:
        console.print(f"rejected {lf.file.path}: {lf.reason}")
    for lf in report.noted:
        console.print(f"noted {lf.file.path}: {lf.reason}")
    console.print(
        "Every row read is written, quarantined (silver/quarantine), counted as a duplicate, or held back "
        "with its batch for the next run."
    )
    code = _validation_outcome(name="bronze_to_silver", run_id=run_id, report=report)
    if code == 0 and report.rejected and not args.allow_rejected:
        print(
            f"bronze_to_silver [{run_id}]: {len(report.rejected)} bronze file(s) rejected whole (listed above "
            f"and in silver/_ingest_ledger); fix and re-export them, or pass --allow-rejected to exit 0",
            file=sys.stderr,
        )
        return EXIT_REJECTED
    return code


def _silver_to_gold_step(spark, cfg, run_id, log, args, guard) -> int:  # type: ignore[no-untyped-def]
    from lakehouse.gold.build import silver_to_gold

    report = silver_to_gold(
        spark, cfg, run_id, full=args.full, validate=not args.skip_validation, guard=guard,
        progress=None if args.quiet else Progress(run_id),
    )  # fmt: skip
    if report.nothing_new:
        console.print(
            f"[{run_id}] Silver has not changed since the last gold build: no gold table changed (--full rebuilds)."
        )
        return 0
    if report.nothing_to_do:
        console.print(f"[{run_id}] Silver is empty: run bronze_to_silver first.")
        return 1
    table = Table(title=f"silver_to_gold {run_id} ({report.mode}, {report.seconds:.1f} s)")
    table.add_column("gold table")
    table.add_column("rows", justify="right")
    table.add_column("rows recomputed", justify="right")
    for name, n in report.rows.items():
        recomputed = report.refreshed.get(name)
        done = "none" if name in report.unchanged else "all" if recomputed is None else f"{recomputed:,}"
        table.add_row(name, f"{n:,}", done)
    console.print(table)
    console.print(
        "Totals reconcile with silver: one fact_orders row per order, revenue equal to the counted order lines."
    )
    print_anomalies(report.anomalies, f"silver_to_gold {run_id}: new anomalies in gold.metric_anomalies")
    code = _validation_outcome(name="silver_to_gold", run_id=run_id, report=report)
    fail_on = cfg.monitoring.fail_on
    if code == 0 and fail_on is not None:
        rank = {"warning": 1, "critical": 2}
        alarming = [a for a in report.anomalies if rank[str(a["severity"])] >= rank[fail_on]]
        if alarming:
            print(
                f"silver_to_gold [{run_id}]: {len(alarming)} new {fail_on} or worse anomalies (monitoring.fail_on); "
                "`lakehouse anomalies` lists them",
                file=sys.stderr,
            )
            return EXIT_ANOMALIES
    return code


def print_anomalies(anomalies: Sequence[Mapping[str, object]], title: str) -> None:
    """One line per anomaly: what, when, observed against expected, score and severity."""
    if not anomalies:
        console.print(f"{title}: none")
        return
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("metric", "slice", "period", "observed", "expected", "score", "severity"):
        table.add_column(col, justify="right" if col in ("observed", "expected", "score") else "left")
    for a in anomalies:
        hourly = a["grain"] == "hour"
        last = a["period_end"] - (dt.timedelta(hours=1) if hourly else dt.timedelta(days=1))  # type: ignore[operator]
        shown = [f"{t:%Y-%m-%d %H:%M}" if hourly else f"{t:%Y-%m-%d}" for t in (a["period_start"], last)]  # type: ignore[str-format]
        period = shown[0] if int(a["periods"]) == 1 else f"{shown[0]} .. {shown[1]}"  # type: ignore[call-overload]
        sev = str(a["severity"])
        table.add_row(
            str(a["metric"]), str(a["slice"]), f"{period} ({a['grain']})", f"{a['observed']:,.4g}",
            f"{a['expected']:,.4g}", f"{a['score']:+.1f}", f"[red]{sev}" if sev == "critical" else f"[yellow]{sev}",
        )  # fmt: skip
    console.print(table)


def print_verdicts(verdicts, title: str) -> None:  # type: ignore[no-untyped-def]
    """One line per validated table: expectations, failures by severity, score, published or not."""
    # Without vertical rules, so the longest table name and the counts fit in 100 columns.
    table = Table(
        title=title,
        caption="n: expectations; critical, warning: how many failed",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("table", "rows", "n", "critical", "warning", "score", "published"):
        table.add_column(col, justify="left" if col == "table" else "right", no_wrap=True)
    for v in verdicts:
        score = v.scores()["overall"]
        table.add_row(
            v.suite, f"{v.rows:,}", str(len(v.outcomes)),
            f"[red]{len(v.critical_failures)}" if v.critical_failures else "0",
            f"[yellow]{len(v.warnings)}" if v.warnings else "0",
            "" if score is None else f"{score:.2f}", "yes" if v.published else "[red]no",
        )  # fmt: skip
    console.print(table)
    for v in verdicts:
        for o in v.critical_failures + v.warnings:
            console.print(f"  {v.suite}: {o.check.severity} {o.label}: expected {o.wanted()}; {o.found()}")


def _validation_outcome(name: str, run_id: str, report) -> int:  # type: ignore[no-untyped-def]
    if report.verdicts:
        print_verdicts(report.verdicts, f"{name} {run_id}: expectations")
    if report.reporting_problem:
        print(f"{name} [{run_id}]: warning: {report.reporting_problem}", file=sys.stderr)
    if report.data_docs:
        console.print(f"Data Docs: {report.data_docs}")
    if report.failure is not None:
        print(f"{name} [{run_id}]: {report.failure}", file=sys.stderr)
        return EXIT_BLOCKED
    return 0


def bronze_to_silver_main(argv: Sequence[str] | None = None) -> int:
    return _run_job(
        "bronze_to_silver",
        "Take new bronze files into the silver Delta tables.",
        argv,
        _bronze_to_silver_step,
        precheck=bronze_present,
    )


class StopRequest:
    """SIGINT and SIGTERM ask a watch to stop after the micro-batch in hand (a second SIGINT stops at
    once: runs are idempotent, so the next start simply takes the batch again)."""

    def __init__(self, what: str = "the micro-batch in hand") -> None:
        self.event, self.what = threading.Event(), what
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum: int, frame: object) -> None:
        if self.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.event.set()
        print(f"{signal.Signals(signum).name}: stopping after {self.what}", file=sys.stderr)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def bronze_to_silver_watch(argv: Sequence[str] | None = None) -> int:
    """bronze_to_silver micro-batch after micro-batch, each a whole run (its own run id, ledger rows,
    quarantine, deduplication, gates and reconciliation): at once again after a batch that took files,
    `--interval` seconds after one that found nothing new; silver_to_gold after every `--gold-every`
    batches that changed silver and when stopped. Ends on SIGINT or SIGTERM after the batch in hand,
    or at once when the data or the settings need a person (exit 2 or 5 from bronze_to_silver) or a
    run failed (1). A gold refresh that critical expectations block does not stop the watch: mid-day,
    facts can point at customers whose daily file has not arrived yet, so the next refresh retries,
    and the watch exits 5 only when its last refresh was still blocked."""
    parser = job_arguments("bronze_to_silver", "Take new bronze files into silver continuously.")
    parser.add_argument("--interval", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--gold-every", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    gold_args = argparse.Namespace(**vars(args), full=False)
    stop = StopRequest()
    changed = since_gold = 0
    noted: set[int] = set()  # rejected files, anomalies: said when they happened, the watch goes on
    gold_blocked = False

    def gold() -> int:
        nonlocal gold_blocked
        code = _run_parsed("silver_to_gold", gold_args, _silver_to_gold_step)
        noted.update({code} & {EXIT_ANOMALIES})
        gold_blocked = code == EXIT_BLOCKED
        return 0 if code in (0, EXIT_ANOMALIES, EXIT_BLOCKED) else code

    try:
        while not stop.event.is_set():
            reports: list = []  # type: ignore[type-arg]
            step = functools.partial(_bronze_to_silver_step, reports=reports)
            code = _run_parsed("bronze_to_silver", args, step, bronze_present)
            if code not in (0, EXIT_REJECTED, EXIT_LOCKED):
                return code
            noted.update({code} & {EXIT_REJECTED})
            took = bool(reports) and not reports[0].nothing_new
            changed += took
            since_gold += took
            if args.gold_every and since_gold >= args.gold_every:
                if code := gold():
                    return code
                since_gold = 0
            if not took:
                stop.event.wait(args.interval)
        if args.gold_every and (since_gold or gold_blocked) and (code := gold()):
            return code
    finally:
        stop.restore()
    console.print(f"Watch stopped after {changed} micro-batch(es) that took files in.")
    if gold_blocked:
        return EXIT_BLOCKED
    if EXIT_REJECTED in noted and not args.allow_rejected:
        return EXIT_REJECTED
    return EXIT_ANOMALIES if EXIT_ANOMALIES in noted else 0


def silver_to_gold_main(argv: Sequence[str] | None = None) -> int:
    description = "Build the gold dimensions, facts and KPIs from silver."
    return _run_job("silver_to_gold", description, argv, _silver_to_gold_step, full_flag=True)

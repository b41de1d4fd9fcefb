"""Job drivers shared by `spark-submit jobs/*.py`, `python jobs/*.py` and `lakehouse run ...`:
parse arguments, set up logging with the run id, build the session, run the step, report, exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from lakehouse.config import ConfigError, load_config
from lakehouse.log import new_run_id, setup_logging
from lakehouse.session import EngineError, get_spark, resolve_engine

console = Console(width=None if sys.stdout.isatty() else 140)


def job_arguments(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--root", help="storage root (path or URI); overrides storage.root and LAKEHOUSE_ROOT")
    p.add_argument("--conf", help="configuration file; overrides LAKEHOUSE_CONF")
    p.add_argument(
        "--engine", choices=["auto", "embedded", "remote", "classic"], help="overrides engine.mode"
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def bronze_to_silver_main(argv: Sequence[str] | None = None) -> int:
    from lakehouse.ingest import ReconciliationError, bronze_to_silver

    args = job_arguments(
        "bronze_to_silver", "Take new bronze files into the silver Delta tables."
    ).parse_args(argv)
    run_id = new_run_id()
    log = setup_logging(run_id, args.log_level)
    try:
        cfg = load_config(args.conf, root=args.root, engine=args.engine)
        log.info("bronze_to_silver starting: root=%s engine=%s", cfg.root, resolve_engine(cfg))
        spark = get_spark(cfg, "bronze_to_silver")
        report = bronze_to_silver(
            spark, cfg, run_id, progress=lambda s, n: log.info("%s: %d new file(s)", s, n)
        )
    except (ConfigError, EngineError, ReconciliationError) as exc:
        print(f"bronze_to_silver [{run_id}]: {exc}", file=sys.stderr)
        return 2 if not isinstance(exc, ReconciliationError) else 1
    except Exception as exc:  # the traceback goes to the log; the last line says what failed
        log.exception("bronze_to_silver failed")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"bronze_to_silver [{run_id}]: failed with {type(exc).__name__}: {first} (rerun it: runs are idempotent)",
            file=sys.stderr,
        )
        return 1
    if report.nothing_new:
        console.print(f"[{run_id}] Nothing new in bronze: no silver table changed.")
        return 0
    table = Table(title=f"bronze_to_silver {run_id} ({report.seconds:.1f} s)")
    for col in (
        "source",
        "files",
        "rejected",
        "read",
        "written",
        "quarantined",
        "duplicates",
        "repaired",
        "nulled",
        "orphans",
        "seconds",
    ):
        table.add_column(col, justify="left" if col == "source" else "right")
    for s in report.sources:
        table.add_row(
            s.source, f"{s.files:,}", f"{s.files_rejected:,}", f"{s.rows_read:,}", f"{s.rows_written:,}", f"{s.rows_quarantined:,}",
            f"{s.duplicates:,}", f"{s.values_repaired:,}", f"{s.values_nulled:,}", f"{s.orphans:,}", f"{s.seconds:.1f}",
        )  # fmt: skip
    console.print(table)
    for lf in report.rejected:
        console.print(f"rejected {lf.file.path}: {lf.reason}")
    console.print("Every row read is written, quarantined (silver/quarantine) or counted as a duplicate.")
    return 0

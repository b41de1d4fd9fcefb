"""The `lakehouse` command: generate bronze data, inspect it through Spark, show the configuration."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lakehouse import __version__
from lakehouse.core import exits, storage
from lakehouse.core.config import Config, ConfigError, describe, load_config
from lakehouse.core.engines import EngineError, get_spark, resolve_engine
from lakehouse.core.jars import JarsError
from lakehouse.core.log import new_run_id, setup_logging
from lakehouse.pipeline import add_job_options
from lakehouse.quality.gates import SuiteError

EXIT_NOT_YET = exits.TRY_LATER  # `lakehouse arrived` before the day's files are all there
console = Console(width=None if sys.stdout.isatty() else 140)  # as the job summaries: readable in a log


def _common(p: argparse.ArgumentParser, engine: bool = False) -> None:
    p.add_argument("--root", help="storage root (path or URI); overrides storage.root and LAKEHOUSE_ROOT")
    p.add_argument(
        "--conf", help="configuration file; overrides LAKEHOUSE_CONF (default conf/lakehouse.yaml)"
    )
    if engine:
        p.add_argument(
            "--engine", choices=["auto", "embedded", "remote", "classic"], help="overrides engine.mode"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    parser.add_argument("--version", action="version", version=f"lakehouse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write synthetic bronze files (continues an existing world)")
    _common(g)
    g.add_argument("--seed", type=int)
    g.add_argument("--start", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD (new worlds only)")
    days = g.add_mutually_exclusive_group()
    days.add_argument("--days", type=int)
    days.add_argument(
        "--through",
        type=dt.date.fromisoformat,
        help="write every day up to and including this one, YYYY-MM-DD (nothing if the world reaches it;"
        " with it, --start is the day the world began)",
    )
    g.add_argument("--scale", type=float, help="1.0 = ~1k orders/day, ~200k accounts, 1k products")
    g.add_argument("--history-days", type=int, help="days the shop traded before --start (new worlds only)")
    g.add_argument("--clean", action="store_true", help="no injected defects")
    g.add_argument(
        "--incidents",
        action="store_true",
        help="inject incidents (generator.incidents) for the monitoring to catch",
    )
    g.add_argument(
        "--live",
        action="store_true",
        help="publish the files as the simulated clock runs (clickstream hour by hour), until Ctrl-C or "
        "SIGTERM, or for --days days",
    )
    g.add_argument(
        "--speed", type=float, default=60.0, help="--live: simulated seconds per real second (default 60)"
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    ar = sub.add_parser(
        "arrived",
        help=f"exit 0 when a day's bronze files are all there, {EXIT_NOT_YET} naming the missing ones (a sensor)",
    )
    _common(ar)
    ar.add_argument("day", type=dt.date.fromisoformat, help="YYYY-MM-DD")

    an = sub.add_parser("anomalies", help="list the anomalies the monitoring found (gold.metric_anomalies)")
    _common(an)
    an.add_argument(
        "--since", type=dt.date.fromisoformat, help="only anomalies ending after this day, YYYY-MM-DD"
    )
    an.add_argument("--severity", choices=("warning", "critical"), help="only this severe or worse")
    an.add_argument("--csv", action="store_true", help="print CSV instead of a table")

    i = sub.add_parser(
        "inspect", help="read the bronze files through Spark and reconcile them with the manifest"
    )
    _common(i, engine=True)

    pr = sub.add_parser("profile", help="the generated shop's behaviour beside the bands it is built to hit")
    _common(pr)

    e = sub.add_parser(
        "engine-check", help="start the configured engine and run SQL and a Delta write/read on it"
    )
    _common(e, engine=True)

    r = sub.add_parser(
        "run", help="run pipeline steps: bronze-to-silver, silver-to-gold, or all (both, in order)"
    )
    r.add_argument("step", choices=["bronze-to-silver", "silver-to-gold", "all"])
    _common(r, engine=True)
    add_job_options(r, log_level="WARNING", holder="a step")
    r.add_argument(
        "--full", action="store_true", help="silver-to-gold: rebuild even if silver has not changed"
    )
    r.add_argument(
        "--watch",
        action="store_true",
        help="bronze-to-silver: take new files in continuously, micro-batch by micro-batch, until Ctrl-C "
        "or SIGTERM (which end it after the batch in hand)",
    )
    r.add_argument(
        "--interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="--watch: wait after a batch found nothing new",
    )
    r.add_argument(
        "--gold-every",
        type=int,
        default=0,
        metavar="N",
        help="--watch: refresh gold after every N micro-batches that changed silver, and when stopped",
    )

    v = sub.add_parser(
        "validate", help="run the expectation suites on the published silver and gold tables and summarise"
    )
    v.add_argument(
        "target",
        nargs="*",
        default=["all"],
        help="all (default), silver, gold, or tables (orders gold.fact_orders)",
    )
    _common(v, engine=True)

    sh = sub.add_parser(
        "shell", help="an interactive Python shell with spark and silver.* / gold.* tables registered"
    )
    _common(sh, engine=True)

    m = sub.add_parser(
        "maintain", help="compact small files and vacuum old versions of every silver and gold table"
    )
    _common(m, engine=True)
    m.add_argument("tables", nargs="*", metavar="TABLE", help="only these tables (layer.name); default all")
    m.add_argument(
        "--retain-hours",
        type=int,
        default=168,
        help="keep every version of the last N hours readable by time travel (default 168, Delta's own)",
    )

    j = sub.add_parser(
        "fetch-jars",
        help="fetch the Delta Lake jars with Maven into a directory for engine.classic.delta_jars_dir",
    )
    j.add_argument(
        "--dir", help="target directory (default: the cache directory ~/.cache/lakehouse/jars/...)"
    )

    d = sub.add_parser("dashboard", help="serve the dashboard over gold, data quality and pipeline health")
    _common(d)
    d.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    d.add_argument("--address", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")

    rp = sub.add_parser("report", help="write one self-contained HTML report (overview, quality, last runs)")
    _common(rp)
    rp.add_argument("--out", help="file to write (default: <root>/reports/lakehouse_report.html)")
    rp.add_argument("--days", type=int, default=7, help="days in the overview's period (default 7)")

    c = sub.add_parser("config", help="print the effective configuration")
    _common(c, engine=True)
    return parser


def _load(args: argparse.Namespace, **overrides: object) -> Config:
    return load_config(args.conf, root=args.root, engine=getattr(args, "engine", None), overrides=overrides)


def cmd_arrived(args: argparse.Namespace) -> int:
    from lakehouse.bronze.arrival import missing_for_day

    cfg = _load(args)
    missing = missing_for_day(cfg.root, args.day)
    if missing:
        print(
            f"lakehouse arrived: {args.day} is not complete under {storage.join(cfg.root, 'bronze')}: "
            f"missing {', '.join(missing)}; try again later",
            file=sys.stderr,
        )
        return EXIT_NOT_YET
    console.print(
        f"{args.day}: every daily file and the clickstream are in {storage.join(cfg.root, 'bronze')}"
    )
    return 0


def cmd_anomalies(args: argparse.Namespace) -> int:
    from lakehouse.monitoring.read import read_anomalies
    from lakehouse.pipeline import print_anomalies

    cfg = _load(args)
    found = read_anomalies(cfg.root, since=args.since, severity=args.severity)
    if found is None:
        console.print(f"No gold.metric_anomalies under {cfg.root}: run `lakehouse run all` first.")
        return 1
    if args.csv:
        sys.stdout.write(found.to_csv(index=False))
        return 0
    when = f" ending after {args.since}" if args.since else ""
    print_anomalies(found.to_dict("records"), f"{len(found)} anomalies{when} under {cfg.root}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from generators.runner import generate

    cfg = _load(
        args,
        **{
            "generator.seed": args.seed,
            "generator.scale": args.scale,
            "generator.days": args.days,
            "generator.history_days": args.history_days,
        },
    )
    if args.live:
        return _generate_live(args, cfg)
    started = time.perf_counter()
    console.print(f"Generating into [bold]{storage.join(cfg.root, 'bronze')}[/bold]")
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
        transient=False,
    ) as bar:
        task = bar.add_task("days", total=cfg.generator.days)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=label if label != "done" else "days")

        summary = generate(
            cfg.root,
            cfg.generator,
            start=args.start,
            through=args.through,
            clean=True if args.clean else None,
            incidents=True if args.incidents else None,
            progress=progress,
        )
    seconds = time.perf_counter() - started
    if not summary.days:
        console.print(f"The world already reaches {args.through}: nothing to write.")
        return 0
    console.print(f"Days {summary.days[0]} to {summary.days[-1]}")
    table = Table(title="Bronze written")
    table.add_column("source")
    table.add_column("files", justify="right")
    table.add_column("rows", justify="right")
    for source in summary.rows:
        table.add_row(source, f"{summary.files[source]:,}", f"{summary.rows[source]:,}")
    table.add_row("[bold]total", f"{sum(summary.files.values()):,}", f"[bold]{summary.total_rows:,}")
    console.print(table)
    if summary.defects:
        console.print(
            "Injected defects (ground truth in bronze/_manifest/): "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(summary.defects.items()))
        )
    else:
        console.print("No defects injected (clean data).")
    for incident in summary.incidents:
        console.print(f"Incident {incident.id} {incident.kind} from {incident.start}: {incident.signature}")
    console.print(
        f"{summary.total_rows:,} rows in {seconds:.1f} s ({summary.total_rows / max(seconds, 1e-9):,.0f} rows/s)"
    )
    return 0


def _generate_live(args: argparse.Namespace, cfg: Config) -> int:
    from generators.live import generate_live
    from lakehouse.pipeline import StopRequest

    if args.through:
        raise ConfigError("--live runs until stopped (or for --days days), not --through a date")
    until = f"for {args.days} days" if args.days else "until Ctrl-C or SIGTERM"
    console.print(
        f"Publishing into [bold]{storage.join(cfg.root, 'bronze')}[/bold] at {args.speed:g}x real time, {until}"
    )
    stop = StopRequest("the file in hand")

    def published(rel: str) -> None:
        if not args.quiet:
            console.print(f"{time.strftime('%H:%M:%S')} {rel}")

    try:
        summary = generate_live(
            cfg.root, cfg.generator, args.speed, days=args.days, start=args.start, stop=stop.event,
            clean=True if args.clean else None, incidents=True if args.incidents else None, on_publish=published,
        )  # fmt: skip
    finally:
        stop.restore()
    days = f"{summary.days[0]} to {summary.days[-1]}" if summary.days else "none complete"
    console.print(f"Live run stopped: {summary.files:,} files published; days {days}.")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from generators.profile import BANDS, LABELS, band_text, profile, shown

    cfg = _load(args)
    if not storage.exists(storage.join(cfg.root, "bronze", "orders")):
        print(
            f"lakehouse profile: no bronze orders under {cfg.root}; run `lakehouse generate` first",
            file=sys.stderr,
        )
        return 1
    metrics = profile(cfg.root)
    table = Table(title=f"The shop under {cfg.root}")
    for col in ("metric", "value", "target band", "source of the band", "check"):
        table.add_column(col, justify="right" if col in ("value", "target band") else "left")
    outside = 0
    for name, (label, _) in LABELS.items():
        if name not in metrics:
            continue
        band = BANDS.get(name)
        check = ""
        if band is not None:
            ok = band.holds(metrics[name])
            outside += not ok
            check = "[green]in band" if ok else "[yellow]outside"
        table.add_row(label, shown(name, metrics[name]), band_text(name), band.source if band else "", check)
    console.print(table)
    console.print(
        f"{len(BANDS) - outside} of {len(BANDS)} metrics in their bands (sources: README, The simulated shop)"
    )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from lakehouse.bronze.inspect import inspect_bronze

    cfg = _load(args)
    console.print(
        f"Reading bronze under [bold]{cfg.root}[/bold] with the [bold]{resolve_engine(cfg)}[/bold] engine"
    )
    rows = inspect_bronze(get_spark(cfg, "lakehouse-inspect"), cfg.root)
    if not rows:
        console.print("No bronze files found: run `lakehouse generate` first.")
        return 1
    table = Table(title="Bronze, as Spark reads it")
    for col in (
        "source",
        "files",
        "rows read by Spark",
        "rows in manifest",
        "malformed",
        "defects recorded",
        "check",
    ):
        table.add_column(col, justify="left" if col == "source" else "right", no_wrap=col == "source")
    ok = True
    for r in rows:
        good = r["spark_rows"] == r["manifest_rows"]
        ok &= good
        table.add_row(
            r["source"], f"{r['files']:,}", f"{r['spark_rows']:,}", f"{r['manifest_rows']:,}",
            f"{r['malformed']:,}", f"{r['defects']:,}", "[green]ok" if good else "[red]MISMATCH",
        )  # fmt: skip
    console.print(table)
    return 0 if ok else 1


def cmd_engine_check(args: argparse.Namespace) -> int:
    from lakehouse.core.engine_check import run_check

    result = run_check(args.root, args.conf, args.engine)
    table = Table(title="Engine check")
    table.add_column("check")
    table.add_column("result")
    for key, value in result.items():
        table.add_row(key, str(value))
    console.print(table)
    ok = result["sql_ok"] and result["delta_rows_now"] == 1010 and result["delta_rows_version_0"] == 1000
    return 0 if ok else 1


def cmd_run(args: argparse.Namespace) -> int:
    from lakehouse.pipeline import (
        EXIT_REJECTED,
        bronze_to_silver_main,
        bronze_to_silver_watch,
        silver_to_gold_main,
    )

    passed = [
        a
        for flag in ("root", "conf", "engine")
        if getattr(args, flag)
        for a in (f"--{flag}", getattr(args, flag))
    ]
    passed += ["--log-level", args.log_level, "--wait", str(args.wait), *(["--quiet"] if args.quiet else [])]
    if args.skip_validation:
        passed.append("--skip-validation")
    gold_args = [*passed, "--full"] if args.full else passed
    silver_args = [*passed, "--allow-rejected"] if args.allow_rejected else passed
    if args.watch:
        if args.step != "bronze-to-silver":
            raise ConfigError(
                f"--watch is for bronze-to-silver (gold follows with --gold-every), not {args.step}"
            )
        return bronze_to_silver_watch(
            [*silver_args, "--interval", str(args.interval), "--gold-every", str(args.gold_every)]
        )
    steps = {
        "bronze-to-silver": [(bronze_to_silver_main, silver_args)],
        "silver-to-gold": [(silver_to_gold_main, gold_args)],
    }
    outcome = 0
    for step, step_args in steps.get(
        args.step, [(bronze_to_silver_main, silver_args), (silver_to_gold_main, gold_args)]
    ):
        code = step(step_args)
        if code == EXIT_REJECTED:  # silver took in the rest: gold is built, the run still says so
            outcome = code
        elif code:
            return code
    return outcome


def cmd_validate(args: argparse.Namespace) -> int:
    from lakehouse.pipeline import EXIT_BLOCKED, print_verdicts
    from lakehouse.quality.gates import validate_published

    cfg = _load(args)
    run_id = args.run_id
    gate = validate_published(get_spark(cfg, "lakehouse-validate"), cfg, run_id, args.target)
    target = " ".join(args.target)
    if not gate.verdicts:
        which = "silver or gold" if target == "all" else target
        print(
            f"lakehouse validate: {cfg.root} holds no published {which} tables to validate; build them first "
            f"with: lakehouse run all --root {cfg.root}",
            file=sys.stderr,
        )
        return 1
    docs = gate.record()
    print_verdicts(gate.verdicts, f"validate {target} {run_id} ({gate.seconds:.1f} s)")
    console.print(f"Results: {storage.join(cfg.root, 'gold', 'dq_results')} (run_id {run_id})")
    if docs:
        console.print(f"Data Docs: {docs}")
    failed = [v.suite for v in gate.verdicts if not v.passed]
    if failed:
        print(f"lakehouse validate: critical expectations failed in {', '.join(failed)}", file=sys.stderr)
        return EXIT_BLOCKED
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    from lakehouse.catalog import shell

    cfg = _load(args)
    shell(get_spark(cfg, "lakehouse-shell"), cfg.root)
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    from lakehouse.maintenance import check_table_names, maintain

    cfg = _load(args)
    if args.retain_hours < 0:
        raise ConfigError(f"--retain-hours must not be negative, got {args.retain_hours}")
    engine = resolve_engine(cfg)
    check_table_names(cfg.root, args.tables)
    spark = None if engine == "embedded" else get_spark(cfg, "lakehouse-maintain")
    console.print(f"Maintaining the tables under [bold]{cfg.root}[/bold] (retention {args.retain_hours} h)")
    done = maintain(
        spark,
        cfg,
        args.retain_hours,
        lambda name, m: console.print(f"  {name}: {m.files_before} -> {m.files_after} files"),
        args.tables,
    )
    if not done:
        print(
            f"lakehouse maintain: {cfg.root} holds no silver or gold tables to maintain; build them first "
            f"with: lakehouse run all --root {cfg.root}",
            file=sys.stderr,
        )
        return 1
    table = Table(title="Maintained")
    for col in ("table", "files", "MiB", "compacted", "vacuumed", "by"):
        table.add_column(col, justify="left" if col in ("table", "by") else "right", no_wrap=col == "table")
    for name, m in done:
        table.add_row(
            name, f"{m.files_before:,} -> {m.files_after:,}",
            f"{m.bytes_before / 2**20:,.1f} -> {m.bytes_after / 2**20:,.1f}",
            f"{m.files_compacted:,}", f"{m.files_vacuumed:,}", m.how,
        )  # fmt: skip
    console.print(table)
    before, after = sum(m.bytes_before for _, m in done), sum(m.bytes_after for _, m in done)
    console.print(f"{len(done)} tables: {before / 2**20:,.1f} MiB -> {after / 2**20:,.1f} MiB on storage")
    return 0


def cmd_fetch_jars(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lakehouse.core.jars import delta_artifacts, fetch_delta_jars

    console.print(f"Fetching {', '.join(delta_artifacts())} with Maven ...")
    target = fetch_delta_jars(Path(args.dir) if args.dir else None)
    for jar in sorted(target.glob("*.jar")):
        console.print(f"  {jar}")
    console.print(
        f"Use them with: engine.classic.delta_jars_dir: {target}  (or LAKEHOUSE_DELTA_JARS_DIR={target})",
        markup=False,
        highlight=False,
    )
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    import os

    cfg = _load(args)
    console.print(f"Dashboard for {cfg.root} on http://{args.address}:{args.port} (Ctrl-C stops it)")
    cmd = [sys.executable, "-m", "lakehouse.dashboard.serve", "--server.port", str(args.port),
           "--server.address", args.address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--client.toolbarMode", "viewer",
           "--", "--root", cfg.root]  # fmt: skip
    sys.stdout.flush()
    os.execv(sys.executable, cmd)  # Streamlit in this process: a signal to stop the dashboard reaches it


def cmd_report(args: argparse.Namespace) -> int:
    from lakehouse.dashboard.report import build_report

    cfg = _load(args)
    out = args.out or storage.join(cfg.root, "reports", "lakehouse_report.html")
    storage.write_bytes(out, build_report(cfg.root, args.days).encode())
    console.print(f"Report written to {out} (self-contained: open it in any browser, offline)")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    cfg = _load(args)
    data = describe(cfg)
    data["engine"]["resolved"] = resolve_engine(cfg)
    console.print(yaml.safe_dump(data, sort_keys=False), end="", markup=False, highlight=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run_id = args.run_id = new_run_id()
    setup_logging(run_id, "WARNING")
    commands = {
        "generate": cmd_generate,
        "arrived": cmd_arrived,
        "anomalies": cmd_anomalies,
        "inspect": cmd_inspect,
        "profile": cmd_profile,
        "run": cmd_run,
        "shell": cmd_shell,
        "validate": cmd_validate,
        "engine-check": cmd_engine_check,
        "config": cmd_config,
        "fetch-jars": cmd_fetch_jars,
        "maintain": cmd_maintain,
        "dashboard": cmd_dashboard,
        "report": cmd_report,
    }
    try:
        return commands[args.command](args)
    except (ConfigError, EngineError, SuiteError, JarsError) as exc:
        print(f"lakehouse {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from generators.runner import GeneratorError

        if isinstance(exc, GeneratorError):
            print(f"lakehouse {args.command}: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

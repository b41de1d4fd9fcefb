"""Benchmark: continuous ingestion's latency, from a clickstream file being published in bronze to its
events being queryable in silver.clickstream_events.

    .venv/bin/python bench/streaming.py [--scale 1] [--speed 60] [--minutes 10] [--interval 1]

A world with its history and one day is generated and taken in first (not timed); then
`lakehouse generate --live --speed X` publishes the next day's files as its clock runs (at speed 60,
one clickstream hour file a minute) while `lakehouse run bronze-to-silver --watch` takes them in. A
file's latency is the commit that made its events queryable (the clickstream_events version that first
holds its run's rows) minus the time it was published (its modification time); the run's own record
(its ingest_runs row, the run's last commit) is timed too. Prints each file's latency, the
median and the 95th percentile with the machine check, and the silver tables' data files before and
after `lakehouse maintain` (what the micro-batches cost in small files).
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deltalake import DeltaTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import machine_check

LAKEHOUSE = [sys.executable, "-m", "lakehouse.cli"]


def _data_files(root: Path) -> dict[str, int]:
    """The data files each silver table's current version reads."""
    silver = root / "silver"
    return {
        t.name: len(DeltaTable(str(t)).file_uris())
        for t in sorted(silver.iterdir())
        if (t / "_delta_log").exists()
    }


def _first_seen(table_uri: Path, column: str) -> dict[str, float]:
    """When each value of `column` (a run id) first appeared in the table: the timestamp of the first
    commit whose version holds it, to the millisecond."""
    table = DeltaTable(str(table_uri))
    commits = {c["version"]: c["timestamp"] / 1000 for c in table.history()}
    seen: dict[str, float] = {}
    for version in sorted(commits):
        ids = set(DeltaTable(str(table_uri), version=version).to_pandas(columns=[column])[column].dropna())
        seen.update({run_id: commits[version] for run_id in ids - seen.keys()})
    return seen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--speed", type=float, default=60.0)
    p.add_argument("--minutes", type=float, default=10.0, help="real minutes of live publishing")
    p.add_argument("--interval", type=float, default=1.0, help="the watch's wait after an empty batch")
    args = p.parse_args()
    check = machine_check()
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        root = Path(tmp) / "lake"
        common = ["--root", str(root)]
        subprocess.run([*LAKEHOUSE, "generate", *common, "--days", "1", "--scale", str(args.scale), "--quiet"],
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run(
            [*LAKEHOUSE, "run", "bronze-to-silver", *common, "--quiet"], check=True, capture_output=True
        )
        watch = subprocess.Popen([*LAKEHOUSE, "run", "bronze-to-silver", *common, "--watch", "--interval",
                                  str(args.interval), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        before = {str(f.relative_to(root / "bronze")) for f in (root / "bronze").rglob("*.jsonl")}
        time.sleep(15)  # the watch's session is up before the clock starts
        live = subprocess.Popen([*LAKEHOUSE, "generate", *common, "--live", "--speed", str(args.speed),
                                 "--scale", str(args.scale), "--quiet"], stdout=subprocess.DEVNULL)  # fmt: skip
        time.sleep(args.minutes * 60)
        live.send_signal(signal.SIGTERM)
        live.wait(timeout=120)
        time.sleep(30)  # the last files' micro-batch
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=600)
        ledger = DeltaTable(str(root / "silver" / "_ingest_ledger")).to_pandas()
        # Queryable: the clickstream_events commit that added the run's rows (its MERGE); recorded: the
        # run's row in ingest_runs, the run's last commit (after its validation results and ledger rows).
        queryable = _first_seen(root / "silver" / "clickstream_events", "_run_id")
        ends = _first_seen(root / "silver" / "ingest_runs", "run_id")
        published = {
            str(f.relative_to(root / "bronze")): f.stat().st_mtime for f in (root / "bronze" / "clickstream").rglob("*.jsonl")
        }  # fmt: skip
        clicks = ledger[ledger["source"] == "clickstream"]
        latencies, recorded = [], []
        for row in clicks.itertuples():
            if row.path in published and row.path not in before and row.run_id in queryable:
                latencies.append(queryable[row.run_id] - published[row.path])
                recorded.append(ends[row.run_id] - published[row.path])
                print(
                    f"{row.path}: queryable after {latencies[-1]:.1f} s, its run recorded after {recorded[-1]:.1f} s"
                )
        files_before = _data_files(root)
        subprocess.run([*LAKEHOUSE, "maintain", *common], check=True, capture_output=True)
        files_after = _data_files(root)
        batches = len(ends)
    if not latencies:
        sys.exit("no clickstream file was published and taken in while the bench ran")
    print(f"\nsilver data files after {batches} runs, then after `lakehouse maintain`:")
    for table, n in files_before.items():
        print(f"  {table}: {n} -> {files_after[table]}")

    def p95(values: list[float]) -> float:
        return sorted(values)[min(len(values) - 1, round(0.95 * (len(values) - 1)))]

    print(f"\n{len(latencies)} files, scale {args.scale}, speed {args.speed:g}, {dt.date.today()} "
          f"(machine check {check:.0f} ms): queryable in silver.clickstream_events after a median of "
          f"{statistics.median(latencies):.1f} s, p95 {p95(latencies):.1f} s; the run recorded in ingest_runs "
          f"after a median of {statistics.median(recorded):.1f} s, p95 {p95(recorded):.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark: continuous ingestion's latency, from a clickstream file being published in bronze to its
events being queryable in silver.clickstream_events.

    .venv/bin/python bench/streaming.py [--scale 1] [--speed 60] [--minutes 10] [--interval 1]

A world with its history and one day is generated and taken in first (not timed); then
`lakehouse generate --live --speed X` publishes the next day's files as its clock runs (at speed 60,
one clickstream hour file a minute) while `lakehouse run bronze-to-silver --watch` takes them in. A
file's latency is the end of the micro-batch that committed it (its ingest_runs commit, the run's
last) minus the time it was published (its modification time). Prints each file's latency, the
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


def _run_ends(runs: Path) -> dict[str, float]:
    """When each run's row was committed to ingest_runs (its last commit, after silver's): the moment
    its files were queryable, to the millisecond."""
    table = DeltaTable(str(runs))
    commits = {c["version"]: c["timestamp"] / 1000 for c in table.history()}
    ends: dict[str, float] = {}
    seen: set[str] = set()
    for version in sorted(commits):
        ids = set(DeltaTable(str(runs), version=version).to_pandas(columns=["run_id"])["run_id"])
        ends.update({run_id: commits[version] for run_id in ids - seen})
        seen |= ids
    return ends


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
        ends = _run_ends(root / "silver" / "ingest_runs")
        published = {
            str(f.relative_to(root / "bronze")): f.stat().st_mtime for f in (root / "bronze" / "clickstream").rglob("*.jsonl")
        }  # fmt: skip
        clicks = ledger[ledger["source"] == "clickstream"]
        latencies = []
        for row in clicks.itertuples():
            if row.path in published and row.path not in before:
                latency = ends[row.run_id] - published[row.path]
                latencies.append(latency)
                print(f"{row.path}: {latency:.1f} s")
        files_before = _data_files(root)
        subprocess.run([*LAKEHOUSE, "maintain", *common], check=True, capture_output=True)
        files_after = _data_files(root)
        batches = len(ends)
    if not latencies:
        sys.exit("no clickstream file was published and taken in while the bench ran")
    print(f"\nsilver data files after {batches} runs, then after `lakehouse maintain`:")
    for table, n in files_before.items():
        print(f"  {table}: {n} -> {files_after[table]}")
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"\n{len(latencies)} files, scale {args.scale}, speed {args.speed:g}, {dt.date.today()}: "
          f"median {statistics.median(latencies):.1f} s, p95 {p95:.1f} s (machine check {check:.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()

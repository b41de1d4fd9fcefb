"""Benchmark: the generator at scale 1 (dirty data on), several runs, median figures: a new world's
history export (the year before the start, timed apart), then 7 daily days continuing it.

    .venv/bin/python bench/generate.py [--runs 3] [--scale 1] [--days 7] [--history-days 365]

Each run is a fresh process writing into a fresh directory, so peak memory is that run's own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import dataclasses, json, resource, sys, time
from lakehouse.core.config import load_config
from generators.runner import generate
root, scale, days, history = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cfg = load_config(root=root, env={})
settings = dataclasses.replace(cfg.generator, scale=scale, history_days=history)
t = time.perf_counter()
h = generate(cfg.root, settings, days=0)
hist_sec = time.perf_counter() - t
before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the history's worker, already gone
t, cpu = time.perf_counter(), time.process_time()
s = generate(cfg.root, settings, days=days)
sec = time.perf_counter() - t
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = time.process_time() - cpu + kids.ru_utime + kids.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps({"history_seconds": hist_sec, "history_rows": h.total_rows, "seconds": sec, "cpu_seconds": cpu, "rows": s.total_rows, "rows_per_s": s.total_rows / sec,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_peak_rss_mib": kids.ru_maxrss / 1024, "by_source": s.rows}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--history-days", type=int, default=365)
    args = p.parse_args()
    results = []
    for i in range(args.runs):
        root = tempfile.mkdtemp(prefix="lakehouse-bench-")
        try:
            out = subprocess.run([sys.executable, "-c", CHILD, root, str(args.scale), str(args.days), str(args.history_days)],
                                 capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            r["history_rows_per_s"] = r["history_rows"] / max(r["history_seconds"], 1e-9)
            print(
                f"run {i + 1}: history {r['history_rows']:,} rows in {r['history_seconds']:.1f} s = "
                f"{r['history_rows_per_s']:,.0f} rows/s; daily {r['rows']:,} rows in {r['seconds']:.2f} s = {r['rows_per_s']:,.0f} rows/s "
                f"(CPU {r['cpu_seconds']:.2f} s), peak {r['peak_rss_mib']:.0f} MiB, workers {r['worker_peak_rss_mib']:.0f} MiB each"
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)
    med = {
        k: statistics.median(r[k] for r in results)
        for k in (
            "seconds",
            "cpu_seconds",
            "rows_per_s",
            "peak_rss_mib",
            "history_seconds",
            "history_rows_per_s",
        )
    }
    print(
        f"median of {args.runs}: history {med['history_seconds']:.1f} s, {med['history_rows_per_s']:,.0f} rows/s "
        f"({results[0]['history_rows']:,} rows, {args.history_days} days); daily {med['seconds']:.2f} s, {med['rows_per_s']:,.0f} rows/s, CPU {med['cpu_seconds']:.2f} s, peak {med['peak_rss_mib']:.0f} MiB "
        f"(scale {args.scale}, {args.days} days, {results[0]['rows']:,} rows: {results[0]['by_source']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: landing bronze files on a standalone Spark cluster, with one worker and with two.

    .venv/bin/python bench/landing.py [--runs 3] [--scale 1] [--days 2,6]

Starts a master and 1, then 2 workers (one core each) on 127.0.0.1 and lands the clickstream of the
first N days (the engine's tasks read and parse the files) through `spark-submit`, printing for each
run the throughput and what the driver spent: its Python process and its JVM, in CPU seconds and peak
memory. Landing scales out when two workers land about twice as fast as one, and the driver's figures
stay flat when the bronze grows (it only plans the tasks and collects one result row per file).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pipeline import busy_seconds  # noqa: E402


def _proc_cpu_and_peak(pid: int) -> tuple[float, float]:
    """CPU seconds and peak resident MiB of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = next(
        int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmHWM")
    )
    return cpu, peak


def child(root: str, days: int) -> None:
    """Inside spark-submit: land the clickstream of the first `days` days and report."""
    from lakehouse.bronze.contract import file_date
    from lakehouse.bronze.landing import discover, land_on_engine
    from lakehouse.core.config import load_config
    from lakehouse.core.engines import get_spark, ship_code

    cfg = load_config(root=root, engine="classic")
    spark = get_spark(cfg, "bench-landing")
    ship_code(spark)
    files = [f for f in discover(root) if f.source == "clickstream"]
    first = min(file_date(f.path) for f in files)
    files = [f for f in files if (file_date(f.path) - first).days < days]
    staging = tempfile.mkdtemp(prefix="bench-landing-")
    jvm_pid = spark._jvm.java.lang.ProcessHandle.current().pid()  # type: ignore[attr-defined]
    jvm_before, _ = _proc_cpu_and_peak(jvm_pid)
    busy = busy_seconds()
    started = time.perf_counter()
    landed = land_on_engine(spark, "clickstream", files, staging)
    seconds = time.perf_counter() - started
    busy = busy_seconds() - busy
    jvm_cpu, jvm_peak = _proc_cpu_and_peak(jvm_pid)
    own = resource.getrusage(resource.RUSAGE_SELF)
    print("RESULT " + json.dumps({
        "files": len(files), "bytes": sum(f.size for f in files), "rows": landed.rows, "seconds": seconds,
        "executors": len(landed.landed_by), "driver_python_cpu": own.ru_utime + own.ru_stime,
        "driver_python_peak_mib": own.ru_maxrss / 1024, "driver_jvm_cpu": jvm_cpu, "driver_jvm_peak_mib": jvm_peak,
        "driver_jvm_landing_cpu": jvm_cpu - jvm_before, "cores_busy": busy / seconds,
    }))  # fmt: skip
    shutil.rmtree(staging, ignore_errors=True)


def main() -> int:
    from lakehouse.core.jars import delta_maven_coordinates
    from lakehouse.core.jvm_services import spark_env, standalone_cluster

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--days", default="2,6", help="bronze sizes to land, in days of the world")
    args = p.parse_args()
    sizes = [int(d) for d in args.days.split(",")]
    lakehouse = str(Path(sys.executable).parent / "lakehouse")
    cache = Path(tempfile.gettempdir()) / f"lakehouse-bench-bronze-s{args.scale}-d{max(sizes)}"
    if not (cache / "bronze" / "_state" / "meta.json").exists():
        shutil.rmtree(cache, ignore_errors=True)
        print(f"generating {max(sizes)} days at scale {args.scale} into {cache} (once)")
        subprocess.run([lakehouse, "generate", "--root", str(cache), "--days", str(max(sizes)), "--scale", str(args.scale), "--quiet"],
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)  # fmt: skip
    summary = {}
    for workers in (1, 2):
        with standalone_cluster(workers=workers, cores=1, memory="3g") as cluster:
            for days in sizes:
                results = []
                for i in range(args.runs):
                    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", cluster.master_url,
                           "--packages", delta_maven_coordinates(), "--conf", "spark.executor.memory=2g",
                           str(Path(__file__).resolve()), "--child", str(cache), str(days)]  # fmt: skip
                    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=spark_env())
                    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
                    if out.returncode or not line:
                        raise SystemExit(f"landing failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
                    r = json.loads(line[0][7:])
                    results.append(r)
                    print(
                        f"{workers} worker(s), {days} days, run {i + 1}: {r['files']} files, {r['bytes'] / 2**20:,.0f} MiB, "
                        f"{r['rows']:,} rows in {r['seconds']:.1f} s ({r['bytes'] / 2**20 / r['seconds']:.1f} MiB/s) "
                        f"by {r['executors']} executor(s); driver: Python {r['driver_python_cpu']:.1f} CPU-s, "
                        f"{r['driver_python_peak_mib']:,.0f} MiB; JVM {r['driver_jvm_cpu']:.1f} CPU-s, "
                        f"{r['driver_jvm_peak_mib']:,.0f} MiB ({r['driver_jvm_landing_cpu']:.1f} CPU-s while landing); "
                        f"{r['cores_busy']:.2f} of the machine's {os.cpu_count()} cores busy while landing",
                        flush=True,
                    )
                med = {k: statistics.median(r[k] for r in results) for k in results[0]}
                summary[(workers, days)] = med
    print()
    for days in sizes:
        one, two = summary[(1, days)], summary[(2, days)]
        mib = one["bytes"] / 2**20
        print(
            f"{days} days ({mib:,.0f} MiB): 1 worker {mib / one['seconds']:.1f} MiB/s, 2 workers "
            f"{mib / two['seconds']:.1f} MiB/s: {one['seconds'] / two['seconds']:.2f}x; driver JVM "
            f"{two['driver_jvm_cpu']:.1f} CPU-s and {two['driver_jvm_peak_mib']:,.0f} MiB, driver Python "
            f"{two['driver_python_cpu']:.1f} CPU-s and {two['driver_python_peak_mib']:,.0f} MiB (medians)"
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(main())

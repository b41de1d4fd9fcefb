"""Benchmark: the whole pipeline (`lakehouse run all`: bronze_to_silver, then silver_to_gold) over a
full history, then one incremental day after it.

    .venv/bin/python bench/pipeline.py [--runs 3] [--scale 1] [--days 30] [--compare-validation]
                                       [--engines embedded,classic] [--batch-bytes 1g]

With several engines (`--engines embedded,classic`: classic is JVM Spark on a local master with the
Delta jars from Maven), each run takes every engine in turn, so a slow hour weighs on all of them.

The bronze is generated once (cached under the system temp directory); every run copies it into a
fresh root and runs `lakehouse run all` as a user would, in its own process, so memory figures are
that run's. Each job's own seconds are read from the summary it prints. CPU seconds (the machine's
busy time during the run: the run's own on an otherwise idle machine) show how busy the two cores
were. A machine check (a fixed single-core workload) is timed before and after the runs: shared
machines change speed by tens of percent from hour to hour, so figures are comparable only between
runs whose checks agree.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(cmd: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS (MiB) and CPU seconds of the command, and its output."""
    wrapped = [sys.executable, "-c", (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "s = time.perf_counter() - t\n"
        "print(p.stdout); print(p.stderr[-2000:], file=sys.stderr)\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print('BENCH', s, u.ru_maxrss / 1024, p.returncode, u.ru_utime + u.ru_stime)\n"
    ), *cmd]  # fmt: skip
    busy = busy_seconds()
    out = subprocess.run(wrapped, capture_output=True, text=True, cwd=REPO)
    busy = busy_seconds() - busy
    line = [x for x in out.stdout.splitlines() if x.startswith("BENCH")][-1].split()
    if line[3] != "0":
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return float(line[1]), float(line[2]), busy if busy > 0 else float(line[4]), out.stdout


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (Linux), or 0 where that is unknown. It counts the
    landing workers, which the run's own usage misses (they are not its direct children)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def machine_check() -> float:
    """Milliseconds for a fixed single-core workload (median of 5): the same code's figures are only
    comparable between runs whose check agrees, as shared machines change speed by tens of percent."""
    data = bytes(range(256)) * 20_000

    def work() -> float:
        t = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        zlib.compress(data, 6)
        sorted(range(300_000, 0, -1), key=lambda x: x % 1000)
        return time.perf_counter() - t

    return 1000 * statistics.median(work() for _ in range(5))


def _rows(output: str) -> int:
    """Rows read, from bronze_to_silver's summary (the table before its "Every row read" line)."""
    output = output.split("Every row read")[0]
    return sum(
        int(m.replace(",", ""))
        for m in re.findall(r"^\S*│ \S+\s+│\s+[\d,]+ │\s+[\d,]+ │\s+([\d,]+) │", output, re.M)
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--engines", default="embedded", help="comma-separated: embedded, classic")
    p.add_argument("--batch-bytes", help="ingest.max_bytes_per_batch for the runs (for example 512m)")
    p.add_argument(
        "--compare-validation",
        action="store_true",
        help="also run every job with --skip-validation and report what validation adds",
    )
    args = p.parse_args()
    lakehouse = str(Path(sys.executable).parent / "lakehouse")
    cache = Path(tempfile.gettempdir()) / f"lakehouse-bench-bronze-s{args.scale}-d{args.days}"
    if not (cache / "bronze" / "_state" / "meta.json").exists():
        shutil.rmtree(cache, ignore_errors=True)
        print(f"generating {args.days} days at scale {args.scale} into {cache} (once)")
        subprocess.run([lakehouse, "generate", "--root", str(cache), "--days", str(args.days), "--scale", str(args.scale), "--quiet"],
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)  # fmt: skip
    conf = _conf(args.batch_bytes)
    variants: dict[str, list[str]] = {}
    for engine in args.engines.split(","):
        base = ["--engine", engine.strip(), *(["--conf", str(conf)] if conf else [])]
        variants[engine.strip()] = base
        if args.compare_validation:
            variants[f"{engine.strip()} unvalidated"] = [*base, "--skip-validation"]
    before = machine_check()
    print(f"machine check: {before:.0f} ms (a fixed single-core workload; lower is faster)")
    results = _measure(args, cache, lakehouse, variants)
    print(f"machine check: {before:.0f} ms before the runs, {machine_check():.0f} ms after")
    names = list(variants)
    for name in names[1:]:
        ratio = results[name]["full_seconds"] / results[names[0]]["full_seconds"]
        print(f"{name}: {ratio:.2f}x the wall time of {names[0]} for the full run")
    return 0


def _conf(batch_bytes: str | None) -> Path | None:
    if not batch_bytes:
        return None
    conf = Path(tempfile.mkdtemp(prefix="lakehouse-bench-conf-")) / "bench.yaml"
    conf.write_text(f"ingest:\n  max_bytes_per_batch: {batch_bytes}\n")
    return conf


def _job_seconds(output: str) -> tuple[float, float]:
    """bronze_to_silver's and silver_to_gold's seconds, from the titles of their summaries."""
    b2s = re.search(r"bronze_to_silver \S+ \(([\d.]+) s\)", output)
    s2g = re.search(r"silver_to_gold \S+ \((?:\w+, )?([\d.]+) s\)", output)
    return float(b2s[1]) if b2s else 0.0, float(s2g[1]) if s2g else 0.0


def _measure(
    args: argparse.Namespace, cache: Path, lakehouse: str, variants: dict[str, list[str]]
) -> dict[str, dict[str, float]]:
    """Each run: every variant in turn, a full history then one incremental day, in a fresh root."""
    seen: dict[str, dict[str, list[float]]] = {
        name: {k: [] for k in ("full", "incr", "peak", "cpu", "b2s_full", "s2g_full", "b2s_day", "s2g_day")}
        for name in variants
    }
    rows = 0
    for i in range(args.runs):
        for name, extra in variants.items():
            run_all = [lakehouse, "run", "all", "--log-level", "WARNING", *extra]
            root = Path(tempfile.mkdtemp(prefix="lakehouse-bench-b2s-"))
            try:
                shutil.copytree(cache / "bronze", root / "bronze")
                t1, p1, c1, out1 = _run([*run_all, "--root", str(root)])
                rows = _rows(out1) or rows
                subprocess.run([lakehouse, "generate", "--root", str(root), "--days", "1", "--scale", str(args.scale), "--quiet"],
                               check=True, cwd=REPO, stdout=subprocess.DEVNULL)  # fmt: skip
                t2, p2, _, out2 = _run([*run_all, "--root", str(root)])
            finally:
                shutil.rmtree(root, ignore_errors=True)
            jobs = (*_job_seconds(out1), *_job_seconds(out2))
            s = seen[name]
            for k, v in zip(("b2s_full", "s2g_full", "b2s_day", "s2g_day"), jobs, strict=True):
                s[k].append(v)
            s["full"].append(t1)
            s["incr"].append(t2)
            s["peak"].append(max(p1, p2))
            s["cpu"].append(c1)
            print(
                f"run {i + 1} {name}: full {t1:.1f} s (bronze_to_silver {jobs[0]:.1f}, silver_to_gold {jobs[1]:.1f}; "
                f"{rows / t1:,.0f} rows/s; {c1:.0f} CPU-s, {c1 / t1:.2f} cores busy), "
                f"incremental day {t2:.1f} s (bronze_to_silver {jobs[2]:.1f}, "
                f"silver_to_gold {jobs[3]:.1f}), peak {max(p1, p2):,.0f} MiB",
                flush=True,
            )
    out = {}
    for name, s in seen.items():
        f, n = statistics.median(s["full"]), statistics.median(s["incr"])
        out[name] = {"variant": name, "scale": args.scale, "days": args.days, "rows_read": rows,
                     "full_seconds": round(f, 1), "rows_per_second": round(rows / f),
                     "incremental_day_seconds": round(n, 1), "incremental_share": round(n / f, 3),
                     "peak_rss_mib": round(statistics.median(s["peak"])),
                     "full_cpu_seconds": round(statistics.median(s["cpu"]), 1),
                     **{k: round(statistics.median(s[k]), 1) for k in ("b2s_full", "s2g_full", "b2s_day", "s2g_day")}}  # fmt: skip
        print(json.dumps(out[name]))
    return out


if __name__ == "__main__":
    sys.exit(main())

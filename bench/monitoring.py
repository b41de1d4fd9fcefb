"""Benchmark: the monitoring's precision and recall against the incidents the generator injects, over
several seeds, each a world with incidents and the same world without.

    .venv/bin/python bench/monitoring.py [--seeds 11,42,97] [--days 60] [--scale 0.2] [--start 2025-10-20]

Each world is generated with `lakehouse generate` and built with `lakehouse run all --skip-validation`
in a fresh directory; the anomalies are scored as tests/monitoring/test_scoring.py scores them. Prints
the confusion per incident kind for every seed, then the totals.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lakehouse.monitoring import scoring
from lakehouse.monitoring.read import read_anomalies

LAKEHOUSE = [sys.executable, "-m", "lakehouse.cli"]


def build(root: Path, seed: int, args: argparse.Namespace, incidents: bool) -> pd.DataFrame:
    gen = [*LAKEHOUSE, "generate", "--root", str(root), "--seed", str(seed), "--start", args.start,
           "--days", str(args.days), "--scale", str(args.scale), "--history-days", "120", "--quiet"]  # fmt: skip
    subprocess.run([*gen, *(["--incidents"] if incidents else [])], check=True, capture_output=True)
    run = [*LAKEHOUSE, "run", "all", "--root", str(root), "--skip-validation", "--allow-rejected", "--quiet"]
    subprocess.run(run, check=True, capture_output=True)
    found = read_anomalies(str(root))
    assert found is not None, f"no gold.metric_anomalies under {root}"
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", default="11,42,97")
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--scale", type=float, default=0.2)
    p.add_argument("--start", default="2025-10-20")
    args = p.parse_args()
    kinds, caught_total, incidents_total, explained, alarms, quiet_alarms = [], 0, 0, 0, 0, 0
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as tmp:
            t = time.perf_counter()
            with_incidents = build(Path(tmp) / "incidents", seed, args, True)
            score = scoring.score(scoring.manifest_incidents(str(Path(tmp) / "incidents")), with_incidents)
            quiet = build(Path(tmp) / "quiet", seed, args, False)
            seconds = time.perf_counter() - t
        table = score.by_kind()
        print(f"\nseed {seed}: recall {score.recall:.2f}, precision {score.precision:.2f}, "
              f"{len(with_incidents)} anomalies; without incidents {len(quiet)} false alarms in {args.days} days "
              f"({seconds:.0f} s)")  # fmt: skip
        print(table.to_string(index=False))
        if len(score.false_alarms):
            print(
                score.false_alarms[
                    ["metric", "slice", "grain", "period_start", "observed", "expected", "score"]
                ].to_string()
            )
        if len(quiet):
            print(
                quiet[
                    ["metric", "slice", "grain", "period_start", "observed", "expected", "score"]
                ].to_string()
            )
        kinds.append(table.assign(seed=seed))
        caught_total += sum(score.caught.values())
        incidents_total += len(score.caught)
        explained += sum(1 for e in score.explained if e)
        alarms += len(score.explained)
        quiet_alarms += len(quiet)
    seeds = len(kinds)
    per_kind = (
        pd.concat(kinds).groupby("kind")[["incidents", "caught", "missed", "anomalies_explained"]].sum()
    )
    print(f"\nall {seeds} seeds: recall {caught_total / max(incidents_total, 1):.3f} ({caught_total}/{incidents_total}), "
          f"precision {explained / max(alarms, 1):.3f} ({explained}/{alarms}), false alarms without incidents "
          f"{quiet_alarms} in {seeds * args.days} days ({quiet_alarms * 30 / (seeds * args.days):.2f} per 30 days)")  # fmt: skip
    print(per_kind.to_string())


if __name__ == "__main__":
    main()

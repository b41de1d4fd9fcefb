"""Run inside the Airflow environment by tests/orchestration/test_airflow.py (never imported by pytest):
parses the DAG folder, or runs DAGs with dag.test(), and prints what it found as one JSON line.

    python airflow_probe.py dagbag
    python airflow_probe.py test DAG_ID:YYYY-MM-DD[,YYYY-MM-DD ...] [DAG_ID:... ...]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "orchestration" / "airflow" / "dags"
HEAVY = ("pyspark", "pyarrow", "pandas", "deltalake", "great_expectations", "lakehouse.core.storage")


def dagbag() -> dict[str, object]:
    """Every DAG under each setting that changes their shape, and what parsing them imported."""
    sys.path.insert(0, str(DAGS))  # as Airflow puts its DAG folder on the path
    from airflow.dag_processing.dagbag import DagBag

    out: dict[str, object] = {}
    for label, env in {
        "default": {},
        "spark-submit": {"LAKEHOUSE_RUNNER": "spark-submit"},
        "sensor": {"LAKEHOUSE_CONF": os.environ.get("PROBE_SENSOR_CONF", "")},
    }.items():
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update({k: v for k, v in env.items() if v})
        for name in [m for m in sys.modules if m.startswith(("lakehouse_", "lakehouse"))]:
            del sys.modules[name]  # each setting parsed afresh, as a new DAG processor would
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(DAGS), safe_mode=False)
        seconds = time.perf_counter() - started
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        dags = {}
        for dag_id, dag in bag.dags.items():
            tasks = {}
            for t in dag.tasks:
                tasks[t.task_id] = {
                    "type": type(t).__name__,
                    "upstream": sorted(t.upstream_task_ids),
                    "retries": t.retries,
                    "retry_exponential_backoff": bool(t.retry_exponential_backoff),
                    "timeout_s": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                    "arguments": getattr(t, "arguments", None),
                    "application": getattr(t, "application", None),
                    "packages": getattr(t, "packages", None),
                    "conn_id": getattr(t, "_conn_id", None),
                    "application_args": getattr(t, "application_args", None),
                    "env_vars": getattr(t, "env_vars", None),
                }
            dags[dag_id] = {
                "tasks": tasks,
                "start": dag.start_date.isoformat(),
                "schedule": getattr(dag.timetable, "_expression", str(dag.timetable)),
            }
        out[label] = {
            "errors": {Path(k).name: v.splitlines()[-1] for k, v in bag.import_errors.items()},
            "dags": dags,
            "seconds": seconds,
            "heavy": sorted(m for m in HEAVY if m in sys.modules),
        }
    return out


def test(specs: list[str]) -> list[dict[str, object]]:
    """dag.test() of each DAG for each of its logical dates in turn (what a backfill does: one run
    after another), in one metadata database, so a later DAG's sensors see the earlier runs."""
    sys.path.insert(0, str(DAGS))
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    bag = DagBag(dag_folder=str(DAGS), safe_mode=False)
    assert not bag.import_errors, bag.import_errors
    runs = []
    for spec in specs:
        dag_id, _, days = spec.partition(":")
        for day in days.split(","):
            started = time.perf_counter()
            run = bag.dags[dag_id].test(logical_date=dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC))
            runs.append({
                "dag": dag_id, "day": day, "state": str(run.state), "seconds": time.perf_counter() - started,
                "tasks": {ti.task_id: [str(ti.state), ti.try_number] for ti in run.get_task_instances()},
            })  # fmt: skip
    return runs


if __name__ == "__main__":
    what = sys.argv[1]
    result = dagbag() if what == "dagbag" else test(sys.argv[2:])
    print("PROBE " + json.dumps(result, default=str))

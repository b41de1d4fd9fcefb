"""Run inside the Airflow environment by tests/orchestration/test_airflow.py (never imported by pytest):
parses the DAG folder, or runs DAGs with dag.test(), and prints what it found as one JSON line.

    python airflow_probe.py dagbag
    python airflow_probe.py test DAG_ID:YYYY-MM-DD[,YYYY-MM-DD ...] [DAG_ID:... ...]
    python airflow_probe.py backfill DAG_ID:FROM:TO[:reprocess] [DAG_ID:FROM:TO ...]

`backfill` runs Airflow as a deployment does (API server, scheduler with the LocalExecutor, DAG
processor), unpauses the DAGs and creates each backfill in turn with `airflow backfill create`, waiting
for one to complete before the next.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
            run = bag.dags[dag_id].test(
                logical_date=dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC),
                mark_success_pattern=os.environ.get("PROBE_MARK_SUCCESS"),  # tasks marked done, not run
            )
            runs.append({
                "dag": dag_id, "day": day, "state": str(run.state), "seconds": time.perf_counter() - started,
                "tasks": {ti.task_id: [str(ti.state), ti.try_number] for ti in run.get_task_instances()},
            })  # fmt: skip
    return runs


AIRFLOW = Path(sys.executable).with_name("airflow")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def deployment() -> Iterator[dict[str, str]]:
    """The API server (the tasks report to its execution API), the scheduler and the DAG processor,
    each in a process group of its own, stopped (group and all) on the way out."""
    port = _free_port()
    home = Path(os.environ["AIRFLOW_HOME"])
    env = os.environ | {
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),  # shared: the scheduler signs, the API checks
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    }
    os.environ.update(env)
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True)
    procs = []
    try:
        for what in (["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                     ["scheduler"], ["dag-processor"]):  # fmt: skip
            log = (home / f"{what[0]}.log").open("w")
            procs.append(subprocess.Popen([str(AIRFLOW), *what], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))  # fmt: skip
        yield env
    finally:
        # SIGTERM lets each stop its children; whatever is left of a group after that is killed.
        for proc in procs:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def _airflow(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([str(AIRFLOW), *args], env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"airflow {' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}"
    return out.stdout + out.stderr


def backfill(specs: list[str], timeout: float = 1200) -> list[dict[str, object]]:
    """Each backfill through the scheduler, one after another; the runs each one ran, in date order."""
    from airflow.models import DagModel, DagRun
    from airflow.models.backfill import Backfill, BackfillDagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    runs: list[dict[str, object]] = []
    with deployment() as env:
        dag_ids = list(dict.fromkeys(spec.split(":")[0] for spec in specs))
        deadline = time.monotonic() + 120
        while True:  # the DAG processor has serialised the DAGs
            with create_session() as session:
                found = set(session.scalars(select(DagModel.dag_id).where(DagModel.dag_id.in_(dag_ids))))
            if found == set(dag_ids):
                break
            assert time.monotonic() < deadline, f"the DAG processor did not register {dag_ids} in 120 s"
            time.sleep(2)
        for dag_id in dag_ids:
            _airflow(env, "dags", "unpause", dag_id)
        for spec in specs:
            dag_id, start, end, *how = spec.split(":")
            started = time.perf_counter()
            reprocess = ["--reprocess-behavior", "completed"] if how == ["reprocess"] else []
            _airflow(env, "backfill", "create", "--dag-id", dag_id, "--from-date", start, "--to-date", end,
                     "--max-active-runs", "1", *reprocess)  # fmt: skip
            while True:
                with create_session() as session:
                    b = session.scalars(
                        select(Backfill).where(Backfill.dag_id == dag_id).order_by(Backfill.id.desc())
                    ).first()
                    assert b is not None, f"airflow backfill create made no backfill of {dag_id}"
                    ids = list(session.scalars(
                        select(BackfillDagRun.dag_run_id).where(BackfillDagRun.backfill_id == b.id)
                    ))  # fmt: skip
                    done = b.completed_at is not None
                    if done:
                        for run in sorted(
                            session.scalars(select(DagRun).where(DagRun.id.in_(ids))),
                            key=lambda r: r.logical_date,
                        ):
                            runs.append({
                                "dag": dag_id, "day": run.logical_date.date().isoformat(), "state": str(run.state),
                                "run_type": str(run.run_type), "seconds": time.perf_counter() - started,
                                "tasks": {ti.task_id: [str(ti.state), ti.try_number]
                                          for ti in run.get_task_instances(session=session)},
                            })  # fmt: skip
                if done:
                    break
                assert time.monotonic() - started < timeout, f"backfill {spec} not done in {timeout:.0f} s"
                time.sleep(3)
        with create_session() as session:  # anything the scheduler started on its own (it should not)
            scheduled = session.scalars(select(DagRun).where(DagRun.run_type != "backfill")).all()
            runs.append({"dag": "*", "scheduled": [f"{r.dag_id} {r.logical_date}" for r in scheduled]})
    return runs


if __name__ == "__main__":
    what = sys.argv[1]
    result = {"dagbag": lambda: dagbag(), "test": lambda: test(sys.argv[2:]),
              "backfill": lambda: backfill(sys.argv[2:])}[what]()  # fmt: skip
    print("PROBE " + json.dumps(result, default=str))

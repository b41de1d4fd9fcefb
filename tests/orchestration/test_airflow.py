"""The Airflow DAGs for real: parsed by Airflow 3's DagBag and run with dag.test() in Airflow's own
environment (.venv-airflow, from orchestration/airflow/requirements.txt), against small lakes.

Airflow cannot share the project's environment (its providers pin other pandas and pyspark-client
versions), so each test starts tests/orchestration/airflow_probe.py with that environment's Python;
the tasks call this environment's `lakehouse` command, as a deployment does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lakehouse.cli import main
from lakehouse.core.jars import delta_maven_coordinates
from tests.compare import RUN_LOGS, differences
from tests.engines.conftest import JVM_OPTIONS

pytestmark = [pytest.mark.xdist_group("airflow"), pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("airflow_probe.py")
SATURDAY, SUNDAY, MONDAY_BEFORE = "2026-01-03", "2026-01-04", "2025-12-29"
WORLD = {"seed": 5, "start_date": SATURDAY, "scale": 0.02, "history_days": 10}


def _airflow_python() -> Path:
    python = Path(os.environ.get("LAKEHOUSE_AIRFLOW_PYTHON") or REPO / ".venv-airflow" / "bin" / "python")
    if not python.exists():
        if os.environ.get("LAKEHOUSE_REQUIRE_AIRFLOW"):
            pytest.fail(f"no Airflow environment at {python}: see the README, 'Scheduling'")
        pytest.skip(f"no Airflow environment at {python} (README, 'Scheduling', says how to make one)")
    return python


def _conf(path: Path, root: Path, **sections: dict[str, object]) -> Path:
    # Without Data Docs pages (tested with the gates): each run's pages cost seconds a DAG run has 5 of.
    quality = {"data_docs": False, **sections.pop("quality", {})}
    data: dict[str, object] = {
        "storage": {"root": str(root)},
        "generator": WORLD,
        "quality": quality,
        **sections,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def _probe(tmp: Path, conf: Path, *args: str, extra: dict[str, str] | None = None) -> tuple[object, str]:
    """Run the probe in the Airflow environment; its JSON result and everything it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "AIRFLOW", "SPARK_"))}
    env |= {
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "orchestration" / "airflow" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The scheduler, the API server, the DAG processor and the CLI share one SQLite file: a writer
        # waits up to a minute for the lock instead of 5 s (CI's load made `backfill create` fail).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp / 'airflow' / 'airflow.db'}?timeout=60",
        "LAKEHOUSE_CONF": str(conf),
        "LAKEHOUSE_CLI": str(Path(sys.executable).parent / "lakehouse"),
        **(extra or {}),
    }
    out = subprocess.run(
        [str(_airflow_python()), str(PROBE), *args], env=env, capture_output=True, text=True, timeout=1500
    )
    text = out.stdout + out.stderr
    (tmp / f"airflow-{args[0]}.log").write_text(text)  # the task logs, kept beside the test's lake
    found = [line for line in out.stdout.splitlines() if line.startswith("PROBE ")]
    assert out.returncode == 0 and found, f"the probe exited {out.returncode}:\n{text[-6000:]}"
    return json.loads(found[-1][len("PROBE ") :]), text


def _built_at_once(tmp_path: Path, days: int, step: str) -> Path:
    """The reference: the world's first `days` days generated at once and built by one `lakehouse run`."""
    once = tmp_path / "once"
    conf = _conf(tmp_path / "once.yaml", once)
    assert main(["generate", "--conf", str(conf), "--days", str(days), "--quiet"]) == 0
    assert main(["run", step, "--conf", str(conf), "--quiet"]) == 0
    return once


def test_the_dags_import_cleanly_and_parse_without_heavy_work(tmp_path: Path) -> None:
    conf = _conf(tmp_path / "lake.yaml", tmp_path / "lake")
    sensor = _conf(tmp_path / "sensor.yaml", tmp_path / "lake", orchestration={"arrival": "sensor"})
    found, _ = _probe(tmp_path, conf, "dagbag", extra={"PROBE_SENSOR_CONF": str(sensor)})
    for label, bag in found.items():  # type: ignore[union-attr]
        assert bag["errors"] == {}, (label, bag["errors"])
        assert set(bag["dags"]) == {"lakehouse_daily", "lakehouse_weekly"}, label
        assert bag["heavy"] == [], (
            f"parsing imported {bag['heavy']} ({label}): no Spark or data at parse time"
        )
        assert bag["seconds"] < 10, f"parsing took {bag['seconds']:.1f} s ({label})"
    daily = found["default"]["dags"]["lakehouse_daily"]  # type: ignore[index]
    assert daily["start"].startswith(SATURDAY), "the first logical date is the world's first day"
    tasks = daily["tasks"]
    chain = ["generate_day", "bronze_to_silver", "silver_to_gold", "validate", "report"]
    assert [tasks[t]["upstream"] for t in chain] == [[], *[[t] for t in chain[:-1]]]
    for t in tasks.values():
        assert t["retries"] == 2 and t["retry_exponential_backoff"] and t["timeout_s"] == 7200
    assert tasks["bronze_to_silver"]["type"] == "LakehouseOperator"
    assert tasks["bronze_to_silver"]["arguments"][:2] == ["run", "bronze-to-silver"]
    assert "--conf" in tasks["bronze_to_silver"]["arguments"]
    # One setting switches the jobs to spark-submit through Airflow's Spark provider.
    submitted = found["spark-submit"]["dags"]["lakehouse_daily"]["tasks"]  # type: ignore[index]
    for task, job in (("bronze_to_silver", "bronze_to_silver.py"), ("silver_to_gold", "silver_to_gold.py")):
        t = submitted[task]
        assert t["type"] == "LakehouseSparkSubmitOperator" and t["conn_id"] == "spark_default"
        assert t["application"] == str(REPO / "jobs" / job) and Path(t["application"]).is_file()
        assert t["packages"] == delta_maven_coordinates(), "the Delta jars the installed delta-spark needs"
        assert t["application_args"][t["application_args"].index("--engine") + 1] == "classic"
        if (REPO / ".venv" / "bin" / "python").exists():
            assert t["env_vars"]["PYSPARK_PYTHON"] == str(REPO / ".venv" / "bin" / "python")
    assert submitted["generate_day"]["type"] == "LakehouseOperator"
    sensed = found["sensor"]["dags"]["lakehouse_daily"]["tasks"]  # type: ignore[index]
    assert sensed["wait_for_bronze"]["type"] == "LakehouseSensor" and "generate_day" not in sensed
    assert sensed["bronze_to_silver"]["upstream"] == ["wait_for_bronze"]
    weekly = found["default"]["dags"]["lakehouse_weekly"]["tasks"]  # type: ignore[index]
    assert weekly["week_built"]["type"] == "ExternalTaskSensor"
    assert found["default"]["dags"]["lakehouse_weekly"]["start"].startswith(MONDAY_BEFORE)  # type: ignore[index]
    assert (
        weekly["maintain"]["upstream"] == ["check_inventory"]
        and weekly["maintain"]["arguments"][0] == "maintain"
    )


def test_a_backfill_gives_the_tables_of_one_run_and_any_day_can_be_rerun(tmp_path: Path) -> None:
    """Airflow as deployed (API server, scheduler, DAG processor): `airflow backfill create` of Saturday
    and Sunday through lakehouse_daily, of Saturday again (reprocessed), then of the week through
    lakehouse_weekly; the lake equals `lakehouse generate` of both days and one `lakehouse run all`."""
    lake = tmp_path / "scheduled"
    conf = _conf(tmp_path / "lake.yaml", lake)
    found, _ = _probe(
        tmp_path,
        conf,
        "backfill",
        f"lakehouse_daily:{SATURDAY}:{SUNDAY}",
        f"lakehouse_daily:{SATURDAY}:{SATURDAY}:reprocess",
        f"lakehouse_weekly:{MONDAY_BEFORE}:{MONDAY_BEFORE}",
    )
    *runs, unscheduled = found  # type: ignore[misc]
    assert unscheduled["scheduled"] == [], "unpausing a simulated world's DAG schedules nothing of its own"
    tasks = {
        "lakehouse_daily": {"generate_day", "bronze_to_silver", "silver_to_gold", "validate", "report"},
        "lakehouse_weekly": {"week_built", "check_inventory", "maintain"},
    }
    assert [(r["dag"], r["day"]) for r in runs] == [
        ("lakehouse_daily", SATURDAY), ("lakehouse_daily", SUNDAY), ("lakehouse_daily", SATURDAY),
        ("lakehouse_weekly", MONDAY_BEFORE),
    ]  # fmt: skip
    for r in runs:
        assert (
            r["state"] == "success" and r["run_type"] == "backfill" and set(r["tasks"]) == tasks[r["dag"]]
        ), r
        assert all(state == "success" for state, _ in r["tasks"].values()), r
        print(f"{r['dag']} {r['day']}: done {r['seconds']:.0f} s after its backfill was created")
    assert all(tries == 2 for _, tries in runs[2]["tasks"].values()), "Saturday was run again, every task"
    logs = {p: p.read_text() for p in (tmp_path / "airflow" / "logs").rglob("*.log")}
    # Only Saturday's run has second attempts (its run id is named for the day after: run_after).
    rerun = "\n".join(t for p, t in logs.items() if "lakehouse_daily" in str(p) and p.name == "attempt=2.log")
    assert "nothing to write" in rerun and "Nothing new in bronze" in rerun, "the rerun changed nothing"
    assert (lake / "reports" / "daily" / f"lakehouse_report_{SUNDAY}.html").is_file()
    weekly = "\n".join(t for p, t in logs.items() if "lakehouse_weekly" in str(p))
    assert "silver.inventory_snapshots" in weekly and "Maintaining the tables" in weekly

    assert differences(lake, _built_at_once(tmp_path, 2, "all"), skip=RUN_LOGS) == {}


def test_a_blocked_expectation_fails_its_task_for_good_and_stops_the_day(tmp_path: Path) -> None:
    suites = tmp_path / "expectations"
    shutil.copytree(REPO / "expectations", suites)
    impossible = "  - {type: expect_table_row_count_to_be_between, kwargs: {min_value: 1000000000}, meta: {severity: critical}}\n"
    with (suites / "silver" / "orders.yaml").open("a") as f:
        f.write(impossible)
    lake = tmp_path / "lake"
    conf = _conf(tmp_path / "lake.yaml", lake, quality={"expectations": str(suites)})
    runs, log = _probe(tmp_path, conf, "test", f"lakehouse_daily:{SATURDAY}")
    (run,) = runs  # type: ignore[misc]
    assert run["state"] == "failed"
    tasks = run["tasks"]
    assert tasks["generate_day"][0] == "success"
    assert tasks["bronze_to_silver"] == ["failed", 1], "failed at the first try: the data is the problem"
    assert all(tasks[t][0] == "upstream_failed" for t in ("silver_to_gold", "validate", "report"))
    assert "critical expectations failed, not published: silver.orders" in log
    assert f"The rejected data is under {lake}" in log and "not retried" in log


@pytest.mark.jvm_slow  # a JVM job (about 150 CPU-s here): beyond CI's time, run with -m jvm_slow
def test_the_spark_submit_runner_submits_bronze_to_silver_to_jvm_spark(tmp_path: Path) -> None:
    """orchestration.runner spark-submit for real: Airflow's Spark provider runs spark-submit with the
    Delta packages on a local master (the connection's host), and the job builds silver as the
    `lakehouse` command does on the embedded engine."""
    lake = tmp_path / "submitted"
    conf = _conf(tmp_path / "lake.yaml", lake)
    runs, log = _probe(
        tmp_path,
        conf,
        "test",
        f"lakehouse_daily:{SATURDAY}",
        extra={
            "LAKEHOUSE_RUNNER": "spark-submit",
            "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
            "SPARK_SUBMIT_OPTS": JVM_OPTIONS,
            "PROBE_MARK_SUCCESS": "^(silver_to_gold|validate|report)$",  # one JVM job is the point
        },
    )
    (run,) = runs  # type: ignore[misc]
    assert run["tasks"]["bronze_to_silver"] == ["success", 1], log[-6000:]
    assert "spark-submit" in log and "--packages " + delta_maven_coordinates() in log
    assert "--master local[2]" in log and "jobs/bronze_to_silver.py" in log
    assert "engine classic" in log, "the job ran on JVM Spark"

    assert differences(lake, _built_at_once(tmp_path, 1, "bronze-to-silver"), skip=RUN_LOGS) == {}

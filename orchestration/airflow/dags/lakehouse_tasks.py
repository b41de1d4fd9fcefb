"""What the lakehouse DAGs share: where the project is, its configuration, and the tasks that run a step.

Airflow runs in an environment of its own (orchestration/airflow/requirements.txt): the tasks call the
project's `lakehouse` command, or submit its jobs with spark-submit, as a cluster deployment would. At
parse time this module reads the project's configuration only (the standard library and PyYAML): no
Spark, no lake, no network.

Settings (environment of the Airflow scheduler and workers):
- LAKEHOUSE_HOME: the project checkout (default: the one holding this file);
- LAKEHOUSE_CLI: the `lakehouse` executable (default: LAKEHOUSE_HOME/.venv/bin/lakehouse, else on PATH);
- LAKEHOUSE_CONF, LAKEHOUSE_ROOT, LAKEHOUSE_RUNNER: as for the project (conf/lakehouse.yaml, `orchestration:`).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseOperator, BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

HOME = Path(os.environ.get("LAKEHOUSE_HOME") or Path(__file__).resolve().parents[3])
if str(HOME) not in sys.path:
    sys.path.insert(0, str(HOME))

from lakehouse.core import exits  # noqa: E402  (light: no Spark, no pyarrow)
from lakehouse.core.config import Config, load_config  # noqa: E402
from lakehouse.core.jars import delta_maven_coordinates  # noqa: E402


@cache
def settings() -> Config:
    return load_config()


def default_args() -> dict[str, Any]:
    """Retries with exponential backoff and a timeout for every task (orchestration: in conf/)."""
    o = settings().orchestration
    return {
        "owner": "lakehouse",
        "retries": o.retries,
        "retry_delay": dt.timedelta(minutes=o.retry_delay_minutes),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=o.retry_delay_minutes * 2**o.retries),
        "execution_timeout": dt.timedelta(minutes=o.task_timeout_minutes),
    }


def _logical_date(d: dt.date, monday: bool) -> dt.datetime:
    """Midnight UTC of day `d`, or of the Monday of its week."""
    d -= dt.timedelta(days=d.weekday() if monday else 0)
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


def start_date(monday: bool = False) -> dt.datetime:
    """The first logical date: the generator's first day, so a simulated world and the DAG agree (or
    the Monday of its week, for the weekly DAG)."""
    return _logical_date(settings().generator.start_date, monday)


def end_date(monday: bool = False) -> dt.datetime | None:
    """The last logical date of a simulated world (generator.days from its first day; or that day's
    Monday, for the weekly DAG), so unpausing a DAG never asks the generator for the months up to today
    (catchup is off: Airflow would otherwise schedule yesterday). None when the files arrive for real."""
    cfg = settings()
    if cfg.orchestration.arrival != "simulate":
        return None
    return _logical_date(cfg.generator.start_date + dt.timedelta(days=cfg.generator.days - 1), monday)


def cli() -> list[str]:
    named = os.environ.get("LAKEHOUSE_CLI")
    if named:
        return [named]
    beside = HOME / ".venv" / "bin" / "lakehouse"
    return [str(beside) if beside.exists() else "lakehouse"]


def lake_args() -> list[str]:
    """The lake and configuration every step is given, so parse time and run time agree."""
    cfg = settings()
    return ["--root", cfg.root, "--conf", cfg.source]


def run_lakehouse(arguments: Sequence[str], log: Any) -> int:
    """`lakehouse ARGUMENTS`, its output line by line in the task log; returns the exit code."""
    command = [*cli(), *arguments]
    log.info("running %s", " ".join(command))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "140"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=HOME
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.info("%s", line.rstrip())
        return proc.wait()


def fail_for(code: int, what: str) -> None:
    """Raise what Airflow should do about an exit code: nothing for 0, fail without retries when the
    data or the settings are the problem, fail (and retry) otherwise."""
    if code == exits.OK:
        return
    if code in exits.DATA_OR_SETTINGS:
        raise AirflowFailException(
            f"{what} exited {code}: {exits.DATA_OR_SETTINGS[code]}; the lines above say where and what "
            "to fix (not retried: the same data would fail the same way)"
        )
    raise AirflowException(f"{what} exited {code}; the lines above say why (retried)")


class LakehouseOperator(BaseOperator):
    """Runs one `lakehouse` command (templated arguments), for example `run bronze-to-silver`."""

    template_fields: Sequence[str] = ("arguments",)
    ui_color = "#d8ecf3"

    def __init__(self, *, arguments: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arguments = list(arguments)

    def execute(self, context: Any) -> None:
        fail_for(run_lakehouse(self.arguments, self.log), f"lakehouse {' '.join(self.arguments[:2])}")


class LakehouseSensor(BaseSensorOperator):
    """Pokes a `lakehouse` command until it exits 0; exit 75 means not yet, anything else fails."""

    template_fields: Sequence[str] = ("arguments",)

    def __init__(self, *, arguments: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arguments = list(arguments)

    def poke(self, context: Any) -> bool:
        code = run_lakehouse(self.arguments, self.log)
        if code == exits.TRY_LATER:
            return False
        fail_for(code, f"lakehouse {self.arguments[0]}")
        return True


class LakehouseSparkSubmitOperator(SparkSubmitOperator):
    """spark-submit of a job, where an exit code saying the data is the problem is not retried."""

    def execute(self, context: Any) -> None:
        try:
            super().execute(context)
        except AirflowException:
            proc = getattr(self._hook, "_submit_sp", None)
            if proc is not None and proc.returncode is not None:
                fail_for(proc.returncode, f"spark-submit {Path(self.application).name}")
            raise


def job(task_id: str, step: str, extra: Sequence[str] = ()) -> BaseOperator:
    """A pipeline job (bronze-to-silver or silver-to-gold) run the way orchestration.runner says: the
    `lakehouse` command with the configured engine, or spark-submit through Airflow's Spark provider."""
    cfg = settings()
    wait = ["--wait", str(int(cfg.orchestration.task_timeout_minutes * 60 // 2)), "--quiet"]
    if cfg.orchestration.runner == "cli":
        return LakehouseOperator(task_id=task_id, arguments=["run", step, *lake_args(), *wait, *extra])
    classic = cfg.engine.classic
    jars = (
        sorted(str(p) for p in Path(classic.delta_jars_dir).glob("*.jar")) if classic.delta_jars_dir else []
    )
    python = HOME / ".venv" / "bin" / "python"
    env = {"PYSPARK_PYTHON": str(python) if python.exists() else sys.executable}
    if shutil.which("spark-submit") is None and (HOME / ".venv" / "bin" / "spark-submit").exists():
        env["PATH"] = (
            f"{HOME / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"  # the project's Spark
        )
    return LakehouseSparkSubmitOperator(
        task_id=task_id,
        conn_id=cfg.orchestration.spark_conn_id,
        application=str(HOME / "jobs" / f"{step.replace('-', '_')}.py"),
        application_args=[*lake_args(), "--engine", "classic", *wait, *extra],
        packages=None if jars else (classic.delta_packages or delta_maven_coordinates()),
        jars=",".join(jars) or None,
        conf=dict(classic.spark_conf),
        env_vars=env,
        name=f"lakehouse-{step}",
        verbose=False,
    )

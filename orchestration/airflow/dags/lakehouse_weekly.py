"""lakehouse_weekly: after the daily DAG has built the week's last day, the inventory week's checks,
then table maintenance (`lakehouse maintain`: compaction and vacuum of every silver and gold table).

Logical date W is the Monday an ISO week starts; the run waits for lakehouse_daily's silver_to_gold of
that week's Sunday, the day the warehouses' inventory snapshot is exported.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.sdk import DAG, CronDataIntervalTimetable
from lakehouse_tasks import (
    LakehouseOperator,
    default_args,
    end_date,
    lake_args,
    settings,
    start_date,
)

o = settings().orchestration
INVENTORY_TABLES = ["silver.inventory_snapshots", "gold.fact_inventory_snapshot", "gold.kpi_inventory_health"]

with DAG(
    dag_id="lakehouse_weekly",
    description="the inventory week's checks and table maintenance, every Monday",
    schedule=CronDataIntervalTimetable("0 0 * * 1", timezone="UTC"),
    start_date=start_date(monday=True),
    end_date=end_date(monday=True),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["lakehouse"],
    doc_md=__doc__,
) as dag:
    week_built = ExternalTaskSensor(
        task_id="week_built",
        doc_md="lakehouse_daily's silver_to_gold for the week's Sunday succeeded.",
        external_dag_id="lakehouse_daily",
        external_task_id="silver_to_gold",
        execution_delta=dt.timedelta(days=-6),  # the daily run for logical date W + 6 days
        mode="reschedule",
        poke_interval=dt.timedelta(minutes=10),
        timeout=dt.timedelta(hours=o.sensor_timeout_hours),
    )
    inventory = LakehouseOperator(
        task_id="check_inventory",
        doc_md="The inventory tables' suites, recorded in gold.dq_results (a critical failure fails the task).",
        arguments=["validate", *lake_args(), *INVENTORY_TABLES],
    )
    maintain = LakehouseOperator(
        task_id="maintain",
        doc_md="Compacts small files and vacuums old versions of every table (time travel keeps 7 days).",
        arguments=["maintain", *lake_args()],
    )
    week_built >> inventory >> maintain

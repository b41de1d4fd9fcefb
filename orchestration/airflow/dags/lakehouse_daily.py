"""lakehouse_daily: for each logical date, the day's bronze arrives, then bronze_to_silver, silver_to_gold,
validation and the day's report.

Logical date D is the business day D (its data interval is D to D+1): the run for 2026-01-05 ingests
2026-01-05's files. A backfill over a range (`airflow backfill create --dag-id lakehouse_daily ...`) gives
the same tables as one `lakehouse run all` over the same days, and any day may be rerun.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, CronDataIntervalTimetable
from lakehouse_tasks import (
    LakehouseOperator,
    LakehouseSensor,
    default_args,
    end_date,
    job,
    lake_args,
    settings,
    start_date,
)

cfg = settings()
o = cfg.orchestration

with DAG(
    dag_id="lakehouse_daily",
    description="bronze arrives, bronze_to_silver, silver_to_gold, validation and the report, each day",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=start_date(),
    end_date=end_date(),
    catchup=False,  # earlier days are taken on purpose, with a backfill
    max_active_runs=1,  # one day after another, as the jobs take the lake one run at a time
    default_args=default_args(),
    tags=["lakehouse"],
    doc_md=__doc__,
) as dag:
    if o.arrival == "simulate":
        arrive = LakehouseOperator(
            task_id="generate_day",
            doc_md="The simulated shop writes the world up to this day (nothing if it already has).",
            arguments=[
                "generate",
                *lake_args(),
                "--start",
                cfg.generator.start_date.isoformat(),
                "--through",
                "{{ ds }}",
                "--quiet",
            ],
        )
    else:
        arrive = LakehouseSensor(
            task_id="wait_for_bronze",
            doc_md="Waits until the day's CSVs and clickstream are in bronze (`lakehouse arrived`).",
            arguments=["arrived", *lake_args(), "{{ ds }}"],
            mode="reschedule",
            poke_interval=dt.timedelta(minutes=5),
            timeout=dt.timedelta(hours=o.sensor_timeout_hours),
        )
    silver = job("bronze_to_silver", "bronze-to-silver")
    gold = job("silver_to_gold", "silver-to-gold")
    validate = LakehouseOperator(
        task_id="validate",
        doc_md="The expectation suites on every published silver and gold table, recorded in gold.dq_results.",
        arguments=["validate", *lake_args()],
    )
    report = LakehouseOperator(
        task_id="report",
        doc_md="The day's self-contained HTML report, under <root>/reports/daily/.",
        arguments=[
            "report",
            *lake_args(),
            "--out",
            f"{cfg.root}/reports/daily/lakehouse_report_{{{{ ds }}}}.html",
        ],
    )
    arrive >> silver >> gold >> validate >> report

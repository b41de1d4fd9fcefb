"""Real JVM Spark: the jobs on classic Spark (spark-submit and the CLI), a standalone cluster and a Spark
Connect server build every table, pass every critical expectation, and give the tables the embedded
engine gives, read back with delta-rs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from lakehouse.tables import GOLD, SILVER
from tests.compare import comparable, differences
from tests.engines.conftest import VENV_BIN, Lake, Reference, run, user_env

# `jvm` runs in CI. `jvm_slow` (`pytest -m jvm_slow`): the standalone cluster, the Connect server and
# an incremental day on classic, each a whole pipeline of several minutes on the JVM, more than CI's
# time allows beside the rest. A fixture builds a whole lake before its first test runs.
jvm_slow = pytest.mark.jvm_slow
pytestmark = pytest.mark.timeout(2400)


def _ran_and_built_every_table(lake: Lake) -> None:
    for r in lake.runs:
        r.ok()
    _every_table_built_and_gated(lake.root)


def _every_table_built_and_gated(lake: Path) -> None:
    for name in SILVER:
        assert (lake / "silver" / name / "_delta_log").exists(), f"silver.{name} missing"
    for name in GOLD:
        assert (lake / "gold" / name / "_delta_log").exists(), f"gold.{name} missing"
    results = DeltaTable(str(lake / "gold" / "dq_results")).to_pandas()
    critical = results[(results["severity"] == "critical") & ~results["success"].astype(bool)]
    assert critical.empty, critical[["suite", "expectation", "observed_value"]].to_string()
    assert results["published"].astype(bool).all()


@pytest.mark.jvm
def test_classic_spark_submit_builds_every_table(classic: Lake) -> None:
    assert len(classic.runs) == 2
    _ran_and_built_every_table(classic)


@pytest.mark.jvm
def test_classic_gives_the_embedded_engines_tables(classic: Lake, reference: Reference) -> None:
    """Equal in content (every row, every column but the volatile ones above), as delta-rs reads them."""
    _assert_same({"classic": differences(classic.root, reference.first)})


@jvm_slow
def test_classic_next_day_through_the_cli_refreshes_gold_incrementally(
    classic_next_day: Lake, reference: Reference
) -> None:
    _ran_and_built_every_table(classic_next_day)
    assert "incremental" in classic_next_day.runs[-1].stdout
    _assert_same(
        {"classic (next day, incremental)": differences(classic_next_day.root, reference.next_day())}
    )


@jvm_slow
def test_standalone_cluster_lands_the_files_on_its_executors(standalone: Lake, reference: Reference) -> None:
    _ran_and_built_every_table(standalone)
    runs = DeltaTable(str(standalone.root / "silver" / "ingest_runs")).to_pandas()
    landed_by = {int(w.rsplit(":", 1)[1]) for ws in runs["landed_by"] for w in ws.split(",") if w}
    # Parsed by the Python workers of executor processes the cluster started, which run a Python
    # without the project installed (the job shipped its code to them), not by the driver.
    assert landed_by and landed_by <= standalone.landed_by_executors, (
        landed_by,
        standalone.landed_by_executors,
    )
    _assert_same({"standalone cluster": differences(standalone.root, reference.first)})


@jvm_slow
def test_spark_connect_server_builds_every_table(connect: Lake, reference: Reference) -> None:
    _ran_and_built_every_table(connect)
    _assert_same({"Spark Connect server": differences(connect.root, reference.first)})


def _assert_same(compared: dict[str, dict[str, str]]) -> None:
    for engine, diffs in compared.items():
        print(f"{engine}: {'identical to the embedded engine' if not diffs else ', '.join(diffs)}")
    assert not any(compared.values()), "\n\n".join(
        f"{engine} {table}: {what}" for engine, diffs in compared.items() for table, what in diffs.items()
    )


# The shells and maintenance work on the embedded engine's lake (JVM Spark reading and maintaining what
# Sail wrote), in a test process of their own beside the classic lake's (conftest.py).
TOOLS = pytest.mark.xdist_group("jvm-tools")


@pytest.mark.jvm
@TOOLS
def test_shells_see_every_table_and_leave_the_working_directory_clean(
    reference: Reference, tmp_path: Path
) -> None:
    """A plain pyspark shell with the README's settings, and `lakehouse shell --engine classic`, on the
    embedded engine's lake."""
    from lakehouse.core.jars import delta_maven_coordinates

    script = (
        "from lakehouse.catalog import register_tables\n"
        f"found = register_tables(spark, {str(reference.first)!r})\n"
        "print('TABLES', len(found['silver']), len(found['gold']))\n"
        "print('ROWS', spark.sql('SELECT count(*) AS n FROM gold.fact_orders').first()['n'])\n"
    )
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    pyspark = [
        str(VENV_BIN / "pyspark"), "--packages", delta_maven_coordinates(),
        "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
        "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "--conf", "spark.sql.catalogImplementation=in-memory",
        "--conf", f"spark.sql.warehouse.dir={tmp_path / 'spark-warehouse'}",
    ]  # fmt: skip
    # Fed through a pipe, Python skips the shell's startup file (which makes `spark`) unless -i.
    env = user_env(PYSPARK_DRIVER_PYTHON_OPTS="-i")
    shell = subprocess.run(
        pyspark, input=script, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert "TABLES" in shell.stdout, shell.stdout[-2000:] + shell.stderr[-3000:]
    rows = int(shell.stdout.split("ROWS", 1)[1].split()[0])
    assert rows == len(DeltaTable(str(reference.first / "gold" / "fact_orders")).to_pandas()) > 0
    lakehouse_shell = subprocess.run(
        [str(VENV_BIN / "lakehouse"), "shell", "--engine", "classic", "--root", str(reference.first)],
        input="print('ROWS', spark.sql('SELECT count(*) AS n FROM silver.orders').first()['n'])\n",
        cwd=cwd, env=user_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert "ROWS" in lakehouse_shell.stdout, lakehouse_shell.stdout[-2000:] + lakehouse_shell.stderr[-3000:]
    assert int(lakehouse_shell.stdout.split("ROWS", 1)[1].split()[0]) == len(
        DeltaTable(str(reference.first / "silver" / "orders")).to_pandas()
    )
    assert sorted(p.name for p in cwd.iterdir()) == []  # no metastore_db, derby.log or spark-warehouse


@pytest.mark.jvm
@TOOLS
def test_maintain_on_jvm_spark_compacts_and_vacuums_with_spark_sql(
    reference: Reference, tmp_path: Path
) -> None:
    import shutil

    lake = tmp_path / "lake"
    shutil.copytree(reference.first, lake)
    # A few tables (OPTIMIZE and VACUUM cost seconds a table on the JVM): the expectation results, which
    # every validated table appends to, and a partitioned one.
    tables = ["gold.dq_results", "gold.dq_scorecard", "silver.clickstream_events"]
    before = {table: comparable(lake, *table.split(".")) for table in tables}
    maintained = run(
        "lakehouse maintain --engine classic",
        [str(VENV_BIN / "lakehouse"), "maintain", *tables, "--engine", "classic", "--root", str(lake),
         "--retain-hours", "0"],
        user_env(),
    )  # fmt: skip
    maintained.ok()
    assert "spark-sql" in maintained.stdout and "deltalake" not in maintained.stdout
    for table, df in before.items():
        pd.testing.assert_frame_equal(comparable(lake, *table.split(".")), df, obj=table)
    files = lambda root: sum(  # noqa: E731
        1
        for t in tables
        for p in (root / t.replace(".", "/")).rglob("*.parquet")
        if "_delta_log" not in p.parts
    )
    assert files(lake) < files(reference.first)


@pytest.mark.jvm
@TOOLS
def test_engine_check_under_spark_submit_without_delta_says_so_in_one_line(tmp_path: Path) -> None:
    out = run(
        "spark-submit jobs/engine_check.py --engine classic (no Delta jars)",
        [str(VENV_BIN / "spark-submit"), "jobs/engine_check.py", "--engine", "classic", "--root", str(tmp_path)],
        user_env(),
    )  # fmt: skip
    assert out.returncode == 2
    # spark-submit merges a Python driver's stderr into its stdout (Spark's PythonRunner does that).
    output = out.stdout + out.stderr
    ours = [line for line in output.splitlines() if line.startswith("engine_check:")]
    assert len(ours) == 1 and "Delta Lake" in ours[0] and "--packages" in ours[0], output[-3000:]
    assert "Traceback" not in output

"""Spark sessions for the three engines (see ../shared/ENGINE-NOTES.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lakehouse.core import engines
from lakehouse.core.config import Config, load_config
from lakehouse.core.delta import STAGING_ROW_GROUP_ROWS, materialize, read_table, write_table
from lakehouse.core.engines import (
    DELTA_CATALOG,
    DELTA_EXTENSION,
    DeltaUnavailableError,
    EngineError,
    classic_spark_conf,
    remote_url,
    resolve_engine,
)
from lakehouse.core.jars import delta_maven_coordinates

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "LAKEHOUSE_ENGINE", "MASTER")}
    # spark-submit finds pyspark (and its Python) through PATH, as in an activated virtual environment.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYSPARK_PYTHON"] = sys.executable
    return env | extra


def _check(cmd: list[str], env: dict[str, str], timeout: int = 240) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_embedded_session_runs_sql_and_delta(spark: object, cfg: Config) -> None:
    from pyspark.sql.connect.session import SparkSession

    assert isinstance(spark, SparkSession)
    uri = f"{cfg.root}/session_probe"
    write_table(spark.range(5).selectExpr("id", "id * 2 AS twice"), uri, mode="overwrite")  # type: ignore[attr-defined]
    write_table(spark.range(5, 7).selectExpr("id", "id * 2 AS twice"), uri)  # type: ignore[attr-defined]
    assert read_table(spark, uri).count() == 7  # type: ignore[arg-type]
    assert read_table(spark, uri, version=0).count() == 5  # type: ignore[arg-type]
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"  # type: ignore[attr-defined]
    # Plain execution, not reattachable (see get_spark): no ReattachExecute or ReleaseExecute calls.
    assert spark.client._use_reattachable_execute is False  # type: ignore[attr-defined]


def test_an_overwrite_gives_the_table_the_new_columns(spark: Any, tmp_path: Path) -> None:
    """A table rebuilt whole takes the columns of the version that rebuilt it (added, dropped, retyped),
    also from a DataFrame read from Parquet, as gold's staged tables are."""
    uri = str(tmp_path / "t")
    write_table(spark.range(2).selectExpr("id", "id AS old"), uri, mode="overwrite")
    staged = materialize(
        spark,
        spark.range(3).selectExpr("id", "CAST(id AS STRING) AS old", "id + 1 AS new"),
        str(tmp_path / "s"),
    )
    write_table(staged, uri, mode="overwrite")
    assert read_table(spark, uri).dtypes == [("id", "bigint"), ("old", "string"), ("new", "bigint")]
    write_table(spark.range(1).selectExpr("id"), uri, mode="overwrite")
    assert read_table(spark, uri).columns == ["id"]


def test_local_staging_is_written_uncompressed_and_read_back_whole(spark: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    df = spark.createDataFrame([(i, f"value {i}") for i in range(200)], "id long, v string")
    back = materialize(spark, df, str(tmp_path / "stage"))
    assert sorted(back.collect()) == sorted(df.collect())
    files = list((tmp_path / "stage").glob("*.parquet"))
    metadata = [pq.ParquetFile(f).metadata for f in files]
    codecs = {
        m.row_group(g).column(c).compression
        for m in metadata
        for g in range(m.num_row_groups)
        for c in range(2)
    }
    assert files and codecs == {"UNCOMPRESSED"}


def test_staging_is_written_in_bounded_row_groups(spark: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rows = 8 * STAGING_ROW_GROUP_ROWS + 10  # more than a file holds in one group by default
    back = materialize(spark, spark.range(rows), str(tmp_path / "stage"))
    assert back.count() == rows
    metadata = [pq.ParquetFile(f).metadata for f in (tmp_path / "stage").glob("*.parquet")]
    sizes = [m.row_group(g).num_rows for m in metadata for g in range(m.num_row_groups)]
    assert sum(sizes) == rows and max(sizes) <= STAGING_ROW_GROUP_ROWS


def test_auto_means_remote_with_spark_remote_and_classic_under_spark_submit() -> None:
    cfg = load_config(env={})
    assert resolve_engine(cfg, {}) == "embedded"
    assert resolve_engine(cfg, {"SPARK_REMOTE": "sc://h:1"}) == "remote"
    assert resolve_engine(cfg, {"PYSPARK_GATEWAY_PORT": "40001"}) == "classic"  # the cluster submitted to
    assert resolve_engine(cfg, {"PYSPARK_GATEWAY_PORT": "40001", "SPARK_REMOTE": "sc://h:1"}) == "remote"
    assert remote_url(cfg, {"SPARK_REMOTE": "sc://h:1"}) == "sc://h:1"
    with pytest.raises(EngineError, match=r"engine\.remote_url .* SPARK_REMOTE"):
        remote_url(cfg, {})


def test_embedded_engine_under_spark_submit(tmp_path: Path) -> None:
    cmd = [str(BIN / "spark-submit"), "jobs/engine_check.py", "--root", str(tmp_path), "--engine", "embedded"]
    result = _check(cmd, _env())
    assert result["engine"] == "embedded" and result["session_class"].endswith("connect.session.SparkSession")
    assert (result["delta_rows_now"], result["delta_rows_version_0"]) == (1010, 1000)


def test_embedded_local_cluster_mode(tmp_path: Path) -> None:
    conf = tmp_path / "conf" / "lc.yaml"
    conf.parent.mkdir()
    conf.write_text("engine:\n  mode: embedded\n  embedded:\n    sail_mode: local-cluster\n")
    result = _check(
        [sys.executable, "jobs/engine_check.py", "--conf", str(conf), "--root", str(tmp_path / "lake")],
        _env(),
    )
    assert result["sql_ok"] and result["delta_rows_now"] == 1010


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remote_engine_connects_to_a_separately_started_sail_server(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "sail"), "spark", "server", "--ip", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        env = _env(SPARK_REMOTE=f"sc://127.0.0.1:{port}")
        result = _check([sys.executable, "jobs/engine_check.py", "--root", str(tmp_path)], env)
        assert result["engine"] == "remote" and result["delta_rows_now"] == 1010
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_remote_engine_that_is_not_there_fails_with_one_clear_line(tmp_path: Path) -> None:
    env = _env(SPARK_REMOTE=f"sc://127.0.0.1:{_free_port()}")
    out = subprocess.run(
        [str(BIN / "lakehouse"), "engine-check", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith(
        "lakehouse engine-check: could not connect to Spark Connect at sc://127.0.0.1:"
    )


def _classic(tmp_path: Path, text: str = "") -> Config:
    conf = tmp_path / "conf" / "classic.yaml"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text("engine:\n  mode: classic\n" + text)
    return load_config(conf, env={})


def test_classic_conf_uses_maven_coordinates_matching_delta_spark(tmp_path: Path) -> None:
    conf = classic_spark_conf(_classic(tmp_path), {}, delta_version="4.0.1")
    assert conf["spark.sql.extensions"] == DELTA_EXTENSION
    assert conf["spark.sql.catalog.spark_catalog"] == DELTA_CATALOG
    assert conf["spark.jars.packages"] == "io.delta:delta-spark_2.13:4.0.1"
    from importlib.metadata import version

    assert delta_maven_coordinates() == f"io.delta:delta-spark_2.13:{version('delta-spark')}"


def test_classic_conf_keeps_delta_supplied_by_spark_submit(tmp_path: Path) -> None:
    existing = {"spark.jars.packages": "io.delta:delta-spark_2.13:4.0.0"}
    conf = classic_spark_conf(_classic(tmp_path), existing)
    assert "spark.jars.packages" not in conf and "spark.jars" not in conf
    conf = classic_spark_conf(_classic(tmp_path), {"spark.jars": "/opt/jars/delta-spark_2.13-4.0.0.jar"})
    assert "spark.jars.packages" not in conf


def test_the_way_of_providing_delta_that_was_tried_is_named() -> None:
    from lakehouse.core.engines import jars_tried

    assert (
        jars_tried({"spark.jars": "/j/delta-spark.jar"}, {})
        == "tried the jars of engine.classic.delta_jars_dir (/j/delta-spark.jar)"
    )
    assert jars_tried({"spark.jars.packages": "io.delta:x:1"}, {}).startswith(
        "tried Maven coordinates io.delta:x:1"
    )
    assert (
        jars_tried({}, {"spark.jars": "/opt/d.jar"})
        == "tried what the launch supplied (spark.jars=/opt/d.jar)"
    )


def test_classic_conf_takes_jars_from_a_directory_and_extra_settings(tmp_path: Path) -> None:
    jars = tmp_path / "jars"
    jars.mkdir()
    for name in ("delta-spark_2.13-4.0.1.jar", "delta-storage-4.0.1.jar"):
        (jars / name).write_bytes(b"")
    cfg = _classic(
        tmp_path,
        f"  classic:\n    delta_jars_dir: {jars}\n    spark_conf:\n      spark.sql.shuffle.partitions: '4'\n",
    )
    conf = classic_spark_conf(cfg, {})
    assert conf["spark.jars"].split(",") == [
        str(jars / "delta-spark_2.13-4.0.1.jar"),
        str(jars / "delta-storage-4.0.1.jar"),
    ]
    assert conf["spark.sql.shuffle.partitions"] == "4" and "spark.jars.packages" not in conf


def test_classic_with_an_empty_jars_directory_names_the_ways_to_provide_delta(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cfg = _classic(tmp_path, f"  classic:\n    delta_jars_dir: {tmp_path / 'empty'}\n")
    with pytest.raises(DeltaUnavailableError) as info:
        classic_spark_conf(cfg, {})
    message = str(info.value)
    for way in (
        "spark-submit --packages io.delta:delta-spark_2.13:",
        "--jars",
        "delta_jars_dir",
        "--engine embedded",
    ):
        assert way in message


def test_classic_session_whose_delta_jars_cannot_be_resolved_fails_in_one_line(tmp_path: Path) -> None:
    """Delta coordinates Ivy cannot resolve: one line naming Ivy's answer and the ways to provide the
    jars, and the JVM's own output (Ivy's report, stack traces) in a log file, not on the console.
    A Connect flag inherited from a parent with a Connect session (pytest's own) does not matter."""
    cfg = tmp_path / "conf" / "classic.yaml"
    _classic(
        tmp_path,
        "  classic:\n    master: local[1]\n    delta_packages: io.delta:delta-nonexistent_2.13:0.0.1\n",
    )
    out = subprocess.run(
        [str(BIN / "lakehouse"), "engine-check", "--conf", str(cfg), "--root", str(tmp_path / "lake")],
        capture_output=True, text=True, env=_env(SPARK_CONNECT_MODE_ENABLED="1"), timeout=240,
    )  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr[-3000:]
    assert lines[0].startswith("lakehouse engine-check: the classic Spark session could not start")
    assert "unresolved dependency: io.delta#delta-nonexistent_2.13;0.0.1" in lines[0]
    assert "tried Maven coordinates io.delta:delta-nonexistent_2.13:0.0.1 (spark.jars.packages" in lines[0]
    for way in ("--packages", "--jars", "delta_jars_dir", "lakehouse fetch-jars", "--engine embedded"):
        assert way in lines[0]
    assert "::::" not in out.stdout and "Exception in thread" not in out.stdout


IDLE = """
import sys, time
from lakehouse.core import engines
from lakehouse.core.config import load_config
if sys.argv[1] != "default":
    engines.EMBEDDED_SESSION_TIMEOUT = int(sys.argv[1])
spark = engines.get_spark(load_config(env={}))
spark.range(1).count()
time.sleep(4)
print("alive" if spark.range(2).count() == 2 else "wrong")
"""


def test_an_idle_embedded_session_does_not_expire() -> None:
    """Sail ends a session after a while without requests; the embedded engine's own server is set so
    that it never does in practice (a 2-second setting shows the setting is what decides)."""
    env = {k: v for k, v in os.environ.items() if k != "SAIL_SPARK__SESSION_TIMEOUT_SECS"}
    kept = subprocess.run(
        [sys.executable, "-c", IDLE, "default"], env=env, capture_output=True, text=True, cwd=REPO
    )
    assert kept.stdout.strip().endswith("alive"), kept.stderr[-2000:]
    short = subprocess.run(
        [sys.executable, "-c", IDLE, "2"], env=env, capture_output=True, text=True, cwd=REPO
    )
    assert short.returncode != 0 and "is not running" in short.stderr
    assert engines.EMBEDDED_SESSION_TIMEOUT >= 7 * 24 * 3600

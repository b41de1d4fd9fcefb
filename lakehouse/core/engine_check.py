"""`lakehouse engine-check` and `jobs/engine_check.py`: prove the configured engine can run the pipeline's
building blocks (SQL, a Delta write, a versioned read back) and say how long it took."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from lakehouse.core import storage
from lakehouse.core.config import ConfigError, load_config
from lakehouse.core.delta import read_table, write_table
from lakehouse.core.engines import EngineError, get_spark, resolve_engine, stop_spark


def run_check(root: str | None = None, conf: str | None = None, engine: str | None = None) -> dict[str, Any]:
    cfg = load_config(conf, root=root, engine=engine)
    started = time.perf_counter()
    spark = get_spark(cfg, "lakehouse-engine-check")
    session_seconds = time.perf_counter() - started
    probe = storage.join(cfg.root, "_engine_check")
    try:
        uri = storage.join(probe, "delta_probe")
        df = spark.range(1000).selectExpr("id", "id % 7 AS bucket", "xxhash64(id) AS digest")
        write_table(df, uri, mode="overwrite")
        write_table(df.limit(10), uri, mode="append")
        now, first = read_table(spark, uri).count(), read_table(spark, uri, version=0).count()
        buckets = spark.sql("SELECT count(DISTINCT id % 7) AS n FROM range(100)").first()["n"]
    finally:
        stop_spark()
        storage.delete_tree(probe)
    return {
        "engine": resolve_engine(cfg),
        "session_class": f"{type(spark).__module__}.{type(spark).__name__}",
        "session_seconds": round(session_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "delta_rows_now": now,
        "delta_rows_version_0": first,
        "sql_ok": buckets == 7,
        "root": cfg.root,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="engine_check", description=__doc__)
    p.add_argument("--root")
    p.add_argument("--conf")
    p.add_argument("--engine", choices=["auto", "embedded", "remote", "classic"])
    args = p.parse_args(argv)
    try:
        result = run_check(args.root, args.conf, args.engine)
    except (ConfigError, EngineError) as exc:
        print(f"engine_check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    ok = result["sql_ok"] and result["delta_rows_now"] == 1010 and result["delta_rows_version_0"] == 1000
    return 0 if ok else 1

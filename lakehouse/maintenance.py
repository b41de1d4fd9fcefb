"""`lakehouse maintain`: compact small files and vacuum old versions of every silver and gold table.

Incremental runs add small files (each run appends to the clickstream's day partitions, MERGE rewrites
a few files) and every gold rebuild leaves the previous version's files behind. Maintenance rewrites the
small files into larger ones and removes the files no version inside the retention needs. On JVM Spark
it is Spark SQL's OPTIMIZE and VACUUM; Sail's SQL has neither, so there (and on a remote server that
refuses them) delta-rs does the same from Python, on the same storage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lakehouse.core.config import Config, ConfigError
from lakehouse.core.delta import Maintained, maintain_table, table_exists
from lakehouse.core.engines import resolve_engine
from lakehouse.core.log import one_line
from lakehouse.tables import lake_tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DEFAULT_RETAIN_HOURS = 168  # Delta Lake's own default: seven days of time travel


def check_table_names(root: str, tables: list[str]) -> None:
    known = {f"{layer}.{name}" for layer, name, _ in lake_tables(root)}
    if unknown := sorted(set(tables) - known):
        raise ConfigError(
            f"no such table: {', '.join(unknown)}; tables are named layer.name, e.g. silver.orders"
        )


def maintain(
    spark: SparkSession | None,
    cfg: Config,
    retain_hours: int = DEFAULT_RETAIN_HOURS,
    progress: Callable[[str, Maintained], None] | None = None,
    tables: list[str] | None = None,
) -> list[tuple[str, Maintained]]:
    """Maintain every table present under the root, or only `tables` (`layer.name`); returns each
    table's outcome in registry order. `spark` may be None for the embedded engine, which needs no
    session for this (delta-rs does it)."""
    engine = resolve_engine(cfg)
    use_sql = engine == "classic" or (engine == "remote" and spark is not None)
    check_table_names(cfg.root, tables or [])
    out = []
    for layer, name, uri in lake_tables(cfg.root):
        if (tables and f"{layer}.{name}" not in tables) or not table_exists(uri):
            continue
        started = time.perf_counter()
        try:
            done = maintain_table(spark, uri, retain_hours, use_sql)
        except Exception as exc:
            if not use_sql or engine != "remote":
                raise
            # A Spark Connect server without OPTIMIZE (a Sail cluster): delta-rs from here on.
            log.info("the remote engine refused OPTIMIZE/VACUUM (%s): using delta-rs", one_line(str(exc)))
            use_sql = False
            done = maintain_table(None, uri, retain_hours, use_sql)
        log.info("%s.%s maintained in %.1f s: %s", layer, name, time.perf_counter() - started, done)
        out.append((f"{layer}.{name}", done))
        if progress:
            progress(f"{layer}.{name}", done)
    return out

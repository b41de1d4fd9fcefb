"""All Delta Lake I/O in one place, using only what the embedded (Sail), remote and classic engines share:
the DataFrame reader/writer with format("delta") and SQL MERGE INTO. No delta-spark Python API.
Also the jobs' Parquet staging (`materialize`), the one other table I/O they do."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse.core import storage

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


# Rows per row group of staging Parquet. Sail's writer buffers a whole row group (up to a million rows
# by default) in buffers that grow by copying into fresh memory, which the kernel pages in and zeroes
# every time. Smaller groups cut writing the typed clickstream from 8-12 CPU-s (3-7 of them in the
# kernel) to about 6. Engines that do not know the option ignore it.
STAGING_ROW_GROUP_ROWS = 131_072


def materialize(spark: SparkSession, df: DataFrame | Sequence[DataFrame], uri: str) -> DataFrame:
    """Write a DataFrame to Parquet at `uri` and read it back: the engines do not cache, so a result
    used several times is computed once this way (the jobs' staging areas). Read back with the
    DataFrame's schema: an engine may write no file at all for no rows. Given parts (DataFrames of
    one schema), they are computed and written one after another, so only one is in memory at a time."""
    parts = [df] if not isinstance(df, Sequence) else list(df)
    for i, part in enumerate(parts):
        writer = part.write.mode("overwrite" if i == 0 else "append")
        writer = writer.option("max_row_group_size", str(STAGING_ROW_GROUP_ROWS))
        if codec := storage.staging_compression(uri):
            writer = writer.option("compression", codec)
        writer.parquet(storage.spark_path(uri))
    return spark.read.schema(parts[0].schema).parquet(storage.spark_path(uri))


def sql_path(uri: str) -> str:
    """A table's location as a SQL identifier: delta.`path`, backticks in the path doubled."""
    return "delta.`" + storage.spark_path(uri).replace("`", "``") + "`"


def sql_string(text: str) -> str:
    """A SQL string literal (Spark and Sail escape with backslashes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_exists(uri: str) -> bool:
    return storage.exists(storage.join(uri, "_delta_log"))


def table_version(uri: str) -> int | None:
    """The latest committed version of a Delta table, from its log (no engine needed); None if absent."""
    log = storage.join(uri, "_delta_log")
    versions = [
        int(f.rsplit("/", 1)[-1][:20])
        for f in storage.list_files(log)
        if f.endswith(".json") and f.rsplit("/", 1)[-1][:20].isdigit()
    ]
    return max(versions) if versions else None


def write_table(df: DataFrame, uri: str, mode: str = "append", partition_by: Sequence[str] = ()) -> None:
    """Append (new columns are added to the table), or overwrite: the table then takes the DataFrame's
    schema too, so a table rebuilt whole has this version's columns (without the option, Sail may keep
    the old schema and silently drop a new column)."""
    writer = df.write.format("delta").mode(mode)
    if mode == "append":
        writer = writer.option("mergeSchema", "true")
    elif mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(storage.spark_path(uri))


def read_table(spark: SparkSession, uri: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(storage.spark_path(uri))


def read_rows(uri: str, columns: Sequence[str]) -> pd.DataFrame | None:
    """A small table's rows on the driver, read with delta-rs (no engine job: a JVM engine pays a second
    or more for each, whatever the size): the jobs' bookkeeping, such as the ledger and the build log.
    None when there is no table; a column the table lacks (written by an earlier version) is null."""
    from deltalake import DeltaTable

    if not table_exists(uri):
        return None
    table = DeltaTable(storage.spark_path(uri))
    present = set(table.schema().to_arrow().names)
    rows = table.to_pandas(columns=[c for c in columns if c in present])
    return rows.assign(**{c: None for c in columns if c not in present})[list(columns)]


def is_empty(df: DataFrame, has_rows: bool | None = None) -> bool:
    """Whether there is nothing to write; `has_rows` is what the caller already knows (each question
    is a query, which costs a JVM engine far more than Sail)."""
    return df.limit(1).count() == 0 if has_rows is None else not has_rows


def _merge(spark: SparkSession, rows: DataFrame, uri: str, on: str, clauses: str) -> None:
    view = f"_merge_src_{uuid.uuid4().hex[:12]}"
    rows.createOrReplaceTempView(view)
    try:
        spark.sql(f"MERGE INTO {sql_path(uri)} AS t USING {view} AS s ON {on} {clauses}")
    finally:
        spark.catalog.dropTempView(view)


def _on(key: Sequence[str]) -> str:
    return " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in key)  # null-safe: a key part may be null


def merge_insert_new(
    spark: SparkSession,
    rows: DataFrame,
    uri: str,
    key: Sequence[str],
    partition_by: Sequence[str] = (),
    has_rows: bool | None = None,
) -> None:
    """Insert the rows whose key is not in the table yet (creating the table on first use). No rows, no commit."""
    if is_empty(rows, has_rows):
        return
    if not table_exists(uri):
        write_table(rows, uri, "append", partition_by)
        return
    _merge(spark, rows, uri, _on(key), "WHEN NOT MATCHED THEN INSERT *")


def append_rows(
    rows: DataFrame, uri: str, partition_by: Sequence[str] = (), has_rows: bool | None = None
) -> None:
    """Append (creating the table on first use); no rows, no commit."""
    if not is_empty(rows, has_rows):
        write_table(rows, uri, "append", partition_by)


def merge_latest(
    spark: SparkSession,
    rows: DataFrame,
    uri: str,
    key: Sequence[str],
    version: str,
    partition_by: Sequence[str] = (),
    has_rows: bool | None = None,
) -> None:
    """Upsert: a row replaces the table's row of the same key when its `version` is newer (on a tie,
    when it comes from a later file, or from the same file exported again: a correction). Rows must be
    unique by key."""
    if is_empty(rows, has_rows):
        return
    if not table_exists(uri):
        write_table(rows, uri, "append", partition_by)
        return
    newer = f"s.`{version}` > t.`{version}`"
    if "_source_file" in rows.columns:
        newer = f"({newer} OR (s.`{version}` = t.`{version}` AND s.`_source_file` >= t.`_source_file`))"
    _merge(
        spark,
        rows,
        uri,
        _on(key),
        f"WHEN MATCHED AND {newer} THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    )


def merge_upsert(
    spark: SparkSession, rows: DataFrame, uri: str, key: Sequence[str], has_rows: bool | None = None
) -> None:
    """Replace the table's rows of these keys and insert the new ones (creating the table on first use).
    Rows must be unique by key. No rows, no commit."""
    if is_empty(rows, has_rows):
        return
    if not table_exists(uri):
        write_table(rows, uri, "append")
        return
    _merge(spark, rows, uri, _on(key), "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")


def update_matched(
    spark: SparkSession,
    rows: DataFrame,
    uri: str,
    key: Sequence[str],
    assignments: Mapping[str, str],
    condition: str | None = None,
) -> None:
    """Set columns (SQL expressions) of the table's rows whose key `rows` holds, where `condition` (on
    `t`) holds; nothing is inserted."""
    if not table_exists(uri):
        return
    sets = ", ".join(f"t.`{c}` = {expr}" for c, expr in assignments.items())
    when = f"WHEN MATCHED AND {condition}" if condition else "WHEN MATCHED"
    _merge(spark, rows, uri, _on(key), f"{when} THEN UPDATE SET {sets}")


def add_missing_columns(spark: SparkSession, uri: str, columns: Mapping[str, str]) -> None:
    """Give a table written by an earlier version the columns it lacks (null in its rows): an empty
    append that only changes the schema."""
    from deltalake import DeltaTable

    if not table_exists(uri):
        return
    present = set(DeltaTable(storage.spark_path(uri)).schema().to_arrow().names)  # from the log: no engine
    missing = {c: t for c, t in columns.items() if c not in present}
    if missing:
        from pyspark.sql import functions as F

        table = read_table(spark, uri).limit(0)
        write_table(table.withColumns({c: F.lit(None).cast(t) for c, t in missing.items()}), uri)


def row_count(spark: SparkSession, uri: str) -> int:
    """Rows in the latest version of a table, from the row counts its log records for each data file
    (no engine job); counted by the engine when the log does not say (no statistics, deletion vectors)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    if not table_exists(uri):
        return 0
    table = DeltaTable(storage.spark_path(uri))
    if "deletionVectors" in (table.protocol().reader_features or []):
        return read_table(spark, uri).count()
    counts = pa.table(table.get_add_actions(flatten=True)).column("num_records")
    if counts.null_count:
        return read_table(spark, uri).count()
    return int(pa.compute.sum(counts).as_py() or 0)


@dataclass(frozen=True)
class Maintained:
    """What maintaining one table did."""

    uri: str
    files_before: int
    bytes_before: int
    files_after: int
    bytes_after: int
    files_compacted: int
    files_vacuumed: int
    how: str  # spark-sql | deltalake


def maintain_table(spark: SparkSession | None, uri: str, retain_hours: float, use_sql: bool) -> Maintained:
    """Compact small files and remove files no version within `retain_hours` needs: with Spark SQL's
    OPTIMIZE and VACUUM where the engine has them (JVM Spark with delta-spark), otherwise with
    delta-rs (Sail's SQL has neither). Content and readers are unchanged; versions older than the
    retention can no longer be read (time travel within it still works)."""
    from deltalake import DeltaTable

    files_before, bytes_before = _data_files(uri)
    path = storage.spark_path(uri)
    if use_sql and spark is not None:
        compacted = spark.sql(f"OPTIMIZE {sql_path(uri)}").first()
        removed = int(compacted["metrics"]["numFilesRemoved"]) if compacted is not None else 0
        middle = _data_files(uri)[0]
        # VACUUM refuses a retention under the table's (7 days by default) unless this check is off.
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        spark.sql(f"VACUUM {sql_path(uri)} RETAIN {retain_hours} HOURS")
        how = "spark-sql"
    else:
        removed = int(DeltaTable(path).optimize.compact().get("numFilesRemoved", 0))
        middle = _data_files(uri)[0]
        table = DeltaTable(path)
        table.vacuum(retention_hours=math.ceil(retain_hours), dry_run=False, enforce_retention_duration=False)
        table.create_checkpoint()  # later reads start from it instead of replaying every commit
        how = "deltalake"
    files_after, bytes_after = _data_files(uri)
    return Maintained(
        uri, files_before, bytes_before, files_after, bytes_after, removed, middle - files_after, how
    )


def _data_files(uri: str) -> tuple[int, int]:
    """Data files under a table's directory (every version's, the log excluded) and their bytes."""
    infos = [
        (u, size)
        for u, size, _ in storage.file_infos(uri)
        if "/_delta_log/" not in u and u.endswith(".parquet")
    ]
    return len(infos), sum(size for _, size in infos)

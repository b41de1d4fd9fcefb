"""All Delta Lake I/O in one place, using only what the embedded (Sail), remote and classic engines share:
DataFrame reader/writer with format("delta") and SQL MERGE INTO. No delta-spark Python API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def write_table(df: DataFrame, uri: str, mode: str = "append", partition_by: Sequence[str] = ()) -> None:
    writer = df.write.format("delta").mode(mode)
    if mode == "append":
        writer = writer.option("mergeSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(_path(uri))


def read_table(spark: SparkSession, uri: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(_path(uri))

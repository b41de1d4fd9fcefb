"""Reading bronze files through Spark, with every column as text (typing is silver's job)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pandas as pd

from lakehouse.bronze.contract import SOURCES
from lakehouse.core import storage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def source_uri(root: str, source: str) -> str:
    return storage.join(root, "bronze", SOURCES[source].folder)


def source_files(root: str, source: str) -> list[str]:
    suffix = {"csv": ".csv", "jsonl": ".jsonl", "xlsx": ".xlsx"}[SOURCES[source].format]
    return [f for f in storage.list_files(source_uri(root, source)) if f.endswith(suffix)]


def read_csv_text(spark: SparkSession, files: list[str]) -> DataFrame:
    """CSV rows with the header's column names, all strings, no type inference."""
    return (
        spark.read.option("header", True).option("inferSchema", False).option("mode", "PERMISSIVE").csv(files)
    )


def read_lines(spark: SparkSession, files: list[str]) -> DataFrame:
    """One row per line (`value`), so a malformed JSON line cannot fail the read."""
    return spark.read.text(files)


def read_xlsx(spark: SparkSession, uri: str) -> DataFrame:
    """All sheets of a workbook as one DataFrame of strings, with the sheet name in `_sheet`."""
    from pyspark.sql.types import StringType, StructField, StructType

    sheets = pd.read_excel(
        io.BytesIO(storage.read_bytes(uri)),
        sheet_name=None,
        dtype=str,
        engine="openpyxl",
        keep_default_na=False,
    )
    frames = [df.assign(_sheet=name) for name, df in sheets.items()]
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    schema = StructType([StructField(str(c), StringType()) for c in data.columns])
    records = data.astype(object).where(data.notna(), None).values.tolist()
    return spark.createDataFrame(records, schema)

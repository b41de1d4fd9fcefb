"""lakehouse.core.delta: what it reads without the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakehouse.core.delta import read_rows, row_count, write_table


def test_read_rows_gives_a_small_tables_rows_without_the_engine(spark: Any, tmp_path: Path) -> None:
    uri = str(tmp_path / "ledger")
    assert read_rows(uri, ("path",)) is None, "no table, no rows"
    rows = [("a.csv", 10), ("b.csv", 20)]
    write_table(spark.createDataFrame(rows, "path string, size bigint"), uri)
    # A column the table does not have (written by an earlier version) comes back null, in the order asked.
    got = read_rows(uri, ("size", "modified", "path"))
    assert got is not None and list(got.columns) == ["size", "modified", "path"]
    assert sorted(zip(got["path"], got["size"], strict=True)) == rows and got["modified"].isna().all()
    assert row_count(spark, uri) == 2

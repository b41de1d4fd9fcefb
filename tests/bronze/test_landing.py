"""Bronze files to raw records: each parser on tiny files, and landing by worker processes and by the
engine's own tasks giving the same records and file results."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakehouse.bronze.contract import CLICKSTREAM, ORDER_ITEMS
from lakehouse.bronze.landing import (
    BronzeFile,
    FileRejected,
    balanced_parts,
    land,
    land_csv,
    land_jsonl,
    land_on_engine,
    land_source,
    landing_pool,
    start_landing,
)


def _file(tmp_path: Path, name: str, data: bytes, source: str) -> BronzeFile:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return BronzeFile(source, name, str(p), len(data), None)


def test_landing_csv_keeps_addresses_and_raw_lines(tmp_path: Path) -> None:
    data = b"order_item_id,order_id,product_id,quantity,item_price\n1,100001,3,1,9.99\n\n2,100001,4,1\n"
    t = land_csv(ORDER_ITEMS, _file(tmp_path, "i.csv", data, "order_items"), data).to_pylist()
    assert [(r["_row"], r["_shape_ok"], r["_raw"]) for r in t] == [
        (1, True, "1,100001,3,1,9.99"),
        (3, False, "2,100001,4,1"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"\n\n", "empty file"),
        (b"\x00\x01binary", "binary content"),
        (b"\xff\xfe bad utf8\n", "not UTF-8"),
        (b"id,order_item_id,order_id,product_id,quantity,item_price\n", "unexpected header"),
    ],
)
def test_landing_rejects_unreadable_csv_files(tmp_path: Path, data: bytes, reason: str) -> None:
    table, result = land(_file(tmp_path, "x.csv", data, "order_items"))
    assert table is None and result.status == "rejected" and result.reason.startswith(reason)


def test_landing_jsonl_numbers_lines_and_survives_bad_bytes(tmp_path: Path) -> None:
    data = b'{"a":1}\n\n{"b":\xff}\n \t\r\n{"c":3}\r\n\x0b\n{"d": "\xc3\xa9"}'
    t = land_jsonl(CLICKSTREAM, _file(tmp_path, "e.jsonl", data, "clickstream"), data).to_pylist()
    assert [(r["_row"], r["_raw"]) for r in t] == [
        (1, '{"a":1}'), (3, '{"b":\ufffd}'), (5, '{"c":3}\r'), (7, '{"d": "\u00e9"}'),
    ]  # fmt: skip
    lines = data.split(b"\n")  # what the line numbers mean: every line counts, blank ones are skipped
    assert [r["_row"] for r in t] == [i for i, line in enumerate(lines, start=1) if line.strip()]
    assert {r["_file_date"] for r in t} == {None}  # no date in the path
    dated = "clickstream/date=2026-01-02/hour=01/e.jsonl"
    t = land_jsonl(CLICKSTREAM, _file(tmp_path, dated, data, "clickstream"), data).to_pylist()
    assert {r["_file_date"] for r in t} == {dt.date(2026, 1, 2)}  # what the event window judges by
    with pytest.raises(FileRejected):
        land_jsonl(CLICKSTREAM, _file(tmp_path, "z.jsonl", b"", "clickstream"), b"")


def test_landing_rejects_a_workbook_that_is_not_one(tmp_path: Path) -> None:
    table, result = land(_file(tmp_path, "inventory_2026-W01.xlsx", b"name,value\n1,2\n", "inventory"))
    assert table is None and result.status == "rejected" and result.reason.startswith("not an XLSX workbook")


@pytest.mark.parametrize("workers", ["threads", "processes"])
def test_many_files_are_landed_in_two_parts_into_the_same_records(tmp_path: Path, workers: str) -> None:
    files = []
    for i in range(120):
        data = b"".join(b'{"event_id":"e%d-%d"}\n' % (i, j) for j in range(i % 7)) + (b"\n" if i % 3 else b"")
        files.append(
            _file(tmp_path, f"clickstream/date=2026-01-01/hour=00/f{i:03d}.jsonl", data, "clickstream")
        )
    files.append(_file(tmp_path, "clickstream/date=2026-01-01/hour=00/empty.jsonl", b"", "clickstream"))
    if workers == "threads":
        landing = land_source("clickstream", files, str(tmp_path / "staging"))
    else:  # as the job does it
        with landing_pool() as pool:
            landing = start_landing(pool, "clickstream", files, str(tmp_path / "staging"))()
    assert len(list((tmp_path / "staging" / "clickstream.raw").glob("part-*.parquet"))) == 2
    assert [lf.file.path for lf in landing.files] == [f.path for f in files]  # in the order given
    assert [lf.status for lf in landing.files].count("rejected") == 1 + sum(i % 7 == 0 for i in range(120))
    raw = pq.read_table(tmp_path / "staging" / "clickstream.raw").to_pylist()
    expected = [
        (f.path, j + 1, f'{{"event_id":"e{i}-{j}"}}') for i, f in enumerate(files[:-1]) for j in range(i % 7)
    ]
    assert sorted((r["_file"], r["_row"], r["_raw"]) for r in raw) == sorted(expected)
    assert landing.rows == len(expected) == sum(lf.rows for lf in landing.files)
    for lf, f in zip(landing.files, files, strict=True):
        assert lf.sha256 == hashlib.sha256(Path(f.uri).read_bytes()).hexdigest()


def test_balanced_parts_split_by_bytes_largest_first() -> None:
    files = [
        BronzeFile("clickstream", f"f{i}", f"/x/f{i}", size, None)
        for i, size in enumerate([90, 10, 40, 40, 20])
    ]
    parts = balanced_parts(files, 2)
    assert sorted(sum(f.size for f in p) for p in parts) == [100, 100]
    assert sorted(f.path for p in parts for f in p) == sorted(f.path for f in files)  # each file once
    assert len(balanced_parts(files, 9)) == 5  # never an empty part
    assert balanced_parts([], 3) == []


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path.read_bytes()


def _mixed_files(tmp_path: Path) -> dict[str, list[BronzeFile]]:
    """One source per format, each with good files, a file with bad rows and a file rejected whole."""
    from lakehouse.bronze.contract import SOURCES

    items = "order_item_id,order_id,product_id,quantity,item_price\n"
    inventory = list(SOURCES["inventory"].column_names)
    stock = [
        inventory,
        *[[f"2026-01-0{d}" if c == "snapshot_date" else str(d) for c in inventory] for d in (4, 5)],
    ]
    book = _workbook(tmp_path / "book.xlsx", {"WH-01": stock, "WH-02": [["wrong", "header"], [1, 2]]})
    files = {
        "order_items": [
            ("order_items/order_items_2026-01-01.csv", (items + "1,100001,3,1,9.99\n2,100001,4,2,5.00\n").encode()),
            ("order_items/order_items_2026-01-02.csv", (items + '3,100002,5,1\n"4",100002,6,1,"1,5"\n\n').encode()),
            ("order_items/order_items_2026-01-03.csv", b"id,something\n1,2\n"),
        ],
        "clickstream": [
            (f"clickstream/date=2026-01-01/hour={h:02d}/events_2026-01-01T{h:02d}.jsonl",
             b"".join(b'{"event_id":"e%d-%d"}\n' % (h, j) for j in range(h % 4)) + b'{"bad":\xff}\n')
            for h in range(7)
        ] + [("clickstream/date=2026-01-01/hour=23/empty.jsonl", b"")],
        "inventory": [
            ("inventory/inventory_2026-W01.xlsx", book),
            ("inventory/inventory_2026-W02.xlsx", b"not a workbook"),
        ],
    }  # fmt: skip
    out = {}
    for source, named in files.items():
        out[source] = []
        for name, data in named:
            p = tmp_path / "bronze" / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            out[source].append(BronzeFile(source, name, str(p), len(data), None))
    return out


def _records_of(landing, spark) -> list[tuple]:  # type: ignore[no-untyped-def]
    df = landing.records(spark)
    return sorted(tuple(str(v) for v in r) for r in df.collect())


@pytest.mark.parametrize("source", ["order_items", "clickstream", "inventory"])
def test_the_engine_lands_the_same_records_and_results_as_worker_processes(
    spark, tmp_path: Path, source: str
) -> None:  # type: ignore[no-untyped-def]
    files = _mixed_files(tmp_path)[source]
    sheets = ("WH-01", "WH-02", "WH-03") if source == "inventory" else ()
    with landing_pool() as pool:
        here = start_landing(pool, source, files, str(tmp_path / "staging-processes"), sheets)()
    there = land_on_engine(spark, source, files, str(tmp_path / "staging-engine"), sheets)
    assert _records_of(there, spark) == _records_of(here, spark) and here.rows == there.rows > 0

    def results(landing):  # type: ignore[no-untyped-def]
        return [(lf.file.path, lf.status, lf.reason, lf.rows, lf.sha256, lf.warnings) for lf in landing.files]

    assert results(there) == results(here)
    assert "rejected" in [lf.status for lf in there.files]  # the rejected file is reported, not lost
    assert there.landed_by and all(":" in w for w in there.landed_by)
    for lf in there.files:
        assert lf.sha256 == hashlib.sha256(Path(lf.file.uri).read_bytes()).hexdigest()
    if source == "inventory":
        wh = next(lf for lf in there.files if lf.status == "ingested")
        assert "missing sheet(s): WH-03" in (wh.reason or "") and any("WH-02" in w for w in wh.warnings)

"""Bronze files to raw records: each parser on tiny files, and landing by worker processes and by the
engine's own tasks giving the same records and file results."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakehouse.bronze.contract import CLICKSTREAM, ORDER_ITEMS, SOURCES
from lakehouse.bronze.landing import (
    RAW_LIMIT,
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
    data = b"order_item_id,order_id,product_id,quantity,item_price,warehouse_id\n1,100001,3,1,9.99,WH-01\n\n2,100001,4,1\n"
    table, notes = land_csv(ORDER_ITEMS, _file(tmp_path, "i.csv", data, "order_items"), data)
    assert [(r["_row"], r["_defect"], r["_raw"]) for r in table.to_pylist()] == [
        (1, None, "1,100001,3,1,9.99,WH-01"),
        (3, "malformed_row", "2,100001,4,1"),
    ]
    assert notes == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"\n\n", "empty file"),
        (b"\x00\x01binary", "binary content"),
        (b"\xff\xfe bad utf8\n", "unexpected header"),
        (b"order_item_id,order_id,order_id,quantity,item_price\n", "header names order_id more than once"),
        (b"customer_id,first_name,last_name,email\n1,a,b,c\n", "unexpected header"),
    ],
)
def test_landing_rejects_unreadable_csv_files(tmp_path: Path, data: bytes, reason: str) -> None:
    table, result = land(_file(tmp_path, "x.csv", data, "order_items"))
    assert table is None and result.status == "rejected" and result.reason.startswith(reason)


ITEMS_HEADER = "order_item_id,order_id,product_id,quantity,item_price,warehouse_id"


def _csv(tmp_path: Path, data: bytes, source: str = "order_items") -> tuple[list[dict], list[str]]:
    table, notes = land_csv(SOURCES[source], _file(tmp_path, f"{source}.csv", data, source), data)
    return table.to_pylist(), notes


def test_csv_headers_are_matched_by_name_in_any_order_and_case(tmp_path: Path) -> None:
    data = "\ufeffQuantity, order_item_id,product_id,ORDER_ID,item_price,Warehouse_ID,gift_note\n2,1,3,100001,9.99,WH-01,hi\n"
    rows, notes = _csv(tmp_path, data.encode())
    assert [
        (
            r["order_item_id"],
            r["order_id"],
            r["product_id"],
            r["quantity"],
            r["item_price"],
            r["warehouse_id"],
        )
        for r in rows
    ] == [("1", "100001", "3", "2", "9.99", "WH-01")]
    assert rows[0]["_defect"] is None and rows[0]["_raw"] == "2,1,3,100001,9.99,WH-01,hi"
    assert rows[0]["_rescued"] == '{"gift_note": "hi"}'  # an upstream addition is kept, not dropped
    assert notes == ["header has unknown column(s) gift_note: kept in _rescued"]


def test_a_csv_header_without_a_column_lands_its_rows_without_it(tmp_path: Path) -> None:
    rows, notes = _csv(
        tmp_path, b"order_item_id,order_id,product_id,quantity,warehouse_id\n1,100001,3,2,WH-01\n"
    )
    assert [(r["order_item_id"], r["item_price"], r["_defect"]) for r in rows] == [("1", None, None)]
    assert notes == ["header lacks item_price: its rows are quarantined as missing them"]


def test_a_quoted_field_may_span_lines_and_a_stray_quote_stays_on_its_line(tmp_path: Path) -> None:
    header = "product_id,name,category,price,launch_date,updated_at"
    data = (
        f'{header}\n1,"Desk lamp\nwith dimmer",Home & Garden,20.00,2025-01-01,2025-01-01T00:00:00Z\n'
        '2,Lamp 12" shade,Home & Garden,9.00,2025-01-01,2025-01-01T00:00:00Z\n'
        "3,Mug,Home & Garden,5.00,2025-01-01,2025-01-01T00:00:00Z\n"
    )
    rows, _ = _csv(tmp_path, data.encode(), "products")
    assert [(r["_row"], r["product_id"], r["name"], r["_defect"]) for r in rows] == [
        (1, "1", "Desk lamp\nwith dimmer", None),
        (3, "2", 'Lamp 12" shade', None),
        (4, "3", "Mug", None),
    ]
    assert rows[0]["_raw"] == '1,"Desk lamp\nwith dimmer",Home & Garden,20.00,2025-01-01,2025-01-01T00:00:00Z'


def test_only_the_rows_that_are_not_utf8_are_lost_to_quarantine(tmp_path: Path) -> None:
    data = f"{ITEMS_HEADER}\n1,100001,3,1,9.99,WH-01\n2,100001,4,1,9.99 \xe9t\xe9,WH-01\n3,100001,5,1,1.00,WH-01\n".encode(
        "latin-1"
    )
    rows, notes = _csv(tmp_path, data)
    assert [(r["_row"], r["_defect"]) for r in rows] == [(1, None), (2, "bad_encoding"), (3, None)]
    assert rows[1]["_raw"] == "2,100001,4,1,9.99 \ufffdt\ufffd,WH-01" and rows[1]["quantity"] is None
    assert notes == ["1 record(s) not UTF-8: quarantined as bad_encoding"]


def test_a_huge_raw_record_is_cut_with_its_length_and_hash(tmp_path: Path) -> None:
    garbage = "x" * 200_000
    rows, _ = _csv(tmp_path, f"{ITEMS_HEADER}\n{garbage}\n".encode())
    raw = rows[0]["_raw"]
    assert rows[0]["_defect"] == "malformed_row" and len(raw) < RAW_LIMIT + 200
    assert raw.startswith("x" * RAW_LIMIT) and "200,000 characters" in raw
    assert hashlib.sha256(garbage.encode()).hexdigest() in raw


def test_workbook_sheets_are_matched_by_name_and_unusable_rows_quarantined(tmp_path: Path) -> None:
    cols = list(SOURCES["inventory"].column_names)
    good = ["2026-01-05", "WH-01", "7", "10", "1", "5", "2.50"]
    misspelled = [c.replace("on_hand", "on_hnad") for c in cols]
    path = tmp_path / "inventory" / "inventory_2026-W02.xlsx"
    path.parent.mkdir(parents=True)
    data = _workbook(path, {
        "WH-01": [cols, good, [*good[:6], "=B2*2"]],
        "WH-02": [misspelled, [*good[:1], "WH-02", *good[2:]]],
        "Notes": [["comment"], ["exported by hand"]],
    })  # fmt: skip
    table, result = land(
        BronzeFile("inventory", "inventory/inventory_2026-W02.xlsx", str(path), len(data), None)
    )
    assert result.status == "ingested" and table is not None
    rows = table.to_pylist()
    assert [(r["_sheet"], r["_row"], r["on_hand"], r["_defect"]) for r in rows] == [
        ("WH-01", 1, "10", None),
        ("WH-01", 2, None, "formula_without_value"),
        ("WH-02", 1, None, None),  # no on_hand: quarantined as missing it
    ]
    assert rows[1]["_raw"].endswith(",=B2*2")
    assert "header in sheet WH-02 lacks on_hand" in result.reason
    assert "header in sheet WH-02 has unknown column(s) on_hnad" in result.reason
    assert rows[2]["_rescued"] == '{"on_hnad": "10"}' and rows[0]["_rescued"] is None
    assert "unexpected header in sheet Notes" in result.reason and "sheet left out" in result.reason
    plain = tmp_path / "inventory" / "inventory_2026-W03.xlsx"  # no formulas: read once
    data = _workbook(plain, {"WH-01": [cols, good]})
    table, _ = land(BronzeFile("inventory", "inventory/inventory_2026-W03.xlsx", str(plain), len(data), None))
    assert table is not None and table.column("_raw").to_pylist() == ["2026-01-05,WH-01,7,10,1,5,2.50"]


def test_landing_jsonl_numbers_lines_and_survives_bad_bytes(tmp_path: Path) -> None:
    data = b'{"a":1}\n\n{"b":\xff}\n \t\r\n{"c":3}\r\n\x0b\n{"d": "\xc3\xa9"}'
    t = land_jsonl(CLICKSTREAM, _file(tmp_path, "e.jsonl", data, "clickstream"), data).to_pylist()
    assert [(r["_row"], r["_raw"], r["_defect"]) for r in t] == [
        (1, '{"a":1}', None), (3, '{"b":\ufffd}', "bad_encoding"), (5, '{"c":3}\r', None),
        (7, '{"d": "\u00e9"}', None),
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

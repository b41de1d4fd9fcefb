"""Bronze files to raw records: discovery, fingerprints, and parsing into a staging area Spark reads.

Each record keeps its file, row (line number for JSON lines; data row for CSV and XLSX, header excluded)
and raw text, so silver can quarantine it with an exact address. Parsing happens here, file by file,
because the engines cannot name a row's file (no input_file_name() on Sail); everything after this
is Spark. A file that cannot be read at all (empty, binary, wrong header, not a workbook) is rejected
with a reason and never stops the batch.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import multiprocessing
import os
import socket
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.bronze.contract import SOURCES, Source, date_problem, file_date

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
from lakehouse.core import storage

SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "xlsx": ".xlsx"}


@dataclass(frozen=True)
class BronzeFile:
    source: str
    path: str  # relative to bronze/, e.g. orders/orders_2026-01-01.csv
    uri: str
    size: int
    sha256: str | None  # None for a file the ledger has never seen: hashed when it is landed (read once)
    modified: float = 0.0  # epoch seconds
    problem: str | None = None  # why discovery already knows it cannot be ingested (its name): rejected


@dataclass(frozen=True)
class Seen:
    """What the ledger remembers of a file."""

    size: int
    modified: float
    sha256: str


@dataclass
class LandedFile:
    file: BronzeFile
    rows: int = 0
    status: str = "ingested"  # ingested | rejected
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    sha256: str | None = None  # of the content landed

    def __post_init__(self) -> None:
        self.sha256 = self.sha256 or self.file.sha256


class FileRejected(Exception):
    """This file cannot be read at all; the message is the reason kept in the ledger."""


def name_problem(source: Source, rel: str) -> str | None:
    """Why a file under a source's folder cannot be that source's data, from its name alone: another
    extension (compared without case: .CSV is a CSV file), or a date in its name that does not exist."""
    name = rel.rsplit("/", 1)[-1]
    want = SUFFIX[source.format]
    if not name.lower().endswith(want):
        ext = "." + name.rsplit(".", 1)[-1] if "." in name else "no extension"
        return f"wrong extension ({ext}): {source.name} files are {want}; rename it if it is {source.format}"
    return date_problem(rel)


def _digest(uri: str) -> str | None:
    try:
        return hashlib.sha256(storage.read_bytes(uri)).hexdigest()
    except OSError:  # unreadable now: landing rejects it and says why
        return None


def discover(root: str, seen: dict[str, Seen] | None = None) -> list[BronzeFile]:
    """The files under the sources' folders that are new or changed since the ledger saw them, in a
    stable order. Every file is returned once, readable or not: one that cannot be its source's data
    (its name says so) carries the `problem`, and landing records it as rejected. Hidden files (.*)
    are not data, as in Spark.

    A file with the size and modification time the ledger recorded is taken as unchanged without
    reading it (the quick check rsync makes); any other is hashed, and taken only if its content differs."""
    seen = seen or {}
    bronze = storage.join(root, "bronze")
    out = []
    for name, src in SOURCES.items():
        for uri, size, modified in storage.file_infos(storage.join(bronze, src.folder)):
            rel = uri[len(bronze) + 1 :] if uri.startswith(bronze) else uri
            problem = name_problem(src, rel)
            known = seen.get(rel)
            if known is None:  # new: its fingerprint is taken when it is landed, so it is read once
                out.append(BronzeFile(name, rel, uri, size, None, modified, problem))
                continue
            if known.size == size and abs(known.modified - modified) < 1e-3:
                continue
            digest = _digest(uri)
            if digest is not None and known.sha256 == digest:
                continue
            out.append(BronzeFile(name, rel, uri, size, digest, modified, problem))
    return out


# What landing finds wrong with one record (the record's only reason in quarantine); the file lands.
DEFECTS = {
    "malformed_row": "a CSV record with another number of fields than its header",
    "malformed_json": "a clickstream line that is not a JSON object",
    "bad_encoding": "bytes that are not UTF-8 text (the raw text shows them as U+FFFD)",
    "formula_without_value": "a workbook formula cell saved without its computed value",
}
RAW_LIMIT = 64 * 1024  # characters of a record's raw text kept in quarantine; longer ones are cut
MAX_RECORD_LINES = 1_000  # lines a quoted CSV field may span


def raw_schema(source: Source) -> pa.Schema:
    """Staging columns: address, raw text and defect, then the contract's columns as text (CSV, XLSX)."""
    fields = [
        ("_file", pa.string()),
        ("_sheet", pa.string()),
        ("_row", pa.int32()),
        ("_raw", pa.string()),
        ("_defect", pa.string()),  # a DEFECTS code, or null
    ]
    if source.format == "jsonl":
        fields.append(("_file_date", pa.date32()))  # the date in the path, which events are judged by
    else:
        fields.append(("_rescued", pa.string()))  # columns the contract does not know, as JSON
        fields += [(c.name, pa.string()) for c in (*source.columns, *source.optional_columns)]
    return pa.schema(fields)


def rescued(header: list[str], names: list[str | None], fields: Iterable[object]) -> str | None:
    """The values of a record's columns the contract does not know, as a JSON object by header name
    (None when there are none), so an upstream addition is kept, not dropped."""
    extra = {h.strip(): v for h, n, v in zip(header, names, fields, strict=False) if n is None and h.strip()}
    return json.dumps(extra, ensure_ascii=False, default=str) if extra else None


def capped(raw: str) -> str:
    """A raw record as quarantine keeps it: whole up to RAW_LIMIT characters, else its start, its
    length and the SHA-256 of the whole (a 50 MB garbage line must not become a 50 MB row)."""
    if len(raw) <= RAW_LIMIT:
        return raw
    digest = hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()
    return f"{raw[:RAW_LIMIT]}... [cut: {len(raw):,} characters in all, sha256 {digest}]"


def _sniff(data: bytes) -> None:
    if not data[:4096].strip() and not data.strip():
        raise FileRejected("empty file")
    if b"\0" in data[:65536]:
        raise FileRejected("binary content (NUL bytes): not a text file")


def decoded_lines(data: bytes) -> tuple[list[str], list[bool]]:
    """The text's lines (a UTF-8 byte order mark dropped) and, per line, whether it was not UTF-8 (then
    decoded with U+FFFD for the bytes that are not): one bad line does not cost the file."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        lines = data.decode("utf-8").split("\n")
        bad = [False] * len(lines)
    except UnicodeDecodeError:
        raw = data.split(b"\n")
        lines, bad = [], []
        for b in raw:
            try:
                lines.append(b.decode("utf-8"))
                bad.append(False)
            except UnicodeDecodeError:
                lines.append(b.decode("utf-8", "replace"))
                bad.append(True)
    return [line.removesuffix("\r") for line in lines], bad


def header_columns(source: Source, header: list[str], where: str) -> list[str | None]:
    """The contract column each header field holds, matched by name without case or surrounding
    space, in any order (None for a field the contract does not know). A header naming fewer than half
    of the contract's required columns is not this source's: the file (or sheet) is rejected."""
    known = {c.name.lower(): c.name for c in (*source.columns, *source.optional_columns)}
    names = [known.get(h.strip().lstrip("\ufeff").lower()) for h in header]
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if twice:
        raise FileRejected(f"header{where} names {', '.join(twice)} more than once: {header}")
    required = source.column_names
    if sum(n in names for n in required) * 2 < len(required):
        raise FileRejected(f"unexpected header{where}: expected the columns {list(required)}, got {header}")
    return names


def header_notes(source: Source, header: list[str], names: list[str | None], where: str) -> list[str]:
    """What the ledger says of a header that lands but is not the contract's."""
    notes = []
    if missing := [c for c in source.column_names if c not in names]:
        notes.append(f"header{where} lacks {', '.join(missing)}: its rows are quarantined as missing them")
    if unknown := [h for h, n in zip(header, names, strict=True) if n is None]:
        notes.append(f"header{where} has unknown column(s) {', '.join(unknown)}: kept in _rescued")
    return notes


def _fields(text: str) -> list[str]:
    """A CSV record's fields; none for one the csv module refuses (a field over its size limit)."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return []


def csv_records(lines: list[str], width: int) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, last line, fields) of each record after the header; blank lines are skipped. A
    quoted field may span lines; a stray quote that never closes into a record of the header's width
    leaves its line a record of its own."""
    i = 1
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        j, fields = i, _fields(line)
        if line.count('"') % 2:  # an open quoted field: try the next lines
            text, k = line, i
            while k + 1 < len(lines) and k - i < MAX_RECORD_LINES:
                k += 1
                text += "\n" + lines[k]
                if text.count('"') % 2 == 0:
                    joined = _fields(text)
                    if len(joined) == width:
                        j, fields = k, joined
                    break
        yield i, j, fields
        i = j + 1


def land_csv(source: Source, f: BronzeFile, data: bytes) -> tuple[pa.Table, list[str]]:
    """A CSV file's records with their header matched by name, and what the ledger should note."""
    _sniff(data)
    lines, bad = decoded_lines(data)
    header = next(csv.reader([lines[0]]), [])
    names = header_columns(source, header, "")
    notes = header_notes(source, header, names, "")
    contract = [c.name for c in (*source.columns, *source.optional_columns)]
    columns: dict[str, list[str | None]] = {n: [] for n in contract}
    rows, raws, defects, extras = [], [], [], []
    for first, last, fields in csv_records(lines, len(header)):
        undecodable = any(bad[first : last + 1])
        ok = len(fields) == len(header) and not undecodable
        values = {n: v for n, v in zip(names, fields, strict=False) if n} if ok else {}
        for n in contract:
            columns[n].append(values.get(n))
        extras.append(rescued(header, names, fields) if ok else None)
        rows.append(first)
        raws.append(capped("\n".join(lines[first : last + 1])))
        defects.append(None if ok else "bad_encoding" if undecodable else "malformed_row")
    n = len(rows)
    table = pa.table(
        {
            "_file": [f.path] * n,
            "_sheet": pa.nulls(n, pa.string()),
            "_row": pa.array(rows, pa.int32()),
            "_raw": raws,
            "_defect": pa.array(defects, pa.string()),
            "_rescued": pa.array(extras, pa.string()),
            **columns,
        },
        schema=raw_schema(source),
    )
    if undecodable := sum(d == "bad_encoding" for d in defects):
        notes.append(f"{undecodable} record(s) not UTF-8: quarantined as bad_encoding")
    return table, notes


def land_jsonl(source: Source, f: BronzeFile, data: bytes) -> pa.Table:
    """One record per line holding more than whitespace (line numbers count every line); a line that is
    not UTF-8 is quarantined as bad_encoding, not fatal to the file. Split and filtered by Arrow,
    without a Python object per line."""
    _sniff(data)
    lines = pc.split_pattern(pa.array([data], pa.binary()), "\n")[0].values
    keep = pc.match_substring_regex(lines, r"[^ \t\r\x0b\x0c]")  # what bytes.strip() would not remove
    row = np.flatnonzero(keep.to_numpy(zero_copy_only=False)) + 1
    kept = lines.filter(keep)
    try:
        raws = kept.cast(pa.string())
        defects = pa.nulls(len(raws), pa.string())
    except pa.ArrowInvalid:
        texts, codes = [], []
        for p in kept.to_pylist():
            try:
                texts.append(p.decode("utf-8"))
                codes.append(None)
            except UnicodeDecodeError:
                texts.append(p.decode("utf-8", errors="replace"))
                codes.append("bad_encoding")
        raws, defects = pa.array(texts, pa.string()), pa.array(codes, pa.string())
    if pc.any(pc.greater(pc.utf8_length(raws), RAW_LIMIT)).as_py():
        raws = pa.array([capped(t) for t in raws.to_pylist()], pa.string())
    n = len(raws)
    day = file_date(f.path)
    # Once per file here: from the path, per row, it cost the engine more than the rest of the event window.
    days = pa.array(np.full(n, day, dtype="datetime64[D]")) if day else pa.nulls(n, pa.date32())
    return pa.table(
        {"_file": pa.array([f.path] * n, pa.string()), "_sheet": pa.nulls(n, pa.string()),
         "_row": pa.array(row, pa.int32()), "_raw": raws, "_defect": defects, "_file_date": days},
        schema=raw_schema(source),
    )  # fmt: skip


def _cell_text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _has_formulas(data: bytes) -> bool:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        return any(b"<f>" in (x := z.read(n)) or b"<f " in x for n in sheets)


def land_xlsx(
    source: Source, f: BronzeFile, data: bytes, expected_sheets: Iterable[str] = ()
) -> tuple[pa.Table, list[str]]:
    """A workbook's records, sheet by sheet, each sheet's header matched by name as in CSV. A sheet
    whose header is not this source's (a notes sheet) is left out with a note; the file is rejected
    when no sheet is. A formula cell saved without its value is quarantined as such."""
    import openpyxl

    if not data:
        raise FileRejected("empty file")
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        # Formulas are read (a second pass) only from a workbook that has any.
        formulas = _has_formulas(data) and openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise FileRejected(f"not an XLSX workbook ({type(exc).__name__}: {exc})") from None
    contract = [c.name for c in (*source.columns, *source.optional_columns)]
    cols: dict[str, list[str | None]] = {n: [] for n in contract}
    sheets, rows, raws, defects, extras = [], [], [], [], []
    notes = []
    good_sheets = 0
    for number, ws in enumerate(wb.worksheets):
        it = ws.iter_rows(values_only=True)
        it_formulas = formulas.worksheets[number].iter_rows(values_only=True) if formulas else repeat(())
        header = [str(h) if h is not None else "" for h in next(it, ())]
        next(it_formulas, None)
        where = f" in sheet {ws.title}"
        try:
            names = header_columns(source, header, where)
        except FileRejected as exc:
            notes.append(f"{exc}: sheet left out")
            continue
        notes += header_notes(source, header, names, where)
        good_sheets += 1
        for i, (row, written) in enumerate(zip(it, it_formulas, strict=False), start=1):
            if all(v is None for v in row):
                continue
            texts = [_cell_text(v) for v in row]
            # A formula without a cached value reads as an empty cell: its formula tells them apart.
            formula = [
                isinstance(w, str) and w.startswith("=") and v is None
                for v, w in zip(row, written, strict=False)
            ]
            formula += [False] * (len(row) - len(formula))
            unresolved = any(formula)
            values = {n: t for n, t in zip(names, texts, strict=False) if n}
            for n in contract:
                cols[n].append(None if unresolved else values.get(n))
            extras.append(None if unresolved else rescued(header, names, texts))
            sheets.append(ws.title)
            rows.append(i)
            raw = [
                str(written[k]) if f else "" if t is None else t
                for k, (t, f) in enumerate(zip(texts, formula, strict=True))
            ]
            raws.append(capped(",".join(raw)))
            defects.append("formula_without_value" if unresolved else None)
    missing = [s for s in expected_sheets if s not in wb.sheetnames]
    if missing:
        notes.append(f"missing sheet(s): {', '.join(missing)}")
    if not good_sheets:
        raise FileRejected("; ".join(notes) or "no sheets")
    if unresolved := sum(d is not None for d in defects):
        notes.append(f"{unresolved} row(s) with formulas saved without values: quarantined")
    n = len(rows)
    table = pa.table(
        {
            "_file": [f.path] * n,
            "_sheet": sheets,
            "_row": pa.array(rows, pa.int32()),
            "_raw": raws,
            "_defect": pa.array(defects, pa.string()),
            "_rescued": pa.array(extras, pa.string()),
            **cols,
        },
        schema=raw_schema(source),
    )
    return table, notes


def land(f: BronzeFile, expected_sheets: Iterable[str] = ()) -> tuple[pa.Table | None, LandedFile]:
    """Parse one file into raw records, or reject it with a reason."""
    source = SOURCES[f.source]
    result = LandedFile(f)
    try:
        if f.problem:
            raise FileRejected(f.problem)
        try:
            data = storage.read_bytes(f.uri)
        except OSError as exc:
            raise FileRejected(f"cannot be read: {exc.strerror or exc}") from None
        result.sha256 = result.sha256 or hashlib.sha256(data).hexdigest()
        if source.format == "csv":
            table, result.warnings = land_csv(source, f, data)
        elif source.format == "jsonl":
            table = land_jsonl(source, f, data)
        else:
            table, result.warnings = land_xlsx(source, f, data, expected_sheets)
    except FileRejected as exc:
        result.status, result.reason = "rejected", str(exc)
        return None, result
    except (csv.Error, StopIteration, IndexError) as exc:
        result.status, result.reason = "rejected", f"unreadable {source.format}: {exc}"
        return None, result
    result.rows = table.num_rows
    if result.warnings:
        result.reason = "; ".join(result.warnings)
    return table, result


class StagingWriter:
    """Raw records of one source, appended file by file to one Parquet file in the staging area."""

    def __init__(self, uri: str, source: Source) -> None:
        self.uri = uri
        self.schema = raw_schema(source)
        self._sink = io.BytesIO() if not storage.is_local(uri) else None
        if self._sink is None:
            storage.local_path(uri).parent.mkdir(parents=True, exist_ok=True)
        # The raw text is neither dictionary-encoded nor given statistics (every line is unique).
        self._writer = pq.ParquetWriter(
            self._sink or str(storage.local_path(uri)),
            self.schema,
            compression=storage.staging_compression(uri) or "snappy",
            use_dictionary=[n for n in self.schema.names if n != "_raw"],
            write_statistics=[n for n in self.schema.names if n != "_raw"],
        )
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table, row_group_size=256_000)
            self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        if self._sink is not None:
            storage.write_bytes(self.uri, self._sink.getvalue())


LANDING_WORKERS = 2
FILES_PER_PART = 50  # a source is split into parts of at least this many files
BYTES_PER_TASK = 32 * 1024**2  # on the engine, a task lands about this much (many tasks balance a cluster)

# A file's outcome, as the engine's landing tasks report it: one row per file beside its records.
RESULT_FIELDS = [
    ("_status", pa.string()),
    ("_reason", pa.string()),
    ("_rows", pa.int64()),
    ("_sha256", pa.string()),
    ("_landed_by", pa.string()),  # host:pid of the process that parsed the file
]


@dataclass
class Landed:
    """One source's new files parsed into staging Parquet (one file per part, or the engine's files)."""

    raw_uri: str
    rows: int
    files: list[LandedFile]
    seconds: float
    with_results: bool = False  # the staging also holds the engine's per-file result rows
    landed_by: list[str] = field(default_factory=list)

    def records(self, spark: SparkSession) -> DataFrame:
        """The raw records, as typing reads them."""
        raw = spark.read.parquet(storage.spark_path(self.raw_uri))
        if not self.with_results:
            return raw
        return raw.where(raw["_status"].isNull()).drop(*[n for n, _ in RESULT_FIELDS])


def land_part(
    source: str, files: list[BronzeFile], expected_sheets: tuple[str, ...], uri: str
) -> tuple[int, list[LandedFile], float, str]:
    """Land files into one staging Parquet file: rows written, each file's result, seconds taken, and
    the host:pid that did it."""
    started = time.perf_counter()
    writer = StagingWriter(uri, SOURCES[source])
    landed = []
    for f in files:
        table, result = land(f, expected_sheets)
        if table is not None:
            writer.write(table)
        landed.append(result)
    writer.close()
    return writer.rows, landed, time.perf_counter() - started, _here()


def _here() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def start_landing(
    pool: Executor, source: str, files: list[BronzeFile], staging: str, expected_sheets: Iterable[str] = ()
) -> Callable[[], Landed]:
    """Start landing a source's files on `pool` and return what waits for the result. Many files are
    split into parts landed side by side, each into its own Parquet file; the records keep their file
    and row whatever the split, and the files their order."""
    raw_uri = storage.join(staging, f"{source}.raw")
    n_parts = max(1, min(LANDING_WORKERS, len(files) // FILES_PER_PART))
    chunks = [files[i * len(files) // n_parts : (i + 1) * len(files) // n_parts] for i in range(n_parts)]
    sheets = tuple(expected_sheets)
    futures = [
        pool.submit(land_part, source, chunk, sheets, storage.join(raw_uri, f"part-{i:05d}.parquet"))
        for i, chunk in enumerate(chunks)
    ]

    def result() -> Landed:
        parts = [f.result() for f in futures]
        landed = [lf for _, files, _, _ in parts for lf in files]
        by = sorted({p[3] for p in parts})
        return Landed(raw_uri, sum(p[0] for p in parts), landed, max(p[2] for p in parts), landed_by=by)

    return result


def balanced_parts(files: list[BronzeFile], n: int) -> list[list[BronzeFile]]:
    """`files` in `n` parts of about equal bytes (largest first, each to the lightest part)."""
    parts: list[list[BronzeFile]] = [[] for _ in range(max(1, n))]
    load = [0] * len(parts)
    for f in sorted(files, key=lambda f: (-f.size, f.path)):
        i = load.index(min(load))
        parts[i].append(f)
        load[i] += max(f.size, 1)
    return [p for p in parts if p]


def engine_output_schema(source: Source) -> pa.Schema:
    """What the engine's landing tasks yield: the raw records, then one result row per file."""
    schema = raw_schema(source)
    for name, kind in RESULT_FIELDS:
        schema = schema.append(pa.field(name, kind))
    return schema


def landing_task(
    source: str, parts: list[list[BronzeFile]], expected_sheets: tuple[str, ...]
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each engine task runs (through mapInArrow) over the part numbers it is given:
    it lands the part's files, as `land` does here, and yields their records and one result row per
    file. It reads the files itself through the storage layer, so on a cluster the executors do the
    reading and parsing, not the driver."""
    schema = engine_output_schema(SOURCES[source])
    result_names = [n for n, _ in RESULT_FIELDS]

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        where = _here()
        for batch in batches:
            for part in batch.column(0).to_pylist():
                for f in parts[part]:
                    table, result = land(f, expected_sheets)
                    if table is not None:
                        nulls = [pa.nulls(table.num_rows, kind) for _, kind in RESULT_FIELDS]
                        full = pa.Table.from_arrays([*table.columns, *nulls], schema=schema)
                        yield from full.to_batches(max_chunksize=65_536)
                    row = {n: [None] for n in schema.names if n not in result_names}
                    row |= {"_file": [f.path], "_status": [result.status], "_reason": [result.reason],
                            "_rows": [result.rows], "_sha256": [result.sha256], "_landed_by": [where]}  # fmt: skip
                    yield pa.RecordBatch.from_pydict(row, schema=schema)

    return run


def land_on_engine(
    spark: SparkSession,
    source: str,
    files: list[BronzeFile],
    staging: str,
    expected_sheets: Iterable[str] = (),
) -> Landed:
    """Land a source's files in the engine's tasks (executors on a cluster) into staging Parquet the
    engine writes, and collect each file's result. Files are split into parts of about
    BYTES_PER_TASK, one task each, which lets a cluster's executors share the work as they free up."""
    started = time.perf_counter()
    raw_uri = storage.join(staging, f"{source}.raw")
    n = max(1, min(len(files), math.ceil(sum(f.size for f in files) / BYTES_PER_TASK)))
    parts = balanced_parts(files, n)
    schema = engine_output_schema(SOURCES[source])
    task = landing_task(source, parts, tuple(expected_sheets))
    landed = spark.range(0, len(parts), 1, len(parts)).mapInArrow(task, spark_ddl(schema))
    writer = landed.write.mode("overwrite").option("max_row_group_size", str(256_000))
    if codec := storage.staging_compression(raw_uri):
        writer = writer.option("compression", codec)
    writer.parquet(storage.spark_path(raw_uri))
    staged = spark.read.schema(spark_ddl(schema)).parquet(storage.spark_path(raw_uri))
    names = ["_file", *[n for n, _ in RESULT_FIELDS]]
    outcome = {r["_file"]: r for r in staged.where(staged["_status"].isNotNull()).select(*names).collect()}
    results = []
    for f in files:  # in the order given, as the ledger and the summary show them
        r = outcome[f.path]
        lf = LandedFile(
            f, rows=int(r["_rows"] or 0), status=r["_status"], reason=r["_reason"], sha256=r["_sha256"]
        )
        if r["_status"] == "ingested" and r["_reason"]:
            lf.warnings = r["_reason"].split("; ")
        results.append(lf)
    by = sorted({r["_landed_by"] for r in outcome.values()})
    seconds = time.perf_counter() - started
    return Landed(raw_uri, sum(lf.rows for lf in results), results, seconds, with_results=True, landed_by=by)


SPARK_TYPES = {
    pa.string(): "STRING",
    pa.int32(): "INT",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


def spark_ddl(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {SPARK_TYPES[f.type]}" for f in schema)


def land_source(
    source: str, files: list[BronzeFile], staging: str, expected_sheets: Iterable[str] = ()
) -> Landed:
    """Land a source's files now, in this process."""
    with ThreadPoolExecutor(LANDING_WORKERS, thread_name_prefix=f"landing-{source}") as pool:
        return start_landing(pool, source, files, staging, expected_sheets)()


def _exit_with_the_job() -> None:
    """In a landing worker: exit as soon as the job that started it is gone. A job killed with SIGKILL
    cannot shut its pool down, and its workers (and the fork server waiting on them) would idle on."""
    import multiprocessing.connection
    import threading

    job = multiprocessing.parent_process()  # the job, whose end of a pipe closes when it dies
    if job is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([job.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-the-job", daemon=True).start()


def landing_pool() -> ProcessPoolExecutor:
    """Worker processes for landing. Parsing is mostly Python: in threads it would contend for the
    interpreter lock with the job's own thread (validation is Python too), and each would wait on the
    other. Forked by a fork server, which is safe beside the engine's threads."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["lakehouse.bronze.landing"])
    return ProcessPoolExecutor(LANDING_WORKERS, mp_context=ctx, initializer=_exit_with_the_job)

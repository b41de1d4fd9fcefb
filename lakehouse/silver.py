"""Silver transforms: raw records in, typed records out. Pure DataFrame functions driven by the bronze
contract (lakehouse/sources.py), each testable on a handful of rows.

A typed record carries `_reasons` (why it is unusable: it goes to quarantine when non-empty) and
`_repairs` (what was fixed on the way: whitespace, case, date formats, unusable optional values).
Reason codes: missing:<col>, invalid:<col>, out_of_range:<col>, malformed_json, malformed_row.
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

from lakehouse.sources import CLICKSTREAM, SPARK_DATE_PATTERNS, SPARK_TIMESTAMP_PATTERNS, Source
from lakehouse.tables import SPARK_TYPES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ID_PATTERN = r"^[0-9]+$"
NUMBER_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
EMAIL_PATTERN = r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]+$"
ISO_DATE = SPARK_DATE_PATTERNS[0]


def _strip(text: Column) -> Column:
    """Trim all whitespace (tabs too; Spark's trim removes only spaces)."""
    return F.regexp_replace(text, r"^\s+|\s+$", "")


def _parse_any(text: Column, patterns: tuple[str, ...]) -> Column:
    return F.coalesce(*[F.try_to_timestamp(text, F.lit(p)) for p in patterns])


def _canonical(text: Column, allowed: tuple[str, ...]) -> Column:
    """Case- and whitespace-insensitive match to an allowed value, as that value; null if none."""
    mapping = F.create_map(*[x for v in allowed for x in (F.lit(v.lower()), F.lit(v))])
    return mapping[F.lower(text)]


def _typed(text: Column, kind: str, allowed: tuple[str, ...] | None) -> Column:
    """The typed value of a trimmed, non-empty text, or null when it does not parse."""
    if kind == "id":
        return F.when(text.rlike(ID_PATTERN), text.try_cast("bigint"))
    if kind == "int":
        return F.when(text.rlike(r"^-?[0-9]+$"), text.try_cast("int"))
    if kind == "decimal":
        return F.when(text.rlike(NUMBER_PATTERN), text.try_cast(SPARK_TYPES["decimal"]))
    if kind == "date":
        return F.to_date(_parse_any(text, SPARK_DATE_PATTERNS))
    if kind == "timestamp":
        return _parse_any(text, SPARK_TIMESTAMP_PATTERNS)
    if kind == "enum":
        return _canonical(text, allowed or ())
    if kind == "email":
        lowered = F.lower(text)
        return F.when(lowered.rlike(EMAIL_PATTERN), lowered)
    return text


def _written_form(value: Column, kind: str, original: Column) -> Column:
    """The text a clean file holds for this value: a different text in the file means a repair."""
    if kind == "date":
        return F.date_format(value, ISO_DATE)
    if kind == "timestamp":  # clean files write ISO-8601 with Z (and milliseconds in the clickstream)
        return F.when(
            original.rlike(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{3})?Z$"),
            original,
        ).otherwise(F.lit(""))
    if kind in ("id", "int", "decimal"):
        return _strip(original)
    return value  # enum (canonical case), email (lower case), string (trimmed)


def typed_records(raw: DataFrame, source: Source, malformed: str = "malformed_row") -> DataFrame:
    """Contract columns typed, plus _reasons and _repairs; address columns pass through. A record
    whose shape is broken (wrong field count, unparseable JSON) gets only the `malformed` reason."""
    cols = [c for c in (*source.columns, *source.optional_columns) if c.name in raw.columns]
    out = []
    reasons: list[Column] = []
    repairs: list[Column] = []
    for c in cols:
        original = F.col(c.name)
        text = _strip(original)
        present = text.isNotNull() & (text != "")
        value = _typed(F.when(present, text), c.kind, c.allowed)
        bad = present & value.isNull()
        if c.range is not None:
            lo, hi = c.range
            out_of_range = value.isNotNull() & ((value < F.lit(lo)) | (value > F.lit(hi)))
        else:
            out_of_range = F.lit(False)
        usable = F.when(out_of_range, None).otherwise(value)
        if c.required:
            reasons += [
                F.when(~present, F.lit(f"missing:{c.name}")),
                F.when(bad, F.lit(f"invalid:{c.name}")),
                F.when(out_of_range, F.lit(f"out_of_range:{c.name}")),
            ]
        else:
            repairs.append(F.when(bad | out_of_range, F.lit(f"nulled:{c.name}")))
        changed = value.isNotNull() & ~out_of_range & (original != _written_form(value, c.kind, original))
        repairs.append(F.when(changed, F.lit(f"repaired:{c.name}")))
        out.append(usable.cast(SPARK_TYPES[c.kind]).alias(c.name))
    passthrough = [F.col(n) for n in ("_file", "_sheet", "_row", "_raw") if n in raw.columns]
    value_reasons = F.array_compact(F.array(*reasons))
    return raw.select(
        *passthrough,
        *out,
        F.when(F.col("_shape_ok"), value_reasons).otherwise(F.array(F.lit(malformed))).alias("_reasons"),
        F.array_compact(F.array(*repairs)).alias("_repairs"),
    )


def parse_events(raw: DataFrame) -> DataFrame:
    """JSON lines to one text column per contract field (numbers kept as their text), `properties`
    as its JSON text, and malformed lines flagged through `_shape_ok`."""
    fields = ", ".join(f"`{c.name}` STRING" for c in CLICKSTREAM.columns)
    parsed = raw.withColumn("_j", F.from_json("_raw", fields))
    names = [c.name for c in CLICKSTREAM.columns]
    # A malformed line parses to a struct of nulls (Sail and Spark alike); a real event has fields.
    all_null = reduce(lambda a, b: a & b, [F.col(f"_j.{n}").isNull() for n in names])
    return parsed.select(
        "_file", "_sheet", "_row", "_raw",
        (F.col("_shape_ok") & ~all_null).alias("_shape_ok"),
        *[F.col(f"_j.{n}").alias(n) for n in names],
    )  # fmt: skip


def event_columns(typed: DataFrame) -> DataFrame:
    """Clickstream extras: the event date (the partition) and the properties that analyses use."""
    prop = {
        "prop_query": ("$.query", "string"),
        "prop_results": ("$.results", "int"),
        "prop_category": ("$.category", "string"),
        "prop_price": ("$.price", SPARK_TYPES["decimal"]),
        "prop_quantity": ("$.quantity", "int"),
        "prop_revenue": ("$.revenue", SPARK_TYPES["decimal"]),
        "prop_items": ("$.items", "int"),
        "prop_load_ms": ("$.load_ms", "int"),
    }
    extra = [
        F.get_json_object("properties", path).try_cast(t).alias(name) for name, (path, t) in prop.items()
    ]
    return typed.select("*", F.to_date("event_ts").alias("event_date"), *extra)


def event_time_window(typed: DataFrame) -> DataFrame:
    """An event cannot arrive before it happens nor be more than a week late: outside that window
    (judged by the date in the file's path) its timestamp is out of range."""
    file_date = F.to_date(F.regexp_extract("_file", r"date=(\d{4}-\d{2}-\d{2})", 1))
    ts_date = F.to_date("event_ts")
    bad = F.col("event_ts").isNotNull() & (
        (ts_date > F.date_add(file_date, 1)) | (ts_date < F.date_sub(file_date, 7))
    )
    return typed.withColumn(
        "_reasons",
        F.when(bad, F.array_union("_reasons", F.array(F.lit("out_of_range:event_ts")))).otherwise(
            F.col("_reasons")
        ),
    ).withColumn("event_ts", F.when(bad, None).otherwise(F.col("event_ts")))

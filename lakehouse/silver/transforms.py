"""Silver transforms: raw records in, typed records out. Pure DataFrame functions driven by the bronze
contract (lakehouse/bronze/contract.py), each testable on a handful of rows.

A typed record carries `_reasons` (why it is unusable: it goes to quarantine when non-empty) and
`_repairs` (what was fixed on the way: whitespace, case, date formats, unusable optional values).
Reason codes: missing:<col>, invalid:<col>, out_of_range:<col>, and the defects landing finds
(lakehouse.bronze.landing.DEFECTS): malformed_json, malformed_row, bad_encoding, bad_sheet_header, ...
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

from lakehouse.bronze.contract import CLICKSTREAM, SPARK_DATE_PATTERNS, SPARK_TIMESTAMP_PATTERNS, Source
from lakehouse.tables import SPARK_TYPES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ID_PATTERN = r"^[0-9]+$"
NUMBER_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
EMAIL_PATTERN = r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]+$"
ISO_DATE = SPARK_DATE_PATTERNS[0]
# The clean ISO forms (the first date pattern, the first two timestamp patterns), which a cast parses;
# the other patterns parse what does not match them.
ISO_DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
ISO_TIMESTAMP_TEXT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{3})?Z$"  # milliseconds or none
)
OTHER_DATE_PATTERNS = SPARK_DATE_PATTERNS[1:]
OTHER_TIMESTAMP_PATTERNS = SPARK_TIMESTAMP_PATTERNS[2:]


WHITESPACE = " \t\r\n"


def _strip(text: Column) -> Column:
    """Trim whitespace at both ends, tabs included (Spark's plain trim removes only spaces)."""
    return F.btrim(text, F.lit(WHITESPACE))


def _parse_any(text: Column, patterns: tuple[str, ...]) -> Column:
    return F.coalesce(*[F.try_to_timestamp(text, F.lit(p)) for p in patterns])


def _canonical(text: Column, allowed: tuple[str, ...]) -> Column:
    """Case-insensitive match to an allowed value, as that value; null if none. Exact matches take a
    set lookup; only the rest go through the case-folding chain (a per-row map costs far more)."""
    lowered = F.lower(text)
    chain = reduce(
        lambda acc, v: acc.when(lowered == F.lit(v.lower()), F.lit(v)),
        allowed[1:],
        F.when(lowered == F.lit(allowed[0].lower()), F.lit(allowed[0])),
    )
    return F.when(text.isin(*allowed), text).otherwise(chain)


def _typed(text: Column, kind: str, allowed: tuple[str, ...] | None) -> Column:
    """The typed value of a trimmed, non-empty text, or null when it does not parse."""
    if kind == "id":
        return F.when(text.rlike(ID_PATTERN), text.try_cast("bigint"))
    if kind == "int":
        return F.when(text.rlike(r"^-?[0-9]+$"), text.try_cast("int"))
    if kind == "decimal":
        return F.when(text.rlike(NUMBER_PATTERN), text.try_cast(SPARK_TYPES["decimal"]))
    # A cast costs a third of a pattern parse and gives the same values, invalid dates included.
    if kind == "date":
        return F.when(text.rlike(ISO_DATE_TEXT), text.try_cast("date")).otherwise(
            F.to_date(_parse_any(text, OTHER_DATE_PATTERNS))
        )
    if kind == "timestamp":
        return F.when(text.rlike(ISO_TIMESTAMP_TEXT), text.try_cast("timestamp")).otherwise(
            _parse_any(text, OTHER_TIMESTAMP_PATTERNS)
        )
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
        return F.when(original.rlike(ISO_TIMESTAMP_TEXT), original).otherwise(F.lit(""))
    if kind in ("id", "int", "decimal"):
        return _strip(original)
    return value  # enum (canonical case), email (lower case), string (trimmed)


def typed_records(raw: DataFrame, source: Source) -> DataFrame:
    """Contract columns typed, plus _reasons and _repairs; address columns pass through. A record
    landing found broken (`_defect`: wrong field count, unparseable JSON, undecodable text, a sheet
    without the contract's columns) gets only that reason.

    Two steps: each text is stripped and parsed once into a column, then judged from those columns
    (a parsed value referenced five times in one expression would be parsed five times)."""
    cols = [c for c in (*source.columns, *source.optional_columns) if c.name in raw.columns]
    passthrough = [
        n
        for n in ("_file", "_sheet", "_row", "_raw", "_defect", "_file_date", "_rescued")
        if n in raw.columns
    ]
    parsed = []
    for c in cols:
        text = _strip(F.col(c.name))
        parsed += [F.col(c.name).alias(f"_o_{c.name}"), text.alias(f"_t_{c.name}")]
    step = raw.select(*passthrough, *parsed)
    step = step.select(
        *passthrough,
        *[x for c in cols for x in (F.col(f"_o_{c.name}"), F.col(f"_t_{c.name}"))],
        *[
            _typed(F.when(F.col(f"_t_{c.name}") != "", F.col(f"_t_{c.name}")), c.kind, c.allowed).alias(
                f"_v_{c.name}"
            )
            for c in cols
        ],
    )
    out: list[Column] = []
    reasons: list[tuple[Column, str]] = []
    repairs: list[tuple[Column, str]] = []
    for c in cols:
        original, text, value = F.col(f"_o_{c.name}"), F.col(f"_t_{c.name}"), F.col(f"_v_{c.name}")
        present = text.isNotNull() & (text != "")
        bad = present & value.isNull()
        if c.range is not None:
            lo, hi = c.range
            out_of_range = value.isNotNull() & ((value < F.lit(lo)) | (value > F.lit(hi)))
        else:
            out_of_range = F.lit(False)
        needed: Column = F.lit(c.required)
        unwanted: Column = F.lit(False)
        if c.required_when is not None:  # e.g. ship_date: needed exactly when Shipped or Delivered
            other, values = c.required_when
            needed = F.coalesce(F.col(f"_v_{other}").isin(*values), F.lit(False))
            unwanted = present & ~needed
        reasons += [
            (needed & ~present, f"missing:{c.name}"),
            (needed & bad, f"invalid:{c.name}"),
            (needed & out_of_range, f"out_of_range:{c.name}"),
        ]
        repairs.append((~needed & (bad | out_of_range | unwanted), f"nulled:{c.name}"))
        changed = value.isNotNull() & ~out_of_range & ~unwanted
        changed &= original != _written_form(value, c.kind, original)
        repairs.append((changed, f"repaired:{c.name}"))
        out.append(
            F.when(out_of_range | unwanted, None).otherwise(value).cast(SPARK_TYPES[c.kind]).alias(c.name)
        )
    return step.select(
        *[n for n in passthrough if n != "_defect"],
        *out,
        F.when(F.col("_defect").isNull(), labels_where(reasons))
        .otherwise(F.array(F.col("_defect")))
        .alias("_reasons"),
        labels_where(repairs).alias("_repairs"),
    )


def labels_where(flags: list[tuple[Column, str]]) -> Column:
    """The labels whose condition holds, as an array (empty when none). Most rows have none: the array
    is built only for the rows that do (a CASE branch is evaluated on its own rows only), which is far
    cheaper."""
    none = F.array().cast("array<string>")
    if not flags:
        return none
    labels = F.array_compact(F.array(*[F.when(cond, F.lit(label)) for cond, label in flags]))
    return F.when(reduce(lambda a, b: a | b, [cond for cond, _ in flags]), labels).otherwise(none)


def parse_events(raw: DataFrame) -> DataFrame:
    """JSON lines to one text column per contract field (numbers kept as their text), `properties`
    as its JSON text, and malformed lines flagged through `_defect`."""
    fields = ", ".join(f"`{c.name}` STRING" for c in CLICKSTREAM.columns)
    parsed = raw.withColumn("_j", F.from_json("_raw", fields))
    names = [c.name for c in CLICKSTREAM.columns]
    # A malformed line parses to a struct of nulls (Sail and Spark alike); a real event has fields.
    all_null = reduce(lambda a, b: a & b, [F.col(f"_j.{n}").isNull() for n in names])
    return parsed.select(
        "_file", "_sheet", "_row", "_raw", "_file_date",
        F.when(F.col("_defect").isNull() & all_null, F.lit("malformed_json"))
        .otherwise(F.col("_defect"))
        .alias("_defect"),
        *[F.col(f"_j.{n}").alias(n) for n in names],
    )  # fmt: skip


PROPERTIES = {
    "prop_query": ("query", "string"),
    "prop_results": ("results", "int"),
    "prop_category": ("category", "string"),
    "prop_price": ("price", SPARK_TYPES["decimal"]),
    "prop_quantity": ("quantity", "int"),
    "prop_revenue": ("revenue", SPARK_TYPES["decimal"]),
    "prop_items": ("items", "int"),
    "prop_load_ms": ("load_ms", "int"),
}


def event_columns(typed: DataFrame) -> DataFrame:
    """Clickstream extras: the event date (the partition) and the properties analyses use, parsed
    from the properties object in one pass."""
    schema = ", ".join(f"`{key}` STRING" for key, _ in PROPERTIES.values())
    parsed = typed.withColumn("_p", F.from_json("properties", schema))
    extra = [F.col(f"_p.{key}").try_cast(t).alias(name) for name, (key, t) in PROPERTIES.items()]
    return parsed.select(*[c for c in typed.columns], F.to_date("event_ts").alias("event_date"), *extra)


def event_time_window(typed: DataFrame) -> DataFrame:
    """An event cannot arrive before it happens nor be more than a week late: outside that window
    (judged by `_file_date`, the date in the file's path, which is then dropped) its timestamp is out
    of range."""
    file_date = F.col("_file_date")
    ts_date = F.to_date("event_ts")
    bad = F.col("event_ts").isNotNull() & (
        (ts_date > F.date_add(file_date, 1)) | (ts_date < F.date_sub(file_date, 7))
    )
    return (
        typed.withColumn(
            "_reasons",
            F.when(bad, F.array_union("_reasons", F.array(F.lit("out_of_range:event_ts")))).otherwise(
                F.col("_reasons")
            ),
        )
        .withColumn("event_ts", F.when(bad, None).otherwise(F.col("event_ts")))
        .drop("_file_date")
    )

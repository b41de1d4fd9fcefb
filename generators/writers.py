"""Typed frames to bronze text, and deterministic CSV/XLSX bytes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from lakehouse.bronze.contract import SOURCES, warehouse_ids

_EPOCH_D = np.datetime64("1970-01-01", "D")


def iso_dates(days: np.ndarray) -> np.ndarray:
    """int days since epoch -> 'YYYY-MM-DD'; negative (absent) -> ''."""
    days = np.asarray(days, dtype=np.int64)
    out = np.datetime_as_string(_EPOCH_D + np.maximum(days, 0).astype("timedelta64[D]"), unit="D").astype(
        object
    )
    out[days < 0] = ""
    return out


def iso_timestamps(seconds: np.ndarray) -> np.ndarray:
    secs = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")
    return (np.datetime_as_string(secs, unit="s").astype(object)) + "Z"


def money(values: np.ndarray) -> np.ndarray:
    return np.array([f"{v:.2f}" for v in np.asarray(values, dtype=float).tolist()], dtype=object)


def ints(values: np.ndarray) -> np.ndarray:
    return np.array([str(v) for v in np.asarray(values, dtype=np.int64).tolist()], dtype=object)


def warehouse_names(index: np.ndarray) -> np.ndarray:
    """Warehouse numbers (0-based) as the ids the inventory workbooks name their sheets by."""
    index = np.asarray(index, dtype=np.int64)
    names = np.array(warehouse_ids(int(index.max()) + 1 if len(index) else 0), dtype=object)
    return names[index]


def format_customers(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ints(df["customer_id"]),
            "first_name": df["first_name"].to_numpy(),
            "last_name": df["last_name"].to_numpy(),
            "email": df["email"].to_numpy(),
            "signup_date": iso_dates(df["signup_day"]),
            "country": df["country"].to_numpy(),
            "updated_at": iso_timestamps(df["updated_at"]),
        }
    )


def format_products(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_id": ints(df["product_id"]),
            "name": df["name"].to_numpy(),
            "category": df["category"].to_numpy(),
            "price": money(df["price"]),
            "launch_date": iso_dates(df["launch_day"]),
            "updated_at": iso_timestamps(df["updated_at"]),
        }
    )


def format_orders(df: pd.DataFrame, with_coupon: bool) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "order_id": ints(df["order_id"]),
            "customer_id": ints(df["customer_id"]),
            "order_date": iso_dates(df["order_day"]),
            "ship_date": iso_dates(df["ship_day"]),
            "status": df["status"].to_numpy(),
            "payment_method": df["payment_method"].to_numpy(),
            "channel": df["channel"].to_numpy(),
            "updated_at": iso_timestamps(df["updated_at"]),
        }
    )
    if with_coupon:
        out["coupon_code"] = df["coupon_code"].fillna("").to_numpy()
    return out


def format_order_items(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_item_id": ints(df["order_item_id"]),
            "order_id": ints(df["order_id"]),
            "product_id": ints(df["product_id"]),
            "quantity": ints(df["quantity"]),
            "item_price": money(df["item_price"]),
            "warehouse_id": warehouse_names(df["warehouse"]),
        }
    )


def format_shipments(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "shipment_id": ints(df["shipment_id"]),
            "order_id": ints(df["order_id"]),
            "shipment_date": iso_dates(df["shipment_day"]),
            "warehouse_id": warehouse_names(df["warehouse"]),
            "carrier": df["carrier"].to_numpy(),
            "tracking_number": df["tracking_number"].to_numpy(),
            "shipment_cost": money(df["shipment_cost"]),
        }
    )


def csv_bytes(df: pd.DataFrame) -> bytes:
    """What `df.to_csv(index=False)` writes (pandas uses the same csv writer), several times faster:
    missing values are written as empty fields."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(df.columns)
    columns = [[None if v is None or v != v else v for v in df[c].tolist()] for c in df.columns]
    out.writerows(zip(*columns, strict=True))
    return buf.getvalue().encode()


def inventory_sheet_rows(
    snap: pd.DataFrame, warehouse_names: tuple[str, ...]
) -> dict[str, list[list[object]]]:
    """Per warehouse sheet, rows of typed cells (dates as dates, counts as ints, money as floats)."""
    sheets: dict[str, list[list[object]]] = {}
    for w, name in enumerate(warehouse_names):
        part = snap[snap["warehouse"] == w]
        day = (
            (dt.date(1970, 1, 1) + dt.timedelta(days=int(part["snapshot_day"].iloc[0])))
            if len(part)
            else None
        )
        sheets[name] = [
            [day, name, int(p), int(o), int(r), int(rp), float(c)]
            for p, o, r, rp, c in zip(
                part["product_id"],
                part["on_hand"],
                part["reserved"],
                part["reorder_point"],
                part["unit_cost"],
                strict=True,
            )
        ]
    return sheets


_XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        "{sheets}</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _cell_xml(ref: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="1"><v>{(value - _EXCEL_EPOCH).days}</v></c>'
    if isinstance(value, bool | str):
        text = escape(str(value))
        space = ' xml:space="preserve"' if text != text.strip() else ""
        return f'<c r="{ref}" t="inlineStr"><is><t{space}>{text}</t></is></c>'
    return f'<c r="{ref}"><v>{value!r}</v></c>'


def _sheet_xml(header: list[str], rows: list[list[object]]) -> str:
    cols = [chr(ord("A") + i) for i in range(len(header))]
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    ]
    for r, row in enumerate([header, *rows], start=1):
        out.append(
            f'<row r="{r}">'
            + "".join(_cell_xml(f"{c}{r}", v) for c, v in zip(cols, row, strict=True))
            + "</row>"
        )
    out.append("</sheetData></worksheet>")
    return "".join(out)


def xlsx_bytes(sheets: dict[str, list[list[object]]], stamp: dt.datetime) -> bytes:
    """A minimal, valid workbook with one sheet per key (dates as date cells, numbers as numbers, text inline).

    Written directly rather than with openpyxl, which took a second per weekly file; byte-identical for
    identical input because zip entry times and document times are fixed."""
    header = list(SOURCES["inventory"].column_names)
    names = list(sheets)
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(names) + 1)
    )
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = {
        "[Content_Types].xml": _XLSX_STATIC["[Content_Types].xml"].replace("{sheets}", overrides),
        "_rels/.rels": _XLSX_STATIC["_rels/.rels"],
        "docProps/core.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<dc:creator>ecommerce-lakehouse generator</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{iso}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{iso}</dcterms:modified>'
            "</cp:coreProperties>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            + "".join(
                f'<sheet name="{escape(n)}" sheetId="{i}" r:id="rId{i}"/>'
                for i, n in enumerate(names, start=1)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
                f'Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, len(names) + 1)
            )
            + f'<Relationship Id="rId{len(names) + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
            'Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": _XLSX_STATIC["xl/styles.xml"],
    }
    for i, n in enumerate(names, start=1):
        parts[f"xl/worksheets/sheet{i}.xml"] = _sheet_xml(header, sheets[n])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, body.encode())
    return out.getvalue()

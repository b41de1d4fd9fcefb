"""Typed frames to bronze text, and deterministic CSV/XLSX bytes."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import numpy as np
import pandas as pd
from openpyxl import Workbook

from lakehouse.sources import SOURCES

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
    return np.char.mod("%.2f", np.asarray(values, dtype=float)).astype(object)


def ints(values: np.ndarray) -> np.ndarray:
    return np.char.mod("%d", np.asarray(values, dtype=np.int64)).astype(object)


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
        }
    )


def format_shipments(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "shipment_id": ints(df["shipment_id"]),
            "order_id": ints(df["order_id"]),
            "shipment_date": iso_dates(df["shipment_day"]),
            "carrier": df["carrier"].to_numpy(),
            "tracking_number": df["tracking_number"].to_numpy(),
            "shipment_cost": money(df["shipment_cost"]),
        }
    )


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode()


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


def xlsx_bytes(sheets: dict[str, list[list[object]]], stamp: dt.datetime) -> bytes:
    """A workbook with one sheet per key; byte-identical for identical input (fixed zip and core times)."""
    wb = Workbook(write_only=True)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = "ecommerce-lakehouse generator"
    header = list(SOURCES["inventory"].column_names)
    for name, rows in sheets.items():
        ws = wb.create_sheet(title=name)
        ws.append(header)
        for row in rows:
            ws.append(row)
    raw = io.BytesIO()
    wb.save(raw)
    return _normalise_zip(raw.getvalue(), stamp)


def _normalise_zip(data: bytes, stamp: dt.datetime) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _fixed_core_times(body, stamp)
            zi = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, body)
    return out.getvalue()


def _fixed_core_times(body: bytes, stamp: dt.datetime) -> bytes:
    import re

    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    return re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>" + iso + rb"\g<2>", body)

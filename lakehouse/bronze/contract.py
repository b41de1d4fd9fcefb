"""The bronze contract: every source's files, columns, keys and allowed values, declared once.

The generators write to it, the bronze readers and silver cleaning read from it, and the tests
check generated files against it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

CATEGORIES = (
    "Electronics",
    "Apparel",
    "Home & Garden",
    "Sports & Outdoors",
    "Books",
    "Toys & Games",
    "Health & Beauty",
    "Automotive",
    "Food & Beverages",
    "Office Supplies",
)
ORDER_STATUSES = ("Pending", "Processing", "Shipped", "Delivered", "Cancelled")
SHIPPED_STATUSES = ("Shipped", "Delivered")
PAYMENT_METHODS = ("Credit Card", "Debit Card", "PayPal", "Apple Pay", "Google Pay", "Gift Card")
CHANNELS = ("web", "mobile_app", "marketplace", "phone")
CARRIERS = ("UPS", "FedEx", "USPS", "DHL", "Amazon Logistics", "OnTrac")
EVENT_TYPES = (
    "page_view",
    "search",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "checkout_start",
    "purchase",
)
DEVICES = ("desktop", "mobile", "tablet")
TRAFFIC_SOURCES = ("direct", "organic_search", "paid_search", "email", "social", "affiliate", "app")
COUNTRIES = (
    "United States",
    "United Kingdom",
    "Canada",
    "Germany",
    "France",
    "Australia",
    "Netherlands",
    "Spain",
    "Italy",
    "Sweden",
    "Japan",
    "Brazil",
    "Mexico",
    "India",
)

# Date and time formats the generators emit: the clean one first, then the dirty variants.
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%b-%Y")
TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S")

QUANTITY_RANGE = (1, 5)
PRICE_RANGE = (5.00, 5000.00)
SHIPMENT_COST_RANGE = (5.00, 50.00)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # id | int | decimal | date | timestamp | string | email | enum
    required: bool = True
    references: str | None = None  # "source.column" this foreign key points to
    allowed: tuple[str, ...] | None = None
    range: tuple[float, float] | None = None
    # (column, values): the value must be present exactly when that column holds one of the values
    # (ship_date exactly when an order is Shipped or Delivered); `required` is then False.
    required_when: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Source:
    name: str
    format: str  # csv | jsonl | xlsx
    folder: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    updated_at: str | None = None  # the column that orders versions of one key
    optional_columns: tuple[Column, ...] = ()  # columns that appear part-way through the range

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in (*self.columns, *self.optional_columns):
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name}")


def _c(name: str, kind: str, **kw: object) -> Column:
    return Column(name, kind, **kw)  # type: ignore[arg-type]


CUSTOMERS = Source(
    "customers",
    "csv",
    "customers",
    ("customer_id",),
    (
        _c("customer_id", "id"),
        _c("first_name", "string"),
        _c("last_name", "string"),
        _c("email", "email"),
        _c("signup_date", "date"),
        _c("country", "enum", allowed=COUNTRIES),
        _c("updated_at", "timestamp"),
    ),
    updated_at="updated_at",
)
PRODUCTS = Source(
    "products",
    "csv",
    "products",
    ("product_id",),
    (
        _c("product_id", "id"),
        _c("name", "string"),
        _c("category", "enum", allowed=CATEGORIES),
        _c("price", "decimal", range=PRICE_RANGE),
        _c("launch_date", "date"),
        _c("updated_at", "timestamp"),
    ),
    updated_at="updated_at",
)
ORDERS = Source(
    "orders",
    "csv",
    "orders",
    ("order_id",),
    (
        _c("order_id", "id"),
        _c("customer_id", "id", references="customers.customer_id"),
        _c("order_date", "date"),
        _c("ship_date", "date", required=False, required_when=("status", SHIPPED_STATUSES)),
        _c("status", "enum", allowed=ORDER_STATUSES),
        _c("payment_method", "enum", allowed=PAYMENT_METHODS),
        _c("channel", "enum", allowed=CHANNELS),
        _c("updated_at", "timestamp"),
    ),
    updated_at="updated_at",
    optional_columns=(_c("coupon_code", "string", required=False),),
)
ORDER_ITEMS = Source(
    "order_items",
    "csv",
    "order_items",
    ("order_item_id",),
    (
        _c("order_item_id", "id"),
        _c("order_id", "id", references="orders.order_id"),
        _c("product_id", "id", references="products.product_id"),
        _c("quantity", "int", range=QUANTITY_RANGE),
        _c(
            "item_price", "decimal", range=(PRICE_RANGE[0] * 0.5, PRICE_RANGE[1] * 1.1)
        ),  # promotions and coupons
        _c("warehouse_id", "string"),  # where the line is picked and ships from
    ),
)
SHIPMENTS = Source(
    "shipments",
    "csv",
    "shipments",
    ("shipment_id",),
    (
        _c("shipment_id", "id"),
        _c("order_id", "id", references="orders.order_id"),
        _c("shipment_date", "date"),
        _c("warehouse_id", "string"),  # a parcel holds what one warehouse picked of the order
        _c("carrier", "enum", allowed=CARRIERS),
        _c("tracking_number", "string"),
        _c("shipment_cost", "decimal", range=SHIPMENT_COST_RANGE),
    ),
)
CLICKSTREAM = Source(
    "clickstream",
    "jsonl",
    "clickstream",
    ("event_id",),
    (
        _c("event_id", "string"),
        _c("event_ts", "timestamp"),
        _c("session_id", "string"),
        _c("customer_id", "id", required=False, references="customers.customer_id"),
        _c("event_type", "enum", allowed=EVENT_TYPES),
        _c("product_id", "id", required=False, references="products.product_id"),
        _c(
            "order_id",
            "id",
            required=False,
            references="orders.order_id",
            required_when=("event_type", ("purchase",)),
        ),
        _c("page", "string"),
        _c("referrer", "string", required=False),
        _c("traffic_source", "enum", allowed=TRAFFIC_SOURCES),
        _c("device", "enum", allowed=DEVICES),
        _c("country", "enum", allowed=COUNTRIES),
        _c("properties", "string", required=False),
    ),
    updated_at="event_ts",
)
INVENTORY = Source(
    "inventory",
    "xlsx",
    "inventory",
    ("snapshot_date", "warehouse_id", "product_id"),
    (
        _c("snapshot_date", "date"),
        _c("warehouse_id", "string"),
        _c("product_id", "id", references="products.product_id"),
        _c("on_hand", "int", range=(0, 10_000_000)),
        _c("reserved", "int", range=(0, 10_000_000)),
        _c("reorder_point", "int", range=(0, 10_000_000)),
        _c("unit_cost", "decimal", range=(0.01, 5000.0)),
    ),
)

SOURCES: dict[str, Source] = {
    s.name: s for s in (CUSTOMERS, PRODUCTS, ORDERS, ORDER_ITEMS, SHIPMENTS, CLICKSTREAM, INVENTORY)
}


def daily_file(source: str, day: str) -> str:
    """Path of a daily CSV under bronze/, e.g. orders/orders_2026-01-01.csv."""
    return f"{SOURCES[source].folder}/{source}_{day}.csv"


HISTORY_SOURCES = ("customers", "products", "orders", "order_items", "shipments")
HISTORY_MARK = "_history_"  # in the name of every file of the one-time export of the past


def month_end(year: int, month: int) -> dt.date:
    """The last day of a calendar month (the business date of a history export's month file)."""
    return dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def history_file(source: str, year: int, month: int) -> str:
    """A month of the one-time export of the shop's past, e.g. orders/orders_history_2025-03.csv."""
    return f"{SOURCES[source].folder}/{source}{HISTORY_MARK}{year}-{month:02d}.csv"


def clickstream_file(day: str, hour: int, part: int = 0) -> str:
    """An hour's clickstream file; busy days are written in several parts per hour (part 1, 2, ...)."""
    suffix = f"_part{part}" if part else ""
    return f"clickstream/date={day}/hour={hour:02d}/events_{day}T{hour:02d}{suffix}.jsonl"


def inventory_file(iso_year: int, iso_week: int) -> str:
    return f"inventory/inventory_{iso_year}-W{iso_week:02d}.xlsx"


def file_date(path: str) -> dt.date | None:
    """The business date a bronze file is for: its day, the Monday of an inventory file's ISO week, or
    the last day of a history export's month; None when the name holds no valid date (`date_problem`
    says why)."""
    if m := re.search(r"(\d{4})-W(\d{2})", path):
        try:
            return dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
        except ValueError:
            return None
    if m := re.search(r"_history_(\d{4})-(\d{2})\.", path):
        if not 1 <= int(m[2]) <= 12:
            return None
        return month_end(int(m[1]), int(m[2]))
    if m := re.search(r"(\d{4}-\d{2}-\d{2})", path):
        try:
            return dt.date.fromisoformat(m[1])
        except ValueError:
            return None
    return None


def date_problem(path: str) -> str | None:
    """Why a file name's date is not a date (a week 53 in a year of 52 ISO weeks, a 2026-02-30), or
    None when it names a valid date or none at all."""
    if m := re.search(r"(\d{4})-W(\d{2})", path):
        weeks = dt.date(int(m[1]), 12, 28).isocalendar()[1]
        if not 1 <= int(m[2]) <= weeks:
            return f"the file name's week {m[0]} does not exist ({m[1]} has {weeks} ISO weeks)"
        return None
    if (m := re.search(r"_history_(\d{4}-(\d{2}))\.", path)) and file_date(path) is None:
        return f"the file name's month {m[1]} does not exist"
    if (m := re.search(r"(\d{4}-\d{2}-\d{2})", path)) and file_date(path) is None:
        return f"the file name's date {m[1]} does not exist"
    return None


def warehouse_ids(n: int) -> tuple[str, ...]:
    return tuple(f"WH-{i + 1:02d}" for i in range(n))


_SPARK_TOKENS = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%b": "MMM"}


def spark_pattern(strftime_format: str) -> str:
    """A strftime format as a Spark datetime pattern ('T' and 'Z' quoted as literals)."""
    out = strftime_format
    for token, pattern in _SPARK_TOKENS.items():
        out = out.replace(token, pattern)
    return out.replace("T", "'T'").replace("Z", "X")


# What silver parses: every format the generators emit (clickstream timestamps carry milliseconds).
SPARK_DATE_PATTERNS = tuple(spark_pattern(f) for f in DATE_FORMATS)
SPARK_TIMESTAMP_PATTERNS = (
    "yyyy-MM-dd'T'HH:mm:ss.SSSX",
    *(spark_pattern(f) for f in TIMESTAMP_FORMATS),
)

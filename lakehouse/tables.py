"""The table registry: every silver table declared once (name, source, keys, versioning, partitioning,
location). Readers, writers, tests and validation all look tables up here."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.bronze.contract import SOURCES, Source
from lakehouse.core import storage

# Bronze column kinds to Spark types.
SPARK_TYPES = {
    "id": "BIGINT",
    "int": "INT",
    "decimal": "DECIMAL(12,2)",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "string": "STRING",
    "email": "STRING",
    "enum": "STRING",
}
LINEAGE = (
    ("_source_file", "STRING"),
    ("_source_row", "INT"),
    ("_ingested_at", "TIMESTAMP"),
    ("_run_id", "STRING"),
)


@dataclass(frozen=True)
class SilverTable:
    name: str
    source: str
    key: tuple[str, ...]
    mode: str  # current: latest version per key | history: every distinct version | unique: first wins
    version: str | None = None  # the column ordering versions (current and history tables)
    partition_by: tuple[str, ...] = ()
    extra_columns: tuple[tuple[str, str], ...] = ()  # derived columns beyond the bronze contract
    description: str = ""

    @property
    def contract(self) -> Source:
        return SOURCES[self.source]

    def uri(self, root: str) -> str:
        return storage.join(root, "silver", self.name)

    def columns(self) -> list[tuple[str, str]]:
        src = self.contract
        base = [(c.name, SPARK_TYPES[c.kind]) for c in (*src.columns, *src.optional_columns)]
        # _rescued: a file's columns the contract does not know, as JSON (CSV and workbooks name them)
        rescued = [] if src.format == "jsonl" else [("_rescued", "STRING")]
        return [*base, *self.extra_columns, ("_orphan_fks", "ARRAY<STRING>"), *rescued, *LINEAGE]

    @property
    def merge_key(self) -> tuple[str, ...]:
        return (*self.key, self.version) if self.mode == "history" and self.version else self.key


_PROPS = (
    ("event_date", "DATE"),
    ("prop_query", "STRING"),
    ("prop_results", "INT"),
    ("prop_category", "STRING"),
    ("prop_price", "DECIMAL(12,2)"),
    ("prop_quantity", "INT"),
    ("prop_revenue", "DECIMAL(12,2)"),
    ("prop_items", "INT"),
    ("prop_load_ms", "INT"),
)

SILVER: dict[str, SilverTable] = {
    t.name: t
    for t in (
        SilverTable("customers", "customers", ("customer_id",), "current", "updated_at", description="one row per customer, latest version"),
        SilverTable("customers_history", "customers", ("customer_id",), "history", "updated_at", description="every version of every customer"),
        SilverTable("products", "products", ("product_id",), "current", "updated_at", description="one row per product, latest version"),
        SilverTable("products_history", "products", ("product_id",), "history", "updated_at", description="every version of every product"),
        SilverTable("orders", "orders", ("order_id",), "current", "updated_at", description="one row per order, latest status"),
        SilverTable("orders_history", "orders", ("order_id",), "history", "updated_at", description="every status change of every order"),
        SilverTable("order_items", "order_items", ("order_item_id",), "unique", description="one row per order line"),
        SilverTable("shipments", "shipments", ("shipment_id",), "unique", description="one row per shipment"),
        SilverTable(
            "clickstream_events", "clickstream", ("event_id",), "unique", "event_ts", partition_by=("event_date",),
            extra_columns=_PROPS, description="one row per clickstream event, deduplicated by event_id",
        ),
        SilverTable(
            "inventory_snapshots", "inventory", ("snapshot_date", "warehouse_id", "product_id"), "unique",
            description="weekly stock per warehouse and product",
        ),
    )
}  # fmt: skip

# Tables the ingestion keeps about itself.
QUARANTINE = "quarantine"
INGEST_RUNS = "ingest_runs"  # one row per source and completed run
INGEST_BATCHES = "ingest_batches"  # one row per source and committed batch (a killed run keeps its own)
LEDGER = "_ingest_ledger"
# Tables the quality gates keep, under gold/: one row per expectation and run, one per table and run.
DQ_RESULTS = "dq_results"
DQ_SCORECARD = "dq_scorecard"
BUILD_LOG = "_build_log"  # under gold/: which silver versions each gold build read


def silver_uri(root: str, name: str) -> str:
    return storage.join(root, "silver", name)


def targets_of(source: str) -> list[SilverTable]:
    return [t for t in SILVER.values() if t.source == source]


@dataclass(frozen=True)
class GoldTable:
    name: str
    key: tuple[str, ...]
    description: str
    partition_by: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # the gold tables it is built from (a KPI's arguments, in order)
    optional: tuple[str, ...] = ()  # further arguments, None when the table is absent

    @property
    def sources(self) -> tuple[str, ...]:
        return (*self.inputs, *self.optional)

    def uri(self, root: str) -> str:
        return storage.join(root, "gold", self.name)


GOLD: dict[str, GoldTable] = {
    t.name: t
    for t in (
        GoldTable(
            "dim_date",
            ("date_key",),
            "one row per calendar day covering the data, with weekend and peak-day flags",
        ),
        GoldTable(
            "dim_customer",
            ("customer_sk",),
            "type 2 on e-mail and country; hashed and masked e-mail only; unknown member -1",
        ),
        GoldTable("dim_product", ("product_sk",), "type 2 on list price and category; unknown member -1"),
        GoldTable("dim_channel", ("channel_sk",), "sales channels"),
        GoldTable("dim_payment_method", ("payment_method_sk",), "payment methods"),
        GoldTable("dim_carrier", ("carrier_sk",), "shipping carriers"),
        GoldTable("dim_traffic_source", ("traffic_source_sk",), "clickstream traffic sources"),
        GoldTable(
            "dim_warehouse",
            ("warehouse_sk",),
            "warehouses lines are picked in, parcels ship from and stock is counted in; unknown member -1",
        ),
        GoldTable(
            "fact_order_items",
            ("order_item_id",),
            "one row per order line, dimensions as of the order date, and the warehouse it is picked in",
            inputs=("dim_customer", "dim_product", "dim_channel", "dim_payment_method", "dim_warehouse"),
        ),
        GoldTable(
            "fact_orders",
            ("order_id",),
            "one row per order: totals, status, days to ship and to deliver",
            inputs=("fact_order_items", "dim_customer", "dim_channel", "dim_payment_method"),
        ),
        GoldTable(
            "fact_shipments",
            ("shipment_id",),
            "one row per shipment (a parcel from one warehouse): carrier, cost, days from order to shipment",
            inputs=("dim_carrier", "dim_warehouse"),
        ),
        GoldTable(
            "fact_sessions",
            ("session_id",),
            "one row per clickstream session: duration, pages, furthest funnel step, conversion",
            inputs=("dim_customer", "dim_traffic_source"),
        ),
        GoldTable(
            "fact_inventory_snapshot",
            ("snapshot_date_key", "warehouse_id", "product_id"),
            "weekly stock per product and warehouse, with days of cover from that warehouse's shipments",
            inputs=("fact_order_items", "dim_product", "dim_warehouse"),
            optional=("fact_shipments",),
        ),
        GoldTable(
            "kpi_daily_sales",
            ("date_key",),
            "revenue, orders, units, average order value, new and returning customers per day",
            inputs=("fact_orders", "dim_customer"),
        ),
        GoldTable(
            "kpi_revenue_by_category_country_month",
            ("month", "category", "country"),
            "revenue by month, category and country",
            inputs=("fact_order_items", "dim_product", "dim_customer"),
        ),
        GoldTable(
            "kpi_top_products_monthly",
            ("month", "product_id"),
            "top products per month by revenue and by units, with ranks",
            inputs=("fact_order_items", "dim_product"),
        ),
        GoldTable(
            "kpi_retention_cohorts",
            ("grain", "cohort_start", "period"),
            "monthly and weekly retention by first-order cohort, incomplete periods flagged",
            inputs=("fact_orders", "dim_customer"),
        ),
        GoldTable(
            "kpi_customer_value",
            ("customer_id",),
            "revenue and gross margin to date, RFM scores and segment per customer",
            inputs=("fact_orders", "dim_customer", "fact_order_items", "dim_product"),
            optional=("fact_inventory_snapshot",),
        ),
        GoldTable(
            "kpi_conversion_funnel",
            ("date_key", "traffic_source", "device"),
            "funnel steps, conversion and cart abandonment",
            inputs=("fact_sessions", "dim_traffic_source"),
        ),
        GoldTable(
            "kpi_inventory_health",
            ("snapshot_date_key", "warehouse_id"),
            "stock-outs, reorder alerts, days of cover, sell-through",
            inputs=("fact_inventory_snapshot",),
        ),
        GoldTable(
            "kpi_shipping_performance",
            ("carrier", "month"),
            "days to ship and deliver, cost per order, by carrier",
            inputs=("fact_shipments", "fact_orders", "dim_carrier"),
        ),
        GoldTable(
            "metric_series",
            ("metric", "slice", "grain", "period_start"),
            "business and pipeline metrics per slice and day, hour or week, for the monitoring",
            inputs=("fact_orders", "fact_order_items", "dim_product"),
            optional=("fact_sessions", "fact_shipments", "dim_carrier", "kpi_inventory_health"),
        ),
        GoldTable(
            "metric_anomalies",
            ("metric", "slice", "grain", "period_start"),
            "periods where a metric left the band its history predicts: observed, expected, score, severity",
            inputs=("metric_series",),
        ),
    )
}

# A dimension's unknown member: the key facts point to when a natural key does not resolve (gold
# models, their suites and the dashboard).
UNKNOWN_SK = -1

# A session's furthest funnel step, in order (fact_sessions, the funnel KPI and its suite).
FUNNEL = ("visit", "product_view", "add_to_cart", "checkout_start", "purchase")


def lake_tables(root: str) -> list[tuple[str, str, str]]:
    """(layer, name, uri) of every table the pipeline may keep under `root`, data and bookkeeping."""
    silver = [*SILVER, QUARANTINE, INGEST_RUNS, INGEST_BATCHES, LEDGER]
    gold = [*GOLD, DQ_RESULTS, DQ_SCORECARD, BUILD_LOG]
    return [("silver", n, silver_uri(root, n)) for n in silver] + [
        ("gold", n, storage.join(root, "gold", n)) for n in gold
    ]


# Each layer's registry, for code that takes the layer as a value.
REGISTRIES: dict[str, dict[str, SilverTable] | dict[str, GoldTable]] = {"silver": SILVER, "gold": GOLD}

"""The one-time export of the shop's past (TPC-DI's historical load): the days between opening and the
first daily file are simulated like any other, and written as monthly export files instead of daily ones.

Customers and products are exported as every version they had (a change log), orders as their latest
state at the export, order items with their order's month, shipments by the month they shipped. A month
is written once none of its orders can change any more (or when the history ends), so memory holds about
a month and a half of the past, whatever its length.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from generators.world import DayOutput, to_date
from lakehouse.bronze.contract import month_end

SETTLED_DAYS = 16  # an order is delivered or cancelled at most this many days after it was placed


@dataclass
class MonthExport:
    year: int
    month: int
    customers: list[pd.DataFrame] = field(default_factory=list)
    products: list[pd.DataFrame] = field(default_factory=list)
    orders: list[pd.DataFrame] = field(default_factory=list)
    order_items: list[pd.DataFrame] = field(default_factory=list)
    shipments: list[pd.DataFrame] = field(default_factory=list)

    @property
    def last_day(self) -> dt.date:
        return month_end(self.year, self.month)

    def orders_latest(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Each order's latest state, and the states it replaced (real earlier versions)."""
        rows = pd.concat(self.orders, ignore_index=True)
        rows = rows.sort_values(["order_id", "updated_at"], kind="stable")
        last = ~rows.duplicated("order_id", keep="last")
        return rows[last].reset_index(drop=True), rows[~last].reset_index(drop=True)


def _months(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of days since 1970-01-01."""
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


class HistoryExport:
    """Collects the simulated past day by day and hands back the months that are complete."""

    def __init__(self) -> None:
        self.months: dict[tuple[int, int], MonthExport] = {}

    def _month(self, months_since_1970: int) -> MonthExport:
        key = (1970 + months_since_1970 // 12, months_since_1970 % 12 + 1)
        return self.months.setdefault(key, MonthExport(*key))

    def add(self, out: DayOutput) -> None:
        m = self._month(int(_months(out.day)))
        m.customers.append(out.customers)
        m.products.append(out.products)
        m.shipments.append(out.shipments)
        m.order_items.append(out.order_items)
        m.orders.append(out.orders.iloc[0:0])  # every month knows the columns, even without orders
        if len(out.orders):
            month = _months(out.orders["order_day"].to_numpy())  # orders belong to the month they were placed
            for value in np.unique(month):
                self._month(int(value)).orders.append(out.orders[month == value])

    def complete(self, today: int, final: bool) -> list[MonthExport]:
        """The months no order of which can change after `today` (all of them when `final`), oldest first."""
        ready = []
        for key in sorted(self.months):
            m = self.months[key]
            if final or (to_date(today) - m.last_day).days > SETTLED_DAYS:
                ready.append(self.months.pop(key))
        return ready

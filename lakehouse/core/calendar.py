"""The shop's calendar: the peaks the generator simulates, which gold's dim_date flags too."""

from __future__ import annotations

import datetime as dt

WEEKDAY_DEMAND = (0.97, 0.95, 0.96, 0.98, 1.02, 1.08, 1.10)  # Monday .. Sunday


def thanksgiving(year: int) -> dt.date:
    """US Thanksgiving: the fourth Thursday of November."""
    first = dt.date(year, 11, 1)
    first_thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + dt.timedelta(weeks=3)


def holiday_name(day: dt.date) -> str | None:
    """The named retail peak a date falls on, if any."""
    tg = thanksgiving(day.year)
    named = {
        tg: "Thanksgiving",
        tg + dt.timedelta(days=1): "Black Friday",
        tg + dt.timedelta(days=4): "Cyber Monday",
        dt.date(day.year, 2, 14): "Valentine's Day",
        dt.date(day.year, 12, 24): "Christmas Eve",
        dt.date(day.year, 12, 25): "Christmas Day",
        dt.date(day.year, 12, 26): "Boxing Day",
        dt.date(day.year, 1, 1): "New Year's Day",
    }
    return named.get(day)


def in_holiday_season(day: dt.date) -> bool:
    """December trading before Christmas Eve: busier every day, but not a holiday."""
    return day.month == 12 and day.day < 24


def holiday_multiplier(day: dt.date) -> float:
    """How much busier the shop is on a date than an ordinary day of the same weekday."""
    name = holiday_name(day)
    if name is None and in_holiday_season(day):
        return 1.35 + 0.02 * day.day
    return {
        "Thanksgiving": 1.4,
        "Black Friday": 3.2,
        "Cyber Monday": 2.7,
        "Valentine's Day": 1.25,
        "Christmas Eve": 1.1,
        "Christmas Day": 0.55,
        "Boxing Day": 1.5,
        "New Year's Day": 0.7,
    }.get(name or "", 1.0)


def demand_multiplier(day: dt.date, epoch: dt.date) -> float:
    """Weekly seasonality x holiday peaks x a growth trend of about 35% a year since `epoch`."""
    trend = 1.0 + 0.35 * ((day - epoch).days / 365.0)
    return WEEKDAY_DEMAND[day.weekday()] * holiday_multiplier(day) * max(trend, 0.5)

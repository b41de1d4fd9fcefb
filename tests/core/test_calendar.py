from __future__ import annotations

import datetime as dt

from lakehouse.core.calendar import demand_multiplier, holiday_name, in_holiday_season, thanksgiving


def test_thanksgiving_black_friday_cyber_monday() -> None:
    assert thanksgiving(2025) == dt.date(2025, 11, 27)
    assert thanksgiving(2026) == dt.date(2026, 11, 26)
    assert holiday_name(dt.date(2025, 11, 28)) == "Black Friday"
    assert holiday_name(dt.date(2025, 12, 1)) == "Cyber Monday"
    assert holiday_name(dt.date(2025, 12, 10)) is None and in_holiday_season(dt.date(2025, 12, 10))
    assert not in_holiday_season(dt.date(2025, 12, 24)) and not in_holiday_season(dt.date(2025, 11, 30))
    assert holiday_name(dt.date(2025, 10, 10)) is None


def test_demand_has_weekly_seasonality_peaks_and_growth() -> None:
    epoch = dt.date(2026, 3, 2)  # a Monday
    week = [demand_multiplier(epoch + dt.timedelta(days=i), epoch) for i in range(7)]
    assert max(week) / min(week) > 1.1 and week.index(max(week)) >= 5  # weekends busiest
    bf = demand_multiplier(dt.date(2026, 11, 27), epoch)
    ordinary = demand_multiplier(dt.date(2026, 11, 20), epoch)
    assert bf > 2.5 * ordinary
    assert demand_multiplier(dt.date(2027, 3, 1), epoch) > 1.25 * demand_multiplier(
        dt.date(2026, 3, 2), epoch
    )

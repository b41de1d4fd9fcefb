"""gold.metric_anomalies: periods where a metric left the band its own history predicts.

The method (README, "Monitoring"), per metric and slice, with a baseline from earlier periods only:

1. Calendar: a metric that scales with demand is divided by the known calendar's multiplier for its
   day (lakehouse.core.calendar, which the generator and dim_date share), so Black Friday, Cyber
   Monday and December are expected, not anomalies.
2. Seasonal median: the expected value of a day is the median of the same weekday in the previous
   four weeks (at least two); of an hour, the median of that hour over the previous fourteen days
   (at least seven); of a week, the median of the previous four weeks (at least two). A median is robust to
   the peaks and incidents among them.
3. Robust band: the spread is 1.4826 x the median absolute deviation of the last 28 residuals
   (relative for counts), never below the sampling noise (Poisson for counts, binomial for shares),
   and wider on peak days (35% of the log of the calendar multiplier: a peak's size is uncertain).
   The residuals' median is a level shift the seasonal median misses (growth). score = residual /
   spread.
4. Alert: |score| at least `threshold` in the metric's alert direction, and a change at least the
   metric's `min_change`. Consecutive periods off the same way (|score| >= 2) are one run, scored as a
   whole: days and weeks by the sum of their scores over the square root of their number, so a week
   of late deliveries is seen even when no single day is; hours (also joined by a change of at least
   `min_change`) also by the exact Poisson tail of their total, scaled by the series' overdispersion
   (the spread of its Pearson residuals),
   so a four-hour outage of a few orders an hour is seen. One anomaly per run. A series is watched after
   four weeks of history. Rows landed per bronze feed are judged on each day alone: a feed alerts
   when it sends less than a fifth of its usual rows, whatever its day-to-day size does.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from lakehouse.core.calendar import holiday_multiplier
from lakehouse.core.config import MonitoringConfig
from lakehouse.monitoring.definitions import METRICS, Metric

METHOD = "seasonal-median-mad"
ANOMALY_COLUMNS = (
    "metric", "slice", "grain", "period_start", "period_end", "periods", "direction", "observed",
    "expected", "lower", "upper", "score", "severity", "method",
)  # fmt: skip
STEP = {"day": pd.Timedelta(days=1), "hour": pd.Timedelta(hours=1), "week": pd.Timedelta(weeks=1)}
# (lag in periods, how many lags, at least) of the seasonal median per grain.
SEASON = {"day": (7, 4, 2), "hour": (24, 14, 7), "week": (1, 4, 2)}
HISTORY = {"day": 28, "hour": 168, "week": 8}  # residuals the level and spread are estimated from
MIN_RESIDUALS = {"day": 5, "hour": 48, "week": 3}
BURN_IN = {"day": 28, "hour": 28 * 24, "week": 4}  # periods of a series before it is watched
RUN_SCORE = 2.0  # hours joining a run
FEED_SPREAD = 0.1  # a feed's relative band: it alerts when it sends well under its usual rows
CALENDAR_DOUBT = 0.35  # a peak day's band widens by this share of the log of its calendar multiplier


def calendar_factor(periods: pd.Series) -> np.ndarray:
    return np.array([holiday_multiplier(ts.date()) for ts in pd.to_datetime(periods)])


def scored(values: pd.DataFrame, metric: Metric, grain: str) -> pd.DataFrame:
    """One series (columns period_start, value, support, in any order) on a regular grid, with each
    period's expected value, spread and score from earlier periods only."""
    s = values.sort_values("period_start").set_index("period_start")[["value", "support"]]
    grid = pd.date_range(s.index.min(), s.index.max(), freq=STEP[grain])
    s = s.reindex(grid)
    if metric.kind in ("count", "feed", "zero"):  # no row: nothing happened
        s = s.fillna({"value": 0.0, "support": 0})
    cal = calendar_factor(pd.Series(grid)) if metric.calendar else np.ones(len(grid))
    adj = s["value"].to_numpy(dtype=float) / cal
    lag, n_lags, need = SEASON[grain]
    past = np.column_stack([_shift(adj, lag * j) for j in range(1, n_lags + 1)])
    enough = np.sum(~np.isnan(past), axis=1) >= need
    base = np.full(len(grid), np.nan)
    base[enough] = np.nanmedian(past[enough], axis=1)
    observed = s["value"].to_numpy(dtype=float)
    support = s["support"].to_numpy(dtype=float)
    relative = metric.kind in ("count", "feed")
    with np.errstate(all="ignore"):
        resid = (adj / base - 1.0) if relative else (adj - base)
        pearson = (adj - base) / np.sqrt(np.maximum(base, 1.0))  # counts: about 1 if Poisson
    # The recent residuals' median is a level shift the seasonal median misses (a trend, a shop that
    # just opened); their spread around it, the band's width.
    spread, level = np.full(len(grid), np.nan), np.full(len(grid), np.nan)
    dispersion = np.ones(len(grid))  # how much noisier than Poisson: a run's exact tail is divided by it
    for t in range(len(grid)):
        lo = max(0, t - HISTORY[grain])
        window = resid[lo:t]
        window = window[np.isfinite(window)]
        if len(window) >= MIN_RESIDUALS[grain]:
            level[t] = np.median(window)
            spread[t] = 1.4826 * np.median(np.abs(window - level[t]))
            p = pearson[lo:t][np.isfinite(pearson[lo:t])]
            dispersion[t] = max(1.0, 1.4826 * float(np.median(np.abs(p - np.median(p)))))
    if metric.kind == "zero":
        level[:] = 0.0
    level = np.nan_to_num(level, nan=0.0)
    base = base * (1.0 + level) if relative else base + level
    expected = base * cal
    with np.errstate(all="ignore"):
        resid = (adj / base - 1.0) if relative else (adj - base)
    usual = np.full(len(grid), np.nan)
    usual[enough] = np.nanmedian(
        np.column_stack([_shift(support, lag * j) for j in range(1, n_lags + 1)])[enough], axis=1
    )
    with np.errstate(all="ignore"):
        if relative:
            floor = 1.0 / np.sqrt(np.maximum(expected, 1.0))
        elif metric.kind == "ratio":
            floor = np.sqrt(np.clip(base * (1 - base), 1e-6, None) / np.maximum(support, 1.0))
        else:
            floor = np.maximum(np.abs(base) * 0.02, 1e-9) + 0.0 * support
        sigma = np.fmax(np.nan_to_num(spread, nan=0.0), floor)
        if metric.kind == "feed":  # a fixed band: a feed's size is the business metrics' to watch
            sigma = np.full(len(grid), FEED_SPREAD)
        if relative:  # a known peak is expected, but not its exact size
            sigma = np.sqrt(sigma**2 + (CALENDAR_DOUBT * np.log(cal)) ** 2)
        thin = metric.kind in ("count", "feed", "mean") and grain != "hour"  # an hour's support: over its run
        watched = (np.arange(len(grid)) >= BURN_IN[grain]) & (
            (np.nan_to_num(usual) >= metric.min_support) if thin else True
        )
        score = np.where(watched, resid / sigma, np.nan)
        change = resid / np.abs(base) if metric.kind == "mean" else resid  # absolute for shares only
    if metric.kind == "zero":
        expected = np.zeros(len(grid))
        sigma = np.full(len(grid), 0.1)
        score = np.where(observed > 0, 10.0 * observed, 0.0)
        change = np.where(observed > 0, 1.0, 0.0)
    width = sigma * (base if relative else 1.0) * (cal if metric.calendar else 1.0)
    return pd.DataFrame(
        {
            "period_start": grid,
            "observed": observed,
            "expected": expected,
            "lower": expected - 5.0 * width if metric.kind != "zero" else 0.0,
            "upper": expected + 5.0 * width if metric.kind != "zero" else 0.0,
            "score": score,
            "change": change,
            "support": support,
            "dispersion": dispersion,
        }
    )


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    """`a` k periods later: position t holds a[t - k] (NaN before the start)."""
    out = np.full(len(a), np.nan)
    if k < len(a):
        out[k:] = a[: len(a) - k]
    return out


def _allowed(metric: Metric, direction: np.ndarray) -> np.ndarray:
    return np.ones(len(direction), bool) if metric.alert == "both" else direction == metric.alert


DEFAULTS = MonitoringConfig()


def detect(series: pd.DataFrame, settings: MonitoringConfig = DEFAULTS) -> pd.DataFrame:
    """Every anomaly in `series` (rows of metric_series), one row per run of flagged periods."""
    with warnings.catch_warnings():  # medians of periods without a baseline yet are NaN, as meant
        warnings.simplefilter("ignore", RuntimeWarning)
        return _detect(series, settings)


def _detect(series: pd.DataFrame, settings: MonitoringConfig) -> pd.DataFrame:
    found: list[dict[str, object]] = []
    for (name, slice_, grain), group in series.groupby(["metric", "slice", "grain"], sort=True):
        metric = METRICS.get(str(name))
        if metric is None or group["value"].notna().sum() == 0:
            continue
        s = scored(group, metric, str(grain)).dropna(subset=["score"])
        if not len(s):
            continue
        found += _runs(s, metric, str(slice_), str(grain), settings)
    out = pd.DataFrame(found, columns=list(ANOMALY_COLUMNS))
    return out.sort_values(["period_start", "metric", "slice"]).reset_index(drop=True)


def _runs(
    s: pd.DataFrame, metric: Metric, slice_: str, grain: str, settings: MonitoringConfig
) -> list[dict[str, object]]:
    direction = np.where(s["score"].to_numpy() >= 0, "high", "low")
    score = s["score"].to_numpy()
    change = s["change"].to_numpy()
    step = STEP[grain]
    if grain == "hour":  # runs of consistently off hours, scored as one
        joined = ((np.abs(score) >= RUN_SCORE) | (np.abs(change) >= metric.min_change)) & _allowed(
            metric, direction
        )
    elif metric.kind == "feed":  # every day of a feed's run is itself well under its usual rows
        joined = (
            (np.abs(change) >= metric.min_change)
            & (np.abs(score) >= settings.threshold)
            & _allowed(metric, direction)
        )
    else:
        joined = (np.abs(score) >= RUN_SCORE) & _allowed(metric, direction)
    out: list[dict[str, object]] = []
    periods = s["period_start"].to_numpy()
    i = 0
    while i < len(s):
        if not joined[i]:
            i += 1
            continue
        j = i
        while (
            j + 1 < len(s) and joined[j + 1] and direction[j + 1] == direction[i]
            and periods[j + 1] - periods[j] == step
        ):  # fmt: skip
            j += 1
        run = s.iloc[i : j + 1]
        obs, exp = float(run["observed"].sum()), float(run["expected"].sum())
        if grain == "hour":
            # The exact tail for a few counts an hour; the hours' own scores for busy, noisy series.
            exact = poisson_score(obs, exp) / float(run["dispersion"].median())
            summed = float(run["score"].sum()) / math.sqrt(len(run))
            run_score = exact if abs(exact) >= abs(summed) else summed
            run_change = obs / exp - 1.0 if exp > 0 else 0.0
            keep = (
                abs(run_score) >= settings.threshold
                and abs(run_change) >= metric.min_change
                and exp >= metric.min_support
            )
            best = run_score
        else:  # days (weeks) off the same way: their scores add up (a week-long delay, a few days at a time)
            scores = run["score"].to_numpy()
            feed = metric.kind == "feed"
            best = (
                float(scores[np.argmax(np.abs(scores))])
                if feed
                else float(scores.sum()) / math.sqrt(len(run))
            )
            keep = abs(best) >= settings.threshold and float(np.abs(run["change"]).max()) >= metric.min_change
            if metric.kind != "count":  # a run's level is its periods' mean, not their sum
                obs, exp = float(run["observed"].mean()), float(run["expected"].mean())
        if keep:
            size = abs(best)
            out.append(
                {
                    "metric": metric.name, "slice": slice_, "grain": grain,
                    "period_start": pd.Timestamp(periods[i]).to_pydatetime(),
                    "period_end": (pd.Timestamp(periods[j]) + step).to_pydatetime(),
                    "periods": j - i + 1, "direction": direction[i], "observed": round(obs, 4),
                    "expected": round(exp, 4), "lower": round(float(run["lower"].min()), 4),
                    "upper": round(float(run["upper"].max()), 4), "score": round(best, 2),
                    "severity": "critical" if size >= settings.critical else "warning", "method": METHOD,
                }
            )  # fmt: skip
        i = j + 1
    return out


def poisson_score(observed: float, expected: float) -> float:
    """The normal score of a count this far from a Poisson mean (exact tails: a run of zeros where a
    few were expected an hour is rarer than the normal approximation says)."""
    if expected <= 0:
        return 0.0
    if observed < expected:
        return -float(min(stats.norm.isf(stats.poisson.cdf(observed, expected)), 40.0))
    return float(min(stats.norm.isf(stats.poisson.sf(observed - 1, expected)), 40.0))

"""The shop an analyst would believe: every behaviour band on a world with a year of history."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from generators.profile import BANDS, profile
from generators.runner import generate
from lakehouse.cli import main
from lakehouse.core.config import load_config

# In one test process under `--dist loadgroup`: the module's world (a year of history) is generated once.
pytestmark = pytest.mark.xdist_group("test_profile")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float | None]]:
    """The default world's behaviour (a year of history), at a scale with a few hundred products."""
    root = tmp_path_factory.mktemp("shop")
    settings = dataclasses.replace(
        load_config(env={}).generator, seed=97, start_date=dt.date(2026, 1, 5), days=3, scale=0.2
    )
    assert settings.history_days >= 365, "the default history is at least 12 months"
    generate(str(root), settings)
    return root, profile(str(root))


@pytest.mark.parametrize("metric", sorted(BANDS))
def test_behaviour_is_in_its_published_band(shop: tuple[Path, dict[str, float | None]], metric: str) -> None:
    value = shop[1][metric]
    assert BANDS[metric].holds(value), f"{metric} = {value}, band {BANDS[metric]}"


def test_the_customer_base_is_far_larger_than_the_buyers(shop: tuple[Path, dict[str, float | None]]) -> None:
    m = shop[1]
    assert m["accounts"] is not None and m["accounts"] >= 0.2 * 100_000, "100,000+ accounts at scale 1"
    assert m["max_orders_one_customer_30d"] is not None and m["max_orders_one_customer_30d"] <= 12
    assert m["orders_per_ordinary_day_last_30"] is not None
    assert 0.8 * 200 <= m["orders_per_ordinary_day_last_30"] <= 1.25 * 200, "~1,000 orders a day at scale 1"


def test_the_history_covers_twelve_months_and_makes_day_one_ordinary(
    shop: tuple[Path, dict[str, float | None]],
) -> None:
    root = shop[0]
    months = sorted(p.name[-11:-4] for p in (root / "bronze" / "orders").glob("orders_history_*.csv"))
    assert (
        months[0] == "2025-01" and months[-1] == "2026-01" and len(months) == 13
    )  # 2025-01-05 to 2026-01-04
    orders = pd.concat(
        pd.read_csv(p, dtype=str, keep_default_na=False) for p in (root / "bronze" / "orders").glob("*.csv")
    )
    orders = orders.drop_duplicates("order_id")
    first = orders.groupby("customer_id")["order_date"].min()
    day_one = orders[orders["order_date"] == "2026-01-05"]
    new_share = (day_one["customer_id"].map(first) == "2026-01-05").mean()
    assert new_share < 0.7, f"with the history, most of day one's buyers are not new ({new_share:.0%})"


def test_lakehouse_profile_prints_every_metric_beside_its_band(
    shop: tuple[Path, dict[str, float | None]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profile", "--root", str(shop[0])]) == 0
    out = capsys.readouterr().out
    assert "Baymard" in out and "in band" in out and "outside" not in out
    assert f"{len(BANDS)} of {len(BANDS)} metrics in their bands" in out


def test_profile_of_an_empty_root_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profile", "--root", str(tmp_path)]) == 1
    assert "run `lakehouse generate` first" in capsys.readouterr().err

"""Shared fixtures: one embedded Spark session per test process, and small generated worlds."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from generators.runner import generate
from lakehouse.core.config import Config, GeneratorConfig, load_config
from tests.bronze.audit import Bronze, load

# Small worlds spanning Thanksgiving week 2025: Black Friday, Cyber Monday and two Sundays (inventory).
WORLD_START = dt.date(2025, 11, 24)
WORLD_DAYS = 14
WORLD_SCALE = 0.05
WORLD_HISTORY_DAYS = 31  # two monthly history files (the default, a year, is tested on its own)


def small_settings(**changes: object) -> GeneratorConfig:
    base = load_config(env={}).generator
    dirty = dataclasses.replace(base.dirty, new_column_from_day=8)
    world = {"seed": 7, "start_date": WORLD_START, "days": WORLD_DAYS, "scale": WORLD_SCALE, "dirty": dirty,
             "history_days": WORLD_HISTORY_DAYS}  # fmt: skip
    return dataclasses.replace(base, **(world | changes))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`, tests that share what minutes of work built run in one test process
    (`xdist_group`), and groups come first, as the longest units of work, so that the single tests fill
    in around them: the JVM Spark tests (group `jvm` unless they name their own) before every other
    group, so that their JVMs' waits overlap the other processes' work."""

    def group(item: pytest.Item) -> str | None:
        if (mark := item.get_closest_marker("xdist_group")) is not None:
            return str(mark.args[0])
        if item.get_closest_marker("jvm") or item.get_closest_marker("jvm_slow"):
            return "jvm"
        return None

    for item in items:
        if (name := group(item)) is not None and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(name))
    # Stable: collection order within each rank.
    items.sort(key=lambda item: 0 if (g := group(item) or "").startswith("jvm") else 1 if g else 2)


@pytest.fixture(scope="session")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(root=str(tmp_path_factory.mktemp("lake")), env={})


@pytest.fixture(scope="session")
def spark(cfg: Config) -> Iterator[object]:
    from lakehouse.core.engines import get_spark, stop_spark

    session = get_spark(cfg, "lakehouse-tests")
    yield session
    stop_spark()


@pytest.fixture(scope="session")
def dirty_world(tmp_path_factory: pytest.TempPathFactory) -> Bronze:
    root = tmp_path_factory.mktemp("dirty")
    generate(str(root), small_settings())
    return load(root)


@pytest.fixture(scope="session")
def clean_world(tmp_path_factory: pytest.TempPathFactory) -> Bronze:
    root = tmp_path_factory.mktemp("clean")
    generate(str(root), small_settings(), clean=True)
    return load(root)


@pytest.fixture(scope="session")
def ingested(dirty_world: Bronze, spark: object) -> Bronze:
    """The dirty world taken into silver once (run id test-run-1)."""
    from lakehouse.silver.ingest import bronze_to_silver

    report = bronze_to_silver(spark, load_config(root=str(dirty_world.root), env={}), "test-run-1")  # type: ignore[arg-type]
    assert not report.nothing_new and not report.rejected
    assert report.failure is None, report.failure  # silver cleaned what it had to: every critical passes
    return dirty_world


@pytest.fixture(scope="session")
def published(ingested: Bronze, spark: object) -> Bronze:
    """The ingested dirty world built into gold once (run id gold-1)."""
    from lakehouse.gold.build import silver_to_gold
    from lakehouse.tables import GOLD

    report = silver_to_gold(spark, load_config(root=str(ingested.root), env={}), "gold-1")  # type: ignore[arg-type]
    assert report.failure is None, report.failure
    assert set(report.rows) == set(GOLD) and report.validation in ("passed", "warnings")
    return ingested


def file_hashes(root: Path) -> dict[str, str]:
    import hashlib

    bronze = root / "bronze"
    return {
        str(p.relative_to(bronze)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(bronze.rglob("*"))
        if p.is_file() and "_state" not in p.parts
    }

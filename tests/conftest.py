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


# Worlds with and without incidents for the monitoring: long enough for its four weeks of baseline
# and every incident kind (seed 11 at 10 incidents per 30 days puts all eight in), through Thanksgiving,
# Black Friday and Cyber Monday; large enough that an outage of a few hours moves the hourly orders.
INCIDENT_START = dt.date(2025, 10, 20)
INCIDENT_DAYS = 52
INCIDENT_FIRST_RUN_DAYS = 44  # the world is ingested twice: the second run finds new anomalies


def incident_settings(**changes: object) -> GeneratorConfig:
    base = load_config(env={}).generator
    incidents = dataclasses.replace(base.incidents, per_30_days=10.0, warmup_days=28)
    world = {"seed": 11, "start_date": INCIDENT_START, "days": INCIDENT_DAYS, "scale": 0.2, "history_days": 120,
             "incidents": incidents}  # fmt: skip
    return dataclasses.replace(base, **(world | changes))


@dataclasses.dataclass(frozen=True)
class Lake:
    root: Path
    second_run_exit: int  # silver_to_gold of the second run, with monitoring.fail_on: warning
    second_run_output: str


def run_all(root: Path, conf: Path | None = None) -> tuple[int, int, str]:
    """bronze_to_silver and silver_to_gold in this process (its Spark session), without the suites
    (the monitoring's tests are about the numbers; the suites are tested on the small worlds)."""
    import contextlib
    import io

    from lakehouse.pipeline import bronze_to_silver_main, silver_to_gold_main

    args = ["--root", str(root), "--skip-validation", "--quiet", *(["--conf", str(conf)] if conf else [])]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        silver = bronze_to_silver_main([*args, "--allow-rejected"])
        gold = silver_to_gold_main(args)
    return silver, gold, out.getvalue()


def build_lake(root: Path, incidents: bool) -> Lake:
    """Generate and ingest a monitoring world. With incidents, in two runs: its first
    INCIDENT_FIRST_RUN_DAYS days, then the rest with monitoring.fail_on set to warning (a second run
    that finds new anomalies exits 4); without, in one."""
    if not incidents:
        generate(str(root), incident_settings(), incidents=False)
        silver, gold, output = run_all(root)
        assert (silver, gold) == (0, 0)
        return Lake(root, gold, output)
    generate(str(root), incident_settings(days=INCIDENT_FIRST_RUN_DAYS), incidents=True)
    silver, gold, _ = run_all(root)
    assert (silver, gold) == (0, 0)
    generate(str(root), incident_settings(days=INCIDENT_DAYS - INCIDENT_FIRST_RUN_DAYS))
    conf = root / "alerting.yaml"
    project = Path(__file__).parents[1]
    default = (project / "conf" / "lakehouse.yaml").read_text()
    conf.write_text(
        default.replace("fail_on: null", "fail_on: warning").replace(
            "expectations: expectations", f"expectations: {project / 'expectations'}"
        )
    )
    silver, gold, output = run_all(root, conf)
    assert silver == 0
    return Lake(root, gold, output)


@pytest.fixture(scope="session")
def incident_lake(tmp_path_factory: pytest.TempPathFactory, spark: object) -> Lake:
    """The incident world in silver and gold, ingested in two runs."""
    return build_lake(tmp_path_factory.mktemp("incidents"), incidents=True)


@pytest.fixture(scope="session")
def quiet_lake(tmp_path_factory: pytest.TempPathFactory, spark: object) -> Lake:
    """The same world without incidents (the monitoring's false alarms)."""
    return build_lake(tmp_path_factory.mktemp("quiet"), incidents=False)

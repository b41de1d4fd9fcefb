"""Configuration: defaults, validation messages naming key and file, and the override order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lakehouse.core.config import DEFAULT_CONF, PROJECT_DIR, ConfigError, describe, load_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "conf" / "test.yaml"
    p.parent.mkdir(exist_ok=True)
    p.write_text(text)
    return p


def test_defaults_load_and_root_is_the_repo_data_dir() -> None:
    cfg = load_config(env={})
    assert cfg.source == str(DEFAULT_CONF)
    assert cfg.root == str(PROJECT_DIR / "data")
    assert cfg.engine.mode == "auto"
    g = cfg.generator
    assert (g.seed, g.start_date, g.scale, g.warehouses) == (42, dt.date(2026, 1, 1), 1.0, 3)
    assert g.dirty.enabled and g.dirty.rates["duplicate_row"] > 0


def test_cluster_profile_loads() -> None:
    cfg = load_config(PROJECT_DIR / "conf" / "cluster.yaml", env={})
    assert cfg.root.startswith("s3://") and cfg.engine.mode == "remote"


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    p = write(tmp_path, "generator:\n  sead: 1\n")
    with pytest.raises(ConfigError, match=r"unknown key generator\.sead in .*test\.yaml"):
        load_config(p, env={})


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("generator:\n  days: many\n", r"'generator\.days' in .*test\.yaml must be a whole number"),
        ("generator:\n  days: 0\n", r"'generator\.days' in .*test\.yaml must be at least 1"),
        ("generator:\n  start_date: 2026-02-30\n", r"'generator\.start_date' .* must be a date"),
        (
            "engine:\n  mode: turbo\n",
            r"'engine\.mode' in .*test\.yaml must be one of auto, embedded, remote, classic",
        ),
        ("engine:\n  remote_url: http://x\n", r"'engine\.remote_url' .* sc://"),
        (
            "generator:\n  dirty:\n    rates:\n      typo: 0.1\n",
            r"'generator\.dirty\.rates\.typo' .* not a defect kind",
        ),
        ("generator:\n  dirty:\n    rates:\n      duplicate_row: 0.9\n", r"between 0 and 0.2"),
        ("orchestration:\n  runner: cron\n", r"'orchestration\.runner' .* one of cli, spark-submit"),
        ("orchestration:\n  arrival: never\n", r"'orchestration\.arrival' .* one of simulate, sensor"),
        (
            "orchestration:\n  task_timeout_minutes: 0\n",
            r"'orchestration\.task_timeout_minutes' .* more than 0",
        ),
        ("storage: [1, 2]\n", r"'storage' in .* must be a mapping"),
        ("- a\n", r"must hold a mapping at the top level"),
    ],
)
def test_bad_values_fail_with_key_and_file(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_config(write(tmp_path, text), env={})


def test_missing_file_says_how_to_choose_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist .*--conf or LAKEHOUSE_CONF"):
        load_config(tmp_path / "nope.yaml", env={})


def test_relative_root_in_a_file_is_relative_to_its_project(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "storage:\n  root: lake\n"), env={})
    assert cfg.root == str(tmp_path / "lake")


def test_environment_overrides_file_and_flags_override_environment(tmp_path: Path) -> None:
    p = write(tmp_path, "storage:\n  root: lake\nengine:\n  mode: embedded\n")
    env = {"LAKEHOUSE_ROOT": "s3://bucket/env", "LAKEHOUSE_ENGINE": "remote", "LAKEHOUSE_CONF": str(p)}
    cfg = load_config(env=env)
    assert cfg.source == str(p)
    assert (cfg.root, cfg.engine.mode) == ("s3://bucket/env", "remote")
    cfg = load_config(env=env, root="file:///mnt/flag", engine="classic")
    assert (cfg.root, cfg.engine.mode) == ("file:///mnt/flag", "classic")


def test_flag_overrides_are_validated_and_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'engine\.mode' in environment variable LAKEHOUSE_ENGINE"):
        load_config(env={"LAKEHOUSE_ENGINE": "warp"})
    assert load_config(env={"LAKEHOUSE_RUNNER": "spark-submit"}).orchestration.runner == "spark-submit"
    with pytest.raises(
        ConfigError, match=r"'orchestration\.runner' in environment variable LAKEHOUSE_RUNNER"
    ):
        load_config(env={"LAKEHOUSE_RUNNER": "yarn"})
    with pytest.raises(ConfigError, match=r"'generator\.scale' in --scale must be between"):
        load_config(env={}, overrides={"generator.scale": 0})
    cfg = load_config(env={}, overrides={"generator.days": "3", "generator.seed": None})
    assert cfg.generator.days == 3 and cfg.generator.seed == 42


def test_relative_root_from_a_flag_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}, root="here").root == str(tmp_path / "here")


def test_describe_is_plain_data() -> None:
    d = describe(load_config(env={}))
    assert d["generator"]["start_date"] == "2026-01-01" and d["engine"]["embedded"]["sail_mode"] == "local"


def test_suites_are_the_projects_unless_a_file_names_its_own(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "storage:\n  root: x\n"), env={}).quality.expectations == str(
        PROJECT_DIR / "expectations"
    )
    own = load_config(write(tmp_path, "quality:\n  expectations: suites\n"), env={})
    assert Path(own.quality.expectations).name == "suites" and str(tmp_path) in own.quality.expectations
    with pytest.raises(ConfigError, match=r"quality\.freshness_days"):
        load_config(write(tmp_path, "quality:\n  freshness_days: -1\n"), env={})

"""The `lakehouse` command as a user runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from deltalake import DeltaTable
from pyspark.sql import functions as F

from lakehouse.catalog import register_tables
from lakehouse.cli import main
from lakehouse.core.delta import read_table
from lakehouse.tables import INGEST_RUNS
from tests.test_bench import load_bench

ARGS = ["--days", "2", "--scale", "0.02", "--seed", "3", "--history-days", "20", "--quiet"]


def _with(args: list[str], **values: str) -> list[str]:
    """`args` with some options' values replaced (days="1": --days 1)."""
    out = list(args)
    for name, value in values.items():
        out[out.index(f"--{name}") + 1] = value
    return out


def test_generate_then_inspect_through_spark(
    tmp_path: Path, spark: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--root", str(tmp_path), "--start", "2026-01-05", *ARGS]) == 0
    out = capsys.readouterr().out
    assert "Bronze written" in out and "clickstream" in out and "rows/s" in out
    assert (tmp_path / "bronze" / "orders" / "orders_2026-01-06.csv").is_file()
    assert main(["inspect", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MISMATCH" not in out and out.count(" ok ") >= 6


def test_generate_continues_and_refuses_conflicting_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--root", str(tmp_path), *ARGS]) == 0

    def one_more_day(seed: str) -> int:
        return main(["generate", "--root", str(tmp_path), *_with(ARGS, days="1", seed=seed)])

    assert one_more_day("3") == 0
    out = capsys.readouterr().out
    assert "Days 2026-01-03 to 2026-01-03" in out
    assert one_more_day("4") == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "seed 4 (the world was generated with 3)" in err
        and "new --root" in err
    )


def test_generate_through_a_date_and_arrived_as_a_scheduler_uses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(tmp_path)
    args = [a for a in ARGS if a not in ("--days", "2")]
    assert main(["arrived", "2026-01-05", "--root", root]) == 75  # nothing there yet: a sensor pokes again
    assert "orders/orders_2026-01-05.csv, order_items/" in capsys.readouterr().err
    until = ["generate", "--root", root, "--start", "2026-01-05", *args, "--through"]
    assert main([*until, "2026-01-06"]) == 0
    assert "Days 2026-01-05 to 2026-01-06" in capsys.readouterr().out
    assert main([*until, "2026-01-06"]) == 0
    assert "already reaches 2026-01-06: nothing to write" in capsys.readouterr().out
    assert main(["arrived", "2026-01-06", "--root", root]) == 0
    (tmp_path / "bronze" / "shipments" / "shipments_2026-01-06.csv").unlink()
    assert main(["arrived", "2026-01-06", "--root", root]) == 75
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing shipments/shipments_2026-01-06.csv; try again later" in err
    with pytest.raises(SystemExit, match="2"):  # --days or --through, not both
        main(["generate", "--root", root, "--days", "1", "--through", "2026-01-07"])


def test_run_takes_every_option_of_the_jobs_it_runs() -> None:
    from lakehouse.cli import build_parser
    from lakehouse.pipeline import job_arguments

    def options(parser: Any) -> set[str]:
        return {o for a in parser._actions for o in a.option_strings}

    run = next(a for a in build_parser()._actions if a.dest == "command").choices["run"]
    assert options(job_arguments("job", "")) <= options(run)


def test_clean_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--root", str(tmp_path), "--clean", *ARGS]) == 0
    assert "No defects injected" in capsys.readouterr().out


def test_config_shows_the_effective_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--root", str(tmp_path / "x"), "--engine", "embedded"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["storage"]["root"] == str(tmp_path / "x")
    assert shown["engine"]["mode"] == "embedded" and shown["engine"]["resolved"] == "embedded"


def test_bad_configuration_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("generator:\n  scale: huge\n")
    assert main(["generate", "--conf", str(bad), "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"lakehouse generate: 'generator.scale' in {bad} must be a number, got 'huge'"


def test_inspect_of_an_empty_root_says_what_to_do(
    tmp_path: Path, spark: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", "--root", str(tmp_path)]) == 1
    assert "run `lakehouse generate` first" in capsys.readouterr().out


def test_run_bronze_to_silver_then_nothing_new(
    tmp_path: Path, spark: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--root", str(tmp_path), *ARGS]) == 0
    # The gates' summary is the next test's (and tests/quality's).
    assert main(["run", "bronze-to-silver", "--root", str(tmp_path), "--skip-validation"]) == 0
    out = capsys.readouterr().out
    assert "clickstream" in out and "Every row read is written" in out
    assert main(["run", "bronze-to-silver", "--root", str(tmp_path)]) == 0
    assert "Nothing new in bronze" in capsys.readouterr().out


def test_run_all_builds_silver_then_gold_under_a_root_with_odd_characters(
    tmp_path: Path, spark: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import re
    import sys

    from rich.console import Console

    import lakehouse.pipeline

    root = tmp_path / "my lake's `odd` \u00e9t\u00e9"  # a space, a quote, backticks, non-ASCII letters
    assert main(["generate", "--root", str(root), *ARGS]) == 0
    (root / "bronze" / "orders" / "orders_2099-01-01.csv").write_bytes(b"\x00\x01 not text")
    capsys.readouterr()
    with monkeypatch.context() as terminal:  # on a terminal of 100 columns a run says what it is doing
        terminal.setattr(sys.stderr, "isatty", lambda: True)
        terminal.setattr(lakehouse.pipeline, "console", Console(width=100))
        # A rejected file: exit 3, and gold is still built from the rest.
        assert main(["run", "all", "--root", str(root), "--log-level", "warning"]) == 3
    out, err = capsys.readouterr()
    assert "bronze_to_silver" in out and "fact_orders" in out and "Totals reconcile" in out
    assert "1 bronze file(s) rejected whole" in err and "--allow-rejected" in err
    assert "rejected orders/orders_2099-01-01.csv: binary content" in out
    assert "…" not in out  # every number and name readable at 100 columns
    said = "\n".join(x for x in err.splitlines() if re.match(r"\[\d{8}T\d{6}Z-\w+ +[\d.]+ s\] ", x))
    for source in ("customers", "orders", "clickstream"):
        assert re.search(rf"\] {source}: [\d,]+ files, [\d,]+ rows read", said), said
    assert "batch 1 of 1:" in said and re.search(r"gold\.fact_orders: [\d,]+ rows staged", said), said
    assert "gold tables staged and validated: publishing" in said
    assert [p.name for p in tmp_path.iterdir()] == [root.name]  # no percent-encoded sibling folders
    tables = [p.parent for p in root.glob("*/*/_delta_log")]
    assert len(tables) > 25
    for table in tables:  # where every other reader looks
        assert DeltaTable(str(table)).to_pyarrow_table().num_rows >= 0
    bench = load_bench()  # bench/pipeline.py reads its figures from this output
    assert all(s > 0 for s in bench._job_seconds(out))
    runs = read_table(spark, str(root / "silver" / INGEST_RUNS))
    assert bench._rows(out) == runs.agg(F.sum("rows_read")).first()[0] > 0
    assert main(["run", "all", "--root", str(root)]) == 0  # found again: nothing is taken in twice
    out, err = capsys.readouterr()
    assert "Nothing new in bronze" in out and not re.search(r"\] orders: ", err)  # not a terminal: quiet
    (root / "bronze" / "orders" / "orders_2099-01-02.csv").write_bytes(b"")
    assert main(["run", "bronze-to-silver", "--root", str(root), "--allow-rejected"]) == 0
    found = register_tables(spark, str(root))
    assert "fact_orders" in found["gold"]
    facts = DeltaTable(str(root / "gold" / "fact_orders")).to_pyarrow_table().num_rows
    assert spark.sql("SELECT count(*) FROM gold.fact_orders").first()[0] == facts > 0


def test_silver_to_gold_on_an_empty_root_says_what_to_do(
    tmp_path: Path, spark: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "silver-to-gold", "--root", str(tmp_path)]) == 1
    assert "run bronze_to_silver first" in capsys.readouterr().out


def test_a_failed_job_names_the_engine_error_in_one_line() -> None:
    from lakehouse.core.log import one_line

    grpc_error = RuntimeError(
        "<_MultiThreadedRendezvous of RPC that terminated with:\n"
        "\tstatus = StatusCode.INTERNAL\n"
        '\tdetails = "internal error: task context not found for operation"\n'
        '\tdebug_error_string = "INTERNAL:internal error: task context not found for operation"\n>'
    )
    assert one_line(str(grpc_error)) == "internal error: task context not found for operation"
    assert one_line("bad value in orders_2026-01-01.csv\nmore detail") == "bad value in orders_2026-01-01.csv"
    assert one_line("") == ""


@pytest.mark.parametrize(
    ("command", "root", "says"),
    [
        ("generate", "", "the storage root from --root is empty"),
        ("config", "foo://bucket/lake", "has the scheme foo://, which no filesystem here serves"),
        ("generate", "FILE", "is a file, not a directory"),
        ("run", "FILE", "is a file, not a directory"),
        ("run", "MISSING", "holds no bronze/ folder, so there is nothing to ingest"),
    ],
)
def test_a_root_that_cannot_be_a_lake_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, root: str, says: str
) -> None:
    (tmp_path / "FILE").write_text("not a lake")
    given = str(tmp_path / root) if root in ("FILE", "MISSING") else root
    argv = [command, "--root", given] if command != "run" else ["run", "bronze-to-silver", "--root", given]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err


def test_a_yaml_syntax_error_names_the_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage:\n  root: data\nengine:\n  mode: [auto\n")
    assert main(["config", "--conf", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad} is not valid YAML: line 5, column 1: expected ',' or ']'" in err and err.count("\n") == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import lakehouse

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"lakehouse {lakehouse.__version__}"


def test_bronze_files_follow_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        assert main(["generate", "--root", str(tmp_path), *ARGS]) == 0
    finally:
        os.umask(old)
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "bronze").rglob("*") if p.is_file()}
    assert modes == {0o644}, modes


def test_validate_on_a_root_without_tables_says_so_in_one_line(
    tmp_path: Path, spark: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} holds no published silver or gold tables to validate" in err and err.count("\n") == 1

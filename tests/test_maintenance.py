"""`lakehouse maintain` on the embedded engine (delta-rs does the work, as Sail's SQL has no OPTIMIZE
or VACUUM): content and readers unchanged, small files compacted, storage reclaimed, time travel kept
within the retention. The JVM path (Spark SQL) is tested in tests/engines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from generators.runner import generate
from lakehouse.cli import main
from lakehouse.core.config import load_config
from lakehouse.core.delta import read_table
from lakehouse.gold.build import silver_to_gold
from lakehouse.maintenance import maintain
from lakehouse.silver.ingest import bronze_to_silver
from lakehouse.tables import lake_tables
from tests.conftest import small_settings

# In one test process under `--dist loadgroup`: the module's lake is built once.
pytestmark = pytest.mark.xdist_group("test_maintenance")


def _content(uri: str) -> pd.DataFrame:
    df = DeltaTable(uri).to_pandas()
    df = df.map(lambda v: str(v.tolist()) if hasattr(v, "tolist") else v)
    return df.sort_values(list(df.columns), key=lambda s: s.astype(str)).reset_index(drop=True)


def _stored(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet") if "_delta_log" not in p.parts)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, spark: object) -> Path:
    """Three days taken in one at a time, gold refreshed after each and rebuilt once more: many
    versions and small files, as an incrementally fed lake has."""
    root = tmp_path_factory.mktemp("maintain")
    # Tiny and without the expectation gates: maintenance needs versions and files, not checked data.
    settings = small_settings(scale=0.02)
    cfg = load_config(root=str(root), env={})
    for day in range(3):
        generate(str(root), settings, days=1)
        assert bronze_to_silver(spark, cfg, f"b{day}", validate=False).failure is None  # type: ignore[arg-type]
        assert silver_to_gold(spark, cfg, f"g{day}", validate=False).failure is None  # type: ignore[arg-type]
    assert silver_to_gold(spark, cfg, "g-full", full=True, validate=False).failure is None  # type: ignore[arg-type]
    return root


@pytest.fixture
def built(lake: Path, tmp_path: Path) -> Path:
    """A copy of the lake for one test: maintenance changes it."""
    shutil.copytree(lake, tmp_path / "lake", symlinks=True)
    return tmp_path / "lake"


def test_maintain_keeps_content_and_time_travel_then_reclaims_storage(built: Path, spark: object) -> None:
    cfg = load_config(root=str(built), env={})
    tables = [uri for _, _, uri in lake_tables(str(built)) if (Path(uri) / "_delta_log").exists()]
    content = {uri: _content(uri) for uri in tables}
    versions = {uri: DeltaTable(uri).version() for uri in tables}
    events = str(built / "silver" / "clickstream_events")
    files_before = len(DeltaTable(events).file_uris())
    stored = _stored(built)

    kept = maintain(None, cfg, retain_hours=168)  # everything here is younger than a week
    assert {m.how for _, m in kept} == {"deltalake"} and len(kept) == len(tables)
    assert len(DeltaTable(events).file_uris()) < files_before  # three runs' small files, compacted
    for uri in tables:
        pd.testing.assert_frame_equal(_content(uri), content[uri], obj=uri)
        for v in range(versions[uri] + 1):  # time travel to every version still works
            DeltaTable(uri, version=v).to_pyarrow_table()
    assert sum(m.files_vacuumed for _, m in kept) == 0

    done = maintain(None, cfg, retain_hours=0)
    assert sum(m.files_vacuumed for _, m in done) > 0
    assert _stored(built) < stored  # the files of replaced versions are gone
    for uri in tables:
        pd.testing.assert_frame_equal(_content(uri), content[uri], obj=uri)
        assert read_table(spark, uri).count() == len(content[uri])  # the engine reads them as before  # type: ignore[arg-type]
    gold = str(built / "gold" / "fact_orders")
    with pytest.raises(Exception):  # noqa: B017 - delta-rs raises its own error types
        DeltaTable(gold, version=0).to_pyarrow_table()  # outside the retention: vacuumed


def test_maintain_command_prints_what_it_did(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["maintain", "--root", str(built), "--retain-hours", "0"]) == 0
    out = capsys.readouterr().out
    assert "silver.clickstream_events" in out.replace("…", "") or "silver.clickstrea" in out
    assert "MiB on storage" in out


def test_maintain_on_an_empty_root_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["maintain", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "holds no silver or gold tables to maintain" in err and err.count("\n") == 1


def test_maintain_only_the_tables_named(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orders, events = built / "silver" / "orders", built / "silver" / "clickstream_events"
    untouched = len(DeltaTable(str(events)).file_uris())
    assert main(["maintain", "silver.orders", "--root", str(built), "--retain-hours", "0"]) == 0
    assert "1 tables:" in capsys.readouterr().out
    assert len(DeltaTable(str(orders)).file_uris()) == 1
    assert len(DeltaTable(str(events)).file_uris()) == untouched


def test_maintain_names_a_table_that_does_not_exist(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["maintain", "silver.order", "--root", str(built)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such table: silver.order" in err[0]

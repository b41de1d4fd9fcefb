"""Reproducibility and continuation: same seed, same bytes; later runs extend the same world."""

from __future__ import annotations

import ctypes
import dataclasses
import datetime as dt
import resource
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from generators import runner
from generators.runner import GeneratorError, generate
from tests.conftest import file_hashes, small_settings

TINY = {"scale": 0.02}


def _run(root: Path, days: int | None, **kw: object) -> None:
    settings = dataclasses.replace(small_settings(), **TINY)
    generate(str(root), settings, days=days, **kw)  # type: ignore[arg-type]


def test_same_seed_and_settings_give_byte_identical_files(tmp_path: Path) -> None:
    _run(tmp_path / "a", 9)
    _run(tmp_path / "b", 9)
    a, b = file_hashes(tmp_path / "a"), file_hashes(tmp_path / "b")
    assert a == b
    assert any(k.endswith(".xlsx") for k in a) and any(k.endswith(".jsonl") for k in a)


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    _run(tmp_path / "a", 2)
    settings = dataclasses.replace(small_settings(), seed=8, **TINY)
    generate(str(tmp_path / "b"), settings, days=2)
    a, b = file_hashes(tmp_path / "a"), file_hashes(tmp_path / "b")
    csv = {k for k in a if k.endswith(".csv")}  # (a quiet hour may have no clickstream file in one world)
    assert csv == {k for k in b if k.endswith(".csv")} and all(a[k] != b[k] for k in csv if "orders_" in k)


def test_continuing_later_writes_the_same_files_as_one_run(tmp_path: Path) -> None:
    _run(tmp_path / "once", 9)
    _run(tmp_path / "split", 4)
    before = file_hashes(tmp_path / "split")
    _run(tmp_path / "split", 5)
    after = file_hashes(tmp_path / "split")
    assert after == file_hashes(tmp_path / "once")
    # The second run wrote only new days' files and left the earlier ones alone.
    assert all(after[k] == v for k, v in before.items()), "earlier files are left alone"
    new_files = set(after) - set(before)
    old_days = _days(small_settings().start_date, 0, 4)
    assert new_files and not any(d in k for k in new_files for d in old_days)


def test_a_run_whose_last_two_days_are_checkpoints_continues(tmp_path: Path) -> None:
    """8 days: the seventh and the last are checkpoints, both saved while their clickstream is still
    being built; saving the seventh must not remove the tables of the eighth."""
    _run(tmp_path / "once", 9, workers=2)
    _run(tmp_path / "split", 8, workers=2)
    _run(tmp_path / "split", 1, workers=2)
    assert file_hashes(tmp_path / "split") == file_hashes(tmp_path / "once")


def _days(start: dt.date, offset: int, n: int) -> list[str]:
    return [(start + dt.timedelta(days=offset + i)).isoformat() for i in range(n)]


def test_continuation_keeps_id_sequences_and_customers(tmp_path: Path) -> None:
    import pandas as pd

    _run(tmp_path, 2)
    _run(tmp_path, 1)
    orders = sorted((tmp_path / "bronze" / "orders").glob("orders_2*.csv"))  # the daily files
    assert len(orders) == 3
    ids = [pd.read_csv(p, dtype=str) for p in orders]
    new_day3 = ids[2][ids[2]["order_date"] == ids[2]["order_date"].max()]["order_id"].astype(int)
    assert new_day3.min() > pd.concat(ids[:2])["order_id"].astype(int).max()
    customers = pd.concat(
        pd.read_csv(p, dtype=str) for p in sorted((tmp_path / "bronze" / "customers").glob("*.csv"))
    )
    assert ids[2]["customer_id"].isin(customers["customer_id"]).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": 99}, "seed 99"),
        ({"scale": 0.5}, "scale 0.5"),
        ({"warehouses": 4}, "warehouses 4"),
    ],
)
def test_continuing_with_other_settings_is_refused(tmp_path: Path, change: dict, message: str) -> None:
    _run(tmp_path, 1)
    settings = dataclasses.replace(small_settings(), **(TINY | change))
    with pytest.raises(GeneratorError, match=message):
        generate(str(tmp_path), settings, days=1)


def test_continuing_from_another_start_or_cleanliness_is_refused(tmp_path: Path) -> None:
    _run(tmp_path, 1)
    with pytest.raises(GeneratorError, match="continues on 2025-11-25"):
        _run(tmp_path, 1, start=dt.date(2026, 1, 1))
    with pytest.raises(GeneratorError, match="--clean"):
        _run(tmp_path, 1, clean=True)
    _run(tmp_path, 1, start=dt.date(2025, 11, 25))  # the right start is accepted


@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_run_is_simply_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Killed while writing day 9 (after the day-7 checkpoint, with day 9's hour files half done): the
    next run continues from the checkpoint and ends with the same files as an uninterrupted run."""
    settings = dataclasses.replace(small_settings(), **TINY)
    generate(str(tmp_path / "ref"), settings, days=9, workers=workers)
    real = runner.write_click_day
    calls = {"n": 0}

    def killed_on_day_9(bronze: str, click: object, held: object) -> object:
        calls["n"] += 1
        if calls["n"] == 9:
            real(bronze, click, held)  # type: ignore[arg-type]  # its appends land, then the kill
            raise KeyboardInterrupt("killed")
        return real(bronze, click, held)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "write_click_day", killed_on_day_9)
    with pytest.raises(KeyboardInterrupt):
        generate(str(tmp_path / "crash"), settings, days=9, workers=workers)
    monkeypatch.setattr(runner, "write_click_day", real)
    generate(str(tmp_path / "crash"), settings, days=2, workers=workers)
    assert file_hashes(tmp_path / "crash") == file_hashes(tmp_path / "ref")


def test_worker_processes_write_the_same_bytes_as_one_process(tmp_path: Path) -> None:
    settings = dataclasses.replace(small_settings(), **TINY)
    generate(str(tmp_path / "one"), settings, days=9, workers=1)
    generate(str(tmp_path / "two"), settings, days=9, workers=2)
    assert file_hashes(tmp_path / "one") == file_hashes(tmp_path / "two")


def _refaults_of_a_freed_block() -> tuple[int, str]:
    """Page faults of touching a 100 MiB block again after freeing it, and Arrow's allocator."""
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    faults = []
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = libc.malloc(100 << 20)
        ctypes.memset(block, 1, 100 << 20)
        libc.free(block)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return faults[1], pa.default_memory_pool().backend_name


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator")
def test_worker_processes_keep_freed_memory_for_the_next_part() -> None:
    # By default glibc unmaps a freed 100 MiB block, so touching it again faults 25,600 pages.
    with runner._pool(2) as pool:
        faults, backend = pool.submit(_refaults_of_a_freed_block).result()
    assert faults < 1000 and backend == "system"


def test_busy_days_are_written_in_parts_with_an_exact_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory is bounded by a part, not a day: with small parts, every hour gets several files, and the
    ground truth still matches them row for row."""
    import generators.clicklog as clicklog
    from generators.dirty import VALUE_KINDS
    from tests.bronze.audit import invalid_rows, load

    monkeypatch.setattr(clicklog, "ORDERS_PER_PART", 20)
    generate(str(tmp_path), small_settings(), days=3, workers=1)
    bronze = load(tmp_path)
    parts = {f for f in bronze.events["_file"] if "_part" in f}
    assert len(parts) > 24, "several parts per hour"
    d = bronze.defects
    row_level = {*VALUE_KINDS, "malformed_json"}
    recorded = {
        (r.source, r.file if r.source != "inventory" else f"{r.file}#{r.sheet}", int(r.row))
        for r in d[d["kind"].isin(row_level)].itertuples()
    }
    assert invalid_rows(bronze) == recorded
    buys = [
        o
        for o in bronze.events["obj"]
        if isinstance(o, dict) and o.get("event_type") == "purchase" and isinstance(o.get("order_id"), int)
    ]
    orders = bronze.tables["orders"].drop_duplicates("order_id")
    from tests.conftest import WORLD_START

    daily = orders[orders["order_date"] >= WORLD_START.isoformat()]  # placed in the daily period
    online = set(daily[daily["channel"].isin(["web", "mobile_app"])]["order_id"].astype(int))
    bought = {o["order_id"] for o in buys}
    assert bought <= set(orders["order_id"].astype(int)) and len(bought & online) > 0.9 * len(online)


def test_through_a_date_writes_up_to_it_once_as_a_scheduler_asks(tmp_path: Path) -> None:
    """`through` is what a daily scheduler asks for: the world up to its logical date, any number of times."""
    first = small_settings().start_date
    _run(tmp_path / "once", 3)
    split = tmp_path / "split"
    _run(split, None, through=first, start=first)
    _run(split, None, through=first, start=first)  # a rerun of the same date writes nothing
    assert not any((first + dt.timedelta(days=1)).isoformat() in k for k in file_hashes(split))
    _run(split, None, through=first + dt.timedelta(days=2), start=first)
    assert file_hashes(split) == file_hashes(tmp_path / "once")
    with pytest.raises(GeneratorError, match="began on"):
        _run(split, None, through=first + dt.timedelta(days=3), start=first + dt.timedelta(days=1))
    with pytest.raises(GeneratorError, match="before the world's first day"):
        _run(split, None, through=first - dt.timedelta(days=1))

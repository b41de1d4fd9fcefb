"""Memory is bounded by the batch, not by the backlog (`slow`: run with `pytest -m slow`).

The same world's bronze, two days of it and six, is taken into silver by `lakehouse run bronze-to-silver`
in batches of at most 24 MB. With three times the backlog, the process's peak memory (Sail runs inside
it) stays about where it was; without batches it grows with the backlog. `bench/pipeline.py --scale 10
--days 30 --runs 1` measures the same at full size.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from generators.runner import generate
from tests.conftest import small_settings

pytestmark = pytest.mark.slow

LAKEHOUSE = Path(sys.executable).parent / "lakehouse"
SCALE = 0.5
BATCH = "24m"


def _bronze_bytes(root: Path) -> int:
    return sum(
        p.stat().st_size for p in (root / "bronze").rglob("*") if p.is_file() and "_state" not in p.parts
    )


def _peak_mib(root: Path, batch: str | None) -> float:
    """Peak resident memory of one `lakehouse run bronze-to-silver` over `root`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SPARK_REMOTE", "LAKEHOUSE_ENGINE", "SPARK_CONNECT_MODE_ENABLED")
    }
    cmd = [str(LAKEHOUSE), "run", "bronze-to-silver", "--root", str(root), "--engine", "embedded"]
    if batch:
        conf = root / "batch.yaml"
        conf.write_text(f"ingest:\n  max_bytes_per_batch: {batch}\n")
        cmd += ["--conf", str(conf)]
    with (root / "run.log").open("w") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (root / "run.log").read_text()[-3000:]
    return usage.ru_maxrss / 1024


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    settings = small_settings(scale=SCALE)
    roots = {}
    for days in (2, 6):
        roots[days] = tmp_path_factory.mktemp(f"memory-{days}d")
        generate(str(roots[days]), settings, days=days)
    return roots


def _copy(bronze_of: Path, to: Path) -> Path:
    """A fresh root holding only `bronze_of`'s bronze."""
    shutil.copytree(bronze_of / "bronze", to / "bronze")
    return to


def test_peak_memory_stays_flat_when_the_backlog_triples(worlds: dict[int, Path], tmp_path: Path) -> None:
    small, large = worlds[2], worlds[6]
    assert _bronze_bytes(large) > 2.5 * _bronze_bytes(small)
    peaks = {days: _peak_mib(_copy(root, tmp_path / f"{days}d"), BATCH) for days, root in worlds.items()}
    batches = DeltaTable(str(tmp_path / "6d" / "silver" / "ingest_batches")).to_pandas()
    assert batches["batch"].nunique() >= 5, "the six days were not taken in several batches"
    assert peaks[6] < 1.25 * peaks[2], f"peak memory grew with the backlog: {peaks}"


def test_without_batches_the_peak_grows_with_the_backlog(worlds: dict[int, Path], tmp_path: Path) -> None:
    """The control: the same six days in one batch need clearly more memory, so the test above measures
    what batching does and not a workload too small to matter."""
    whole = _peak_mib(_copy(worlds[6], tmp_path / "whole"), "100g")
    batched = _peak_mib(_copy(worlds[6], tmp_path / "batched"), BATCH)
    assert whole > 1.3 * batched, f"one batch {whole:.0f} MiB, batches of {BATCH} {batched:.0f} MiB"

"""The benchmark's own measurements (the benchmark itself is not a test: `bench/pipeline.py`)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "pipeline.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_pipeline", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_busy_seconds_count_the_cpu_work_done_meanwhile() -> None:
    bench = load_bench()
    before = bench.busy_seconds()
    t = time.process_time()
    while time.process_time() - t < 0.5:
        pass
    assert bench.busy_seconds() - before >= 0.4


def test_machine_check_times_its_workload_in_milliseconds() -> None:
    assert 1 < load_bench().machine_check() < 60_000

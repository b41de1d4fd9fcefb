"""The lake's job lock: one holder at a time, taken over only from a run that is gone."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from lakehouse.core.lease import JobLock, Lease, LockHeld, LockLost, process_start


def _lease_files(root: Path, job: str = "job") -> list[Path]:
    return sorted((root / "_locks" / job).glob("lease-*.json"))


def test_a_second_run_is_refused_with_the_holder_named_until_the_first_releases(tmp_path: Path) -> None:
    with JobLock(str(tmp_path), "job", "run-1") as first:
        assert first.lease is not None and first.lease.generation == 1
        with pytest.raises(LockHeld, match=r"job is already running on this lake: run run-1 \(.* pid \d+\)"):
            JobLock(str(tmp_path), "job", "run-2").acquire()
        with JobLock(str(tmp_path), "other-job", "run-3"):  # another job's lock is its own
            pass
    assert json.loads(_lease_files(tmp_path)[-1].read_text())["released"] is True
    with JobLock(str(tmp_path), "job", "run-2") as second:
        assert second.lease is not None and second.lease.generation == 2


def _write(root: Path, lease: Lease) -> None:
    path = root / "_locks" / lease.job / f"lease-{lease.generation:012d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(lease)))


def _held(**changes: object) -> Lease:
    now = time.time()
    base = Lease("job", "old-run", "elsewhere", 1, "1", 4, now - 30, now - 1, 60.0)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_lock_of_a_killed_run_on_this_machine_is_taken_over_at_once(tmp_path: Path) -> None:
    import socket

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(gone.stdout)
    assert process_start(pid) == ""
    _write(tmp_path, _held(host=socket.gethostname(), pid=pid, started="123"))
    with JobLock(str(tmp_path), "job", "rerun") as lock:
        assert lock.lease is not None and lock.lease.generation == 5


def test_a_reused_pid_is_not_mistaken_for_the_owner(tmp_path: Path) -> None:
    import os
    import socket

    _write(tmp_path, _held(host=socket.gethostname(), pid=os.getpid(), started="not-this-start"))
    with JobLock(str(tmp_path), "job", "rerun") as lock:
        assert lock.lease is not None and lock.lease.generation == 5


def test_another_machine_keeps_its_lock_until_its_heartbeat_expires(tmp_path: Path) -> None:
    _write(tmp_path, _held())
    with pytest.raises(LockHeld, match=r"run old-run .*elsewhere"):
        JobLock(str(tmp_path), "job", "new").acquire()
    _write(tmp_path, _held(heartbeat_at=time.time() - 61))
    with JobLock(str(tmp_path), "job", "new") as lock:
        assert lock.lease is not None and lock.lease.generation == 5


def test_a_lease_file_it_cannot_read_counts_as_taken(tmp_path: Path) -> None:
    path = tmp_path / "_locks" / "job" / "lease-000000000007.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(LockHeld, match="run unknown"):
        JobLock(str(tmp_path), "job", "new").acquire()


def test_a_waiting_run_takes_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    holder = JobLock(str(tmp_path), "job", "first")
    holder.__enter__()
    threading.Timer(1.0, holder.release).start()
    started = time.monotonic()
    with JobLock(str(tmp_path), "job", "second", wait=30, poll=0.1) as lock:
        assert lock.lease is not None and lock.lease.run_id == "second"
    assert 0.9 < time.monotonic() - started < 10
    with JobLock(str(tmp_path), "job", "third"), pytest.raises(LockHeld, match="run third"):
        JobLock(str(tmp_path), "job", "fourth", wait=0.5, poll=0.1).acquire()  # a wait that runs out


def test_the_heartbeat_keeps_a_live_lease_from_expiring(tmp_path: Path) -> None:
    with JobLock(str(tmp_path), "job", "long", seconds=0.4) as lock:
        time.sleep(1.2)  # three lease durations
        beat = json.loads(_lease_files(tmp_path)[-1].read_text())
        assert time.time() - beat["heartbeat_at"] < 0.4 and not lock.lost
        with pytest.raises(LockHeld):
            JobLock(str(tmp_path), "job", "other").acquire()


def test_a_run_whose_lease_was_taken_over_stops(tmp_path: Path) -> None:
    with JobLock(str(tmp_path), "job", "stalled") as lock:
        assert lock.lease is not None
        _write(tmp_path, _held(generation=lock.lease.generation + 1, run_id="took-over"))
        with pytest.raises(LockLost, match="stalled lost its lock"):
            lock.check()
    assert json.loads(_lease_files(tmp_path)[-1].read_text())["run_id"] == "took-over"  # left as it is


def _contend(root: str, n: int, winners: multiprocessing.Queue, go: threading.Barrier) -> None:  # type: ignore[type-arg]
    go.wait()  # all at once
    try:
        with JobLock(root, "job", f"run-{n}"):
            winners.put(n)
            time.sleep(3)
    except LockHeld:
        pass


def test_of_runs_started_together_exactly_one_takes_the_lock(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    winners, go = ctx.Queue(), ctx.Barrier(6)
    procs = [ctx.Process(target=_contend, args=(str(tmp_path), n, winners, go)) for n in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    got = []
    while not winners.empty():
        got.append(winners.get())
    assert len(got) == 1, got
    assert len(_lease_files(tmp_path)) == 1

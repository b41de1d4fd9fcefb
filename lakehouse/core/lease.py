"""One run of a job on a lake at a time: a lease kept in the lake's own storage.

A lease is a small JSON file, `<root>/_locks/<job>/lease-<generation>.json`, naming its owner (host,
pid and the process's start time), the run id, when it was taken, its last heartbeat and how long it
lasts without one. The newest generation is the lease in force. A run takes the lock by creating the
next generation's file, which only one creator can do: locally an atomic hard link of a complete file
(`os.link` fails if the name exists); on object storage a write after a check, read back to confirm
(stores with conditional writes make this exact; others leave a window of one round trip). The holder
renews its heartbeat from a background thread and marks the lease released at the end.

A lease is free when it is released, when its heartbeat is older than its duration (a run killed on
another machine), or when its owner ran on this machine and that process is gone (a run killed here:
the next run takes over at once). A holder that finds a newer generation has lost the lock (it stalled
past its lease) and stops before it commits anything more (`check`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from lakehouse.core import storage

log = logging.getLogger(__name__)

LOCKS = "_locks"
KEEP_GENERATIONS = 3  # older lease files are removed once a newer one is in force


class LockHeld(RuntimeError):
    """Another run of the job holds the lake's lock; the message names it."""


class LockLost(RuntimeError):
    """This run's lease was taken over (it stalled past its duration): it must stop."""


@dataclass(frozen=True)
class Lease:
    job: str
    run_id: str
    host: str
    pid: int
    started: str  # the owner process's start time (tells a reused pid from the owner)
    generation: int
    acquired_at: float
    heartbeat_at: float
    seconds: float  # how long the lease lasts without a heartbeat
    released: bool = False
    token: str = ""

    def free(self, now: float) -> bool:
        if self.released or now - self.heartbeat_at > self.seconds:
            return True
        return self.host == socket.gethostname() and process_start(self.pid) != self.started

    def describe(self, now: float) -> str:
        return (
            f"run {self.run_id} ({self.host} pid {self.pid}), running for {now - self.acquired_at:.0f} s, "
            f"last heartbeat {now - self.heartbeat_at:.0f} s ago"
        )


def process_start(pid: int) -> str:
    """A process's start time as the kernel counts it, or '' when no such process runs (Linux); where
    /proc is missing, a live pid is taken as the owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return ""
    except (OSError, IndexError):
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""
    except PermissionError:
        pass
    return "alive"


def _name(generation: int) -> str:
    return f"lease-{generation:012d}.json"


def _generation(uri: str) -> int | None:
    name = uri.rsplit("/", 1)[-1]
    if name.startswith("lease-") and name.endswith(".json"):
        try:
            return int(name[6:-5])
        except ValueError:
            return None
    return None


def create_exclusive(uri: str, data: bytes) -> bool:
    """Create the file with this content unless it exists; True if this call created it."""
    if storage.is_local(uri):
        path = storage.local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        try:
            os.link(tmp, path)  # atomic, and fails if the name exists: the content is whole when seen
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
    if storage.exists(uri):
        return False
    storage.write_bytes(uri, data)
    return storage.read_bytes(uri) == data


class JobLock:
    """`with JobLock(root, job, run_id, wait=...)`: the lake's lock for this job, for the block."""

    def __init__(
        self, root: str, job: str, run_id: str, wait: float = 0.0, seconds: float = 60.0, poll: float = 1.0
    ) -> None:
        self.dir = storage.join(root, LOCKS, job)
        self.job, self.run_id, self.wait, self.seconds, self.poll = job, run_id, wait, seconds, poll
        self.lease: Lease | None = None
        self.lost = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def current(self) -> Lease | None:
        """The lease in force (the newest generation), if any."""
        files = sorted((g, u) for u in storage.list_files(self.dir) if (g := _generation(u)) is not None)
        for generation, uri in reversed(files):
            try:
                return Lease(**json.loads(storage.read_bytes(uri)))
            except FileNotFoundError:  # removed as superseded since it was listed
                continue
            except (ValueError, TypeError):  # not a lease this version wrote: it counts as taken
                return Lease(
                    self.job, "unknown", "unknown", 0, "", generation, 0.0, time.time(), self.seconds
                )
        return None

    def acquire(self) -> Lease:
        deadline = time.monotonic() + self.wait
        while True:
            now = time.time()
            held = self.current()
            if held is None or held.free(now):
                generation = held.generation + 1 if held else 1
                lease = Lease(
                    self.job, self.run_id, socket.gethostname(), os.getpid(), process_start(os.getpid()),
                    generation, now, now, self.seconds, token=uuid.uuid4().hex,
                )  # fmt: skip
                if create_exclusive(storage.join(self.dir, _name(generation)), _encode(lease)):
                    if held is not None and not held.released:
                        log.warning("%s: took over the lock of %s (gone)", self.job, held.describe(now))
                    self.lease = lease
                    self._prune(generation)
                    return lease
                continue  # another run took this generation first: look again
            if time.monotonic() >= deadline:
                raise LockHeld(
                    f"{self.job} is already running on this lake: {held.describe(now)}; wait for it to "
                    f"finish or pass --wait SECONDS (lock: {storage.join(self.dir, _name(held.generation))})"
                )
            time.sleep(min(self.poll, max(0.05, deadline - time.monotonic())))

    def check(self) -> None:
        """Raise LockLost if another run has taken this lease over."""
        if self.lost or (
            self.lease and (held := self.current()) and held.generation != self.lease.generation
        ):
            self.lost = True
            raise LockLost(
                f"{self.job} run {self.run_id} lost its lock to another run after stalling for more than "
                f"{self.seconds:.0f} s; it stopped before committing more (rerun it: runs are idempotent)"
            )

    def _write(self, lease: Lease) -> None:
        uri = storage.join(self.dir, _name(lease.generation))
        if storage.is_local(uri):  # replace the whole file at once: a reader never sees half of it
            path = storage.local_path(uri)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
            tmp.write_bytes(_encode(lease))
            os.replace(tmp, path)
        else:
            storage.write_bytes(uri, _encode(lease))

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            assert self.lease is not None
            try:
                self.check()
                self.lease = Lease(**{**asdict(self.lease), "heartbeat_at": time.time()})
                self._write(self.lease)
            except LockLost as exc:
                log.error("%s", exc)
                return
            except OSError as exc:  # storage briefly unreachable: the next beat tries again
                log.warning("%s: could not renew the lock's heartbeat: %s", self.job, exc)

    def _prune(self, generation: int) -> None:
        for uri in storage.list_files(self.dir):
            g = _generation(uri)
            if g is not None and g <= generation - KEEP_GENERATIONS:
                storage.delete(uri)

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        if self.lease is not None and not self.lost:
            held = self.current()
            if held is not None and held.generation == self.lease.generation:
                self._write(Lease(**{**asdict(self.lease), "released": True, "heartbeat_at": time.time()}))
        self.lease = None

    def __enter__(self) -> JobLock:
        self.acquire()
        self._beat = threading.Thread(target=self._heartbeat, name=f"lock-{self.job}", daemon=True)
        self._beat.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _encode(lease: Lease) -> bytes:
    return json.dumps(asdict(lease), sort_keys=True).encode()

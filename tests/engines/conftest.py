"""The same small world built on every engine: embedded Sail in this process (the reference), classic
JVM Spark through spark-submit, a standalone cluster of two workers, and a JVM Spark Connect server.
Every lake is built once per test session; the tests read what the runs left.

These tests start JVMs and take minutes: they are marked `jvm` and run in a pytest invocation of their
own (`.ci/run` calls it): `python -m pytest -m jvm`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from generators.runner import generate
from lakehouse.core.config import load_config
from lakehouse.core.jars import delta_maven_coordinates
from lakehouse.core.jvm_services import connect_server, spark_env, standalone_cluster
from tests.conftest import small_settings

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Black Friday to Sunday (the week's inventory workbook), then Cyber Monday incrementally.
START = dt.date(2025, 11, 28)
DAYS = 3
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@dataclass
class World:
    """Bronze of the first DAYS days, and the files the next day adds."""

    first: Path  # a bronze/ directory
    next_day: Path  # the generator's bronze/ after one more day
    new_files: list[str]  # relative to bronze/

    def lake(self, root: Path) -> Path:
        shutil.copytree(self.first, root / "bronze")
        return root

    def add_next_day(self, root: Path) -> None:
        for rel in self.new_files:
            target = root / "bronze" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.next_day / rel, target)


@dataclass
class Run:
    """A job run as a user runs it: the command, its exit code and output, and how long it took."""

    what: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def ok(self) -> None:
        assert self.returncode == 0, (
            f"{self.what} exited {self.returncode}:\n{self.stdout[-2000:]}\n{self.stderr[-4000:]}"
        )


def run(what: str, cmd: list[str], env: dict[str, str], cwd: Path = REPO, timeout: int = 1200) -> Run:
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    print(f"{what}: exit {out.returncode} in {seconds:.1f} s")
    return Run(what, out.returncode, out.stdout, out.stderr, seconds)


def user_env(**extra: str) -> dict[str, str]:
    """A shell whose virtual environment is not activated: the venv's bin/ is not on PATH, and the
    pip-installed Spark launchers are told which Python to run (PYSPARK_PYTHON), as the README says."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN)
    env = {
        k: v
        for k, v in os.environ.items()
        # SPARK_CONNECT_MODE_ENABLED: set in this process by its own Connect session, not a user's.
        if k not in ("SPARK_REMOTE", "LAKEHOUSE_ENGINE", "MASTER", "SPARK_HOME", "SPARK_CONNECT_MODE_ENABLED")
    }
    # C1 only and the serial collector cut each job's CPU by 23-30% on the tests' world (wall time
    # alone unchanged; CI runs three test processes on two cores). The commands stay the README's.
    jvm = {"SPARK_SUBMIT_OPTS": os.environ.get("SPARK_SUBMIT_OPTS", JVM_OPTIONS)}
    return env | {"PATH": path, "PYSPARK_PYTHON": sys.executable} | jvm | extra


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("jvm-world")
    # Coupon codes (a new column) from the third day: schema evolution on every engine too.
    settings = small_settings()
    dirty = dataclasses.replace(settings.dirty, new_column_from_day=3)
    settings = dataclasses.replace(settings, scale=0.02, start_date=START, dirty=dirty)
    generate(str(root), settings, days=DAYS)
    first = tmp_path_factory.mktemp("jvm-first") / "bronze"
    shutil.copytree(root / "bronze", first)
    before = {str(p.relative_to(first)) for p in first.rglob("*") if p.is_file()}
    generate(str(root), settings, days=1)
    after = {str(p.relative_to(root / "bronze")) for p in (root / "bronze").rglob("*") if p.is_file()}
    new = sorted(p for p in after - before if not p.startswith(("_state", "_manifest")))
    assert new and all("2025-12-01" in p for p in new), new
    return World(first, root / "bronze", new)


@dataclass
class Reference:
    """The embedded engine's lake after the first days; `next_day()` builds (once) the lake after the
    next one, which only the incremental tests need."""

    first: Path
    spark: object
    world: World
    root: Path
    _next: Path | None = None

    def next_day(self) -> Path:
        from lakehouse.gold.build import silver_to_gold
        from lakehouse.silver.ingest import bronze_to_silver

        if self._next is None:
            self.world.add_next_day(self.root)
            cfg = load_config(root=str(self.root), env={})
            for step in (bronze_to_silver, silver_to_gold):
                report = step(self.spark, cfg, "reference-next")  # type: ignore[operator]
                assert report.failure is None, report.failure
            self._next = self.root
        return self._next


@pytest.fixture(scope="session")
def reference(world: World, spark: object, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    from lakehouse.gold.build import silver_to_gold
    from lakehouse.silver.ingest import bronze_to_silver

    lake = world.lake(tmp_path_factory.mktemp("embedded"))
    cfg = load_config(root=str(lake), env={})
    for step in (bronze_to_silver, silver_to_gold):
        report = step(spark, cfg, "reference")  # type: ignore[operator]
        assert report.failure is None, report.failure
    first = tmp_path_factory.mktemp("embedded-first") / "lake"
    shutil.copytree(lake, first)
    return Reference(first, spark, world, lake)


@dataclass
class Lake:
    root: Path
    runs: list[Run] = field(default_factory=list)
    landed_by_executors: set[int] = field(default_factory=set)  # pids seen running executors


@pytest.fixture(scope="session")
def classic(world: World, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """spark-submit --packages ... jobs/*.py on a local master, from a shell without the venv activated."""
    lake = Lake(world.lake(tmp_path_factory.mktemp("classic")))
    submit = [str(VENV_BIN / "spark-submit"), "--packages", delta_maven_coordinates()]
    for job in ("bronze_to_silver", "silver_to_gold"):
        cmd = [*submit, f"jobs/{job}.py", "--root", str(lake.root)]
        lake.runs.append(run(f"spark-submit jobs/{job}.py", cmd, user_env()))
    return lake


@pytest.fixture(scope="session")
def classic_next_day(classic: Lake, world: World, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """A copy of the classic lake, the next day's files added, through `lakehouse run all --engine classic`."""
    for r in classic.runs:
        r.ok()
    lake = Lake(tmp_path_factory.mktemp("classic-next") / "lake")
    shutil.copytree(classic.root, lake.root)
    world.add_next_day(lake.root)
    cmd = [str(VENV_BIN / "lakehouse"), "run", "all", "--engine", "classic", "--root", str(lake.root)]
    lake.runs.append(run("lakehouse run all --engine classic (next day)", cmd, user_env()))
    return lake


def _bare_python(root: Path) -> str:
    """A Python with the project's dependencies but not the project itself: executors running it can
    import `lakehouse` only from the code the job ships to them."""
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    bare = root / "bin" / "python"
    site = subprocess.run([str(bare), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    Path(site, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    check = subprocess.run([str(bare), "-c", "import lakehouse"], capture_output=True, cwd=root)
    assert check.returncode != 0, "the bare Python must not see the project"
    return str(bare)


def _watch_executors(cluster, seen: set[int], stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    while not stop.is_set():
        seen |= cluster.executor_pids()
        stop.wait(0.2)


@pytest.fixture(scope="session")
def standalone(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """A master and two workers on 127.0.0.1; both jobs submitted to it. The executors run a Python
    without the project installed, so landing there proves the jobs ship their code."""
    lake = Lake(world.lake(tmp_path_factory.mktemp("standalone")))
    bare = _bare_python(tmp_path_factory.mktemp("bare-python"))
    with standalone_cluster(
        workers=2, cores=1, memory="2g", logs=tmp_path_factory.mktemp("standalone-logs")
    ) as cluster:
        stop = threading.Event()
        watcher = threading.Thread(
            target=_watch_executors, args=(cluster, lake.landed_by_executors, stop), daemon=True
        )
        watcher.start()
        submit = [
            str(VENV_BIN / "spark-submit"), "--master", cluster.master_url, "--packages", delta_maven_coordinates(),
            "--conf", f"spark.pyspark.python={bare}", "--conf", f"spark.pyspark.driver.python={sys.executable}",
            "--conf", "spark.executor.memory=1g",
        ]  # fmt: skip
        env = user_env(SPARK_LOCAL_IP="127.0.0.1")
        try:
            for job in ("bronze_to_silver", "silver_to_gold"):
                cmd = [*submit, f"jobs/{job}.py", "--root", str(lake.root)]
                lake.runs.append(run(f"spark-submit --master {cluster.master_url} jobs/{job}.py", cmd, env))
        finally:
            stop.set()
            watcher.join()
        yield lake


@pytest.fixture(scope="session")
def connect(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """A JVM Spark Connect server with Delta; `lakehouse run all` against it (SPARK_REMOTE)."""
    lake = Lake(world.lake(tmp_path_factory.mktemp("connect")))
    with connect_server(logs=tmp_path_factory.mktemp("connect-logs")) as server:
        env = spark_env() | {"SPARK_REMOTE": server.url}
        env.pop("SPARK_HOME")
        cmd = [str(VENV_BIN / "lakehouse"), "run", "all", "--root", str(lake.root)]
        lake.runs.append(run(f"lakehouse run all against {server.url}", cmd, env))
        yield lake

"""JVM Spark services on this machine, from the pyspark installation alone: a standalone cluster (a
master and workers) and a Spark Connect server with Delta Lake. The tests and benchmarks run the
jobs against them exactly as against remote ones; they are also a way to try a cluster deployment
on a laptop:

    >>> with standalone_cluster(workers=2) as cluster:      # spark://127.0.0.1:PORT
    ...     subprocess.run(["spark-submit", "--master", cluster.master_url, ...])
    >>> with connect_server() as server:                     # sc://127.0.0.1:PORT
    ...     subprocess.run(["lakehouse", "run", "all"], env={**os.environ, "SPARK_REMOTE": server.url})
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.core.engines import DELTA_CATALOG, DELTA_EXTENSION, SESSION_CONF, local_master_conf
from lakehouse.core.jars import delta_maven_coordinates

CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


class ServiceError(RuntimeError):
    """A local Spark service did not come up; the message names its log."""


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def spark_bin(name: str) -> str:
    """A launcher script of the pyspark installation (spark-submit, spark-class)."""
    return str(spark_home() / "bin" / name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_env(python: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the launchers need: SPARK_HOME, the Python for drivers and workers, and
    addresses on the loopback interface."""
    drop = ("SPARK_REMOTE", "MASTER", "PYSPARK_GATEWAY_PORT", "SPARK_CONNECT_MODE_ENABLED")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env |= {
        "SPARK_HOME": str(spark_home()),
        "PYSPARK_PYTHON": python or sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_NO_DAEMONIZE": "1",
    }
    return env | dict(extra or {})


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"the service exited with code {process.returncode}; see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise ServiceError(f"the service did not listen on port {port} within {timeout:.0f} s; see {log}")


def _start(cmd: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(env), start_new_session=True
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait(timeout=30)


@dataclass
class StandaloneCluster:
    master_url: str
    web_url: str
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def alive_workers(self) -> list[dict[str, object]]:
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=5) as r:
            state = json.load(r)
        return [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]

    def executor_pids(self) -> set[int]:
        """The process ids of the executors running now and of their descendants (the Python workers
        that run the tasks' Python code), read from /proc."""
        parent: dict[int, int] = {}
        executors = set()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
                stat = (proc / "stat").read_text()
            except OSError:  # the process ended meanwhile
                continue
            parent[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            if b"org.apache.spark.executor.CoarseGrainedExecutorBackend" in cmdline:
                executors.add(int(proc.name))
        found = set(executors)
        while True:
            more = {pid for pid, ppid in parent.items() if ppid in found} - found
            if not more:
                return found
            found |= more

    def stop(self) -> None:
        for p in reversed(self.processes):
            _stop(p)


@contextlib.contextmanager
def standalone_cluster(
    workers: int = 2,
    cores: int = 1,
    memory: str = "2g",
    logs: Path | None = None,
    python: str | None = None,
    timeout: float = 90,
) -> Iterator[StandaloneCluster]:
    """A standalone master and `workers` workers of `cores` cores on 127.0.0.1, stopped on exit.
    `python` is the interpreter the executors run Python work with (by default this one)."""
    logs = logs or Path(tempfile.mkdtemp(prefix="lakehouse-standalone-"))
    logs.mkdir(parents=True, exist_ok=True)
    env = spark_env(python)
    port, web = free_port(), free_port()
    cluster = StandaloneCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}", logs)
    try:
        master = _start(
            [spark_bin("spark-class"), "org.apache.spark.deploy.master.Master",
             "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web)],
            logs / "master.log", env,
        )  # fmt: skip
        cluster.processes.append(master)
        _wait_for_port(web, master, logs / "master.log", timeout)
        for i in range(workers):
            work = logs / f"worker-{i}"
            work.mkdir(exist_ok=True)
            cmd = [spark_bin("spark-class"), "org.apache.spark.deploy.worker.Worker", cluster.master_url,
                   "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                   "--webui-port", str(free_port()), "--work-dir", str(work)]  # fmt: skip
            cluster.processes.append(_start(cmd, logs / f"worker-{i}.log", env))
        deadline = time.time() + timeout
        while len(cluster.alive_workers()) < workers:
            if time.time() > deadline:
                raise ServiceError(f"{workers} workers did not register within {timeout:.0f} s; see {logs}")
            time.sleep(0.5)
        yield cluster
    finally:
        cluster.stop()


@dataclass
class ConnectServer:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        _stop(self.process)


def connect_server_command(
    port: int, delta_jars_dir: Path | None = None, master: str = "local[*]"
) -> list[str]:
    """spark-submit for a JVM Spark Connect server with Delta Lake (the connect jar ships with pyspark)."""
    delta = (
        ["--jars", ",".join(str(p) for p in sorted(delta_jars_dir.glob("*.jar")))]
        if delta_jars_dir
        else ["--packages", delta_maven_coordinates()]
    )
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "lakehouse-spark-warehouse"),
        "spark.ui.showConsoleProgress": "false",
        **local_master_conf(master),
        **SESSION_CONF,  # the client sets these too; a server-wide default helps other clients
    }
    settings = [x for k, v in conf.items() for x in ("--conf", f"{k}={v}")]
    return [
        spark_bin("spark-submit"),
        "--master",
        master,
        "--class",
        CONNECT_SERVER_CLASS,
        *delta,
        *settings,
        "spark-internal",
    ]


@contextlib.contextmanager
def connect_server(
    port: int | None = None,
    logs: Path | None = None,
    python: str | None = None,
    delta_jars_dir: Path | None = None,
    timeout: float = 180,
) -> Iterator[ConnectServer]:
    """A JVM Spark Connect server with Delta Lake on 127.0.0.1, stopped on exit. `python` runs its
    Python work (landing); by default this interpreter."""
    port = port or free_port()
    logs = logs or Path(tempfile.mkdtemp(prefix="lakehouse-connect-"))
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "connect-server.log"
    process = _start(connect_server_command(port, delta_jars_dir), log, spark_env(python))
    server = ConnectServer(f"sc://127.0.0.1:{port}", log, process)
    try:
        _wait_for_port(port, process, log, timeout)
        yield server
    finally:
        server.stop()

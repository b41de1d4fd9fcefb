"""The one place that builds a Spark session, for all three engines.

- embedded: Sail started in this process behind a Spark Connect endpoint on 127.0.0.1 (no JVM, no jars);
- remote: a Spark Connect URL (a Sail cluster, a Spark 4 Connect server, Databricks);
- classic: a JVM session configured for delta-spark (existing clusters via spark-submit).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.core import storage
from lakehouse.core.config import Config
from lakehouse.core.jars import SCALA_BINARY, delta_maven_coordinates
from lakehouse.core.log import one_line

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

# What the pipeline needs of every session, whatever the engine; all of them can be set on a running
# session, so a Spark Connect server gets them from its client too.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # JVM Spark writes Parquet timestamps as INT96 by default, which delta-rs reads as nanoseconds
    # (type 2 dimensions' valid_to of 9999-12-31 then overflows): every engine writes microseconds.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}

_lock = threading.Lock()
_server: Any = None  # the embedded pysail SparkConnectServer, when running
_session: SparkSession | None = None


class EngineError(RuntimeError):
    """The Spark session could not be built; the message says what to do."""


class DeltaUnavailableError(EngineError):
    """Classic mode: the delta-spark classes could not be loaded."""


def launched_by_spark_submit(env: Mapping[str, str] | None = None) -> bool:
    """Whether this Python process was started by spark-submit (or pyspark), which leaves a JVM
    gateway for it."""
    return "PYSPARK_GATEWAY_PORT" in (os.environ if env is None else env)


def resolve_engine(cfg: Config, env: Mapping[str, str] | None = None) -> str:
    """`auto` means remote when SPARK_REMOTE is set, classic under spark-submit (the cluster the job
    was submitted to), otherwise embedded."""
    env = os.environ if env is None else env
    mode = cfg.engine.mode
    if mode == "auto":
        if env.get("SPARK_REMOTE"):
            return "remote"
        return "classic" if launched_by_spark_submit(env) else "embedded"
    return mode


def remote_url(cfg: Config, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    url = env.get("SPARK_REMOTE") or cfg.engine.remote_url
    if not url:
        raise EngineError(
            "engine mode 'remote' needs a Spark Connect URL: set engine.remote_url in "
            f"{cfg.source} or the SPARK_REMOTE environment variable (sc://host:port)"
        )
    return url


def _mentions_delta(existing: Mapping[str, str]) -> bool:
    keys = ("spark.jars", "spark.jars.packages", "spark.driver.extraClassPath")
    spark_home_jars = glob.glob(
        os.path.join(os.environ.get("SPARK_HOME", "/nonexistent"), "jars", "delta-spark*.jar")
    )
    return bool(spark_home_jars) or any("delta" in existing.get(k, "").lower() for k in keys)


def local_master_conf(master: str, cores: int | None = None) -> dict[str, str]:
    """Settings for a JVM Spark running on one machine (`local[...]`), where the data of one run is
    small next to Spark's cluster-sized defaults: 200 shuffle partitions and 50 partitions for every
    Delta log replay turn each small step into hundreds of tasks."""
    if not master.startswith("local"):
        return {}
    n = cores or os.cpu_count() or 2
    return {
        "spark.sql.shuffle.partitions": str(4 * n),
        "spark.databricks.delta.snapshotPartitions": str(n),
        # VACUUM lists a table's files in this many tasks (10,000 by default: minutes for a small table).
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(4 * n),
    }


def _spark_log_level() -> str:
    """Spark's own log level, one step quieter than the job's: at the default WARNING, Spark's
    warnings about plans (single-partition windows, cached data) are noise to a user."""
    level = logging.getLogger().getEffectiveLevel()
    return "INFO" if level <= logging.DEBUG else "WARN" if level <= logging.INFO else "ERROR"


def classic_spark_conf(
    cfg: Config, existing: Mapping[str, str] | None = None, delta_version: str | None = None
) -> dict[str, str]:
    """Spark settings for a classic JVM session with Delta Lake.

    `existing` is what spark-submit or spark-defaults already set: Delta jars supplied there
    (--packages, --jars, a cluster image) are used as they are, and so is any setting given there.
    Otherwise the jars come from `engine.classic.delta_jars_dir` or, failing that, from Maven
    coordinates matching the installed delta-spark.
    """
    existing = existing or {}
    classic = cfg.engine.classic
    master = existing.get("spark.master") or classic.master
    defaults: dict[str, str] = {
        **local_master_conf(master),
        "spark.ui.showConsoleProgress": "false",  # the jobs print their own progress
        "spark.log.level": _spark_log_level(),
        # The jobs use no metastore: tables are paths. Without this, a database created by
        # `register_tables` would land in ./spark-warehouse of whatever directory the user is in.
        "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "lakehouse-spark-warehouse"),
    }
    conf: dict[str, str] = {k: v for k, v in defaults.items() if k not in existing}
    conf |= {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        **SESSION_CONF,
    }
    if classic.delta_jars_dir:
        jars_dir = Path(classic.delta_jars_dir).expanduser()
        jars = sorted(str(p) for p in jars_dir.glob("*.jar"))
        if not any("delta-spark" in Path(j).name for j in jars):
            raise DeltaUnavailableError(
                f"engine.classic.delta_jars_dir ({jars_dir}) holds no delta-spark_{SCALA_BINARY}-*.jar. "
                + _delta_help()
            )
        conf["spark.jars"] = ",".join([*filter(None, [existing.get("spark.jars")]), *jars])
    elif not _mentions_delta(existing):
        packages = classic.delta_packages or delta_maven_coordinates(delta_version)
        conf["spark.jars.packages"] = ",".join(filter(None, [existing.get("spark.jars.packages"), packages]))
    conf.update(classic.spark_conf)
    return conf


def jars_tried(conf: Mapping[str, str], existing: Mapping[str, str]) -> str:
    """Which way of providing the Delta jars this session tried, for the message when it failed."""
    if "spark.jars" in conf and conf["spark.jars"] != existing.get("spark.jars"):
        return f"tried the jars of engine.classic.delta_jars_dir ({conf['spark.jars']})"
    if "spark.jars.packages" in conf and conf["spark.jars.packages"] != existing.get("spark.jars.packages"):
        return f"tried Maven coordinates {conf['spark.jars.packages']} (spark.jars.packages, resolved by Ivy)"
    given = {
        k: existing[k]
        for k in ("spark.jars", "spark.jars.packages", "spark.driver.extraClassPath")
        if k in existing
    }
    if given:
        return "tried what the launch supplied (" + ", ".join(f"{k}={v}" for k, v in given.items()) + ")"
    return "tried the jars under SPARK_HOME/jars"


def _delta_help() -> str:
    return (
        "Provide the Delta Lake jars in one of these ways: launch with "
        f"`spark-submit --packages {delta_maven_coordinates()}` (needs Maven access); or "
        "`spark-submit --jars delta-spark_2.13-<v>.jar,delta-storage-<v>.jar`; or set "
        "engine.classic.delta_jars_dir (or LAKEHOUSE_DELTA_JARS_DIR) to a directory holding those jars "
        "(`lakehouse fetch-jars` fetches them with Maven); or use the embedded "
        "engine (--engine embedded), which needs no jars."
    )


EMBEDDED_SESSION_TIMEOUT = 30 * 24 * 3600  # seconds


def _start_embedded(cfg: Config) -> str:
    global _server
    os.environ.setdefault("RUST_LOG", "error")
    # The server is this process's own: an idle session must not expire (Sail ends one after minutes
    # without a request, and a shell, a watch or a test process waiting on a subprocess is idle that long).
    os.environ.setdefault("SAIL_SPARK__SESSION_TIMEOUT_SECS", str(EMBEDDED_SESSION_TIMEOUT))
    if cfg.engine.embedded.sail_mode == "local-cluster":
        os.environ["SAIL_MODE"] = "local-cluster"
    try:
        from pysail.spark import SparkConnectServer
    except ImportError as exc:  # pragma: no cover - pysail is a hard dependency
        raise EngineError(f"the embedded engine needs pysail: pip install pysail ({exc})") from None
    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start(background=True)
    _server = server
    storage.use_path_aliases()
    host, port = server.listening_address
    log.info("embedded Sail engine listening on %s:%s (mode %s)", host, port, cfg.engine.embedded.sail_mode)
    return f"sc://{host}:{port}"


def _reachable(url: str, timeout: float = 5.0) -> None:
    """Fail fast: the Connect client would otherwise retry an absent server for minutes."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url.split(";", 1)[0])
    host, port = parsed.hostname or "localhost", parsed.port or 15002
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise EngineError(
            f"could not connect to Spark Connect at {url}: {exc.strerror or exc}. "
            "Start the server (for Sail: `sail spark server --port PORT`) or fix engine.remote_url / SPARK_REMOTE"
        ) from None


def _connect(url: str) -> SparkSession:
    # The Connect builder directly: under spark-submit, MASTER is set and the generic builder refuses
    # a remote URL next to a master.
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    # pyspark.sql.functions dispatches on this flag to build Connect columns instead of JVM ones.
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    try:
        session = ConnectSession.builder.remote(url).getOrCreate()
        for key, value in SESSION_CONF.items():
            session.conf.set(key, value)
    except Exception as exc:
        raise EngineError(f"could not connect to Spark Connect at {url}: {one_line(str(exc))}") from None
    return session  # type: ignore[return-value]


def _classic(cfg: Config, app_name: str) -> SparkSession:
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    # Inherited from a parent process with a Connect session, this flag would turn the builder below
    # into a Connect client that has no URL.
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    launched_by_submit = launched_by_spark_submit()
    existing = dict(SparkConf().getAll()) if launched_by_submit else {}
    if not launched_by_submit:
        # Python workers (landing runs in them) use this interpreter and its packages, not python3 on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = classic_spark_conf(cfg, existing)
    builder = SparkSession.builder.appName(app_name)
    if not launched_by_submit and "MASTER" not in os.environ:
        builder = builder.master(cfg.engine.classic.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    # A JVM this process starts writes its console output (Ivy's resolution report, log4j's) to a
    # log file rather than over the job's own output; under spark-submit the JVM is already running.
    jvm_log = None if launched_by_submit else Path(tempfile.gettempdir()) / f"lakehouse-jvm-{os.getpid()}.log"
    try:
        with _console_to(jvm_log):
            session = builder.getOrCreate()
    except Exception as exc:
        cause = one_line(str(exc)) or type(exc).__name__
        if jvm_log is not None:
            cause += f"; the JVM's output is in {jvm_log}" + _ivy_failure(jvm_log)
        raise DeltaUnavailableError(
            f"the classic Spark session could not start with Delta Lake ({cause}); {jars_tried(conf, existing)}. "
            + _delta_help()
        ) from None
    if jvm_log is not None:
        log.info("classic Spark session started; the JVM's console output goes to %s", jvm_log)
    try:
        # Through the context class loader: jars Spark adds at run time (--packages, --jars) are on it,
        # not on the loader py4j's Class.forName uses.
        jvm = session._jvm  # type: ignore[attr-defined]
        jvm.java.lang.Thread.currentThread().getContextClassLoader().loadClass(DELTA_CATALOG)
    except Exception:
        session.stop()
        raise DeltaUnavailableError(
            f"the Delta Lake classes ({DELTA_CATALOG}) are not on the classpath; {jars_tried(conf, existing)}. "
            + _delta_help()
        ) from None
    return session


@contextlib.contextmanager
def _console_to(path: Path | None) -> Iterator[None]:
    """Standard output and error of child processes started inside this block (the JVM) go to `path`;
    this process's own are restored after it."""
    if path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with path.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _ivy_failure(jvm_log: Path) -> str:
    """What Ivy said when it could not resolve the Delta packages, if it did."""
    try:
        text = jvm_log.read_text(errors="replace")
    except OSError:
        return ""
    unresolved = [
        line.strip(" :\t")
        for line in text.splitlines()
        if "UNRESOLVED DEPENDENC" in line or "not found" in line
    ]
    return f" (Ivy: {unresolved[-1]})" if unresolved else ""


def get_spark(cfg: Config, app_name: str = "lakehouse") -> SparkSession:
    """The project's Spark session for the configured engine; created once per process."""
    global _session
    with _lock:
        if _session is not None:
            return _session
        mode = resolve_engine(cfg)
        log.info("starting Spark session: engine=%s", mode)
        if mode == "embedded":
            _session = _connect(_start_embedded(cfg))
            # In-process, there is no network to reattach across, and reattaching (with its
            # asynchronous releases) is where Sail 0.7.2 once failed a command mid-run with
            # "task context not found for operation". Plain execution is fully supported by Sail.
            _session.client.disable_reattachable_execute()
        elif mode == "remote":
            url = remote_url(cfg)
            _reachable(url)
            _session = _connect(url)
        elif mode == "classic":
            _session = _classic(cfg, app_name)
        else:  # config validation makes this unreachable
            raise EngineError(f"unknown engine mode {mode!r}")
        return _session


def _package_zip() -> Path:
    """This project's `lakehouse` package as a zip of its sources (built once per version and change)."""
    import zipfile

    import lakehouse

    package = Path(lakehouse.__file__).resolve().parent
    sources = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    stamp = max(int(p.stat().st_mtime) for p in sources)
    target = Path(tempfile.gettempdir()) / f"lakehouse-code-{stamp}-{len(sources)}.zip"
    if not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sources:
                zf.write(p, str(p.relative_to(package.parent)))
        os.replace(tmp, target)
    return target


def ship_code(spark: SparkSession) -> None:
    """Make the `lakehouse` package importable in the engine's Python workers, for work that runs
    there (landing bronze files): added to a cluster application's Python path (classic Spark with a
    cluster master), or uploaded as an artifact (a Spark Connect server that accepts them). A local
    master and the embedded engine use this process's own environment; an engine that accepts
    neither needs the package installed beside its workers."""
    mode = "connect" if is_connect(spark) else "classic"
    try:
        if mode == "classic":
            context = spark.sparkContext
            if context.master.startswith("local"):
                return
            context.addPyFile(str(_package_zip()))
        else:
            if _server is not None:  # embedded: the workers are this process
                return
            spark.addArtifacts(str(_package_zip()), pyfile=True)
        log.info("lakehouse package shipped to the engine's Python workers (%s)", mode)
    except Exception as exc:  # e.g. Sail: artifacts are not supported; its workers need the package
        log.info(
            "the engine did not take the lakehouse package (%s): its workers must have it installed",
            one_line(str(exc)),
        )


def is_connect(spark: SparkSession) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


def stop_spark() -> None:
    """Stop the session and, for the embedded engine, the in-process Sail server."""
    global _session, _server
    with _lock:
        if _session is not None:
            with contextlib.suppress(Exception):  # a session whose server is gone cannot stop cleanly
                _session.stop()
            _session = None
        if _server is not None:
            with contextlib.suppress(Exception):
                _server.stop()
            _server = None


atexit.register(stop_spark)

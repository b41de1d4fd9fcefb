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
import threading
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.core.config import Config
from lakehouse.core.log import one_line

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
SCALA_BINARY = "2.13"  # Spark 4 is built for Scala 2.13 only

_lock = threading.Lock()
_server: Any = None  # the embedded pysail SparkConnectServer, when running
_session: SparkSession | None = None


class EngineError(RuntimeError):
    """The Spark session could not be built; the message says what to do."""


class DeltaUnavailableError(EngineError):
    """Classic mode: the delta-spark classes could not be loaded."""


def resolve_engine(cfg: Config, env: Mapping[str, str] | None = None) -> str:
    """`auto` means remote when SPARK_REMOTE is set, otherwise embedded."""
    env = os.environ if env is None else env
    mode = cfg.engine.mode
    if mode == "auto":
        return "remote" if env.get("SPARK_REMOTE") else "embedded"
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


def delta_maven_coordinates(delta_version: str | None = None) -> str:
    """The delta-spark artifacts matching the installed delta-spark Python package."""
    version = delta_version or metadata.version("delta-spark")
    return f"io.delta:delta-spark_{SCALA_BINARY}:{version}"


def _mentions_delta(existing: Mapping[str, str]) -> bool:
    keys = ("spark.jars", "spark.jars.packages", "spark.driver.extraClassPath")
    spark_home_jars = glob.glob(
        os.path.join(os.environ.get("SPARK_HOME", "/nonexistent"), "jars", "delta-spark*.jar")
    )
    return bool(spark_home_jars) or any("delta" in existing.get(k, "").lower() for k in keys)


def classic_spark_conf(
    cfg: Config, existing: Mapping[str, str] | None = None, delta_version: str | None = None
) -> dict[str, str]:
    """Spark settings for a classic JVM session with Delta Lake.

    `existing` is what spark-submit or spark-defaults already set: Delta jars supplied there
    (--packages, --jars, a cluster image) are used as they are. Otherwise the jars come from
    `engine.classic.delta_jars_dir` or, failing that, from Maven coordinates matching the
    installed delta-spark.
    """
    existing = existing or {}
    classic = cfg.engine.classic
    conf: dict[str, str] = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.session.timeZone": "UTC",
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


def _delta_help() -> str:
    return (
        "Provide the Delta Lake jars in one of these ways: launch with "
        f"`spark-submit --packages {delta_maven_coordinates()}` (needs Maven access); or "
        "`spark-submit --jars delta-spark_2.13-<v>.jar,delta-storage-<v>.jar`; or set "
        "engine.classic.delta_jars_dir to a directory holding those jars; or use the embedded "
        "engine (--engine embedded), which needs no jars."
    )


def _start_embedded(cfg: Config) -> str:
    global _server
    os.environ.setdefault("RUST_LOG", "error")
    if cfg.engine.embedded.sail_mode == "local-cluster":
        os.environ["SAIL_MODE"] = "local-cluster"
    try:
        from pysail.spark import SparkConnectServer
    except ImportError as exc:  # pragma: no cover - pysail is a hard dependency
        raise EngineError(f"the embedded engine needs pysail: pip install pysail ({exc})") from None
    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start(background=True)
    _server = server
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
        session.conf.set("spark.sql.session.timeZone", "UTC")
    except Exception as exc:
        raise EngineError(f"could not connect to Spark Connect at {url}: {one_line(str(exc))}") from None
    return session  # type: ignore[return-value]


def _classic(cfg: Config, app_name: str) -> SparkSession:
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    launched_by_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    existing = dict(SparkConf().getAll()) if launched_by_submit else {}
    conf = classic_spark_conf(cfg, existing)
    builder = SparkSession.builder.appName(app_name)
    if not launched_by_submit and "MASTER" not in os.environ:
        builder = builder.master(cfg.engine.classic.master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise DeltaUnavailableError(
            f"the classic Spark session could not start with Delta Lake ({one_line(str(exc)) or type(exc).__name__}). "
            + _delta_help()
        ) from None
    try:
        session._jvm.java.lang.Class.forName(DELTA_CATALOG)  # type: ignore[attr-defined]
    except Exception:
        session.stop()
        raise DeltaUnavailableError(
            f"the Delta Lake classes ({DELTA_CATALOG}) are not on the classpath. " + _delta_help()
        ) from None
    return session


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

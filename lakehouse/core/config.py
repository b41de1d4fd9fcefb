"""The project's configuration: loaded, merged and validated in one place.

Precedence, lowest first: the YAML file, environment variables, CLI flags.
The file is `conf/lakehouse.yaml` unless `LAKEHOUSE_CONF` or `--conf` names another.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The defaults: conf/ and expectations/ of a checkout (or an editable install), else the copies an
# installed wheel carries as package data (lakehouse/defaults/).
PACKAGED = Path(__file__).resolve().parents[1] / "defaults"
DEFAULTS = PROJECT_DIR if (PROJECT_DIR / "conf" / "lakehouse.yaml").is_file() else PACKAGED
DEFAULT_CONF = DEFAULTS / "conf" / "lakehouse.yaml"

ENGINE_MODES = ("auto", "embedded", "remote", "classic")
LANDING_MODES = ("auto", "processes", "engine")
SAIL_MODES = ("local", "local-cluster")
DEFECT_KINDS = (
    "duplicate_row",
    "key_update",
    "null_required",
    "type_mismatch",
    "date_format",
    "out_of_range",
    "orphan_fk",
    "whitespace_case",
    "late_event",
    "malformed_json",
)


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps, so a bad date reaches our validation and gets its key named."""


_Loader.yaml_implicit_resolvers = {
    ch: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid; the message names the key and the file."""


@dataclass(frozen=True)
class StorageConfig:
    root: str = "data"


@dataclass(frozen=True)
class EmbeddedConfig:
    sail_mode: str = "local"


@dataclass(frozen=True)
class ClassicConfig:
    master: str = "local[*]"
    delta_jars_dir: str | None = None
    delta_packages: str | None = None
    spark_conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineConfig:
    mode: str = "auto"
    remote_url: str | None = None
    embedded: EmbeddedConfig = field(default_factory=EmbeddedConfig)
    classic: ClassicConfig = field(default_factory=ClassicConfig)


@dataclass(frozen=True)
class DirtyConfig:
    enabled: bool = True
    new_column_from_day: int | None = 15
    rates: dict[str, float] = field(default_factory=dict)


INCIDENT_KINDS = (
    "payment_outage", "collector_outage", "pricing_bug", "bot_traffic", "carrier_delay", "stockout_wave",
    "feed_silent", "schema_break",
)  # fmt: skip


@dataclass(frozen=True)
class IncidentConfig:
    enabled: bool = False
    per_30_days: float = 7.0
    warmup_days: int = 28
    kinds: list[str] = field(default_factory=lambda: list(INCIDENT_KINDS))


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 42
    start_date: dt.date = dt.date(2026, 1, 1)
    days: int = 30
    scale: float = 1.0
    warehouses: int = 3
    # The shop opened this many days before start_date; the first run exports that past once
    # (customers, products, orders, order items, shipments; no clickstream) before the daily files.
    history_days: int = 365
    dirty: DirtyConfig = field(default_factory=DirtyConfig)
    incidents: IncidentConfig = field(default_factory=IncidentConfig)


@dataclass(frozen=True)
class IngestConfig:
    # Where bronze files are parsed: processes (worker processes beside the job, for engines running
    # in this process), engine (tasks of the engine, so a cluster's executors read the files), or auto
    # (processes for the embedded engine, engine for the others).
    landing: str = "auto"
    # A run over a large backlog takes it in batches of at most this many files and bytes (whole days
    # at a time), each committed with its ledger rows, so memory follows the batch, not the backlog.
    max_files_per_batch: int = 5000
    max_bytes_per_batch: str = "1g"

    @property
    def max_bytes(self) -> int:
        return parse_size(self.max_bytes_per_batch)


SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """A size such as 512m, 1g or 2.5G (binary units, an optional trailing b/ib) in bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    if not m:
        raise ValueError(f"not a size: {text!r} (use bytes or k, m, g, t: 512m, 1g)")
    return int(float(m[1]) * SIZE_UNITS[m[2]])


@dataclass(frozen=True)
class GoldConfig:
    # fact_sessions groups the clickstream by session; over a large backlog it is built in parts of
    # about this many events (whole sessions each), so memory follows the part, not the history.
    max_events_per_part: int = 5_000_000


@dataclass(frozen=True)
class QualityConfig:
    expectations: str = "expectations"  # the suites' directory; relative to the project directory
    freshness_days: int = 3  # how far behind the run's data the newest date of a table may be
    data_docs: bool = True  # add each run's Data Docs pages to the lake's site, <root>/dq/data_docs/
    data_docs_runs: int = 60  # runs whose pages the site keeps (older runs' pages are removed)


SEVERITIES = ("warning", "critical")


@dataclass(frozen=True)
class MonitoringConfig:
    threshold: float = 5.0  # |score| of an anomaly (lakehouse.monitoring.anomalies)
    critical: float = 8.0  # |score| of a critical one
    fail_on: str | None = None  # warning | critical: silver_to_gold exits 4 on a new anomaly this severe


RUNNERS = ("cli", "spark-submit")
ARRIVALS = ("simulate", "sensor")


@dataclass(frozen=True)
class OrchestrationConfig:
    """How the Airflow DAGs (orchestration/airflow/) run the pipeline."""

    runner: str = (
        "cli"  # cli: the `lakehouse` command | spark-submit: the jobs through Airflow's Spark provider
    )
    spark_conn_id: str = "spark_default"  # the Airflow connection (master, deploy mode) spark-submit uses
    arrival: str = "simulate"  # simulate: the generator writes each logical date | sensor: wait for the files
    retries: int = 2  # a failed task is tried again this many times (not when the data is the problem)
    retry_delay_minutes: float = 5.0  # before the first retry; doubled for each next one
    task_timeout_minutes: float = 120.0  # a task running longer is killed (and retried)
    sensor_timeout_hours: float = 12.0  # how long the sensor waits for a day's files before failing


@dataclass(frozen=True)
class Config:
    storage: StorageConfig = field(default_factory=StorageConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    gold: GoldConfig = field(default_factory=GoldConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    orchestration: OrchestrationConfig = field(default_factory=OrchestrationConfig)
    source: str = "<defaults>"

    @property
    def root(self) -> str:
        return self.storage.root


def _check_value(value: Any, hint: Any, key: str, source: str) -> Any:
    """Coerce one YAML value to its declared type, or raise ConfigError naming key and file."""
    where = f"'{key}' in {source}"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _check_value(value, args[0], key, source)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return _build(hint, value, key, source)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        (itype,) = typing.get_args(hint)
        return [_check_value(v, itype, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        _, vtype = typing.get_args(hint)
        return {str(k): _check_value(v, vtype, f"{key}.{k}", source) for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where} must be a whole number, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
    if hint is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{where} must be a date YYYY-MM-DD, got {value!r}") from None
    if hint is str:
        if isinstance(value, Mapping | list):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported config type {hint!r} for {key}")  # a programming error


def _build(cls: type, data: Mapping[str, Any], prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name != "source"]
    unknown = sorted(set(data) - set(names))
    if unknown:
        dotted = ", ".join(f"{prefix}.{k}" if prefix else k for k in unknown)
        raise ConfigError(f"unknown key {dotted} in {source} (allowed here: {', '.join(names)})")
    values = {}
    for name in names:
        if name in data:
            values[name] = _check_value(
                data[name], hints[name], f"{prefix}.{name}" if prefix else name, source
            )
    return cls(**values)


def _validate(cfg: Config) -> None:
    src = cfg.source

    def fail(key: str, msg: str) -> typing.NoReturn:
        raise ConfigError(f"'{key}' in {src} {msg}")

    if not cfg.storage.root.strip():
        fail("storage.root", "must not be empty")
    if cfg.engine.mode not in ENGINE_MODES:
        fail("engine.mode", f"must be one of {', '.join(ENGINE_MODES)}, got {cfg.engine.mode!r}")
    if cfg.engine.embedded.sail_mode not in SAIL_MODES:
        fail("engine.embedded.sail_mode", f"must be one of {', '.join(SAIL_MODES)}")
    if cfg.engine.remote_url and not cfg.engine.remote_url.startswith("sc://"):
        fail(
            "engine.remote_url", f"must be a Spark Connect URL sc://host:port, got {cfg.engine.remote_url!r}"
        )
    g = cfg.generator
    if g.days < 1:
        fail("generator.days", f"must be at least 1, got {g.days}")
    if not 0.001 <= g.scale <= 1000:
        fail("generator.scale", f"must be between 0.001 and 1000, got {g.scale}")
    if not 0 <= g.history_days <= 3660:
        fail("generator.history_days", f"must be between 0 and 3660, got {g.history_days}")
    if not 1 <= g.warehouses <= 50:
        fail("generator.warehouses", f"must be between 1 and 50, got {g.warehouses}")
    if g.seed < 0:
        fail("generator.seed", f"must not be negative, got {g.seed}")
    if g.dirty.new_column_from_day is not None and g.dirty.new_column_from_day < 1:
        fail("generator.dirty.new_column_from_day", "must be at least 1 (or null for never)")
    for kind, rate in g.dirty.rates.items():
        if kind not in DEFECT_KINDS:
            fail(f"generator.dirty.rates.{kind}", f"is not a defect kind (known: {', '.join(DEFECT_KINDS)})")
        if not 0.0 <= rate <= 0.2:
            fail(f"generator.dirty.rates.{kind}", f"must be between 0 and 0.2, got {rate}")
    for kind in g.incidents.kinds:
        if kind not in INCIDENT_KINDS:
            fail(
                "generator.incidents.kinds",
                f"has {kind!r}, not an incident kind (known: {', '.join(INCIDENT_KINDS)})",
            )
    if not 0 < g.incidents.per_30_days <= 30:
        fail(
            "generator.incidents.per_30_days",
            f"must be more than 0 and at most 30, got {g.incidents.per_30_days}",
        )
    if g.incidents.warmup_days < 0:
        fail("generator.incidents.warmup_days", f"must not be negative, got {g.incidents.warmup_days}")
    if cfg.monitoring.fail_on is not None and cfg.monitoring.fail_on not in SEVERITIES:
        fail(
            "monitoring.fail_on",
            f"must be one of {', '.join(SEVERITIES)} or null, got {cfg.monitoring.fail_on!r}",
        )
    if not 0 < cfg.monitoring.threshold <= cfg.monitoring.critical:
        fail("monitoring.threshold", "must be more than 0 and at most monitoring.critical")
    if cfg.ingest.landing not in LANDING_MODES:
        fail("ingest.landing", f"must be one of {', '.join(LANDING_MODES)}, got {cfg.ingest.landing!r}")
    if cfg.ingest.max_files_per_batch < 1:
        fail("ingest.max_files_per_batch", f"must be at least 1, got {cfg.ingest.max_files_per_batch}")
    try:
        if cfg.ingest.max_bytes < 1:
            fail("ingest.max_bytes_per_batch", "must be more than 0")
    except ValueError as exc:
        fail("ingest.max_bytes_per_batch", str(exc))
    if cfg.gold.max_events_per_part < 1:
        fail("gold.max_events_per_part", f"must be at least 1, got {cfg.gold.max_events_per_part}")
    if not 0 <= cfg.quality.freshness_days <= 366:
        fail("quality.freshness_days", f"must be between 0 and 366, got {cfg.quality.freshness_days}")
    o = cfg.orchestration
    if o.runner not in RUNNERS:
        fail("orchestration.runner", f"must be one of {', '.join(RUNNERS)}, got {o.runner!r}")
    if o.arrival not in ARRIVALS:
        fail("orchestration.arrival", f"must be one of {', '.join(ARRIVALS)}, got {o.arrival!r}")
    if o.retries < 0:
        fail("orchestration.retries", f"must not be negative, got {o.retries}")
    for key in ("retry_delay_minutes", "task_timeout_minutes", "sensor_timeout_hours"):
        if getattr(o, key) <= 0:
            fail(f"orchestration.{key}", f"must be more than 0, got {getattr(o, key)}")


# URI schemes a storage root may use (pyarrow's filesystems; the engines read the same locations).
ROOT_SCHEMES = ("file", "s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs")


def _resolve_root(root: str, base: Path, origin: str) -> str:
    """Relative local paths become absolute; URIs (scheme://) stay as they are. An empty root, a URI
    scheme no filesystem serves, or a root that is a file are configuration errors."""
    if not root.strip():
        raise ConfigError(
            f"the storage root from {origin} is empty: give a path or URI (data, s3://bucket/lake)"
        )
    if "://" in root:
        scheme = root.split("://", 1)[0].lower()
        if scheme not in ROOT_SCHEMES:
            raise ConfigError(
                f"the storage root {root!r} from {origin} has the scheme {scheme}://, which no filesystem "
                f"here serves: use a local path or one of {', '.join(s + '://' for s in ROOT_SCHEMES)}"
            )
        if scheme == "file" and Path(root[len("file://") :]).is_file():
            raise ConfigError(f"the storage root {root} from {origin} is a file, not a directory")
        return root.rstrip("/")
    path = Path(root).expanduser()
    path = path if path.is_absolute() else (base / path).resolve()
    if path.is_file():
        raise ConfigError(f"the storage root {path} from {origin} is a file, not a directory")
    return str(path)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: where (line and column, 1-based) and what."""
    mark = getattr(exc, "problem_mark", None)
    what = " ".join(str(getattr(exc, "problem", None) or exc).split())
    if mark is None:
        return what
    return f"line {mark.line + 1}, column {mark.column + 1}: {what}"


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    root: str | None = None,
    engine: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Load the configuration: file, then environment, then the explicit arguments (CLI flags).

    `overrides` takes dotted keys (`{"generator.days": 3}`) and is validated like the file.
    """
    env = os.environ if env is None else env
    conf_path = Path(path or env.get("LAKEHOUSE_CONF") or DEFAULT_CONF).expanduser()
    if not conf_path.is_file():
        raise ConfigError(f"configuration file {conf_path} does not exist (set --conf or LAKEHOUSE_CONF)")
    source = str(conf_path)
    try:
        data = yaml.load(conf_path.read_text(), Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping at the top level")

    # Relative paths in a file under conf/ are relative to the project directory that holds conf/;
    # in the defaults an installed package carries, to the working directory (data/ is the user's).
    base = conf_path.resolve().parent
    if base.name == "conf":
        base = base.parent
    packaged = base == PACKAGED
    if packaged:
        base = Path.cwd()
    cfg = _build(Config, data, "", source)
    cfg = dataclasses.replace(cfg, source=source)
    cfg = _with(cfg, "storage.root", _resolve_root(cfg.storage.root, base, f"'storage.root' in {source}"))
    # The suites: the project's own unless the file names a directory (relative to it like the root).
    named = isinstance(data.get("quality"), Mapping) and data["quality"].get("expectations")
    expectations = Path(cfg.quality.expectations).expanduser()
    if not expectations.is_absolute():
        expectations = (base if named and not packaged else DEFAULTS) / expectations
    cfg = _with(cfg, "quality.expectations", str(expectations))
    _validate(cfg)

    layered: list[tuple[str, Any, str]] = []
    if env.get("LAKEHOUSE_ROOT"):
        layered.append(("storage.root", env["LAKEHOUSE_ROOT"], "environment variable LAKEHOUSE_ROOT"))
    if env.get("LAKEHOUSE_ENGINE"):
        layered.append(("engine.mode", env["LAKEHOUSE_ENGINE"], "environment variable LAKEHOUSE_ENGINE"))
    if env.get("LAKEHOUSE_RUNNER"):
        layered.append(
            ("orchestration.runner", env["LAKEHOUSE_RUNNER"], "environment variable LAKEHOUSE_RUNNER")
        )
    if env.get("LAKEHOUSE_DELTA_JARS_DIR"):
        layered.append(
            (
                "engine.classic.delta_jars_dir",
                env["LAKEHOUSE_DELTA_JARS_DIR"],
                "environment variable LAKEHOUSE_DELTA_JARS_DIR",
            )
        )
    if root is not None:  # an empty --root is an error, not the default
        layered.append(("storage.root", root, "--root"))
    if engine:
        layered.append(("engine.mode", engine, "--engine"))
    for key, value in (overrides or {}).items():
        if value is not None:
            layered.append((key, value, f"--{key.split('.')[-1].replace('_', '-')}"))
    for key, value, origin in layered:
        if key == "storage.root":
            value = _resolve_root(str(value), Path.cwd(), origin)
        cfg = _set_checked(cfg, key, value, origin)
    return cfg


def _with(cfg: Any, dotted: str, value: Any) -> Any:
    head, _, rest = dotted.partition(".")
    if not rest:
        return dataclasses.replace(cfg, **{head: value})
    return dataclasses.replace(cfg, **{head: _with(getattr(cfg, head), rest, value)})


def _set_checked(cfg: Config, dotted: str, value: Any, origin: str) -> Config:
    obj: Any = cfg
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not dataclasses.is_dataclass(obj) or not hasattr(obj, part):
            raise ConfigError(f"unknown key {dotted} (from {origin})")
        obj = getattr(obj, part)
    hints = typing.get_type_hints(type(obj))
    if parts[-1] not in hints:
        raise ConfigError(f"unknown key {dotted} (from {origin})")
    checked = _check_value(value, hints[parts[-1]], dotted, origin)
    result = _with(cfg, dotted, checked)
    _validate(dataclasses.replace(result, source=origin))
    return result


def describe(cfg: Config) -> dict[str, Any]:
    """The effective configuration as plain data (for `lakehouse config` and run logs)."""

    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, dict):
            return {k: plain(v) for k, v in obj.items()}
        if isinstance(obj, dt.date):
            return obj.isoformat()
        return obj

    return plain(cfg)

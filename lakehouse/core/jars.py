"""The Delta Lake jars for JVM Spark, by Maven coordinates or fetched with Maven into a cache directory.

`spark-submit --packages` resolves the jars with Spark's own Ivy. Where a machine's Ivy cannot reach a
repository but its Maven client can (a proxy or mirror configured in ~/.m2/settings.xml), `lakehouse
fetch-jars` copies the two jars into a directory that `engine.classic.delta_jars_dir` (or
LAKEHOUSE_DELTA_JARS_DIR) then names. The version is the installed delta-spark's: pinned once, in
pyproject.toml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from lakehouse.core.config import PROJECT_DIR
from lakehouse.core.log import one_line

SCALA_BINARY = "2.13"  # Spark 4 is built for Scala 2.13 only
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class JarsError(RuntimeError):
    """The jars could not be fetched; the message says why and what to do."""


def delta_version() -> str:
    """The installed delta-spark's version; without it (an Airflow environment that only submits the
    jobs), the version pyproject.toml pins."""
    try:
        return metadata.version("delta-spark")
    except metadata.PackageNotFoundError:
        pinned = PROJECT_DIR / "pyproject.toml"
        found = re.search(r'"delta-spark==([^"]+)"', pinned.read_text()) if pinned.is_file() else None
        if found is None:
            raise JarsError(
                "delta-spark is not installed and no pyproject.toml pins it: install the project "
                "(pip install -e .) or set engine.classic.delta_packages"
            ) from None
        return found[1]


def delta_maven_coordinates(version: str | None = None) -> str:
    """The delta-spark artifact matching the installed delta-spark Python package (Ivy resolves its
    dependency delta-storage itself)."""
    return f"io.delta:delta-spark_{SCALA_BINARY}:{version or delta_version()}"


def delta_artifacts(version: str | None = None) -> list[str]:
    """Both jars a Delta session needs on the classpath (Spark already ships antlr4-runtime)."""
    v = version or delta_version()
    return [delta_maven_coordinates(v), f"io.delta:delta-storage:{v}"]


def default_jars_dir(version: str | None = None) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "lakehouse" / "jars" / f"delta-{version or delta_version()}"


def fetch_delta_jars(target: Path | None = None, mvn: str = "mvn") -> Path:
    """Copy the Delta jars into `target` (by default the cache directory) with Maven; already there,
    nothing is fetched. Returns the directory."""
    target = (target or default_jars_dir()).expanduser().resolve()
    wanted = {a: f"{a.split(':')[1]}-{a.split(':')[2]}.jar" for a in delta_artifacts()}
    missing = [a for a, name in wanted.items() if not (target / name).is_file()]
    if not missing:
        return target
    if shutil.which(mvn) is None:
        raise JarsError(
            f"Maven ({mvn}) is not installed: install it (apt-get install maven) or launch with "
            f"`spark-submit --packages {delta_maven_coordinates()}`"
        )
    target.mkdir(parents=True, exist_ok=True)
    for artifact in missing:
        cmd = [
            mvn,
            "-q",
            "-B",
            f"{DEPENDENCY_PLUGIN}:copy",
            f"-Dartifact={artifact}",
            f"-DoutputDirectory={target}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not (target / wanted[artifact]).is_file():
            said = one_line(done.stdout.strip() + "\n" + done.stderr) or f"exit code {done.returncode}"
            raise JarsError(f"Maven could not fetch {artifact} into {target}: {said}")
    return target

"""The project installed as a package (a wheel, not the checkout): `lakehouse` runs anywhere with the
configuration and suites the wheel carries."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from deltalake import DeltaTable

# A group of its own: a group is scheduled early (conftest.py), and this is the longest single test.
pytestmark = pytest.mark.xdist_group("test_install")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel built from this checkout. Its dependencies come
    from this environment's site-packages (a path entry, so nothing is downloaded); the project itself
    only from the wheel."""
    work = tmp_path_factory.mktemp("install")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(REPO)],
        check=True,
    )  # fmt: skip
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((work / "dist").glob("*.whl"))
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True)
    return venv


def _lakehouse(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAKEHOUSE_", "SPARK_")) and k != "PYTHONPATH"
    }
    return subprocess.run(
        [str(venv / "bin" / "lakehouse"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_installed_package_generates_and_runs_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import lakehouse; print(lakehouse.__file__)"],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert str(installed) in where and str(REPO) not in where  # the wheel's copy, not the checkout
    version = _lakehouse(installed, tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("lakehouse 0.")
    config = _lakehouse(installed, tmp_path, "config")
    assert config.returncode == 0, config.stderr
    assert str(tmp_path / "data") in config.stdout  # the default root is the user's, not the package's
    generated = _lakehouse(
        installed, tmp_path, "generate", "--days", "2", "--scale", "0.02", "--history-days", "20", "--quiet"
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    run = _lakehouse(installed, tmp_path, "run", "all")
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert "Totals reconcile" in run.stdout and "expectations" in run.stdout  # the packaged suites gated it
    assert DeltaTable(str(tmp_path / "data" / "gold" / "fact_orders")).to_pyarrow_table().num_rows > 0

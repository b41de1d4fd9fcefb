"""The monitoring scored against the incidents the generator injected (bronze/_manifest/), on a world
with them and the same world without: recall at least 0.9 over the incident kinds, precision at least
0.8, and at most one false alarm per 30 days where nothing happened."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys

import pandas as pd
import pytest

from lakehouse.monitoring import scoring
from lakehouse.monitoring.read import read_anomalies
from tests.conftest import INCIDENT_DAYS, INCIDENT_FIRST_RUN_DAYS, INCIDENT_START, Lake

pytestmark = pytest.mark.xdist_group("incidents")


def report(title: str, score: scoring.Score, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():  # the confusion goes to the test output, whatever the capture
        print(
            f"\n{title}: recall {score.recall:.2f}, precision {score.precision:.2f}, {len(score.anomalies)} anomalies"
        )
        print(score.by_kind().to_string(index=False))
        if len(score.false_alarms):
            print(
                score.false_alarms[
                    ["metric", "slice", "grain", "period_start", "observed", "expected", "score"]
                ]
            )


def test_incidents_are_caught_and_alarms_are_explained(
    incident_lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    found = read_anomalies(str(incident_lake.root))
    assert found is not None
    score = scoring.score(scoring.manifest_incidents(str(incident_lake.root)), found)
    report("world with incidents", score, capsys)
    per_kind = score.by_kind().set_index("kind")
    kinds = per_kind.drop("(none: false alarm)")
    assert len(kinds) == 8
    assert (kinds["caught"] / kinds["incidents"]).mean() >= 0.9, "recall over the incident kinds"
    assert score.recall >= 0.9 and score.precision >= 0.8


def test_a_world_without_incidents_raises_at_most_one_false_alarm_a_month(
    quiet_lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    found = read_anomalies(str(quiet_lake.root))
    assert found is not None
    score = scoring.score([], found)
    report("world without incidents", score, capsys)
    assert scoring.false_alarms_per_30_days(found, INCIDENT_DAYS) <= 1.0


def test_the_second_run_prints_its_new_anomalies_and_alerts(incident_lake: Lake) -> None:
    """monitoring.fail_on: warning makes a run that found new anomalies exit 4, after publishing."""
    assert incident_lake.second_run_exit == 4
    out = " ".join(incident_lake.second_run_output.split())  # rich wraps a title wider than its table
    found = read_anomalies(str(incident_lake.root))
    assert found is not None
    second = INCIDENT_START + dt.timedelta(days=INCIDENT_FIRST_RUN_DAYS)
    late = found[found["period_start"] >= pd.Timestamp(second)]  # new: they start in the second run's days
    assert len(late), "the second run's days hold incidents"
    assert "new anomalies in gold.metric_anomalies" in out
    assert all(m in out for m in late["metric"]), "each new anomaly is printed"
    assert len(found) > len(late), "and the first run's are kept"


def test_lakehouse_anomalies_lists_and_filters(incident_lake: Lake) -> None:
    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "lakehouse.cli", "anomalies", "--root", str(incident_lake.root), *args],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout

    everything = pd.read_csv(io.StringIO(cli("--csv")))
    assert len(everything) and {"metric", "slice", "period_start", "score", "severity"} <= set(
        everything.columns
    )
    critical = pd.read_csv(io.StringIO(cli("--csv", "--severity", "critical")))
    assert 0 < len(critical) <= len(everything) and set(critical["severity"]) == {"critical"}
    recent = pd.read_csv(io.StringIO(cli("--csv", "--since", "2025-12-01")))
    assert len(recent) < len(everything) and (pd.to_datetime(recent["period_end"]) > "2025-12-01").all()
    table = cli("--since", "2025-12-01")
    assert "anomalies ending after 2025-12-01" in table

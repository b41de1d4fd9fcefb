"""How good the monitoring is, against what the generator did on purpose (bronze/_manifest/).

An incident is caught when an anomaly on one of the metrics it affects overlaps its signature period;
an anomaly is explained when it overlaps the signature of an incident affecting its metric. Anything
else is a false alarm (holiday peaks included).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lakehouse.core import storage


def manifest_incidents(root: str) -> list[dict[str, object]]:
    """Every incident the manifests of the daily files record, once each, by id."""
    found: dict[str, dict[str, object]] = {}
    folder = storage.join(root, "bronze", "_manifest")
    for uri in sorted(storage.list_files(folder)):
        if not uri.endswith(".json") or "manifest_history" in uri:
            continue
        for incident in json.loads(storage.read_bytes(uri)).get("incidents", []):
            found[incident["id"]] = incident
    return [found[k] for k in sorted(found)]


def _overlaps(anomaly: pd.Series, incident: dict[str, object]) -> bool:
    start = pd.Timestamp(str(incident["signature_start"]))
    end = pd.Timestamp(str(incident["signature_end"])) + pd.Timedelta(days=1)
    return (
        anomaly["metric"] in incident["affects"]  # type: ignore[operator]
        and pd.Timestamp(anomaly["period_start"]) < end
        and pd.Timestamp(anomaly["period_end"]) > start
    )


@dataclass
class Score:
    incidents: list[dict[str, object]]
    anomalies: pd.DataFrame
    caught: dict[str, bool] = field(default_factory=dict)  # incident id -> caught
    explained: list[str] = field(default_factory=list)  # per anomaly: the incident id, or ""

    @property
    def recall(self) -> float:
        return sum(self.caught.values()) / len(self.caught) if self.caught else 1.0

    @property
    def precision(self) -> float:
        n = len(self.explained)
        return sum(1 for e in self.explained if e) / n if n else 1.0

    @property
    def false_alarms(self) -> pd.DataFrame:
        return self.anomalies[np.array([not e for e in self.explained], dtype=bool)]

    def by_kind(self) -> pd.DataFrame:
        """The confusion per incident kind: incidents, caught, missed, and the anomalies each explains."""
        rows = []
        for kind in sorted({str(i["kind"]) for i in self.incidents}):
            ids = [str(i["id"]) for i in self.incidents if i["kind"] == kind]
            rows.append(
                {
                    "kind": kind,
                    "incidents": len(ids),
                    "caught": sum(self.caught[i] for i in ids),
                    "missed": sum(not self.caught[i] for i in ids),
                    "anomalies_explained": sum(1 for e in self.explained if e in ids),
                }
            )
        rows.append(
            {"kind": "(none: false alarm)", "incidents": 0, "caught": 0, "missed": 0,
             "anomalies_explained": len(self.false_alarms)}
        )  # fmt: skip
        return pd.DataFrame(rows)


def score(incidents: list[dict[str, object]], anomalies: pd.DataFrame) -> Score:
    explained = []
    for _, a in anomalies.iterrows():
        hit = next((str(i["id"]) for i in incidents if _overlaps(a, i)), "")
        explained.append(hit)
    caught = {str(i["id"]): any(_overlaps(a, i) for _, a in anomalies.iterrows()) for i in incidents}
    return Score(incidents, anomalies, caught, explained)


def false_alarms_per_30_days(anomalies: pd.DataFrame, days: int) -> float:
    return len(anomalies) * 30.0 / max(days, 1)

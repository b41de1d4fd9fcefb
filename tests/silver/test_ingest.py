"""bronze_to_silver against the generator's ground truth, and its run guarantees.

Tests of run guarantees (kills, reruns, overlapping runs, re-exports, bad files, batches) run without the
expectation gates (`validate=False`, `--skip-validation`), which are tests/quality's subject: the same
landing, staging and merges run either way, and the gates are about two thirds of a tiny run's time."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from generators.runner import generate
from lakehouse.bronze.contract import SOURCES
from lakehouse.bronze.landing import BronzeFile
from lakehouse.core.config import Config, load_config
from lakehouse.quality.gates import SuiteError
from lakehouse.silver.ingest import bronze_to_silver, plan_batches
from lakehouse.tables import SILVER
from tests.bronze.audit import Bronze
from tests.conftest import small_settings

REPO = Path(__file__).resolve().parents[2]
VOLATILE = ["_run_id", "_ingested_at", "run_id", "quarantined_at"]


def silver(root: Path, name: str) -> pd.DataFrame:
    return DeltaTable(str(root / "silver" / name)).to_pandas()


def versions(root: Path) -> dict[str, int]:
    return {
        p.name: DeltaTable(str(p)).version()
        for p in sorted((root / "silver").iterdir())
        if (p / "_delta_log").exists()
    }


def cfg_for(root: Path) -> Config:
    return load_config(root=str(root), env={})


def _defects(b: Bronze, expected: str) -> pd.DataFrame:
    d = b.defects
    return d[d["expected"] == expected]


def test_quarantine_holds_exactly_the_defects_that_must_be_quarantined(ingested: Bronze) -> None:
    q = silver(ingested.root, "quarantine")
    got = {(r.file, r.sheet if isinstance(r.sheet, str) else None, int(r.row)) for r in q.itertuples()}
    d = _defects(ingested, "quarantined")
    want = {(r.file, r.sheet if isinstance(r.sheet, str) else None, int(r.row)) for r in d.itertuples()}
    assert got == want
    # Each quarantined record says why, in terms of its defect.
    reasons = {
        (r.file, r.sheet if isinstance(r.sheet, str) else None, int(r.row)): list(r.reasons)
        for r in q.itertuples()
    }
    code = {"null_required": "missing", "type_mismatch": "invalid", "out_of_range": "out_of_range"}
    for r in d.itertuples():
        got_reasons = reasons[(r.file, r.sheet if isinstance(r.sheet, str) else None, int(r.row))]
        if r.kind == "malformed_json":
            assert got_reasons == ["malformed_json"]
        else:
            assert f"{code[r.kind]}:{r.column}" in got_reasons or (
                r.kind == "out_of_range" and f"invalid:{r.column}" in got_reasons
            ), (r, got_reasons)
    assert (q["raw"].str.len() > 0).all() and q["run_id"].eq("test-run-1").all()


def test_a_batch_writes_every_sources_quarantine_in_one_commit(ingested: Bronze) -> None:
    # One merge per batch, not one per source: each is a query and a commit, and a JVM engine pays
    # about a second for each.
    q = silver(ingested.root, "quarantine")
    batches = silver(ingested.root, "ingest_batches")
    quarantining = batches[batches["rows_quarantined"] > 0]
    assert q["source"].nunique() >= 4 and quarantining["source"].nunique() == q["source"].nunique()
    commits = DeltaTable(str(ingested.root / "silver" / "quarantine")).history()
    writes = [c for c in commits if c["operation"] != "ADD COLUMNS"]
    assert len(writes) == quarantining.groupby(["run_id", "batch"]).ngroups == 1, commits


def _silver_row(root: Path, source: str, key: str) -> pd.DataFrame:
    table = {
        "customers": "customers_history",
        "products": "products_history",
        "orders": "orders_history",
    }.get(source)
    table = table or next(t.name for t in SILVER.values() if t.source == source and t.mode == "unique")
    df = silver(root, table)
    k = SILVER[table].key
    if source == "inventory":
        return df
    return df[df[k[0]].astype(str) == str(key)]


def test_repaired_values_arrive_clean(ingested: Bronze) -> None:
    d = _defects(ingested, "repaired")
    assert set(d["kind"]) == {"date_format", "whitespace_case"}
    checked = 0
    for r in d[
        d["source"].isin(["customers", "orders", "order_items", "shipments", "products"])
    ].itertuples():
        rows = _silver_row(ingested.root, r.source, r.key)
        rows = rows[(rows["_source_file"] == r.file) & (rows["_source_row"] == r.row)]
        assert len(rows) == 1, r
        value = rows.iloc[0][r.column]
        text = (
            value.isoformat()[:10]
            if hasattr(value, "isoformat") and SOURCES[r.source].column(r.column).kind == "date"
            else value
        )
        if SOURCES[r.source].column(r.column).kind == "timestamp":
            text = pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert str(text) == str(r.original), (r, value)
        checked += 1
    ev = silver(ingested.root, "clickstream_events").set_index("event_id")
    for r in d[d["source"] == "clickstream"].itertuples():
        value = ev.loc[r.key, r.column]
        if r.column == "event_ts":
            assert pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%S") == r.original[:19]
        else:
            assert value == r.original
        checked += 1
    assert checked > 50


def test_unusable_optional_values_are_nulled_and_the_row_kept(ingested: Bronze) -> None:
    d = _defects(ingested, "nulled")
    assert len(d) > 0
    ev = silver(ingested.root, "clickstream_events").set_index("event_id")
    for r in d.itertuples():
        if r.source == "clickstream":
            assert pd.isna(ev.loc[r.key, r.column])
        else:
            rows = _silver_row(ingested.root, r.source, r.key)
            rows = rows[(rows["_source_file"] == r.file) & (rows["_source_row"] == r.row)]
            assert len(rows) == 1 and pd.isna(rows.iloc[0][r.column])


def test_orphans_are_kept_and_flagged(ingested: Bronze) -> None:
    d = _defects(ingested, "orphan")
    ev = silver(ingested.root, "clickstream_events").set_index("event_id")
    for r in d.itertuples():
        if r.source == "clickstream":
            flags = list(ev.loc[r.key, "_orphan_fks"])
        elif r.source == "inventory":
            inv = silver(ingested.root, "inventory_snapshots")
            hit = inv[(inv["product_id"] == int(r.value)) & (inv["_source_file"] == r.file)]
            flags = list(hit.iloc[0]["_orphan_fks"])
        else:
            rows = _silver_row(ingested.root, r.source, r.key)
            flags = list(
                rows[(rows["_source_file"] == r.file) & (rows["_source_row"] == r.row)].iloc[0]["_orphan_fks"]
            )
        assert r.column in flags, r


def test_duplicates_are_dropped_and_late_events_taken_in(ingested: Bronze) -> None:
    ev = silver(ingested.root, "clickstream_events")
    assert ev["event_id"].is_unique
    d = ingested.defects
    assert set(d[(d["kind"] == "late_event")]["key"]) <= set(ev["event_id"])
    for name in ("order_items", "shipments"):
        df = silver(ingested.root, name)
        assert df[SILVER[name].key[0]].is_unique
    runs = silver(ingested.root, "ingest_runs")
    dup_defects = d[d["kind"] == "duplicate_row"].groupby("source").size()
    got = runs.groupby("source")["duplicates"].sum()
    for source, n in dup_defects.items():
        # Every injected copy is counted; a stale version identical to one already seen counts too.
        assert got[source] >= n, (source, got[source], n)
    assert got["clickstream"] == dup_defects["clickstream"]


def test_the_latest_version_wins(ingested: Bronze) -> None:
    d = ingested.defects
    stale = d[d["kind"] == "key_update"]
    assert len(stale) > 0
    # A version's updated_at may itself carry a repairable defect: order by what it stood for.
    spoiled = {
        (f, row): original
        for f, row, col, original in zip(d["file"], d["row"], d["column"], d["original"], strict=True)
        if col == "updated_at"
    }
    for r in stale.itertuples():
        t = ingested.tables[r.source]
        key_col = SOURCES[r.source].key[0]
        versions_in_bronze = t[t[key_col] == r.key]
        stood = [spoiled.get((f, row), ts) for f, row, ts in zip(versions_in_bronze["_file"], versions_in_bronze["_row"], versions_in_bronze["updated_at"], strict=True)]  # fmt: skip
        latest = versions_in_bronze.assign(updated_at=stood).sort_values("updated_at").iloc[-1]
        current = silver(ingested.root, r.source)
        row = current[current[key_col].astype(str) == r.key].iloc[0]
        assert pd.Timestamp(row["updated_at"]).strftime("%Y-%m-%dT%H:%M:%SZ") == latest["updated_at"]
    orders = silver(ingested.root, "orders")
    assert orders["order_id"].is_unique
    assert orders["coupon_code"].notna().any(), "the new column is taken in"


def test_clean_rows_pass_through_untouched(ingested: Bronze) -> None:
    items = ingested.tables["order_items"]
    d = ingested.defects
    touched = set(zip(d["file"], d["row"], strict=True))
    clean = items[[(f, r) not in touched for f, r in zip(items["_file"], items["_row"], strict=True)]]
    got = silver(ingested.root, "order_items").set_index("order_item_id")
    for r in clean.itertuples():
        row = got.loc[int(r.order_item_id)]
        assert (int(row["order_id"]), int(row["product_id"]), int(row["quantity"])) == (
            int(r.order_id),
            int(r.product_id),
            int(r.quantity),
        )
        assert f"{row['item_price']:.2f}" == r.item_price


def test_every_run_reconciles(ingested: Bronze) -> None:
    runs = silver(ingested.root, "ingest_runs")
    assert (runs["rows_read"] == runs["rows_written"] + runs["rows_quarantined"] + runs["duplicates"]).all()
    manifest_rows = {}
    for m in ingested.manifests:
        for f in m["files"]:
            manifest_rows[f["source"]] = manifest_rows.get(f["source"], 0) + f["rows"]
    assert runs.groupby("source")["rows_read"].sum().to_dict() == manifest_rows
    ledger = silver(ingested.root, "_ingest_ledger")
    assert ledger["path"].is_unique and (ledger["status"] == "ingested").all()
    assert (
        ledger["rows_read"] == ledger["rows_written"] + ledger["rows_quarantined"] + ledger["duplicates"]
    ).all()
    # New files are fingerprinted as they are landed (read once): the ledger holds each one's SHA-256.
    bronze = Path(ingested.root) / "bronze"
    for path, digest in ledger[["path", "sha256"]].itertuples(index=False):
        assert digest == hashlib.sha256((bronze / path).read_bytes()).hexdigest(), path


def test_every_row_carries_its_lineage(ingested: Bronze) -> None:
    for name in SILVER:
        df = silver(ingested.root, name)
        assert (
            df["_source_file"].notna().all()
            and df["_run_id"].eq("test-run-1").all()
            and df["_ingested_at"].notna().all()
        )


def test_tables_open_with_delta_rs_with_the_same_counts(ingested: Bronze, spark: object) -> None:
    from lakehouse.core.delta import read_table

    for name in [*SILVER, "quarantine", "ingest_runs", "_ingest_ledger"]:
        uri = str(ingested.root / "silver" / name)
        assert DeltaTable(uri).to_pyarrow_table().num_rows == read_table(spark, uri).count(), name  # type: ignore[arg-type]
    assert DeltaTable(str(ingested.root / "silver" / "clickstream_events")).metadata().partition_columns == [
        "event_date"
    ]


def test_a_second_run_changes_nothing(ingested: Bronze, spark: object) -> None:
    before = versions(ingested.root)
    report = bronze_to_silver(spark, cfg_for(ingested.root), "test-run-2")  # type: ignore[arg-type]
    assert report.nothing_new
    assert versions(ingested.root) == before


def _settings_tiny() -> object:
    return dataclasses.replace(small_settings(), scale=0.02)


def test_one_more_day_adds_only_that_day(tmp_path: Path, spark: object) -> None:
    generate(str(tmp_path), _settings_tiny(), days=3)  # type: ignore[arg-type]
    bronze_to_silver(spark, cfg_for(tmp_path), "r1")  # type: ignore[arg-type]
    ledger_before = set(silver(tmp_path, "_ingest_ledger")["path"])
    counts_before = {n: len(silver(tmp_path, n)) for n in SILVER if (tmp_path / "silver" / n).exists()}
    generate(str(tmp_path), _settings_tiny(), days=1)  # type: ignore[arg-type]
    report = bronze_to_silver(spark, cfg_for(tmp_path), "r2")  # type: ignore[arg-type]
    new_paths = set(silver(tmp_path, "_ingest_ledger")["path"]) - ledger_before
    assert new_paths and all("2025-11-27" in p for p in new_paths), new_paths
    assert sum(s.files for s in report.sources) == len(new_paths)
    events = silver(tmp_path, "clickstream_events")
    assert (events[events["_run_id"] == "r2"]["_source_file"].str.contains("2025-11-27")).all()
    assert all(len(silver(tmp_path, n)) >= c for n, c in counts_before.items())
    assert len(silver(tmp_path, "orders_history")) > counts_before["orders_history"]
    # The first day seeds the world (every customer and product): one ordinary day after it is a
    # plausible batch, not a warning.
    sizes = [
        f"{v.suite}: {o.found()}"
        for v in report.verdicts
        for o in v.warnings
        if o.check.type == "expect_table_row_count_to_be_between"
    ]
    assert not sizes, sizes


def _comparable(root: Path, name: str) -> pd.DataFrame:
    df = silver(root, name).drop(columns=VOLATILE, errors="ignore")
    for c in df.columns:
        if df[c].map(lambda v: isinstance(v, list | tuple) or hasattr(v, "tolist")).any():
            df[c] = df[c].map(lambda v: json.dumps(list(v)) if v is not None else None)
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def _descendants(pid: int) -> list[int]:
    """The processes below `pid`, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        found = children.get(todo.pop(), [])
        out += found
        todo += found
    return out


def test_a_killed_run_rerun_gives_the_same_tables(tmp_path: Path, spark: object) -> None:
    generate(str(tmp_path / "ref"), _settings_tiny(), days=3)  # type: ignore[arg-type]
    shutil.copytree(tmp_path / "ref" / "bronze", tmp_path / "killed" / "bronze")
    bronze_to_silver(spark, cfg_for(tmp_path / "ref"), "ref", validate=False)  # type: ignore[arg-type]

    # A real job process, killed once it has committed some silver tables but not all.
    job = subprocess.Popen(
        [sys.executable, "jobs/bronze_to_silver.py", "--root", str(tmp_path / "killed"), "--log-level", "ERROR", "--skip-validation"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and not (tmp_path / "killed" / "silver" / "order_items" / "_delta_log").exists()
    ):
        time.sleep(0.05)
    helpers = _descendants(job.pid)  # its landing workers and their fork server
    job.kill()
    job.wait()
    assert not (tmp_path / "killed" / "silver" / "_ingest_ledger").exists(), "killed before the end"
    deadline = time.time() + 15
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in helpers):
        time.sleep(0.2)
    left = [pid for pid in helpers if Path(f"/proc/{pid}").exists()]
    assert helpers and not left, f"the killed job's processes {left} outlived it"
    bronze_to_silver(spark, cfg_for(tmp_path / "killed"), "rerun", validate=False)  # type: ignore[arg-type]
    compared = [n for n in [*SILVER, "quarantine"] if (tmp_path / "ref" / "silver" / n).exists()]
    assert len(compared) >= 10
    for name in compared:
        pd.testing.assert_frame_equal(
            _comparable(tmp_path / "killed", name), _comparable(tmp_path / "ref", name), obj=name
        )
    # The rows the killed run had already written are credited to the files that brought them.
    counts = ["path", "status", "rows_read", "rows_written", "rows_quarantined", "duplicates"]
    pd.testing.assert_frame_equal(
        silver(tmp_path / "killed", "_ingest_ledger")[counts].sort_values("path").reset_index(drop=True),
        silver(tmp_path / "ref", "_ingest_ledger")[counts].sort_values("path").reset_index(drop=True),
    )


def test_runs_started_together_leave_exactly_the_tables_one_run_leaves(tmp_path: Path, spark: object) -> None:
    generate(str(tmp_path / "ref"), _settings_tiny(), days=3)  # type: ignore[arg-type]
    shutil.copytree(tmp_path / "ref" / "bronze", tmp_path / "together" / "bronze")
    bronze_to_silver(spark, cfg_for(tmp_path / "ref"), "ref", validate=False)  # type: ignore[arg-type]

    # A cron overlap: two runs started together (the lock is taken before the engine starts, so
    # their runs overlap); a run that waits instead is tests/core/test_lease.py's.
    root = str(tmp_path / "together")
    cmd = [
        sys.executable,
        "jobs/bronze_to_silver.py",
        "--root",
        root,
        "--log-level",
        "ERROR",
        "--skip-validation",
    ]
    jobs = [
        subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    done = [(job.wait(600), *job.communicate()) for job in jobs]
    assert sorted(code for code, _, _ in done) == [0, 75], done
    err = next(err for code, _, err in done if code == 75)  # one line, naming the run that holds the lake
    assert err.count("\n") == 1 and "bronze_to_silver is already running on this lake: run " in err, err
    compared = [n for n in [*SILVER, "quarantine"] if (tmp_path / "ref" / "silver" / n).exists()]
    for name in compared:
        pd.testing.assert_frame_equal(
            _comparable(tmp_path / "together", name), _comparable(tmp_path / "ref", name), obj=name
        )
    runs = silver(tmp_path / "together", "ingest_runs")
    assert runs["run_id"].nunique() == 1  # one run did the work


def test_bad_files_are_recorded_while_the_rest_is_taken_in(tmp_path: Path, spark: object) -> None:
    generate(str(tmp_path), _settings_tiny(), days=7)  # type: ignore[arg-type]
    bronze = tmp_path / "bronze"
    (bronze / "clickstream" / "date=2025-11-24" / "hour=03" / "truncated.jsonl").write_text(
        '{"event_id":"x","event_ts":"2025-11-24T03:00:0'
    )
    (bronze / "clickstream" / "date=2025-11-24" / "hour=04" / "garbage.jsonl").write_bytes(
        bytes(range(256)) * 8
    )
    (bronze / "orders" / "orders_empty.csv").write_bytes(b"")
    shifted = (bronze / "orders" / "orders_2025-11-25.csv").read_text().splitlines()
    (bronze / "orders" / "orders_shifted.csv").write_text(
        "\n".join(["id," + shifted[0], *shifted[1:]]) + "\n"
    )
    import io
    import zipfile

    original = (bronze / "inventory" / "inventory_2025-W48.xlsx").read_bytes()
    src = zipfile.ZipFile(io.BytesIO(original))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # drop the third sheet from the workbook
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet3.xml":
                continue
            if info.filename == "xl/workbook.xml":
                body = body.replace(b'<sheet name="WH-03" sheetId="3" r:id="rId3"/>', b"")
            z.writestr(info, body)
    (bronze / "inventory" / "inventory_missing_sheet.xlsx").write_bytes(out.getvalue())

    report = bronze_to_silver(spark, cfg_for(tmp_path), "bad", validate=False)  # type: ignore[arg-type]
    ledger = silver(tmp_path, "_ingest_ledger").set_index("path")
    assert ledger.loc["orders/orders_empty.csv", "status"] == "rejected"
    assert ledger.loc["orders/orders_empty.csv", "reason"] == "empty file"
    # A header with an extra column in front: matched by name, every row has one field too few.
    shifted_file = ledger.loc["orders/orders_shifted.csv"]
    assert (
        shifted_file["status"] == "ingested_with_warnings"
        and "unknown column(s) id" in shifted_file["reason"]
    )
    assert shifted_file["rows_quarantined"] == shifted_file["rows_read"] == len(shifted) - 1
    assert "binary" in ledger.loc["clickstream/date=2025-11-24/hour=04/garbage.jsonl", "reason"]
    assert ledger.loc["clickstream/date=2025-11-24/hour=03/truncated.jsonl", "status"] == "ingested"
    q = silver(tmp_path, "quarantine")
    assert q[q["file"] == "clickstream/date=2025-11-24/hour=03/truncated.jsonl"]["reasons"].map(
        list
    ).tolist() == [["malformed_json"]]
    inv = ledger.loc["inventory/inventory_missing_sheet.xlsx"]
    assert inv["status"] == "ingested_with_warnings" and "missing sheet(s): WH-03" in inv["reason"]
    assert (
        q[q["file"] == "orders/orders_shifted.csv"]["reasons"].map(list).map(["malformed_row"].__eq__).all()
    )
    assert {lf.file.path for lf in report.rejected} == {
        "orders/orders_empty.csv", "clickstream/date=2025-11-24/hour=04/garbage.jsonl",
    }  # fmt: skip
    assert len(silver(tmp_path, "orders")) > 0 and len(silver(tmp_path, "inventory_snapshots")) > 0


def _job(launcher: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        PYSPARK_PYTHON=sys.executable,
    )
    env.pop("SPARK_REMOTE", None)
    cmd = [launcher, "jobs/bronze_to_silver.py", "--root", str(root), "--log-level", "ERROR", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_spark_submit_in_local_cluster_mode_gives_identical_tables(tmp_path: Path, spark: object) -> None:
    """One job run through both other paths: spark-submit as the launcher (with the embedded engine named:
    under spark-submit, `auto` means the JVM's own engine) and Sail's local-cluster mode."""
    generate(str(tmp_path / "local"), _settings_tiny(), days=3)  # type: ignore[arg-type]
    shutil.copytree(tmp_path / "local" / "bronze", tmp_path / "other" / "bronze")
    bronze_to_silver(spark, cfg_for(tmp_path / "local"), "local", validate=False)  # type: ignore[arg-type]
    conf = tmp_path / "conf" / "cluster.yaml"
    conf.parent.mkdir()
    conf.write_text("engine:\n  mode: embedded\n  embedded:\n    sail_mode: local-cluster\n")
    submit = str(Path(sys.executable).parent / "spark-submit")
    out = _job(submit, tmp_path / "other", "--engine", "embedded", "--conf", str(conf), "--skip-validation")
    assert out.returncode == 0, out.stderr[-3000:]
    for name in [n for n in [*SILVER, "quarantine"] if (tmp_path / "local" / "silver" / n).exists()]:
        pd.testing.assert_frame_equal(
            _comparable(tmp_path / "other", name), _comparable(tmp_path / "local", name), obj=name
        )


def _edit(path: Path, row: int, **values: str) -> list[str]:
    """Set fields of one data row (1-based) of a generated CSV file; returns the row's new fields."""
    lines = path.read_text().splitlines()
    header, fields = lines[0].split(","), lines[row].split(",")
    for name, value in values.items():
        fields[header.index(name)] = value
    lines[row] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    return fields


def test_a_re_exported_file_upserts_its_changed_rows_and_resolves_what_it_fixed(
    tmp_path: Path, spark: object
) -> None:
    generate(str(tmp_path), _settings_tiny(), days=2, clean=True)  # type: ignore[arg-type]
    bronze = tmp_path / "bronze"
    items = bronze / "order_items" / "order_items_2025-11-25.csv"
    broken = _edit(items, 2, quantity="two")  # quarantined in the first run
    bronze_to_silver(spark, cfg_for(tmp_path), "r1", validate=False)  # type: ignore[arg-type]
    assert silver(tmp_path, "quarantine")["reasons"].map(list).tolist() == [["invalid:quantity"]]
    before = {n: len(silver(tmp_path, n)) for n in ("customers", "customers_history", "order_items")}

    # The shop re-exports two files: corrections under the same keys and versions, a new version, a fix.
    customers = bronze / "customers" / "customers_2025-11-24.csv"
    corrected = _edit(customers, 1, email="corrected@example.com")  # same updated_at: a correction
    moved = _edit(customers, 2, email="moved@example.com", updated_at="2025-11-25T23:59:59Z")  # a new version
    _edit(items, 1, quantity="4")  # a corrected quantity
    _edit(items, 2, quantity="2")  # the quarantined row, fixed
    report = bronze_to_silver(spark, cfg_for(tmp_path), "r2", validate=False)  # type: ignore[arg-type]

    by_source = {s.source: s for s in report.sources}
    assert by_source["customers"].rows_updated == 1 and by_source["order_items"].rows_updated == 1
    rows = len(customers.read_text().splitlines()) - 1
    assert by_source["customers"].rows_written == 2 and by_source["customers"].duplicates == rows - 2
    current = silver(tmp_path, "customers").set_index("customer_id")
    assert current.loc[int(corrected[0]), "email"] == "corrected@example.com"
    assert current.loc[int(moved[0]), "email"] == "moved@example.com"
    assert len(current) == before["customers"], "upserts, not new rows"
    history = silver(tmp_path, "customers_history")
    assert len(history) == before["customers_history"] + 1, (
        "one new version; the correction replaced its version"
    )
    at = pd.Timestamp(corrected[-1])  # the corrected version's updated_at (its earlier versions stay)
    stamps = pd.to_datetime(history["updated_at"], utc=True)
    mine = history[(history["customer_id"] == int(corrected[0])) & (stamps == at)]
    assert mine["email"].tolist() == ["corrected@example.com"]
    lines = silver(tmp_path, "order_items").set_index("order_item_id")
    assert (
        len(lines) == before["order_items"] + 1
    )  # the fixed row arrived; the corrected one replaced its row
    first = _edit(items, 1)  # as exported now
    assert lines.loc[int(first[0]), "quantity"] == 4 and lines.loc[int(broken[0]), "quantity"] == 2
    q = silver(tmp_path, "quarantine")
    assert q["resolved_by"].tolist() == ["r2"] and q["resolved_at"].notna().all()
    ledger = silver(tmp_path, "_ingest_ledger").set_index("path")
    assert ledger.loc["customers/customers_2025-11-24.csv", "run_id"] == "r2" and ledger.index.is_unique
    assert bronze_to_silver(spark, cfg_for(tmp_path), "r3", validate=False).nothing_new  # type: ignore[arg-type]


def test_lost_rows_fail_the_run_loudly(
    tmp_path: Path, spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lakehouse.silver.ingest as ingest

    generate(str(tmp_path), _settings_tiny(), days=1, clean=True)  # type: ignore[arg-type]
    real = ingest.append_rows

    def lose_one(rows, uri, partition_by=(), **kwargs):  # type: ignore[no-untyped-def]
        real(
            rows.limit(max(rows.count() - 1, 0)) if uri.endswith("order_items") else rows,
            uri,
            partition_by,
            **kwargs,
        )

    monkeypatch.setattr(ingest, "append_rows", lose_one)
    with pytest.raises(
        ingest.ReconciliationError,
        match=r"order_items: \d+ rows classified as new, but order_items grew by \d+",
    ):
        bronze_to_silver(spark, cfg_for(tmp_path), "lossy")  # type: ignore[arg-type]
    assert not (tmp_path / "silver" / "_ingest_ledger").exists(), "nothing recorded as done"


def test_staging_left_by_a_killed_run_is_cleaned(tmp_path: Path, spark: object) -> None:
    generate(str(tmp_path), _settings_tiny(), days=1, clean=True)  # type: ignore[arg-type]
    stale = tmp_path / "_staging" / "bronze_to_silver" / "20200101T000000Z-dead00" / "orders.raw.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left behind")
    bronze_to_silver(spark, cfg_for(tmp_path), "r1", validate=False)  # type: ignore[arg-type]
    assert not (tmp_path / "_staging" / "bronze_to_silver").exists() or not any(
        (tmp_path / "_staging" / "bronze_to_silver").iterdir()
    )


def test_a_malformed_suite_fails_the_run_before_anything_is_published(tmp_path: Path, spark: object) -> None:
    generate(str(tmp_path), small_settings(), days=1)  # type: ignore[arg-type]  # dirty: quarantine too
    suites = tmp_path / "expectations"
    shutil.copytree(load_config(env={}).quality.expectations, suites)
    good = (suites / "silver" / "orders.yaml").read_text()
    (suites / "silver" / "orders.yaml").write_text("expectations: [")
    cfg = load_config(root=str(tmp_path), env={}, overrides={"quality.expectations": str(suites)})
    with pytest.raises(SuiteError, match=r"orders\.yaml is not valid YAML"):
        bronze_to_silver(spark, cfg, "bad-suite")  # type: ignore[arg-type]
    assert not (tmp_path / "silver").exists() or not any((tmp_path / "silver").iterdir()), "nothing published"
    assert not (tmp_path / "_staging" / "bronze_to_silver" / "bad-suite").exists()
    (suites / "silver" / "orders.yaml").write_text(good)
    bronze_to_silver(spark, cfg, "fixed")  # type: ignore[arg-type]
    assert len(silver(tmp_path, "quarantine")) > 0, (
        "the failed run had rows to quarantine, and kept them back"
    )


def _bf(source: str, path: str, size: int) -> BronzeFile:
    return BronzeFile(source, path, f"/bronze/{path}", size, None)


def test_batches_keep_whole_days_within_the_limits_parents_first() -> None:
    files = [
        _bf("orders", "orders/orders_2026-01-02.csv", 30),
        _bf("customers", "customers/customers_2026-01-02.csv", 10),
        _bf("clickstream", "clickstream/date=2026-01-01/hour=00/events_2026-01-01T00.jsonl", 40),
        _bf("customers", "customers/customers_2026-01-01.csv", 10),
        _bf("orders", "orders/orders_2026-01-01.csv", 30),
        _bf("clickstream", "clickstream/date=2026-01-02/hour=00/events_2026-01-02T00.jsonl", 40),
    ]
    one = plan_batches(files, max_files=100, max_bytes=10**9)
    assert len(one) == 1 and [f.source for f in one[0]][:3] == ["customers", "orders", "clickstream"]
    by_day = plan_batches(files, max_files=100, max_bytes=100)  # a day (80 bytes) fits, two do not
    assert [[f.path.rsplit("_", 1)[-1][:10] for f in b] for b in by_day] == [
        ["2026-01-01"] * 3,
        ["2026-01-02"] * 3,
    ]
    split = plan_batches(files, max_files=2, max_bytes=10**9)  # a day larger than a batch: parents first
    assert [[f.source for f in b] for b in split] == [
        ["customers", "orders"], ["clickstream"], ["customers", "orders"], ["clickstream"],
    ]  # fmt: skip
    assert sorted(f.path for b in split for f in b) == sorted(f.path for f in files)


def _batched(tmp_path: Path, max_bytes: str) -> Config:
    conf = tmp_path / "conf" / "batched.yaml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f"ingest:\n  max_bytes_per_batch: {max_bytes}\n")
    return load_config(conf, root=str(tmp_path / "batched"), env={})


def test_a_backlog_taken_in_batches_gives_the_tables_of_one_run(tmp_path: Path, spark: object) -> None:
    """A clean world (no parent arrives after its rows) in batches of about a day: the same silver
    tables as one batch, each batch committed with its own ledger and ingest_batches rows, and one
    ingest_runs row per source for the run."""
    generate(str(tmp_path / "ref"), _settings_tiny(), days=4, clean=True)  # type: ignore[arg-type]
    shutil.copytree(tmp_path / "ref" / "bronze", tmp_path / "batched" / "bronze")
    # Without the gates: what batching may change is the tables, and the gates are tested elsewhere.
    bronze_to_silver(spark, cfg_for(tmp_path / "ref"), "ref", validate=False)  # type: ignore[arg-type]
    day = max(
        sum(p.stat().st_size for p in (tmp_path / "ref" / "bronze").rglob(f"*{d}*"))
        for d in ("2025-11-24", "2025-11-25")
    )
    report = bronze_to_silver(spark, _batched(tmp_path, f"{day // 1024 + 64}k"), "batched", validate=False)  # type: ignore[arg-type]
    assert report.failure is None
    batches = silver(tmp_path / "batched", "ingest_batches")
    assert batches["batch"].nunique() >= 3, batches[["source", "batch"]]
    assert set(batches.groupby("batch")["source"].apply(frozenset).iloc[0]) >= {"customers", "orders"}
    runs = silver(tmp_path / "batched", "ingest_runs")
    assert runs["source"].is_unique and (runs["run_id"] == "batched").all() and runs["batches"].max() >= 3
    assert (
        runs.set_index("source")["rows_read"].to_dict()
        == batches.groupby("source")["rows_read"].sum().to_dict()
    )
    ledger = silver(tmp_path / "batched", "_ingest_ledger")
    assert set(ledger["path"]) == set(silver(tmp_path / "ref", "_ingest_ledger")["path"])
    assert runs["rows_read"].sum() == sum(s.rows_read for s in report.sources)
    for name in [n for n in [*SILVER, "quarantine"] if (tmp_path / "ref" / "silver" / n).exists()]:
        pd.testing.assert_frame_equal(
            _comparable(tmp_path / "batched", name), _comparable(tmp_path / "ref", name), obj=name
        )


def test_a_run_that_fails_in_a_later_batch_keeps_the_batches_it_finished(
    tmp_path: Path, spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lakehouse.silver.ingest as ingest

    generate(str(tmp_path / "batched"), _settings_tiny(), days=3, clean=True)  # type: ignore[arg-type]
    cfg = _batched(tmp_path, "1")  # one file per batch
    real = ingest._ingest_batch

    def fail_third(*args, **kwargs):  # type: ignore[no-untyped-def]
        if args[4] == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "_ingest_batch", fail_third)
    with pytest.raises(RuntimeError, match="killed"):
        bronze_to_silver(spark, cfg, "first", validate=False)  # type: ignore[arg-type]
    assert len(silver(tmp_path / "batched", "_ingest_ledger")) == 2  # batches 1 and 2 are kept
    assert sorted(silver(tmp_path / "batched", "ingest_batches")["batch"]) == [1, 2]
    assert not (tmp_path / "batched" / "silver" / "ingest_runs").exists()  # the run never completed
    monkeypatch.setattr(ingest, "_ingest_batch", real)
    cfg = _batched(tmp_path, "1g")
    report = bronze_to_silver(spark, cfg, "second", validate=False)  # type: ignore[arg-type]
    assert sum(s.files for s in report.sources) == len(silver(tmp_path / "batched", "_ingest_ledger")) - 2
    assert not (tmp_path / "batched" / "_staging" / "bronze_to_silver").exists() or not any(
        (tmp_path / "batched" / "_staging" / "bronze_to_silver").iterdir()
    )


def _rewrite_csv(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    import csv

    rows = list(csv.reader(path.read_text().splitlines()))
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        csv.writer(fh, lineterminator="\n").writerows(edit(rows))


def test_every_bad_file_is_ingested_or_rejected_and_every_row_accounted_for(
    tmp_path: Path, spark: object
) -> None:
    import openpyxl

    generate(str(tmp_path), _settings_tiny(), days=7)  # type: ignore[arg-type]
    bronze = tmp_path / "bronze"
    manifests = [json.loads(p.read_text()) for p in sorted((bronze / "_manifest").glob("*.json"))]
    expected = {f["file"]: f["rows"] for m in manifests for f in m["files"]}
    defects = pd.DataFrame([d for m in manifests for d in m["defects"]])
    # An upper-case extension is still a CSV file.
    (bronze / "orders" / "orders_2025-11-26.csv").rename(bronze / "orders" / "orders_2025-11-26.CSV")
    expected["orders/orders_2025-11-26.CSV"] = expected.pop("orders/orders_2025-11-26.csv")
    # Another extension, a broken link and a week that does not exist are rejected, each saying why.
    hour = bronze / "clickstream" / "date=2025-11-24" / "hour=10"
    shutil.copy(hour / "events_2025-11-24T10.jsonl", hour / "events_2025-11-24T10.json")
    (bronze / "shipments" / "shipments_2025-12-01.csv").symlink_to(tmp_path / "gone.csv")
    shutil.copy(
        bronze / "inventory" / "inventory_2025-W48.xlsx", bronze / "inventory" / "inventory_2025-W53.xlsx"
    )
    # One sheet's column misspelled: its rows are quarantined as missing it, the other sheets land.
    wb = openpyxl.load_workbook(bronze / "inventory" / "inventory_2025-W48.xlsx")
    for cell in wb["WH-02"][1]:
        if cell.value == "on_hand":
            cell.value = "on_hnad"
    wb["WH-01"].cell(row=2, column=4).value = "=E2*2"  # a formula saved without its value
    wb.save(bronze / "inventory" / "inventory_2025-W48.xlsx")
    wh02 = wb["WH-02"].max_row - 1
    # A 200,000-character garbage line in a CSV file: quarantined with its start, length and hash.
    orders = bronze / "orders" / "orders_2025-11-27.csv"
    orders.write_text(orders.read_text() + "x" * 200_000 + "\n")
    expected["orders/orders_2025-11-27.csv"] += 1
    # A byte order mark and the columns in reverse order: read by name, the same rows land.
    _rewrite_csv(bronze / "customers" / "customers_2025-11-25.csv", lambda rows: [r[::-1] for r in rows])
    # A column the contract does not know: its values land in _rescued.
    _rewrite_csv(
        bronze / "shipments" / "shipments_2025-11-26.csv",
        lambda rows: [[*rows[0], "weight_kg"], *[[*r, f"{i}.5"] for i, r in enumerate(rows[1:], start=1)]],
    )
    # A name with a line break inside quotes is one record.
    touched = set(defects[defects["file"] == "products/products_2025-11-24.csv"]["row"])
    plain = next(i for i in range(1, expected["products/products_2025-11-24.csv"] + 1) if i not in touched)
    _rewrite_csv(
        bronze / "products" / "products_2025-11-24.csv",
        lambda rows: [
            r if i != plain else [r[0], "Desk lamp\nwith dimmer", *r[2:]] for i, r in enumerate(rows)
        ],
    )
    # One line that is not UTF-8 costs that line only.
    items = bronze / "order_items" / "order_items_2025-11-27.csv"
    lines = items.read_bytes().split(b"\n")
    clean = set(defects[defects["file"] == "order_items/order_items_2025-11-27.csv"]["row"])
    latin1 = next(i for i in range(1, len(lines)) if i not in clean and lines[i])
    lines[latin1] = lines[latin1] + " \u00e9".encode("latin-1")
    items.write_bytes(b"\n".join(lines))

    report = bronze_to_silver(spark, cfg_for(tmp_path), "bad-files", validate=False)  # type: ignore[arg-type]
    ledger = silver(tmp_path, "_ingest_ledger").set_index("path")
    on_disk = {
        str(p.relative_to(bronze))
        for s in SOURCES.values()
        for p in (bronze / s.folder).rglob("*")
        if p.is_file() or p.is_symlink()
    }
    assert set(ledger.index) == on_disk, "a file under a source's folder was neither ingested nor rejected"
    rejected = {
        "clickstream/date=2025-11-24/hour=10/events_2025-11-24T10.json": "wrong extension (.json)",
        "shipments/shipments_2025-12-01.csv": "broken symbolic link",
        "inventory/inventory_2025-W53.xlsx": "week 2025-W53 does not exist (2025 has 52 ISO weeks)",
    }
    assert {lf.file.path for lf in report.rejected} == set(rejected)
    for path, reason in rejected.items():
        assert ledger.loc[path, "status"] == "rejected" and reason in ledger.loc[path, "reason"], path
    taken = ledger[ledger["status"] != "rejected"]
    assert taken["rows_read"].to_dict() == expected  # every record of every other file was read ...
    assert (
        taken["rows_read"] == taken["rows_written"] + taken["rows_quarantined"] + taken["duplicates"]
    ).all()
    assert "lacks on_hand" in ledger.loc["inventory/inventory_2025-W48.xlsx", "reason"]
    assert {"inventory/inventory_2025-W48.xlsx", "shipments/shipments_2025-11-26.csv"} <= {
        lf.file.path for lf in report.noted
    }  # the summary names the files that landed with a note

    q = silver(tmp_path, "quarantine")
    formula = q[(q["file"] == "inventory/inventory_2025-W48.xlsx") & (q["sheet"] == "WH-01")]
    assert formula["reasons"].map(list).tolist() == [["formula_without_value"]] and formula[
        "row"
    ].tolist() == [1]
    huge = q[(q["file"] == "orders/orders_2025-11-27.csv") & q["raw"].str.startswith("xxxx")]
    assert len(huge) == 1 and "200,000 characters in all, sha256 " in huge["raw"].iloc[0]
    assert len(huge["raw"].iloc[0]) < 70_000 and huge["reasons"].map(list).tolist() == [["malformed_row"]]
    sheet = q[(q["file"] == "inventory/inventory_2025-W48.xlsx") & (q["sheet"] == "WH-02")]
    assert len(sheet) == wh02 and sheet["reasons"].map(list).map(["missing:on_hand"].__eq__).all()
    bad = q[(q["file"] == "order_items/order_items_2025-11-27.csv") & (q["row"] == latin1)]
    assert bad["reasons"].map(list).tolist() == [["bad_encoding"]] and bad["raw"].iloc[0].endswith("\ufffd")
    reordered = q[q["file"] == "customers/customers_2025-11-25.csv"]
    want = defects[
        (defects["file"] == "customers/customers_2025-11-25.csv") & (defects["expected"] == "quarantined")
    ]
    assert sorted(reordered["row"]) == sorted(want["row"])
    assert "Desk lamp\nwith dimmer" in set(silver(tmp_path, "products_history")["name"])
    shipments = silver(tmp_path, "shipments")
    kept = shipments[shipments["_source_file"] == "shipments/shipments_2025-11-26.csv"]
    assert len(kept) > 0 and set(kept["_rescued"]) == {
        f'{{"weight_kg": "{r}.5"}}' for r in kept["_source_row"]
    }
    assert (
        shipments[shipments["_source_file"] != "shipments/shipments_2025-11-26.csv"]["_rescued"].isna().all()
    )
    assert {s.source: s.rows_rescued for s in report.sources}["shipments"] == len(kept)


def test_a_reporting_failure_after_the_commit_cannot_undo_it(
    tmp_path: Path, spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.quality import gates

    generate(str(tmp_path), _settings_tiny(), days=2)  # type: ignore[arg-type]

    def disk_full(self: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gates.Gate, "record", disk_full)
    report = bronze_to_silver(spark, cfg_for(tmp_path), "full-disk")  # type: ignore[arg-type]
    assert report.failure is None and "No space left on device" in (report.reporting_problem or "")
    assert "lakehouse validate" in (report.reporting_problem or "")
    ledger = silver(tmp_path, "_ingest_ledger")
    assert (ledger["run_id"] == "full-disk").all() and ledger["rows_written"].sum() > 0
    monkeypatch.undo()
    again = bronze_to_silver(spark, cfg_for(tmp_path), "after")  # type: ignore[arg-type]
    assert again.nothing_new  # nothing is booked twice as duplicates


def test_an_orphan_flag_is_cleared_when_the_parent_arrives_later(tmp_path: Path, spark: object) -> None:
    generate(str(tmp_path), _settings_tiny(), days=2)  # type: ignore[arg-type]
    late = tmp_path / "bronze" / "orders" / "orders_2025-11-25.csv"
    aside = tmp_path / "orders_2025-11-25.csv"
    shutil.move(late, aside)  # the day's orders arrive a run after their lines
    bronze_to_silver(spark, cfg_for(tmp_path), "r1", validate=False)  # type: ignore[arg-type]
    items = silver(tmp_path, "order_items")
    flagged = items["_orphan_fks"].map(lambda v: v is not None and "order_id" in list(v))
    waiting = items[flagged & (items["order_id"] < 900_000_000)]  # not the injected orphans
    assert len(waiting) > 10, "lines whose order has not arrived are flagged"
    shutil.move(aside, late)
    report = bronze_to_silver(spark, cfg_for(tmp_path), "r2", validate=False)  # type: ignore[arg-type]
    after = silver(tmp_path, "order_items").set_index("order_item_id")
    arrived = set(silver(tmp_path, "orders")["order_id"])
    came = waiting[waiting["order_id"].isin(arrived)]["order_item_id"]
    assert len(came) > 10
    still = after.loc[came, "_orphan_fks"].map(lambda v: v is not None and "order_id" in list(v))
    assert not still.any(), (
        f"the parent arrived: no longer orphans ({still.sum()} of {len(still)} still flagged)"
    )
    assert report.orphans_resolved >= len(came)
    # What stays flagged has no parent in silver: an injected id, or an order quarantined for a defect.
    parents = {"order_id": arrived, "product_id": set(silver(tmp_path, "products")["product_id"])}
    for _, row in after[after["_orphan_fks"].map(lambda v: v is not None and len(v) > 0)].iterrows():
        assert all(row[c] not in parents[c] for c in row["_orphan_fks"]), row.to_dict()

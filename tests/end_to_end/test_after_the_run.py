"""After the run, on the twin over its pty: sync dates each session, `show`
gives the runner's summary and a plot, `export` writes FIT (decoded by
Garmin's SDK), CSV and JSON; the report of a synced session is the replay's."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from retrostride.device.client import Client, open_port
from retrostride.recordings.generated import generated_run
from retrostride.sessions.library import Library
from retrostride.sessions.logfile import parse_log
from retrostride.twin.replay import run_replay
from retrostride.reports.export import check_fit
from retrostride.reports.session import session_report
from retrostride.device.sync import sync
from retrostride.twin.launcher import Twin

CLI = str(Path(sys.executable).parent / "retrostride")


def cli(*args, **kw):
    r = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, **kw)
    assert r.returncode == 0, r.stderr
    return r


def finished(twin, client):
    """Wait until the twin's trace is over and its session closed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st = client.status()
        end = next((e[2] for e in twin.events() if e[0] == "trace_start"), None)
        if end and st["uptime_ms"] * 1000 > end + 1_000_000 and not st["recording"]:
            return
        time.sleep(0.05)
    raise AssertionError("the twin did not finish")


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A 45 s run on the twin, synced by the CLI into a library."""
    tmp = tmp_path_factory.mktemp("after")
    lib = tmp / "lib.sqlite"
    with Twin(generated_run(seconds=45.0, seed=12)[0]) as twin:
        c = Client(open_port(twin.port))
        finished(twin, c)
        c.close()
        at_sync = time.time()
        r = cli("sync", "--port", twin.port, "--library", str(lib))
    return lib, tmp, at_sync, r


def test_sync_dates_the_session(synced):
    lib, _, at_sync, r = synced
    (row,) = Library(lib).list()
    # the twin's clock was never set before the run: dated from its uptime at sync
    assert row["dated_by"].startswith("device uptime at sync")
    assert at_sync - 120 < row["start_utc"] < at_sync
    assert "date device uptime at sync" in r.stderr


def test_show_latest_summarises_and_plots(synced):
    lib, tmp, _, _ = synced
    png, page = tmp / "run.png", tmp / "run.html"
    r = cli("show", "latest", "--library", str(lib), "--plot", str(png))
    for label in ("date", "duration", "steps", "cadence", "time slouched", "alerts"):
        assert label in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    cli("show", "1", "--library", str(lib), "--plot", str(page))
    text = page.read_text()
    assert text.startswith("<!doctype html>") and "<svg" in text and "<script" not in text


def test_export_fit_decodes_with_garmins_sdk(synced):
    lib, tmp, at_sync, _ = synced
    out = tmp / "run.fit"
    cli("export", "latest", "--format", "fit", "--out", str(out), "--library", str(lib))
    messages, errors = check_fit(out.read_bytes())  # integrity (CRC) checked, then decoded
    assert errors == []
    (session,) = messages["session_mesgs"]
    assert session["sport"] == "running"
    start = session["start_time"].timestamp()
    assert at_sync - 60 < start < at_sync  # within a minute of the host's clock at sync
    records = messages["record_mesgs"]
    assert len(records) >= 35  # one a second of running
    cadences = [r["cadence"] * 2 + r.get("fractional_cadence", 0) * 2 for r in records if r.get("cadence")]
    assert len(cadences) >= 35 and 150 < sorted(cadences)[len(cadences) // 2] < 190
    assert len(messages["developer_data_id_mesgs"]) == 1
    assert {f["field_name"] for f in messages["field_description_mesgs"]} == {"trunk_lean", "direction"}


def test_export_csv_has_one_row_per_step_and_json_is_the_report(synced):
    lib, tmp, _, _ = synced
    cli("export", "--format", "csv", "--out", str(tmp / "run.csv"), "--library", str(lib))
    cli("export", "--format", "json", "--out", str(tmp / "run.json"), "--library", str(lib))
    rows = list(csv.DictReader(open(tmp / "run.csv")))
    report = json.loads((tmp / "run.json").read_text())
    assert len(rows) == report["summary"]["steps"] > 60
    assert set(rows[0]) >= {"t", "time_utc", "cadence_spm", "lean", "direction", "pitch"}
    assert rows[0]["time_utc"].startswith(report["session"]["start"][:10])


def test_a_synced_session_and_its_replay_give_the_same_report(tmp_path):
    trace = generated_run(seconds=30.0, seed=13)[0]
    replayed, data = run_replay(trace)
    synced = session_report(parse_log(data), t0=replayed["session"]["t0"])
    for key in ("steps", "alerts", "bouts", "forms", "references", "faults"):
        assert synced[key] == replayed[key], key
    for key, value in synced["summary"].items():
        assert replayed["summary"][key] == value, key
    # what only the replay knows
    assert "buzzes" in replayed and "trace" in replayed and "buzzes" not in synced


def test_a_session_after_a_power_cut_is_still_dated_and_says_how(tmp_path):
    flash = tmp_path / "flash"
    (tmp_path / "flash").mkdir()
    (flash / "config.json").write_text(json.dumps({"session_start": 1}))
    run = generated_run(seconds=20.0, seed=14)[0]
    # boot 1: a sync sets the clock; then the power goes (the VM is killed)
    with Twin(None, flash_dir=flash) as twin:
        c = Client(open_port(twin.port))
        sync(c, Library(tmp_path / "lib.sqlite"), progress=False)
        os.kill(twin.proc.pid, signal.SIGKILL)
        twin.proc.wait()
        c.close()
    # boot 2: a run with the clock unknown, then a sync in the same boot
    with Twin(run, flash_dir=flash) as twin:
        c = Client(open_port(twin.port))
        finished(twin, c)
        c.close()
        r = cli("sync", "--port", twin.port, "--library", str(tmp_path / "lib.sqlite"))
        at_sync = time.time()
    rows = [x for x in Library(tmp_path / "lib.sqlite").list() if x["complete"]]
    row = rows[-1]
    assert row["dated_by"] == "device uptime at sync (its clock was not set)"
    assert at_sync - 90 < row["start_utc"] < at_sync
    assert f"session {row['session_id']}: date device uptime at sync" in r.stderr
    # a session recorded in an earlier boot than the sync's cannot be dated that way, and says so
    report = session_report(parse_log(Library(tmp_path / "lib.sqlite").data(row["device_id"], row["session_id"])))
    assert report["session"]["start"] is None  # the log alone does not know; the library does
    when = datetime.fromtimestamp(row["start_utc"], timezone.utc)
    assert cli("show", when.strftime("%Y-%m-%d"), "--library", str(tmp_path / "lib.sqlite")).stdout

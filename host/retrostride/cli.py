"""`retrostride`: sync, show and export sessions; replay traces on the twin; the device's settings."""
import argparse
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rsproto import catalogue as cat

from .device.client import Client, DeviceError, LinkError, open_port
from .recordings.download import sources as download_sources
from .recordings.trace import TraceError, read_trace
from .sessions.library import Library
from .errors import UsageError

DIRECTION = dict(cat.DIRECTIONS)

console = Console(stderr=True)


def cmd_replay(args):
    from .twin.replay import parse_settings, run_replay
    settings = parse_settings(args.set)
    trace = read_trace(args.trace)
    report, _ = run_replay(trace, settings=settings, progress=not args.quiet, calibrate_s=args.calibrate_s,
                           faults=faults_of(args), cpu_factor=args.cpu_factor)
    text = json.dumps(report, indent=1)
    if args.json == "-":
        print(text)
    else:
        Path(args.json).write_text(text + "\n")
    print_summary(report, args.trace)
    return 0


def print_summary(report, label):
    s = report["summary"]
    console.print(f"replay of {label}")
    table = Table(title="summary", show_header=False)
    for key in ("steps", "duration_s", "cadence_spm", "alerts", "faults", "corrupt_records"):
        table.add_row(key, str(s[key]))
    if s["forward_steps"] or s["backward_steps"]:  # a forward axis was calibrated
        table.add_row("forward", f"{s['forward_steps']} steps, {s['cadence_forward_spm']} steps/min")
        table.add_row("backward", f"{s['backward_steps']} steps, {s['backward_s']} s, "
                      f"{s['cadence_backward_spm']} steps/min")
    # every session starts with 1 pulse and stops with 2: say so, lest 3 pulses read as alerts
    table.add_row("motor pulses", f"{len(report['buzzes'])} (session start 1, stop 2, the rest alerts and cues)")
    console.print(table)
    for f in report["faults"]:
        lost = f" ({f['lost_s']} s lost)" if f["lost_s"] else ""
        console.print(f"fault at {f['t']} s: {f['kind']}{lost}")
    console.print(f"replay speed: {s['replay_speed_x']} trace seconds per wall second "
                  f"({report['trace']['duration_s']} s of trace in {s['wall_s']} s)")


def faults_of(args):
    """--i2c-error-every, --stall, --flash-kb -> twin.Faults."""
    from .twin.launcher import Faults, parse_stall
    return Faults(i2c_error_every=args.i2c_error_every,
                  stall=parse_stall(args.stall) if args.stall else None, flash_kb=args.flash_kb)


def add_fault_options(p):
    g = p.add_argument_group("faults the twin injects")
    g.add_argument("--i2c-error-every", type=float, metavar="S",
                   help="every S seconds of trace one I2C transaction fails (ETIMEDOUT)")
    g.add_argument("--stall", metavar="AT:SECONDS",
                   help="at trace time AT one I2C read hangs SECONDS (the FIFO overflows as on the chip)")
    g.add_argument("--flash-kb", type=int, metavar="N",
                   help="the board's littlefs holds N kB (writes past it fail with ENOSPC)")


def add_belt_option(p):
    """--belt-m of the direction's benchmarks: every sensor clipped further round the belt."""
    p.add_argument("--belt-m", type=float, default=0.0,
                   help="move each sensor this far round the belt, to the wearer's left (negative: right); "
                   "the pelvis as a rigid body, from the gyro (recordings without one left out)")


def add_rate_option(p):
    """--rate-hz of the benchmarks: every recording as a slower sensor would have made it."""
    def rate(text):
        hz = float(text)
        if not hz > 0:
            raise argparse.ArgumentTypeError(f"{text}: a rate is above 0 Hz")
        return hz
    p.add_argument("--rate-hz", type=rate, default=None,
                   help="resample each recording to this rate first (anti-aliased): a slower sensor's")


def cmd_twin(args):
    from .twin.launcher import Twin
    trace = read_trace(args.trace) if args.trace else None
    link = Path(args.link)
    with Twin(trace, realtime=args.realtime, faults=faults_of(args)) as twin:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(twin.port)
        console.print(f"twin running: firmware on micropython, link at {link} -> {twin.port}; Ctrl-C stops")
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        try:
            while twin.alive() and not stop:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            if link.is_symlink():
                link.unlink()
        if not twin.alive():
            console.print("[red]the firmware stopped:[/red]\n" + twin.stderr_tail())
            return 1
    return 0


def cmd_sync(args):
    from .device.sync import find_port, sync
    port = args.port or find_port()
    lib = Library(args.library)
    client = Client(open_port(port))
    try:
        device, fetched = sync(client, lib, progress=True, confirm=not args.no_confirm)
        recording = ", ".join(str(x["session_id"]) for x in client.sessions() if not x["closed"])
    finally:
        client.close()
    console.print(f"device {device}: {len(fetched)} new session(s), "
                  f"{sum(s for _, s in fetched)} bytes into {lib.path}")
    for r in lib.list():  # how each new session was dated, unless by the device's own clock
        if r["device_id"] == device and (r["session_id"], r["size"]) in fetched and r["dated_by"] != "device clock":
            console.print(f"session {r['session_id']}: date {r['dated_by']}", soft_wrap=True)
    if recording:
        console.print(f"session {recording} is still recording: it syncs once it ends (a press of the button, "
                      f"or a pause of session_end_s)")
    return 0


def cmd_status(args):
    """The device now: battery, recording or not, flash, sessions waiting, faults."""
    from .device.sync import find_port
    client = Client(open_port(args.port or find_port()))
    try:
        hello = client.hello()
        st = client.status()
        waiting = sum(1 for s in client.sessions() if not s["confirmed"])
    finally:
        client.close()
    table = Table(title=f"device {hello['device_id'].hex()}", show_header=False)
    table.add_row("battery", f"{st['battery_mv'] / 1000:.2f} V")
    table.add_row("recording", "yes" if st["recording"] else "no")
    table.add_row("free flash", f"{st['free_kb']} kB")
    table.add_row("sessions", f"{st['sessions']} ({waiting} not yet synced and confirmed)")
    table.add_row("I2C errors", str(st["i2c_errors"]))
    table.add_row("FIFO overruns", str(st["fifo_overruns"]))
    console.print(table)
    if st["flash_full"]:
        console.print("[red]the flash is full of unsynced sessions: nothing records until "
                      "`retrostride sync` copies and confirms them[/red]")
    return 0


def library_report(lib, row):
    """The report of a synced session, dated as the library dated it."""
    from .sessions.logfile import parse_log
    from .reports.session import session_report
    return session_report(parse_log(lib.data(row["device_id"], row["session_id"])),
                          start_utc=row["start_utc"], dated_by=row["dated_by"])


def cmd_sessions(args):
    from .device.capture import LABELS, is_capture
    from .sessions.logfile import parse_log
    lib = Library(args.library)
    rows = lib.list()
    several = len({r["device_id"] for r in rows}) > 1
    # fits 80 columns: no vertical rules; the device (the last 4 bytes of its MAC) only when there are several
    table = Table(title=f"sessions in {lib.path} (dates UTC)", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    cols = (["device"] if several else []) + ["date", "id", "kind", "min", "steps", "spm", "back", "alerts",
                                               "state"]
    for col in cols:  # the date and kind stay on one line; a narrower terminal wraps the others, never cuts
        table.add_column(col, no_wrap=col in ("date", "kind"), overflow="fold")
    for r in rows:
        date = kind = minutes = steps = spm = back = alerts = ""
        if r["complete"]:
            log = parse_log(lib.data(r["device_id"], r["session_id"]))
            label = dict(enumerate(LABELS)).get(log.header["label"], "?") if log.header else "?"
            kind = f"capture {label}" if is_capture(log) else "activity"
            rep = library_report(lib, r)
            sm = rep["summary"]
            date = (rep["session"]["start"] or "?").replace("T", " ")[2:16]
            minutes = "%.1f" % (sm["duration_s"] / 60)
            steps = str(sm["steps"])
            spm = "%.0f" % sm["cadence_spm"] if sm["cadence_spm"] else ""
            back = f"{100 * sm['backward_steps'] / max(1, sm['steps']):.0f}%"
            alerts = str(sm["alerts"])
        # synced: a verified copy here and confirmed on the device; kept: verified, not yet confirmed
        state = "synced" if r["confirmed"] else ("kept" if r["complete"] else "partial")
        table.add_row(*([r["device_id"][4:12]] if several else []), date, str(r["session_id"]), kind, minutes,
                      steps, spm, back, alerts, state)
    Console().print(table)
    return 0


def cmd_show(args):
    """A synced session as a runner reads it, and its plot."""
    from .reports.session import runner_summary
    lib = Library(args.library)
    row = lib.find(args.session)
    report = library_report(lib, row)
    threshold = report["session"].get("slouch_threshold_deg") or 12
    summary = runner_summary(report, threshold)
    table = Table(title=f"session {row['session_id']}", show_header=False)
    for k, v in summary.items():
        table.add_row(k, v)
    Console().print(table)
    if args.plot:
        from .reports.plots import write_plot
        write_plot(report, args.plot, threshold, summary=summary,
                   title=f"RetroStride session {row['session_id']}, {summary['date']}")
        console.print(f"plot written to {args.plot}")
    return 0


def cmd_export(args):
    """A synced session as FIT, CSV or JSON."""
    from .reports.export import WRITERS
    lib = Library(args.library)
    row = lib.find(args.session)
    report = library_report(lib, row)
    WRITERS[args.format](report, args.out)
    console.print(f"session {row['session_id']} written to {args.out} ({args.format})")
    return 0


def cmd_capture(args):
    """A raw capture on the device, synced and written as a trace CSV."""
    from .device.capture import capture_trace, label_code, run_capture
    from .device.sync import find_port
    from .recordings.trace import write_trace
    label_code(args.label)  # refuse a bad label before touching the device
    from .twin.replay import CONFIG
    top = CONFIG["capture_s"][2]
    if not 1 <= args.seconds <= top:
        raise UsageError(f"--seconds {args.seconds}: out of range 1..{top}")
    client = Client(open_port(args.port or find_port()))
    lib = Library(args.library)
    try:
        console.print(f"capturing {args.seconds} s labelled {args.label}: run now")
        sid, log = run_capture(client, lib, args.seconds, args.label)
    except DeviceError as e:
        if e.name == "NOT_CALIBRATED":
            raise ValueError("the device has no calibration, and a capture is only worth its forward axis: "
                             "run `retrostride calibrate` (stand tall, then walk ten steps forward) first") from None
        raise
    finally:
        client.close()
    tr = capture_trace(log)
    write_trace(args.out, tr.t, tr.accel, tr.gyro, tr.meta)
    console.print(f"session {sid}: {len(tr.t)} samples ({tr.duration_s:.1f} s) written to {args.out}")
    return 0


def cmd_capture_trace(args):
    """A capture already in the library (started on the device) as a trace CSV."""
    from .device.capture import capture_trace
    from .sessions.logfile import parse_log
    from .recordings.trace import write_trace
    lib = Library(args.library)
    rows = [r for r in lib.list() if r["session_id"] == args.session and r["complete"]]
    if not rows:
        raise LookupError(f"no complete session {args.session} in {lib.path} (run `retrostride sync`)")
    r = rows[-1]
    tr = capture_trace(parse_log(lib.data(r["device_id"], r["session_id"])),
                       source=f"RetroStride capture, device {r['device_id']}, session {r['session_id']}")
    write_trace(args.out, tr.t, tr.accel, tr.gyro, tr.meta)
    console.print(f"session {args.session}: {len(tr.t)} samples ({tr.duration_s:.1f} s) written to {args.out}")
    return 0


def cmd_repl(args):
    """Ask the app to leave the binary link: the REPL (and mpremote) work again."""
    from .device.sync import find_port
    client = Client(open_port(args.port or find_port()))
    try:
        client.request("REPL")
    finally:
        client.close()
    console.print("the device left the link: its REPL is back (mpremote works)")
    return 0


def cmd_config(args):
    """Show every setting, or set KEY=VALUE ones, on the device (names as in --set)."""
    from .twin.replay import CONFIG, config_text, config_value
    from .device.sync import find_port
    client = Client(open_port(args.port or find_port()))
    try:
        client.hello()
        for item in args.set or ():
            key, sep, value = item.partition("=")
            if not sep:
                raise UsageError(f"{item!r}: expected KEY=VALUE")
            key = key.strip()
            client.set_config(key, config_value(key, value.strip()))
        table = Table(title="device settings")
        for col in ("setting", "value", "default", "range"):
            table.add_column(col)
        for key, (default, lo, hi, choices) in CONFIG.items():
            rng = "|".join(choices) if choices else f"{lo}..{hi}"
            table.add_row(key, config_text(key, client.get_config(key)), config_text(key, default), rng)
        Console().print(table)
    finally:
        client.close()
    return 0


def cmd_calibrate(args):
    """Stand tall and still for 2 s at the first buzz, walk ten steps forward at the double buzz."""
    from rsproto import catalogue as cat
    from .device.sync import find_port
    refusals = {code: name for name, code in cat.REFUSALS}
    client = Client(open_port(args.port or find_port()))
    try:
        client.hello()
        client.calibrate()
        console.print("calibrating: stand tall and still, then at the double buzz walk ten steps forward")
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            c = client.calibration()
            if c["state"] != 1:  # no longer RUNNING
                break
            time.sleep(0.2)
        else:
            raise LinkError("the calibration did not finish in time")
    finally:
        client.close()
    if c["refusal"]:
        raise ValueError(f"calibration refused: {refusals.get(c['refusal'], c['refusal'])} "
                         f"(the previous calibration is kept)")
    console.print(f"calibrated: up {[c['up_x'], c['up_y'], c['up_z']]} forward "
                  f"{[c['fwd_x'], c['fwd_y'], c['fwd_z']]} (sensor axes, x1000)")
    return 0


def cmd_datasets(args):
    from .recordings.datasets import export
    files = export(args.name, args.out, args.root)
    console.print(f"wrote {len(files)} trace(s) to {args.out}")
    return 0


def cmd_download(args):
    from .recordings.download import fetch
    folder, got, kept = fetch(args.name, args.cache, args.base_url,
                              progress=None if args.quiet else lambda rel: console.print(f"  {rel}", highlight=False))
    console.print(f"{args.name}: {got} file(s) downloaded, {kept} already cached and checked, in {folder}\n"
                  f"use it with --root {folder.parent}")
    return 0


def cmd_bench_gait(args):
    from .bench import gait
    with_mobgap = not args.no_mobgap
    if with_mobgap and not gait.have_mobgap():
        raise LookupError("mobgap is not installed: `pip install -e '.[bench]'` (or `make bench-gait`), "
                          "or pass --no-mobgap")
    results, cadence = gait.run(args.datasets, args.root, with_mobgap=with_mobgap, progress=not args.quiet,
                                rate_hz=args.rate_hz)
    gait.print_table(results, cadence, console)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(gait.markdown(results, cadence))
        console.print(f"wrote {args.markdown}")
    return 0


def cmd_bench_retro(args):
    from .bench import retro
    from rich.progress import Progress
    results = {}
    traces = trace_csvs(args.traces)
    datasets = [] if args.no_sets else args.datasets
    if datasets != [] or traces:
        with Progress(console=console, disable=args.quiet) as bar:
            task = bar.add_task("there-and-back replays", total=None)
            results = retro.run(datasets, args.root, workers=args.workers, yaw_deg=args.yaw_deg, rate_hz=args.rate_hz,
                                belt_m=args.belt_m, traces=traces,
                                progress=lambda k, n: bar.update(task, completed=k, total=n))
    if args.captures:
        results.update(retro.run_captures(sorted(Path(args.captures).glob("*.csv"))))
    table = retro.rows(results)
    retro.print_table(table, "direction per step on there-and-back traces (the firmware on the twin)")
    write_bench_table(args.markdown, retro.markdown(table), table)
    return 0


def trace_csvs(folder):
    """The trace CSVs of `--traces FOLDER` (none when not given)."""
    if not folder:
        return []
    if not Path(folder).is_dir():
        raise UsageError(f"--traces {folder}: no such folder")
    # not the reference steps `retrostride datasets` writes beside each trace
    traces = [p for p in sorted(Path(folder).glob("*.csv")) if not p.name.endswith("_steps.csv")]
    if not traces:
        raise UsageError(f"--traces {folder}: no trace CSVs in it")
    return traces


def write_bench_table(markdown_path, markdown, table):
    """A benchmark's table as Markdown at markdown_path (when given), its rows as JSON beside it."""
    if markdown_path:
        path = Path(markdown_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown)
        path.with_suffix(".json").write_text(json.dumps(table, indent=1))
        console.print(f"wrote {path} and its .json")


def cmd_bench_calibration(args):
    from .bench import calibration
    table = calibration.rows(calibration.run([] if args.no_sets else args.datasets, args.root, workers=args.workers,
                                             rate_hz=args.rate_hz, belt_m=args.belt_m,
                                             traces=trace_csvs(args.traces)))
    calibration.print_table(table)
    write_bench_table(args.markdown, calibration.markdown(table), table)
    return 0


def cmd_demo(args):
    """A run there and back: a real jog (or the generated run) forwards, then the
    same samples played backwards, the stand-in for running backwards; the device
    calibrated on the standing start, so it knows its forward."""
    from .recordings.datasets import FORWARD_AXIS, load_sisfall, shared_traces
    from .recordings.generated import generated_there_and_back
    from .recordings.surrogate import there_and_back
    from .twin.replay import run_replay
    shared = None if args.generated else shared_traces()
    jogs = load_sisfall(shared / "sisfall_waist", codes=("D03",)) if shared else []
    if jogs:
        rec = jogs[0]
        trace, turn = there_and_back(rec.trace, FORWARD_AXIS["sisfall"])
        label = f"real recording {rec.name}, a slow jog ({rec.meta['source']})"
    else:
        trace, turn = generated_there_and_back()
        why = "asked for" if args.generated else "no SisFall jog in ../shared/traces"
        label = f"GENERATED run (a model of running, not a recording; {why})"
    console.print(f"demo: {label}, played forwards, then the same samples backwards in time (the stand-in "
                  f"for running backwards: braking and propulsion swap places); 2 s standing first, the "
                  f"calibration's upright, with the recording's forward axis")
    console.print("starting the firmware on the micropython VM (twin), replaying, syncing over a pty ...")
    report, _ = run_replay(trace, calibrate_s=1.0, progress=True)
    print_summary(report, label)
    for half, steps, why in (
            ("forwards", [x for x in report["steps"] if x["t"] < turn],
             "a start is decided at its 3rd step: the step off is neither gait"),
            ("backwards", [x for x in report["steps"] if x["t"] >= turn],
             "a turn is read within 2 strides of it")):
        read = {d: sum(x["direction"] == d for x in steps) for d in ("forward", "backward", "unknown")}
        console.print(f"played {half}: {len(steps)} steps, read {read['forward']} forward, {read['backward']} "
                      f"backward, {read['unknown']} unknown ({why})")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


def version():
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed
    try:
        return installed("retrostride")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv=None):
    p = argparse.ArgumentParser(prog="retrostride", description=__doc__)
    p.add_argument("--version", action="version", version=f"retrostride {version()}")
    sub = p.add_subparsers(dest="cmd", required=True)
    lib_default = os.environ.get("RETROSTRIDE_LIBRARY")

    r = sub.add_parser("replay", help="run the firmware on the twin over a trace and report")
    r.add_argument("trace")
    r.add_argument("--json", required=True, help="report file ('-' for stdout)")
    r.add_argument("--calibrate-s", type=float, default=None,
                   help="first S seconds are the upright reference (posture)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="device setting")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--cpu-factor", type=float, default=0.0, metavar="K",
                   help="charge the firmware's time on the VM x K to the twin's clock (an ESP32: about 110)")
    add_fault_options(r)
    r.set_defaults(func=cmd_replay)

    t = sub.add_parser("twin", help="serve the twin on a pty path until stopped")
    t.add_argument("trace", nargs="?")
    t.add_argument("--link", required=True, help="path of the symlink to the pty")
    t.add_argument("--realtime", action="store_true", help="play the trace at real speed")
    add_fault_options(t)
    t.set_defaults(func=cmd_twin)

    s = sub.add_parser("sync", help="download new sessions from the device")
    s.add_argument("--port", help="serial port (default: autodetect by USB VID/PID)")
    s.add_argument("--library", default=lib_default)
    s.add_argument("--no-confirm", action="store_true", help="keep the sessions marked unsynced on the device")
    s.set_defaults(func=cmd_sync)

    cp = sub.add_parser("capture", help="record the device's calibrated raw samples, write them as a trace CSV")
    cp.add_argument("--port", help="serial port (default: autodetect)")
    cp.add_argument("--label", default="unlabelled", help="unlabelled|forward|backward|mixed")
    cp.add_argument("--seconds", type=int, required=True, help="how long (1..3600)")
    cp.add_argument("--out", required=True, help="trace CSV to write")
    cp.add_argument("--library", help="session library (default: the platform's data folder)")
    cp.set_defaults(func=cmd_capture)
    ct = sub.add_parser("capture-trace", help="a synced capture session as a trace CSV")
    ct.add_argument("session", type=int)
    ct.add_argument("--out", required=True)
    ct.add_argument("--library")
    ct.set_defaults(func=cmd_capture_trace)

    sh = sub.add_parser("show", help="a synced session: date, duration, cadence, lean, alerts, backward share")
    sh.add_argument("session", nargs="?", default="latest", help="latest (default), a session id, or YYYY-MM-DD")
    sh.add_argument("--plot", metavar="FILE", help="FILE.png (matplotlib) or FILE.html (one page, no server)")
    sh.add_argument("--library", default=lib_default)
    sh.set_defaults(func=cmd_show)

    ex = sub.add_parser("export", help="a synced session as FIT (Garmin Connect, Strava, ...), CSV or JSON")
    ex.add_argument("session", nargs="?", default="latest", help="latest (default), a session id, or YYYY-MM-DD")
    ex.add_argument("--format", required=True, choices=["fit", "csv", "json"])
    ex.add_argument("--out", required=True)
    ex.add_argument("--library", default=lib_default)
    ex.set_defaults(func=cmd_export)

    stp = sub.add_parser("status", help="the device now: battery, recording, free flash, faults")
    stp.add_argument("--port", help="serial port (default: autodetect)")
    stp.set_defaults(func=cmd_status)

    ls = sub.add_parser("sessions", help="list the sessions in the library")
    ls.add_argument("--library", default=lib_default)
    ls.set_defaults(func=cmd_sessions)

    rp = sub.add_parser("repl", help="give the device's USB serial back to its REPL (for mpremote)")
    rp.add_argument("--port")
    rp.set_defaults(func=cmd_repl)

    c = sub.add_parser("config", help="show or change the device's settings")
    c.add_argument("--port")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="setting to change (repeatable)")
    c.set_defaults(func=cmd_config)

    cb = sub.add_parser("calibrate", help="calibrate the upright and forward on the device")
    cb.add_argument("--port")
    cb.add_argument("--timeout", type=float, default=30.0,
                    help="seconds to wait for it (default 30; the device needs at most 23: 6 to stand "
                         "still for 2, then 15 for the walk)")
    cb.set_defaults(func=cmd_calibrate)

    d = sub.add_parser("datasets", help="write a public set as trace CSVs + reference steps")
    d.add_argument("name", choices=["alcantara", "mobgap", "voisard", "sisfall", "gaitpy"])
    d.add_argument("--out", required=True)
    d.add_argument("--root", help="folder holding the set (default ../shared/traces)")
    d.set_defaults(func=cmd_datasets)

    dl = sub.add_parser("download", help="fetch a public set by its public address into a checked cache")
    # each set's subjects outside the shared copy are a set of their own (<set>-others): held out
    dl.add_argument("name", choices=list(download_sources()))
    dl.add_argument("--cache", help="cache folder (default $RETROSTRIDE_CACHE or the platform's cache folder)")
    dl.add_argument("--base-url", help="a mirror's address instead of the public one")
    dl.add_argument("--quiet", action="store_true")
    dl.set_defaults(func=cmd_download)

    b = sub.add_parser("bench", help="benchmarks on the shared recordings")
    bsub = b.add_subparsers(dest="bench", required=True)
    bg = bsub.add_parser("gait", help="step detection: the device vs mobgap against each set's reference")
    bg.add_argument("--datasets", nargs="+", choices=["alcantara", "voisard", "mobgap", "gaitpy", "sisfall"],
                    help="default: all (sisfall: cadence against the spectrum, no step truth)")
    bg.add_argument("--root", help="folder holding the sets (default ../shared/traces)")
    bg.add_argument("--markdown", help="also write the table here as Markdown")
    bg.add_argument("--no-mobgap", action="store_true", help="score the device alone")
    add_rate_option(bg)
    bg.add_argument("--quiet", action="store_true", help="no progress bar")
    bg.set_defaults(func=cmd_bench_gait)

    br = bsub.add_parser("retro", help="direction per step on there-and-back traces of every set with a forward axis")
    br.add_argument("--datasets", nargs="+", choices=["alcantara", "voisard", "mobgap", "sisfall"])
    br.add_argument("--root", help="folder holding the sets (default ../shared/traces)")
    br.add_argument("--markdown", help="also write the table here as Markdown (and .json beside it)")
    br.add_argument("--workers", type=int, default=2, help="replays at once (default 2)")
    br.add_argument("--captures", help="also score the forward/backward-labelled capture CSVs in this folder "
                    "(real retro runs from `retrostride capture`)")
    br.add_argument("--traces", help="also play every trace CSV in this folder there and back, each facing its "
                    "'# forward_axis' (another set written as traces: `retrostride datasets`), a row per folder")
    br.add_argument("--no-sets", "--captures-only", dest="no_sets", action="store_true",
                    help="score only --captures and --traces, none of the shared sets")
    br.add_argument("--yaw-deg", type=float, default=0.0,
                    help="turn each recording about its vertical by this much: a calibration's forward that far off")
    add_rate_option(br)
    add_belt_option(br)
    br.add_argument("--quiet", action="store_true", help="no progress bar")
    br.set_defaults(func=cmd_bench_retro)

    bc = bsub.add_parser("calibration", help="the device's calibration (stand, then walk) on every real standing "
                         "start, against the set's forward axis")
    bc.add_argument("--datasets", nargs="+", choices=["alcantara", "voisard", "mobgap", "sisfall"])
    bc.add_argument("--root", help="folder holding the sets (default ../shared/traces)")
    bc.add_argument("--markdown", help="also write the table here as Markdown (and .json beside it)")
    bc.add_argument("--workers", type=int, default=2, help="twins at once (default 2)")
    bc.add_argument("--traces", help="also every trace CSV in this folder that starts standing, each against its "
                    "'# forward_axis', a row per folder")
    bc.add_argument("--no-sets", action="store_true", help="only --traces, none of the shared sets")
    add_rate_option(bc)
    add_belt_option(bc)
    bc.set_defaults(func=cmd_bench_calibration)

    m = sub.add_parser("demo", help="replay a default trace end to end")
    m.add_argument("--generated", action="store_true", help="use the built-in generated trace")
    m.add_argument("--json")
    m.set_defaults(func=cmd_demo)

    args = p.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:  # a bad option value: a usage error, as argparse's own (2)
        print(f"retrostride: error: {e}", file=sys.stderr)
        return 2
    except (TraceError, LinkError, ValueError, LookupError, OSError) as e:
        print(f"retrostride: error: {e}", file=sys.stderr)  # unwrapped: names file and line
        return 1
    except sqlite3.Error as e:  # the library went bad mid-way (locked, disk full)
        print(f"retrostride: error: session library: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: stop, no traceback (what was synced stays synced)
        print("retrostride: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""A session out of the library: FIT (an activity Garmin Connect, Strava,
Runalyze and Golden Cheetah import), CSV (one row per step, every field) and
JSON (the report `replay` writes). FIT through Garmin's own SDK encoder,
checked by its decoder before the file is written."""
import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from garmin_fit_sdk import Decoder, Encoder, Profile, Stream

MESG = Profile["mesg_num"]
DIRECTION_CODE = {"unknown": 0, "forward": 1, "backward": 2}
STEP_COLUMNS = ("t", "time_utc", "interval_s", "cadence_spm", "peak_mg", "lag_s", "pitch", "roll",
                "direction", "lean", "reference")
# developer fields: RetroStride's own, on each record
APP_ID = list(b"RetroStride-lean")  # 16 bytes: the application's id
DEV_FIELDS = {
    "lean": {"field_definition_number": 0, "fit_base_type_id": 0x83, "field_name": "trunk_lean",
             "units": "deg", "scale": 10},  # sint16, 0.1 deg
    "direction": {"field_definition_number": 1, "fit_base_type_id": 0x02, "field_name": "direction",
                  "units": "0 unknown 1 forward 2 backward"},  # uint8
}


def write_json(report, path):
    Path(path).write_text(json.dumps(report, indent=1) + "\n")
    return path


def write_csv(report, path):
    """One row per step, every field; time_utc when the session is dated."""
    start = _start(report)
    t0 = report["session"]["t0"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=STEP_COLUMNS)
        w.writeheader()
        for s in report["steps"]:
            row = {k: s.get(k) for k in STEP_COLUMNS}
            row["time_utc"] = (start + timedelta(seconds=s["t"] - t0)).isoformat() if start else None
            w.writerow(row)
    return path


def _start(report):
    iso = report["session"].get("start")
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) if iso else None


def per_second(report):
    """One FIT record a second: the cadence of the last step, the mean lean of
    the second's steps, the direction of its last step."""
    out = {}
    for s in report["steps"]:
        sec = int(s["t"])
        r = out.setdefault(sec, {"lean": [], "cadence": None, "direction": "unknown"})
        if s["cadence_spm"]:
            r["cadence"] = s["cadence_spm"]
        if s["lean"] is not None:
            r["lean"].append(s["lean"])
        r["direction"] = s["direction"]
    return sorted(out.items())


def fit_bytes(report):
    """The session as a FIT activity file (bytes)."""
    start = _start(report)
    if start is None:
        raise ValueError("the session has no date (the device's clock was not set and it was recorded "
                         "before the board last lost power): a FIT activity needs one")
    s = report["summary"]
    duration = float(s["duration_s"])
    end = start + timedelta(seconds=duration)
    steps = s["steps"]
    spm = s["cadence_spm"] or 0.0
    dev_id = {"mesg_num": MESG["DEVELOPER_DATA_ID"], "developer_data_index": 0, "application_id": APP_ID,
              "application_version": 1}
    enc = Encoder()
    enc.write_mesg({"mesg_num": MESG["FILE_ID"], "type": "activity", "manufacturer": "development",
                    "product": 1, "serial_number": int(report["session"].get("session_id") or 1),
                    "time_created": start})
    enc.write_mesg(dev_id)
    for key, desc in DEV_FIELDS.items():
        fd = {"mesg_num": MESG["FIELD_DESCRIPTION"], "developer_data_index": 0,
              "native_mesg_num": MESG["RECORD"], **desc}
        enc.write_mesg(fd)
        enc.add_developer_field(key, dev_id, fd)
    enc.write_mesg({"mesg_num": MESG["EVENT"], "timestamp": start, "event": "timer", "event_type": "start"})
    t0 = report["session"]["t0"]
    for sec, r in per_second(report):
        rec = {"mesg_num": MESG["RECORD"], "timestamp": start + timedelta(seconds=sec - int(t0)),
               "developer_fields": {"direction": DIRECTION_CODE.get(r["direction"], 0)}}
        if r["cadence"]:
            # FIT counts running cadence in strides (two steps) a minute, the half step apart
            rec["cadence"] = int(r["cadence"] // 2)
            rec["fractional_cadence"] = (r["cadence"] / 2) % 1
        if r["lean"]:
            rec["developer_fields"]["lean"] = sum(r["lean"]) / len(r["lean"])
        enc.write_mesg(rec)
    enc.write_mesg({"mesg_num": MESG["EVENT"], "timestamp": end, "event": "timer", "event_type": "stop_all"})
    common = {"timestamp": end, "start_time": start, "total_elapsed_time": duration, "total_timer_time": duration,
              "sport": "running", "avg_cadence": int(spm // 2), "total_cycles": steps // 2,
              "event": "lap", "event_type": "stop"}
    enc.write_mesg({"mesg_num": MESG["LAP"], **common, "message_index": 0})
    enc.write_mesg({"mesg_num": MESG["SESSION"], **common, "event": "session", "first_lap_index": 0,
                    "num_laps": 1, "message_index": 0, "sub_sport": "generic"})
    enc.write_mesg({"mesg_num": MESG["ACTIVITY"], "timestamp": end, "total_timer_time": duration,
                    "num_sessions": 1, "type": "manual", "event": "activity", "event_type": "stop",
                    "local_timestamp": end})
    data = enc.close()
    errors = check_fit(data)[1]
    if errors:
        raise ValueError(f"the FIT file did not decode cleanly: {errors}")
    return data


def check_fit(data):
    """Decode with Garmin's SDK: (messages, errors); errors include a failed integrity check."""
    decoder = Decoder(Stream.from_byte_array(bytearray(data)))
    if not decoder.is_fit() or not decoder.check_integrity():
        return {}, ["not a FIT file, or its CRC fails the integrity check"]
    decoder = Decoder(Stream.from_byte_array(bytearray(data)))
    messages, errors = decoder.read()
    return messages, errors


def write_fit(report, path):
    Path(path).write_bytes(fit_bytes(report))
    return path


WRITERS = {"fit": write_fit, "csv": write_csv, "json": write_json}

"""Session logs: a power cut mid-write or a corrupt record loses only itself;
logs written by older firmware still parse."""
import struct
import zlib

from rsproto import catalogue as cat
from rsproto import wire

from retrostride.sessions.logfile import parse_log


def _log(n_steps):
    out = wire.encode_record("HEADER", format=6, fw_major=0, fw_minor=1, fw_patch=0, session_id=3,
                             start_ms=0, first_sample=0, odr_hz=104, accel_fs_g=16, gyro_fs_dps=2000,
                             up_x=0, up_y=0, up_z=0, fwd_x=0, fwd_y=0, fwd_z=0, step_min_ms=250,
                             step_floor_mg=120, slouch_threshold_deg=15, slouch_hold_s=5, alert_mode=0,
                             alert_when=0, session_kind=0, label=0, accel_ug_per_lsb=488, gyro_udps_per_lsb=70000,
                             odr_fine=0, start_utc=1795000000, boot=3)
    for i in range(n_steps):
        out += wire.encode_record("STEP", t_ms=1000 + 350 * i, interval_ms=350, cadence_dspm=1714, peak_mg=900,
                                  pitch_cdeg=-250 + i, roll_cdeg=120, lag_ms=80, direction=2, lean_cdeg=-40,
                                  reference=4)
    return out


def _old_record(tid, fmt, *values):
    """A record as older firmware wrote it, packed by hand (not from the catalogue)."""
    body = bytes([tid, struct.calcsize(fmt)]) + struct.pack(fmt, *values)
    return bytes([cat.RECORD_MAGIC]) + body + struct.pack("<H", zlib.crc32(body) & 0xFFFF)


def test_a_log_of_format_3_parses_with_the_newer_fields_absent():
    """Format 3 (before direction): STEP without direction/lean/reference,
    BOUT without direction, ALERT_START without its reference."""
    header = _old_record(0x01, "<BBBBIIIHBHhhhhhhHHBHBB", 3, 0, 1, 0, 7, 0, 0, 104, 16, 2000,
                         0, 0, 1000, 1000, 0, 0, 250, 100, 12, 5, 0, 0)
    step = _old_record(0x02, "<IHHHhhH", 1200, 350, 1714, 900, -250, 120, 80)
    bout = _old_record(0x07, "<IB", 1100, 2)
    alert = _old_record(0x03, "<Ih", 9000, 1400)
    log = parse_log(header + bout + step + alert)
    assert log.corrupt == 0 and not log.truncated
    assert log.header["format"] == 3 and log.header["session_id"] == 7
    (s,) = log.of("STEP")
    assert s["t_ms"] == 1200 and s["lag_ms"] == 80 and s["direction"] is None and s["lean_cdeg"] is None
    assert log.of("BOUT") == [{"t_ms": 1100, "kind": 2, "direction": None}]
    assert log.of("ALERT_START")[0]["pitch_cdeg"] == 1400 and log.of("ALERT_START")[0]["reference"] is None


def test_a_record_of_a_length_no_format_ever_had_is_corrupt():
    bad = _old_record(0x02, "<IHHB", 1200, 350, 1714, 3)  # ends inside peak_mg: no format ever
    log = parse_log(bad + _log(2))
    assert log.corrupt >= 1 and len(log.of("STEP")) == 2  # skipped, and what follows kept


def test_power_cut_mid_record_keeps_every_complete_record():
    data = _log(10)
    cut = data[:-4]  # the last STEP lost its last bytes
    log = parse_log(cut)
    assert log.truncated and log.corrupt == 0
    assert log.header["session_id"] == 3 and len(log.of("STEP")) == 9


def test_a_corrupt_record_is_skipped_and_the_rest_kept():
    data = bytearray(_log(10))
    data[len(data) // 2] ^= 0x55
    log = parse_log(bytes(data))
    assert log.corrupt >= 1 and not log.truncated
    assert len(log.of("STEP")) == 9


def test_garbage_is_not_a_session():
    log = parse_log(b"\x00" * 50)
    assert log.header is None and log.records == [] and log.corrupt >= 1


def test_a_header_of_format_4_parses_and_keeps_the_nominal_rate():
    """Format 4 knew no odr_fine: absent, and time runs at the nominal rate."""
    header = _old_record(0x01, "<BBBBIIIHBHhhhhhhHHBHBBBBII", 4, 0, 1, 0, 7, 0, 0, 104, 16, 2000,
                         0, 0, 1000, 1000, 0, 0, 250, 100, 12, 5, 0, 0, 0, 0, 488, 70000)
    log = parse_log(header)
    assert log.corrupt == 0 and log.header["format"] == 4 and log.header["odr_fine"] is None
    assert log.rate_hz == 104 and log.time_scale == 1.0


def test_a_header_of_format_5_carries_the_chips_own_rate():
    log = parse_log(wire.encode_record("HEADER", **{**parse_log(_log(0)).header, "odr_fine": -20}))
    assert abs(log.rate_hz - 104 * 0.97) < 1e-9 and abs(log.time_scale - 1 / 0.97) < 1e-9


def test_a_header_of_format_5_parses_undated():
    """Format 5 knew no start_utc or boot: absent, the session undated by its log."""
    header = _old_record(0x01, "<BBBBIIIHBHhhhhhhHHBHBBBBIIb", 5, 0, 1, 0, 7, 0, 0, 104, 16, 2000,
                         0, 0, 1000, 1000, 0, 0, 250, 100, 12, 5, 0, 0, 0, 0, 488, 70000, -3)
    log = parse_log(header)
    assert log.corrupt == 0 and log.header["odr_fine"] == -3
    assert log.header["start_utc"] is None and log.header["boot"] is None


def test_steps_before_any_reference_have_no_pitch():
    """A session without its upright yet (an auto reference comes later): its
    first steps' pitch is unknown (None), not 0.0."""
    from retrostride.reports.session import session_report
    ref = wire.encode_record("REFERENCE", t_ms=1500, source=2, up_x=0, up_y=0, up_z=1000, fwd_x=0, fwd_y=0,
                             fwd_z=0)
    data = _log(2) + ref + _log(3)[len(_log(0)):]
    steps = session_report(parse_log(data))["steps"]
    assert [s["pitch"] for s in steps[:2]] == [None, None]
    assert all(s["pitch"] is not None for s in steps[2:])

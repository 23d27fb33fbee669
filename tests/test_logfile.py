"""Session logs: a power cut mid-write or a corrupt record loses only itself."""
from rsproto import wire

from retrostride.logfile import parse_log


def _log(n_steps):
    out = wire.encode_record("HEADER", format=2, fw_major=0, fw_minor=1, fw_patch=0, session_id=3,
                             start_ms=0, first_sample=0, odr_hz=104, accel_fs_g=16, gyro_fs_dps=2000,
                             up_x=0, up_y=0, up_z=0, fwd_x=0, fwd_y=0, fwd_z=0, step_min_ms=250,
                             step_floor_mg=120, slouch_threshold_deg=15, slouch_hold_s=5, alert_mode=0,
                             alert_when=0)
    for i in range(n_steps):
        out += wire.encode_record("STEP", t_ms=1000 + 350 * i, interval_ms=350, cadence_dspm=1714, peak_mg=900,
                                  pitch_cdeg=-250 + i, roll_cdeg=120, lag_ms=80)
    return out


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

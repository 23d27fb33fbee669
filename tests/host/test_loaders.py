"""Loaders in a set's published layout, on small files written here (the real
recordings are read by test_real_recordings.py where ../shared is present)."""
import pytest

from retrostride.recordings.datasets import load_sisfall

ROW = "0,0,256,0,0,0,0,0,1024;\n"  # 1 g on the ADXL345's z (256 counts at 32/2**13 g), gyro still


def test_sisfall_reads_adult_and_elderly_subjects_alike(tmp_path):
    """The full set keeps its 60-75 year olds in SExx folders beside the SAxx adults."""
    for subject in ("SA01", "SE06"):
        (tmp_path / subject).mkdir()
        (tmp_path / subject / f"D01_{subject}_R01.txt").write_text(ROW * 400)
    recs = load_sisfall(tmp_path)
    assert [r.name for r in recs] == ["sisfall/D01_SA01_R01", "sisfall/D01_SE06_R01"]
    for r in recs:
        assert r.meta["activity"] == "D01" and r.trace.rate_hz == pytest.approx(200)
        assert r.trace.accel[:, 2] == pytest.approx(1.0) and not r.trace.gyro.any()


def test_a_sisfall_row_that_is_not_9_numbers_is_named_by_file_and_line(tmp_path):
    (tmp_path / "SE01").mkdir()
    (tmp_path / "SE01" / "D03_SE01_R01.txt").write_text(ROW * 3 + "0,0,256;\n")
    with pytest.raises(ValueError, match=r"D03_SE01_R01.txt, line 4: 3 columns, expected 9"):
        load_sisfall(tmp_path)

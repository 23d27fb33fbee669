"""Loaders in a set's published layout, on small files written here (the real
recordings are read by test_real_recordings.py where ../shared is present)."""
import numpy as np
import pytest

from retrostride.recordings.datasets import load_alcantara, load_mobgap, load_sisfall

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


def test_alcantara_reads_each_runner_in_the_published_layout(tmp_path):
    """Accelerometer/GRF/Sub_Info with a runner's suffix: one row per trial;
    the foot strikes come from the force rising through 0.1 body weights."""
    n = 2480
    force = np.zeros((2, n))
    force[0, 100:250] = force[0, 500:650] = 2.0  # two stances
    force[1, 300:450] = 2.5
    np.savetxt(tmp_path / "GRF_sub03.csv", force, delimiter=",")
    accel = np.hstack([np.ones((2, n)), np.zeros((2, n))])  # vertical 1 g, then antero-posterior 0
    np.savetxt(tmp_path / "Accelerometer_sub03.csv", accel, delimiter=",")
    (tmp_path / "Sub_Info_sub03.csv").write_text("Sub,Speed,Slope\n3,2.5,0\n3,3.33,-5\n")
    recs = load_alcantara(tmp_path)
    assert [r.name for r in recs] == ["alcantara/sub03/trial00_v2.5_s0", "alcantara/sub03/trial02_v3.33_s-5"]
    assert recs[0].ref_steps == pytest.approx([100 / 500, 500 / 500])
    assert recs[1].ref_steps == pytest.approx([300 / 500])
    assert recs[0].trace.accel[:, 2] == pytest.approx(1.0) and recs[0].trace.rate_hz == pytest.approx(500)


def test_alcantara_without_its_files_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Accelerometer"):
        load_alcantara(tmp_path)


def mobilise_d_trial(seconds, contacts):
    """One trial in the Mobilise-D MATLAB format: the lower-back unit at 100 Hz
    and one INDIP walking bout with its initial contacts."""
    n = int(seconds * 100)
    acc = np.tile([0.0, 0.0, 1.0], (n, 1))
    return {"SU": {"LowerBack": {"Acc": acc, "Gyr": np.zeros((n, 3)), "Fs": {"Acc": 100, "Gyr": 100}}},
            "Standards": {"INDIP": {"MicroWB": {
                "Start": contacts[0] - 0.3, "End": contacts[-1] + 0.3, "Cadence": 110.0,
                "InitialContact_Event": np.array(contacts), "InitialContact_LeftRight": ["Left", "Right"] * (len(contacts) // 2)}}}}


def test_mobgap_reads_the_validation_study_layout_from_its_matlab_files(tmp_path):
    """<cohort>/<participant>/Laboratory/data.mat: signals and reference from the
    file itself; the Free-living recording beside it has no lab tests."""
    from scipy.io import savemat
    lab = tmp_path / "PD" / "3011" / "Laboratory"
    lab.mkdir(parents=True)
    savemat(lab / "data.mat", {"data": {"TimeMeasure1": {
        "Test4": {"Trial1": mobilise_d_trial(8.0, [1.0, 1.55, 2.1, 2.65])},
        "Test11": {"Trial1": mobilise_d_trial(20.0, [3.0, 3.6, 4.2, 4.8, 5.4, 6.0])}}}})
    (tmp_path / "PD" / "3011" / "Free-living").mkdir()
    savemat(tmp_path / "PD" / "3011" / "Free-living" / "data.mat", {"data": {"TimeMeasure1": {}}})
    # the same participant number in another cohort is another person (the
    # mobgap example has HA/001 and MS/001)
    other = tmp_path / "MS" / "3011" / "Laboratory"
    other.mkdir(parents=True)
    savemat(other / "data.mat", {"data": {"TimeMeasure1": {"Test4": {"Trial1": mobilise_d_trial(8.0, [1.0, 1.6])}}}})
    recs = load_mobgap(tmp_path)
    assert [r.name for r in recs] == ["mobgap/MS/3011/Test4/Trial1",
                                      "mobgap/PD/3011/Test11/Trial1", "mobgap/PD/3011/Test4/Trial1"]
    recs = recs[1:]
    walk = recs[1]
    assert walk.ref_steps == pytest.approx([1.0, 1.55, 2.1, 2.65])
    assert walk.trace.rate_hz == pytest.approx(100) and walk.trace.duration_s == pytest.approx(7.99)
    assert walk.trace.accel[:, 2] == pytest.approx(1.0) and walk.trace.gyro.shape == (800, 3)
    assert walk.scored_from == pytest.approx(0.7) and "validation study" in walk.meta["source"]


def test_voisard_keeps_the_first_of_a_packet_counted_twice(tmp_path):
    """An Xsens packet counter that repeats (one held-out trial, 11-1, has one)
    would be a time that does not increase: the trace written from it could
    not be read back. The first is kept; the footsteps stay on the packet times."""
    from retrostride.recordings.datasets import export, load_voisard
    from retrostride.recordings.trace import read_trace
    (tmp_path / "GaitData").mkdir()
    counters = [*range(0, 300), 299, *range(300, 600)]  # 299 twice
    rows = "".join(f"{c}.0\t0.0\t0.0\t9.80665\t0.0\t0.0\t0.0\t0.0\t0.0\t0.0\n" for c in counters)
    (tmp_path / "GaitData" / "11-1_lb.txt").write_text(
        "Acquisition frequency: 100 Hz\nPacketCounter\tAcc_X\tAcc_Y\tAcc_Z\tGyr_X\tGyr_Y\tGyr_Z\tMag_X\tMag_Y\tMag_Z\n"
        + rows)
    (tmp_path / "GaitData" / "11-1.json").write_text(
        '{"Filename": "11-1", "TrialBoundaries": [50, 550], '
        '"LeftFootEvents": [[100, 150], [300, 350]], "RightFootEvents": [[200, 250]]}')
    (rec,) = load_voisard(tmp_path)
    assert len(rec.trace.t) == 600 and (np.diff(rec.trace.t) > 0).all()
    assert rec.ref_steps == pytest.approx([1.5, 2.5, 3.5])
    (path,) = export("voisard", tmp_path / "out", root=tmp_path)
    assert len(read_trace(path).t) == 600

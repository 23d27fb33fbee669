"""Real recordings from ../shared/traces (skipped, with the reason, where absent)."""
import numpy as np
import pytest

from retrostride.datasets import load
from retrostride.replay import run_replay
from retrostride.trace import rotate

from .conftest import UPSIDE_DOWN_TURNED, needs_shared

pytestmark = needs_shared
WARMUP_S = 1.0  # the detector learns gravity and the step size in the first second


def scored_counts(rec, report):
    """Reference and detected steps inside the scored window. Detected times
    are shifted back by their median latency so a step at the window's edge
    counts on the same side as its reference."""
    det = np.array([s["t"] for s in report["steps"]])
    ref = rec.ref_steps
    if len(det):
        lat = np.median([d - ref[np.argmin(abs(ref - d))] for d in det])
        det = det - lat
    lo, hi = WARMUP_S, rec.scored_to
    return int(((ref >= lo) & (ref < hi)).sum()), int(((det >= lo) & (det < hi)).sum())


@pytest.fixture(scope="module")
def alcantara():
    recs = load("alcantara")
    return [(rec, run_replay(rec.trace)[0]) for rec in recs]


def test_alcantara_running_steps_match_the_force_plate(alcantara):
    ref_total = det_total = 0
    for rec, report in alcantara:
        ref, det = scored_counts(rec, report)
        print(f"{rec.name}: force plate {ref}, device {det}")
        assert abs(det - ref) <= 1, rec.name  # no trial is off by more than one step
        ref_total += ref
        det_total += det
    print(f"pooled: force plate {ref_total}, device {det_total}, error {100 * (det_total - ref_total) / ref_total:+.1f} %")
    assert abs(det_total - ref_total) <= 0.05 * ref_total


def test_alcantara_rotated_mounting_gives_the_same_steps(alcantara):
    base = rotated = 0
    for rec, report in alcantara[:6]:
        base += report["summary"]["steps"]
        rotated += run_replay(rotate(rec.trace, UPSIDE_DOWN_TURNED))[0]["summary"]["steps"]
    assert abs(rotated - base) <= 0.02 * base


def test_mobgap_loader_reads_the_published_format():
    recs = load("mobgap")
    assert len(recs) >= 4
    for rec in recs:
        assert rec.trace.gyro is not None and abs(rec.trace.rate_hz - 100) < 0.5
        # lower back, upright: gravity is about 1 g on one axis
        assert 0.9 < np.median(np.linalg.norm(rec.trace.accel, axis=1)) < 1.1
        assert len(rec.ref_steps) > 5 and rec.scored_from < rec.ref_steps[0] + 1e-9


def test_mobgap_straight_walk_replays_with_steps():
    rec = next(r for r in load("mobgap") if "Test5" in r.name)
    report, _ = run_replay(rec.trace)
    det = np.array([s["t"] for s in report["steps"]])
    inside = ((det >= rec.scored_from - 0.5) & (det <= rec.scored_to + 0.5)).sum()
    # the spine's simple detector must find most walking steps; issue-level accuracy is benchmarked separately
    assert inside >= 0.7 * len(rec.ref_steps)

"""Real recordings from ../shared/traces (skipped, with the reason, where absent).
Running truth, mounting and cadence: test_gait.py."""
import json

import numpy as np

from retrostride.recordings.datasets import load
from retrostride.twin.replay import run_replay

from tests.helpers import needs_shared

pytestmark = needs_shared


def test_mobgap_loader_reads_the_published_format():
    recs = load("mobgap")
    assert len(recs) >= 4
    for rec in recs:
        assert rec.trace.gyro is not None and abs(rec.trace.rate_hz - 100) < 0.5
        # lower back, upright: gravity is about 1 g on one axis
        assert 0.9 < np.median(np.linalg.norm(rec.trace.accel, axis=1)) < 1.1
        assert len(rec.ref_steps) > 5 and rec.scored_from < rec.ref_steps[0] + 1e-9
    # the lab's motion capture times the same walking where it sees it
    for rec in recs:
        other = json.loads(rec.meta["second_reference"])
        cam = np.array(other["contacts"])
        assert other["system"] == "Stereophoto" and np.all(np.diff(cam) > 0)
        near = np.abs(cam[:, None] - rec.ref_steps[None, :]).min(axis=1)
        assert np.median(near) < 0.1, rec.name


def test_mobgap_straight_walk_replays_with_steps():
    rec = next(r for r in load("mobgap") if "Test5" in r.name)
    report, _ = run_replay(rec.trace)
    det = np.array([s["t"] for s in report["steps"]])
    inside = ((det >= rec.scored_from - 0.5) & (det <= rec.scored_to + 0.5)).sum()
    # the spine's simple detector must find most walking steps; issue-level accuracy is benchmarked separately
    assert inside >= 0.7 * len(rec.ref_steps)

"""The Draw page's "unsure" thresholds (mnist.calibrate): the probability threshold against a
brute-force search, the command on a small made-up test split, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist.calibrate import calibration, sha256, wrong_half_threshold
from mnist.data import write_split

WEIGHTS = (
    Path(__file__).parents[1] / "mnist" / "reference" / "nano" / "seed-1" / "model.safetensors"
)


def brute_force_threshold(top: np.ndarray, right: np.ndarray) -> float:
    """Try every cut: flag the k least sure answers; keep the largest k whose flagged answers are
    right less than half the time; the threshold sits at the next answer's probability."""
    order = np.argsort(top, kind="stable")
    best = 0.0
    for k in range(1, len(top) + 1):
        flagged = order[:k]
        if right[flagged].sum() * 2 < k:
            best = top[order[k]] if k < len(top) else np.nextafter(top[order[k - 1]], 2)
    return float(best)


@pytest.mark.parametrize("seed", range(5))
def test_threshold_equals_a_brute_force_search(seed):
    rng = np.random.default_rng(seed)
    top = rng.uniform(0.1, 1.0, 300)
    right = rng.uniform(0, 1, 300) < top  # surer answers are right more often
    threshold = wrong_half_threshold(top, right)
    assert threshold == brute_force_threshold(top, right)
    flagged = top < threshold
    assert right[flagged].sum() * 2 < flagged.sum()


def test_calibration_counts_what_it_flags():
    probabilities = np.array([[0.9, 0.1], [0.55, 0.45], [0.6, 0.4], [0.2, 0.8]])
    labels = np.array([0, 1, 0, 1])  # the 0.55 answer is wrong; the rest right
    ink = np.array([100.0, 110.0, 90.0, 105.0])
    found = calibration(probabilities, labels, ink)
    assert found["threshold"] == 0.6  # flags the 0.55 answer alone, which is wrong
    assert found["unsure_probability"] == 1 and found["test_digits"] == 4
    assert found["unsure_right"] + found["sure_right"] == 3


def test_command_writes_the_file_for_these_weights(tmp_path):
    rng = np.random.default_rng(0)
    images = (rng.uniform(0, 1, (40, 28, 28)) ** 6 * 255).astype(np.uint8)
    write_split(tmp_path, "test", images, rng.integers(0, 10, 40).astype(np.uint8))
    out = tmp_path / "calibration.json"
    done = subprocess.run(
        [sys.executable, "-m", "mnist.calibrate", str(WEIGHTS), "--data-dir", str(tmp_path),
         "--out", str(out)], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(out.read_text())
    assert found["weights_sha256"] == sha256(WEIGHTS) and found["test_digits"] == 40
    assert found["ink_low"] <= found["ink_high"]


def test_missing_data_is_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mnist.calibrate", str(WEIGHTS), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "missing" in done.stderr

"""benchmarks/mnist_ema_decays.py: each moving average it keeps beside a run is the one that
`python -m mnist.train --ema D` tests, to the bit."""

import json
import subprocess
import sys
from pathlib import Path

from test_mnist_train import FAST, data_dir, metrics, run_train  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "mnist_ema_decays.py"
# 6 steps an epoch (192 images, 32 a batch): the averages' warm-up, min(D, (1 + t) / (10 + t)),
# reaches 0.5 at step 8 and 0.7 at step 20 of the 36, so these three decays and the run's own
# (0.999, the warm-up alone here) give four different averages.
RUN = ["--epochs", "6", "--model", "nano", "--seed", "3", *FAST, "--no-plots"]
DECAYS = ("0", "0.5", "0.7")


def test_each_average_is_what_the_trainer_gives_with_that_decay(data_dir, tmp_path):  # noqa: F811
    out = tmp_path / "screened"
    args = ["--decays", *DECAYS, "--", "--data-dir", str(data_dir), "--out", str(out), *RUN]
    subprocess.run([sys.executable, SCRIPT, *args], check=True, capture_output=True, cwd=ROOT)
    screened = json.loads((out / "ema-decays.json").read_text())["scores"]
    losses = set()
    for decay in DECAYS:
        alone = tmp_path / f"ema-{decay}"
        run_train(["--data-dir", str(data_dir), "--out", str(alone), "--ema", decay, *RUN])
        last = metrics(alone)[-1]
        scores = screened[str(float(decay))]
        assert (scores["test_loss"], scores["test_acc"]) == (last["test_loss"], last["test_acc"])
        losses.add(last["test_loss"])
    own = metrics(out)[-1]
    assert len(losses | {own["test_loss"]}) == len(DECAYS) + 1  # none is another compared twice
    # The screened run trained as the trainer does: the trajectory is the same.
    assert own["train_loss"] == last["train_loss"]

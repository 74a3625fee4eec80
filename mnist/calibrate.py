"""`python -m mnist.calibrate WEIGHTS [--data-dir data] [--out FILE]`: when should the Draw a digit
page say "unsure"? Measured on the MNIST test set for one exported model.

Softmax always shares 100% among the ten digits: the network cannot answer "none of these". So the
page flags an answer as unsure when
- its highest probability is below the threshold under which the test set's answers are wrong at
  least half the time (the largest such threshold), or
- the drawing holds less ink, or more, than all but a thousandth of the test digits at each end
  (a dot scaled to MNIST's 20 x 20 box is a filled disc: far more ink than any digit).
The file records how often each fires on the test set and the weights' SHA-256, so that the page
uses it only with the weights it was measured on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from mnist.cli import UsageError, command
from mnist.data import load_split
from mnist.fold import FoldError, read_exported
from mnist.names import CALIBRATION
from safeio.atomic import write_atomic
from safeio.cli import OneLineParser, say

INK_TAIL = 0.001  # the share of test digits left outside the ink range at each end


def wrong_half_threshold(top: np.ndarray, right: np.ndarray) -> float:
    """The largest t such that the answers whose top probability is below t are right less than
    half the time (0 when even the least sure answer is right)."""
    order = np.argsort(top, kind="stable")
    top, right = top[order], right[order]
    correct_below = np.cumsum(right)  # answers right among the k + 1 least sure
    counted = np.arange(1, len(top) + 1)
    mostly_wrong = correct_below * 2 < counted
    if not mostly_wrong.any():
        return 0.0
    k = int(np.flatnonzero(mostly_wrong).max())
    # Strictly below the next answer's probability: t flags exactly the k + 1 least sure.
    return float(top[k + 1]) if k + 1 < len(top) else float(np.nextafter(top[k], 2))


def calibration(probabilities: np.ndarray, labels: np.ndarray, ink: np.ndarray) -> dict:
    """The thresholds, and how often each flags the test set (ink: each digit's summed ink)."""
    top = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == labels
    threshold = wrong_half_threshold(top, right)
    unsure = top < threshold
    low, high = np.quantile(ink, [INK_TAIL, 1 - INK_TAIL])
    odd_ink = (ink < low) | (ink > high)
    flagged = unsure | odd_ink
    return {
        "threshold": threshold,
        "ink_low": float(low),
        "ink_high": float(high),
        "test_digits": len(labels),
        "unsure_probability": int(unsure.sum()),
        "unsure_ink": int(odd_ink.sum()),
        "unsure": int(flagged.sum()),
        "unsure_right": int((flagged & right).sum()),
        "sure_right": int((~flagged & right).sum()),
    }


def test_set_probabilities(weights: Path, data_dir: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Every test digit's ten probabilities under the exported model, the labels, the run info."""
    try:
        exported = read_exported(weights)
    except FoldError as exc:
        raise UsageError(str(exc)) from None
    test = load_split(data_dir, "test")
    pixels = test.images.double() / 255
    model = exported.model.double().eval()
    with torch.no_grad():
        x = ((pixels - exported.mean) / exported.std)[:, None]
        probabilities = torch.cat([torch.softmax(model(b), 1) for b in x.split(1000)])
    ink = pixels.sum(dim=(1, 2)).numpy()
    return probabilities.numpy(), test.labels.numpy(), {"model": exported.name, "ink": ink}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@command
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description="Measure the Draw page's 'unsure' thresholds on MNIST.")
    parser.add_argument("weights", type=Path, help="a file python -m mnist.export wrote")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="(default: data)")
    parser.add_argument("--out", type=Path, help=f"(default: {CALIBRATION} beside the weights)")
    args = parser.parse_args(argv)
    probabilities, labels, info = test_set_probabilities(args.weights, args.data_dir)
    found = calibration(probabilities, labels, info["ink"])
    document = {"model": info["model"], "weights_sha256": sha256(args.weights), **found}
    out = args.out or args.weights.parent / CALIBRATION
    text = json.dumps(document, indent=2) + "\n"
    say(f"wrote {write_atomic(out, lambda tmp: tmp.write_text(text, encoding='utf-8'))}")


if __name__ == "__main__":
    main()

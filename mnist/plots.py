"""PNG plots of a run: learning curves, confusion matrix, misclassified test digits.

Beside them, results.json keeps the final test pass's confusion counts and misclassified digits
(index, true, predicted), so the site can redraw both without the model.

`python -m mnist.plots RUN_DIR [--data-dir D]` redraws them from the run's metrics.jsonl and
checkpoint.pt; mnist.train calls save_all() at the end of training.
"""

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt
import numpy as np
import torch

from mnist.checkpoint import read_checkpoint
from mnist.cli import command
from mnist.config import Config
from mnist.data import load_data
from mnist.evaluate import prepare_model, test
from mnist.metrics import read_metrics
from mnist.names import CHECKPOINT, CONFUSION, CURVES, METRICS, MISCLASSIFIED, RESULTS
from safeio.atomic import write_atomic, write_text_atomic
from safeio.cli import OneLineParser, say

N_CLASSES = 10
GALLERY = (6, 12)  # rows, columns of misclassified digits shown


def save_figure(fig, path: Path) -> Path:
    """Save as PNG through a temp file and rename, then close the figure."""
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path


def curves_figure(metrics: list[dict]):
    """Accuracy and loss per epoch, train and test, side by side."""
    epochs = [m["epoch"] for m in metrics]
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for split in ("train", "test"):
        acc.plot(epochs, [100 * m[f"{split}_acc"] for m in metrics], marker="o", label=split)
        loss.plot(epochs, [m[f"{split}_loss"] for m in metrics], marker="o", label=split)
    acc.axhline(99.4, color="grey", linestyle="--", linewidth=1, label="99.4%")
    acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss", yscale="log")
    for ax in (acc, loss):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # no epoch 2.5
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor) -> torch.Tensor:
    """counts[true, predicted] over the test set."""
    return torch.bincount(labels * N_CLASSES + preds, minlength=N_CLASSES**2).view(N_CLASSES, -1)


def test_results(labels: torch.Tensor, preds: torch.Tensor) -> dict:
    """What the plots need of a test pass: confusion counts, and [index, true, predicted] of each
    misclassified digit. Small enough to keep beside metrics.jsonl (results.json)."""
    wrong = (preds != labels).nonzero().flatten().tolist()
    return {
        "confusion": confusion_matrix(labels, preds).tolist(),
        "misclassified": [[i, int(labels[i]), int(preds[i])] for i in wrong],
    }


def confusion_figure(counts: torch.Tensor):
    """counts[true, predicted] as a heat map with every non-zero count written in."""
    fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    # Log colour scale, or the diagonal (~1000) hides every off-diagonal count (~1-10).
    image = ax.imshow((counts + 1).numpy(), cmap="Blues", norm=matplotlib.colors.LogNorm())
    for t in range(N_CLASSES):
        for p in range(N_CLASSES):
            if counts[t, p]:
                color = "white" if t == p else "black"
                ax.text(p, t, int(counts[t, p]), ha="center", va="center", fontsize=8, color=color)
    accuracy = counts.diag().sum().item() / counts.sum().item()
    ax.set(xlabel="predicted", ylabel="true", xticks=range(N_CLASSES), yticks=range(N_CLASSES))
    ax.set_title(f"Confusion matrix (accuracy {accuracy:.2%})")
    fig.colorbar(image, ax=ax, label="count + 1")
    return fig


def gallery_figure(images: torch.Tensor, misclassified: list[list[int]], total: int):
    """The first misclassified digits ([index, true, predicted] each), labelled true -> predicted,
    tiled into one picture on one axes (an axes per digit took 1.5 s of a run's 2.5 s of plots)."""
    max_rows, cols = GALLERY
    shown = misclassified[: max_rows * cols]
    rows = max(1, math.ceil(len(shown) / cols))
    side, gap, band = images.shape[-1], 8, 14  # pixels: a digit, between digits, its label
    sheet = np.zeros((rows * (side + band), cols * (side + gap)), dtype=np.uint8)
    fig, ax = plt.subplots(figsize=(cols * 1.1, rows * 1.3), layout="constrained")
    for k, (i, true, predicted) in enumerate(shown):
        top, left = (k // cols) * (side + band) + band, (k % cols) * (side + gap) + gap // 2
        sheet[top : top + side, left : left + side] = images[i].numpy()
        ax.text(left + side / 2, top - 3, f"{true}→{predicted}", ha="center", fontsize=9)
    ax.imshow(sheet, cmap="gray_r", vmin=0, vmax=255)
    ax.axis("off")
    fig.suptitle(f"Misclassified test digits: {len(misclassified)} of {total} (true→predicted)")
    return fig


def save_all(run_dir: Path, metrics: list[dict], images, labels, preds) -> list[Path]:
    """Write results.json, curves.png, confusion.png and misclassified.png into run_dir."""
    run_dir = Path(run_dir)
    results = test_results(labels, preds)
    text = json.dumps(results, separators=(",", ":")) + "\n"
    write_text_atomic(run_dir / RESULTS, text)
    return [
        run_dir / RESULTS,
        save_figure(curves_figure(metrics), run_dir / CURVES),
        save_figure(confusion_figure(torch.tensor(results["confusion"])), run_dir / CONFUSION),
        save_figure(
            gallery_figure(images, results["misclassified"], len(labels)),
            run_dir / MISCLASSIFIED,
        ),
    ]


@command
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description="Redraw a run's plots from its checkpoint.")
    parser.add_argument("run_dir", type=Path, help=f"run folder with {METRICS} and {CHECKPOINT}")
    parser.add_argument("--data-dir", help="MNIST folder (default: the one the run used)")
    args = parser.parse_args(argv)
    state = read_checkpoint(args.run_dir / CHECKPOINT)
    cfg = Config(**state["config"])
    metrics = read_metrics(args.run_dir / METRICS)
    mnist = load_data(Path(args.data_dir or cfg.data_dir), cfg.limit, torch.device("cpu"))
    model = prepare_model(cfg.model, torch.device("cpu"), cfg.channels_last)
    model.load_state_dict(state["model"])
    _, preds = test(model, mnist.test.images, mnist.test.labels, cfg.channels_last)
    for path in save_all(args.run_dir, metrics, mnist.test.images, mnist.test.labels, preds):
        say(path)


if __name__ == "__main__":
    main()

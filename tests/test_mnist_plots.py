"""mnist.plots: the confusion matrix against a plain count, and the misclassified gallery."""

import numpy as np
import torch

from mnist import plots


def test_confusion_matrix_counts_every_pair():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=500)
    preds = np.where(rng.random(500) < 0.8, labels, rng.integers(0, 10, size=500))
    expected = np.zeros((10, 10), dtype=np.int64)
    np.add.at(expected, (labels, preds), 1)
    counts = plots.confusion_matrix(torch.from_numpy(labels), torch.from_numpy(preds))
    assert np.array_equal(counts.numpy(), expected)


def test_results_list_each_misclassified_digit():
    labels = torch.tensor([3, 1, 4, 1, 5])
    preds = torch.tensor([3, 7, 4, 2, 5])
    results = plots.test_results(labels, preds)
    assert results["misclassified"] == [[1, 1, 7], [3, 1, 2]]
    assert sum(map(sum, results["confusion"])) == 5
    assert [results["confusion"][k][k] for k in (3, 4, 5)] == [1, 1, 1]


def test_gallery_labels_each_digit_with_true_and_predicted():
    images = torch.zeros(5, 28, 28, dtype=torch.uint8)
    images[1, 0, 0], images[3, 27, 27] = 101, 203  # a pixel to find each digit by
    fig = plots.gallery_figure(images, [[1, 1, 7], [3, 1, 2]], 5)
    (ax,) = fig.axes
    assert [text.get_text() for text in ax.texts] == ["1→7", "1→2"]
    assert "2 of 5" in fig.get_suptitle()
    sheet = ax.get_images()[0].get_array()
    ((row1, col1),), ((row3, col3),) = np.argwhere(sheet == 101), np.argwhere(sheet == 203)
    assert row1 == row3 - 27 and col1 < col3 - 27  # side by side, in the order listed
    label1, label2 = (text.get_position() for text in ax.texts)
    assert label1[0] < col3 - 27 <= label2[0] and label1[1] < row1  # above its own digit
    plots.plt.close(fig)


def test_gallery_shows_at_most_its_grid():
    rows, cols = plots.GALLERY
    misclassified = [[0, 1, 2]] * (rows * cols + 5)
    fig = plots.gallery_figure(torch.zeros(1, 28, 28, dtype=torch.uint8), misclassified, 9)
    assert len(fig.axes[0].texts) == rows * cols
    assert f"{rows * cols + 5} of 9" in fig.get_suptitle()
    plots.plt.close(fig)


def test_curves_plot_train_and_test_of_each_epoch(tmp_path):
    metrics = [
        {"epoch": e, "train_acc": 0.9 + e / 100, "test_acc": 0.91 + e / 100,
         "train_loss": 1 / e, "test_loss": 0.9 / e}
        for e in (1, 2, 3)
    ]  # fmt: skip
    fig = plots.curves_figure(metrics)
    acc_axis = fig.axes[0]
    lines = {line.get_label(): line.get_ydata() for line in acc_axis.get_lines()}
    assert np.allclose(lines["test"], [92, 93, 94])
    path = plots.save_figure(fig, tmp_path / "curves.png")
    assert path.read_bytes()[:4] == b"\x89PNG"

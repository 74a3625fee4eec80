"""sitegen/page_mnist.py: a broken results.json or metrics.jsonl is one SiteError line, and
the gallery is drawn only from a test split whose labels match the run's misclassified digits."""

import pytest
import torch

from sitegen import page_mnist
from sitegen.site_common import SiteError


def test_gallery_needs_the_true_labels_of_the_loaded_split():
    labels = torch.tensor([3, 1, 4, 1, 5])
    assert page_mnist.gallery_matches([[1, 1, 7], [3, 1, 2]], labels)
    assert not page_mnist.gallery_matches([[1, 2, 7]], labels)  # another split's digit 1
    assert not page_mnist.gallery_matches([[9, 1, 7]], labels)  # beyond the split


@pytest.mark.parametrize(
    "text", ['{"confusion": [[1]]', "[]", '{"confusion": [], "misclassified": []}']
)
def test_broken_results_json_is_one_plugin_error(tmp_path, text):
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(SiteError, match=r"results\.json") as info:
        page_mnist.read_results(path)
    assert len(str(info.value).splitlines()) == 1


def test_partial_metrics_line_is_one_plugin_error(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "lr": 0.1, "train_loss": 1.0, "train_acc": 0.5, "test_loss"')
    with pytest.raises(SiteError, match=r"metrics.jsonl: line 1 is not JSON"):
        page_mnist.read_metrics(path)

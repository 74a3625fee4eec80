"""docs/hooks/page_mnist.py: a broken results.json or metrics.jsonl is one PluginError line, and
the gallery is drawn only from a test split whose labels match the run's misclassified digits."""

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("mkdocs")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "hooks"))
import page_mnist
from mkdocs.exceptions import PluginError


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
    with pytest.raises(PluginError, match=r"results\.json") as info:
        page_mnist.read_results(path)
    assert len(str(info.value).splitlines()) == 1


def test_partial_metrics_line_is_one_plugin_error(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "lr": 0.1, "train_loss": 1.0, "train_acc": 0.5, "test_loss"')
    with pytest.raises(PluginError, match=r"metrics.jsonl: line 1 is not JSON"):
        page_mnist.read_metrics(path)

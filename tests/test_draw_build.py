"""The Draw page's builder (sitegen.page_draw) on weights, results and MNIST files made here.

A made-up 'test split' of a few random images stands in for MNIST: the builder must offer one
digit the run answered correctly per class and the first ones it got wrong, with the pixels of
exactly those images, and with no MNIST only list the wrong ones, saying so. Missing or damaged
weights stop the build with one line naming them (the page is never built without them).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import save_file

from mnist.data import write_split
from mnist.fold import fold
from mnist.model import build_model
from sitegen import page_draw
from sitegen.site_common import Settings, Site, SiteError

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = tomllib.loads((ROOT / "mnist" / "defaults.toml").read_text("utf-8"))["data_dir"]
LABELS = [3, 1, 3, 0, 1, 2, 2, 0, 1, 3, 2, 0]  # a made-up test split of 12 digits, classes 0-3
WRONG = [[0, 3, 8], [3, 0, 6], [4, 1, 7], [9, 3, 5], [11, 0, 2]]  # [index, true, predicted]


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A repository folder: mkdocs' root with mnist/defaults.toml naming `nano` as the default
    model, and an exported `nano` run."""
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "defaults.toml").write_text(
        f'model = "nano"\ndata_dir = "{DATA_DIR}"\n', encoding="utf-8"
    )
    run = tmp_path / "reference" / "nano" / "seed-1"
    run.mkdir(parents=True)
    model = build_model("nano")
    meta = {"model": "nano", "normalize_mean": "0.1307", "normalize_std": "0.3081"}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(run / "model.safetensors"), metadata=meta)  # fmt: skip
    # 7 digits read right, 5 wrong (WRONG): 58.33% (the page's accuracy comes from these counts).
    confusion = [[0] * 10 for _ in range(10)]
    confusion[1][1], confusion[2][2], confusion[3][3] = 2, 3, 2
    for _, true, predicted in WRONG:
        confusion[true][predicted] += 1
    (run / "results.json").write_text(json.dumps({"confusion": confusion, "misclassified": WRONG}))
    monkeypatch.delenv(page_draw.WEIGHTS_ENV, raising=False)
    return tmp_path


def build(root: Path):
    settings = Settings(root=root, derive_config=root / "unused.toml",
                        mnist_reference=root / "reference", mnist_run=None)  # fmt: skip
    return page_draw.build(Site(settings, config=None, evaluator=None))


def test_without_mnist_the_page_lists_the_wrong_digits_and_offers_none(repository):
    page = build(repository)
    digits = page.context["digits"]
    assert digits["offered"] == []
    assert [[d["index"], d["label"], d["predicted"]] for d in digits["listed"]] == WRONG[:4]
    assert page.context["results"] == "reference/nano/seed-1/results.json"
    assert page.context["accuracy"] == "58.33"
    assert (page.context["model"], page.context["default_model"]) == ("nano", "nano")
    assert set(page.files) == {
        "generated/draw-network.json",
        "generated/draw-forward.js",
        "generated/cnn-engine.js",
    }
    network = json.loads(page.files["generated/draw-network.json"])
    assert network["model"] == "nano"
    assert [s["kind"] for s in network["stages"]] == [s.kind for s in fold(build_model("nano"))]


def test_with_a_test_split_it_offers_right_and_wrong_digits_with_their_pixels(repository):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(len(LABELS), 28, 28), dtype=np.uint8)
    labels = np.array(LABELS, dtype=np.uint8)
    for split in ("train", "test"):
        write_split(repository / DATA_DIR, split, images, labels)
    page = build(repository)
    offered = page.context["digits"]["offered"]
    # First index of each class that is not in WRONG: 0 -> 7 (3 is wrong), 1 -> 1, 2 -> 5,
    # 3 -> 2 (0 is wrong); then the first four wrong ones with the answers recorded.
    expected = [[7, 0, 0], [1, 1, 1], [5, 2, 2], [2, 3, 3], *WRONG[:4]]
    assert [[d["index"], d["label"], d["predicted"]] for d in offered] == expected
    pixels = json.loads(page.files["generated/draw-digits.json"])
    assert set(pixels) == {str(i) for i, _, _ in expected}
    for index, values in pixels.items():
        assert values == images[int(index)].ravel().tolist()


def test_a_split_with_other_labels_is_not_offered(repository):
    images = np.zeros((len(LABELS), 28, 28), dtype=np.uint8)
    other = np.array([(label + 1) % 4 for label in LABELS], dtype=np.uint8)
    for split in ("train", "test"):
        write_split(repository / DATA_DIR, split, images, other)
    assert build(repository).context["digits"]["offered"] == []


def test_missing_weights_stop_the_build_in_one_line(repository, monkeypatch):
    missing = repository / "none.safetensors"
    monkeypatch.setenv(page_draw.WEIGHTS_ENV, str(missing))
    with pytest.raises(SiteError) as caught:
        build(repository)
    assert str(caught.value).startswith(f"{missing}: no weights file")


def test_damaged_weights_stop_the_build_in_one_line(repository, monkeypatch):
    damaged = repository / "damaged.safetensors"
    damaged.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    monkeypatch.setenv(page_draw.WEIGHTS_ENV, str(damaged))
    with pytest.raises(SiteError) as caught:
        build(repository)
    assert str(caught.value).startswith(f"{damaged}: cannot read the weights")
    assert "\n" not in str(caught.value)

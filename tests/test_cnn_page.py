"""The "Backprop through a CNN" page against torch autograd on the same teaching net: the loss,
the probabilities, every feature map and every gradient grid it prints, and its update step."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from derive.cnn.config import load_cnn_config

CNN = Path(__file__).parents[1] / "derive" / "configs" / "cnn.toml"


class Grids(HTMLParser):
    """Every figure.grid of a page: (its data-grid name, rows of cell texts)."""

    def __init__(self):
        super().__init__()
        self.grids: list[tuple[str, list[list[str]]]] = []
        self.rows: list[list[str]] | None = None
        self.caption: str | None = None
        self.cell: str | None = None

    def handle_starttag(self, tag, attrs):
        classes = dict(attrs).get("class") or ""
        if tag == "figure" and "grid" in classes.split():
            self.rows, self.caption = [], dict(attrs)["data-grid"]
        elif self.rows is not None and tag == "tr":
            self.rows.append([])
        elif self.rows is not None and tag == "td":
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None
        elif tag == "figure" and self.rows is not None:
            self.grids.append((self.caption or "", self.rows))
            self.rows = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def page_grids(html: str) -> dict[str, np.ndarray]:
    parser = Grids()
    parser.feed(html)
    return {
        caption: np.array([[c.replace("−", "-") for c in row] for row in rows], dtype=float)
        for caption, rows in parser.grids
    }


def torch_teaching_net():
    """The teaching config's net in torch, float64, its image and its label."""
    config = load_cnn_config(CNN)
    arrays = config.values.arrays
    conv, dense = nn.Conv2d(1, 2, 2).double(), nn.Linear(8, 3).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(arrays["conv"]["weight"]))
        conv.bias.copy_(torch.tensor(arrays["conv"]["bias"]))
        dense.weight.copy_(torch.tensor(arrays["dense"]["weight"]))
        dense.bias.copy_(torch.tensor(arrays["dense"]["bias"]))
    image = torch.tensor(config.values.image[None], dtype=torch.float64, requires_grad=True)
    return conv, dense, image, torch.tensor([int(np.argmax(config.values.target))])


@pytest.fixture(scope="module")
def page(site_dir) -> str:
    return (site_dir / "cnn" / "index.html").read_text()


def close(shown: np.ndarray, expected: np.ndarray) -> bool:
    """The page prints 3 significant digits."""
    return np.allclose(shown, expected, rtol=5e-3, atol=5e-4)


def test_cnn_page_grids_equal_torch_autograd(page):
    grids = page_grids(page)
    conv, dense, image, label = torch_teaching_net()
    z = conv(image)
    z.retain_grad()
    r = torch.relu(z)
    r.retain_grad()
    m = nn.functional.max_pool2d(r, 2)
    m.retain_grad()
    loss = nn.functional.cross_entropy(dense(m.flatten(1)), label)
    loss.backward()
    for o in range(2):
        assert close(grids[f"z{o}"], z[0, o].detach().numpy())
        assert close(grids[f"m{o}"], m[0, o].detach().numpy())
        assert close(grids[f"dm{o}"], m.grad[0, o].numpy())
        assert close(grids[f"dr{o}"], r.grad[0, o].numpy())
        assert close(grids[f"dz{o}"], z.grad[0, o].numpy())
        assert close(grids[f"dk{o}"], conv.weight.grad[o, 0].numpy())
        flipped = conv.weight[o, 0].detach().numpy()[::-1, ::-1]
        assert close(grids[f"flipped{2 * o + 1}"], flipped)
    assert close(grids["dx0"], image.grad[0, 0].numpy())
    assert f"{loss.item():.9g}" in page


def test_cnn_page_update_step_equals_a_torch_sgd_step(page):
    conv, dense, image, label = torch_teaching_net()
    optimiser = torch.optim.SGD([*conv.parameters(), *dense.parameters()], lr=0.5)
    step = lambda: nn.functional.cross_entropy(  # noqa: E731
        dense(nn.functional.max_pool2d(torch.relu(conv(image)), 2).flatten(1)), label
    )
    step().backward()
    optimiser.step()
    after = step().item()
    assert re.search(rf"After the step the loss is {after:.9g}", page)
    # The page writes a negative number with a minus sign, as every page does.
    assert f"{conv.weight[0, 0, 0, 0].item():.6g}".replace("-", "−") in page


def test_mnist_worked_example_equals_torch_on_a_test_split(tmp_path):
    """The MNIST page's worked example on a small made-up test split: the digit it picks has the
    highest loss, and its loss and every layer's gradient size equal torch autograd's."""
    from mnist.data import write_split
    from mnist.evaluate import MEAN, STD
    from mnist.fold import read_exported
    from sitegen.mnist_worked import worked_context

    rng = np.random.default_rng(4)
    images = (rng.uniform(0, 1, (6, 28, 28)) ** 8 * 255).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)
    write_split(tmp_path, "test", images, labels)
    weights = Path(__file__).parents[1] / "mnist" / "reference" / "nano" / "seed-1"
    files: dict = {}
    worked = worked_context(weights / "model.safetensors", tmp_path, files)
    assert worked["missing"] == ""
    model = read_exported(weights / "model.safetensors").model.double().eval()
    x = ((torch.tensor(images, dtype=torch.float64) / 255 - MEAN) / STD)[:, None]
    with torch.no_grad():
        losses = nn.functional.cross_entropy(
            model(x), torch.tensor(labels).long(), reduction="none"
        )
    digit = int(losses.argmax())
    assert worked["index"] == digit
    assert worked["loss"] == f"{losses[digit].item():.6g}"
    model.zero_grad()
    nn.functional.cross_entropy(
        model(x[digit : digit + 1]), torch.tensor([int(labels[digit])])
    ).backward()
    rows = [line.split(" | ") for line in worked["table"].splitlines()[2:]]
    for row, (key, parameter) in zip(rows, model.named_parameters(), strict=True):
        assert row[0].strip("| ") == key.split(".")[0] and row[2] == key.split(".")[1]
        assert float(row[4]) == pytest.approx(parameter.grad.norm().item(), rel=1e-3)
    assert len(files) == 1


def test_the_hardest_digit_is_float64s_with_or_without_the_float32_shortlist(monkeypatch):
    """worked_context's digit: scored in float32, the few highest again in float64, it is the one
    float64 scores highest of all; and so when every digit is scored in float64."""
    from mnist.evaluate import MEAN, STD
    from mnist.fold import read_exported
    from sitegen import mnist_worked

    rng = np.random.default_rng(5)
    images = torch.tensor((rng.uniform(0, 1, (60, 28, 28)) ** 8 * 255).round())
    labels = torch.tensor(rng.integers(0, 10, 60)).long()
    weights = Path(__file__).parents[1] / "mnist" / "reference" / "nano" / "seed-1"
    model = read_exported(weights / "model.safetensors").model.double().eval()
    x = ((images / 255 - MEAN) / STD)[:, None]
    with torch.no_grad():
        losses = nn.functional.cross_entropy(model(x), labels, reduction="none")
    assert len(x) > mnist_worked.SHORTLIST
    assert mnist_worked.hardest(model, x, labels) == int(losses.argmax())
    monkeypatch.setattr(mnist_worked, "ROUGH", 1e9)  # no shortlist can be trusted: all in float64
    assert mnist_worked.hardest(model, x, labels) == int(losses.argmax())


def test_mnist_worked_example_refuses_damaged_weights_in_one_line(tmp_path):
    from sitegen.mnist_worked import worked_context
    from sitegen.site_common import SiteError

    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(SiteError, match="cannot read the weights"):
        worked_context(bad, tmp_path, {})

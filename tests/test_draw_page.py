"""Draw a digit in a real browser: strokes drawn through pointer events, test digits clicked.

The page's 28 x 28 input is compared with a reference implementation of MNIST's preparation
written here from its description (bounding box scaled to fit 20 x 20 keeping the aspect ratio,
each pixel the mean ink of the area it covers, placed by centre of mass at pixel (14, 14)); it
computes the area means from an integral image, not the page's per-axis weights. The page's
probabilities are compared with torch's unfolded model (safetensors weights loaded into
mnist.model.build_model) on the page's input, and a loaded test digit's answer with what the
reference run's results.json records for it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from test_browser import LOCAL_HOSTS, LOCAL_SCHEMES, network_events

from mnist.model import build_model
from sitegen.mnist_reference import read_defaults
from sitegen.page_draw import weights_file

ROOT = Path(__file__).resolve().parent.parent
BOX, SIDE, CENTRE = 20, 28, 14  # MNIST: fit in 20 x 20, 28 x 28 field, centre of mass at 14

pytestmark = pytest.mark.browser

READY = """
const done = arguments[arguments.length - 1];
const wait = () => (window.drawDigit && window.drawDigit.ready ? done(true) : setTimeout(wait, 50));
wait();
"""
STATE = """
const pad = document.getElementById('draw-canvas');
const rgba = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;
const alpha = [];
for (let p = 3; p < rgba.length; p += 4) alpha.push(rgba[p]);
return {alpha, width: pad.width, height: pad.height, input: window.drawDigit.input,
        probabilities: window.drawDigit.probabilities,
        bars: [...document.querySelectorAll('#draw-bars li')].map((li) => ({
          top: li.classList.contains('draw-top'),
          text: li.querySelector('.draw-value').textContent}))};
"""


def weights_path() -> Path:
    """The weights file the page runs (the default model's seed-1 reference run, unless set)."""
    return weights_file(ROOT, ROOT / "mnist" / "reference")


@pytest.fixture(scope="module")
def torch_model():
    """The unfolded model, in eval mode, and its input normalisation: probabilities(input)."""
    path = weights_path()
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    model = build_model(meta["model"]).double()
    model.load_state_dict(load_file(str(path)))
    model.eval()
    mean, std = float(meta["normalize_mean"]), float(meta["normalize_std"])

    def probabilities(pixels) -> np.ndarray:
        x = (torch.tensor(pixels, dtype=torch.float64).reshape(1, 1, SIDE, SIDE) - mean) / std
        with torch.no_grad():
            return torch.softmax(model(x), dim=1)[0].numpy()

    return probabilities


@pytest.fixture
def page(server, browser):
    browser.set_window_size(1280, 900)
    network_events(browser)
    browser.get(f"{server}/draw/")
    assert browser.execute_async_script(READY), "the network did not load"
    return browser


def mnist_prepare(alpha: np.ndarray) -> np.ndarray | None:
    """MNIST's preparation of a drawing whose ink is `alpha` (0..255), from its description."""
    ink = alpha.astype(np.float64) / 255
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = box.shape
    scale = BOX / max(h, w)
    oh, ow = max(1, math.floor(h * scale + 0.5)), max(1, math.floor(w * scale + 0.5))
    # Integral image: ink in box[:y, :x]. Between whole pixels it is bilinear, so interpolating
    # it gives the exact ink of any rectangle; each new pixel is its rectangle's mean.
    integral = np.zeros((h + 1, w + 1))
    integral[1:, 1:] = box.cumsum(0).cumsum(1)
    ys, xs = np.arange(oh + 1) * h / oh, np.arange(ow + 1) * w / ow
    along_x = np.array([np.interp(xs, np.arange(w + 1), row) for row in integral])
    corners = np.array([np.interp(ys, np.arange(h + 1), column) for column in along_x.T]).T
    small = np.diff(np.diff(corners, axis=0), axis=1) / ((h / oh) * (w / ow))
    mass = small.sum()
    cy = (small.sum(axis=1) * np.arange(oh)).sum() / mass
    cx = (small.sum(axis=0) * np.arange(ow)).sum() / mass
    dy, dx = math.floor(CENTRE - cy + 0.5), math.floor(CENTRE - cx + 0.5)
    field = np.zeros((SIDE, SIDE))
    for i in range(oh):
        for j in range(ow):
            if 0 <= i + dy < SIDE and 0 <= j + dx < SIDE:
                field[i + dy, j + dx] = small[i, j]
    return field


def stroke(driver, canvas, points, kind=interaction.POINTER_MOUSE):
    """Press at the first point (pad pixels, pad shown 1:1), move through the rest, release."""
    pointer = PointerInput(kind, f"{kind}-test")
    actions = ActionBuilder(driver, mouse=pointer)
    left = canvas.rect["width"] / 2
    top = canvas.rect["height"] / 2
    x, y = points[0]
    actions.pointer_action.move_to(canvas, int(x - left), int(y - top)).pointer_down()
    for x, y in points[1:]:
        actions.pointer_action.move_to(canvas, int(x - left), int(y - top))
    actions.pointer_action.pointer_up()
    actions.perform()


def state(driver) -> dict:
    found = driver.execute_script(STATE)
    found["alpha"] = np.array(found["alpha"], dtype=np.uint8).reshape(found["height"], -1)
    return found


def check_input_and_answer(found: dict, probabilities) -> np.ndarray:
    """The page's input is MNIST's preparation of its ink, its answer torch's on that input."""
    expected = mnist_prepare(found["alpha"])
    page_input = np.array(found["input"]).reshape(SIDE, SIDE)
    assert np.abs(page_input - expected).max() <= 1 / 255
    assert expected.sum() > 5, "the strokes should have left ink"
    torch_p = probabilities(page_input)
    assert np.abs(np.array(found["probabilities"]) - torch_p).max() < 1e-5
    top = [i for i, bar in enumerate(found["bars"]) if bar["top"]]
    assert top == [int(torch_p.argmax())]
    assert found["bars"][top[0]]["text"] == f"{100 * torch_p.max():.1f}%"
    return page_input


SEVEN = [(60, 50), (120, 48), (200, 50), (170, 120), (140, 190), (120, 240)]
BAR = [(110, 150), (190, 148)]


def test_strokes_drawn_with_mouse_pen_and_finger_are_prepared_as_mnist(page, torch_model):
    canvas = page.find_element(By.ID, "draw-canvas")
    assert canvas.rect["width"] == 280, "the test draws in pad pixels: the pad should show 1:1"
    stroke(page, canvas, SEVEN)
    after_mouse = state(page)
    ink = after_mouse["alpha"] > 0
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    # The ink spans the stroke's points, widened by about half the 20-pixel line on each side.
    assert abs(rows[0] - (48 - 10)) <= 2 and abs(rows[-1] - (240 + 10)) <= 2
    assert abs(cols[0] - (60 - 10)) <= 2 and abs(cols[-1] - (200 + 10)) <= 2
    assert all(after_mouse["alpha"][y, x] == 255 for x, y in SEVEN)
    check_input_and_answer(after_mouse, torch_model)

    stroke(page, canvas, BAR, kind=interaction.POINTER_PEN)
    stroke(page, canvas, [(30, 260), (40, 262)], kind=interaction.POINTER_TOUCH)
    found = state(page)
    assert found["alpha"][150, 150] == 255 and found["alpha"][261, 35] == 255
    check_input_and_answer(found, torch_model)


def test_undo_and_clear_work_from_the_keyboard(page, torch_model):
    canvas = page.find_element(By.ID, "draw-canvas")
    stroke(page, canvas, SEVEN)
    one = state(page)
    stroke(page, canvas, BAR)
    undo = page.find_element(By.ID, "draw-undo")
    undo.send_keys(Keys.ENTER)  # focuses the button (no click), then presses Enter
    assert page.switch_to.active_element == undo
    undone = state(page)
    assert np.array_equal(undone["alpha"], one["alpha"])
    check_input_and_answer(undone, torch_model)
    page.find_element(By.ID, "draw-clear").send_keys(Keys.SPACE)
    cleared = state(page)
    assert cleared["input"] is None and not cleared["alpha"].any()
    assert [bar["text"] for bar in cleared["bars"]] == ["–"] * 10


def recorded(results: dict, index: int, label: int) -> int:
    """What the reference run answered for test digit `index`: results.json lists every digit it
    got wrong with its answer, so a digit not listed was answered with its label."""
    wrong = {i: predicted for i, _, predicted in results["misclassified"]}
    return wrong.get(index, label)


def test_test_digits_load_with_the_answer_the_reference_run_recorded(page, torch_model):
    results = json.loads((weights_path().parent / "results.json").read_text(encoding="utf-8"))
    buttons = page.find_elements(By.CSS_SELECTOR, ".draw-sample")
    data = ROOT / read_defaults(ROOT)["data_dir"]
    if not buttons:  # MNIST was not there when the site was built: the page must say so
        # CI fetches MNIST before the tests (.ci/run: python -m mnist.data), so there the real
        # test digits below are always checked, never this branch.
        assert not os.environ.get("CI"), "CI has MNIST: the page must offer its test digits"
        assert not (data / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()
        text = page.find_element(By.CSS_SELECTOR, ".md-content").text
        assert "MNIST test set was not on the machine that built this site" in text
        for index, label, predicted in results["misclassified"][:4]:
            article = "an" if label == 8 else "a"
            assert f"test digit #{index}: {article} {label}, read as {predicted}" in text
        return
    from mnist.data import load_split

    test = load_split(data, "test")
    answers = set()
    for button in buttons:
        index = int(button.get_attribute("data-index"))
        label = int(test.labels[index])
        assert int(button.get_attribute("data-label")) == label
        button.send_keys(Keys.ENTER)
        page.execute_async_script(
            "const done = arguments[0];"
            "const wait = () => (window.drawDigit.input ? done() : setTimeout(wait, 20)); wait();"
        )
        found = state(page)
        page_input = np.array(found["input"]).reshape(SIDE, SIDE)
        assert np.abs(page_input - test.images[index].numpy() / 255).max() < 1e-12
        assert np.abs(np.array(found["probabilities"]) - torch_model(page_input)).max() < 1e-5
        answer = int(np.argmax(found["probabilities"]))
        assert answer == recorded(results, index, label), f"test digit #{index}"
        answers.add(answer == label)
        assert f"#{index}" in page.find_element(By.ID, "draw-status").text
        page.execute_script("window.drawDigit.input = null;")
    assert answers == {True, False}, "both right and wrong answers should be offered"


def test_the_page_states_its_inference_time_and_nothing_leaves_localhost(page):
    """How long a forward pass takes against a frame: benchmarks/page_speed.py."""
    forward_ms = page.execute_script("return window.drawDigit.forwardMs;")
    assert forward_ms > 0
    said = page.find_element(By.ID, "draw-timing").text
    assert said.startswith(f"One forward pass takes {forward_ms:.2f} ms in this browser"), said
    canvas = page.find_element(By.ID, "draw-canvas")
    stroke(page, canvas, SEVEN)
    events = network_events(page)
    urls = [e["params"]["request"]["url"] for e in events
            if e["method"] == "Network.requestWillBeSent"]  # fmt: skip
    assert any(u.endswith("draw-network.json") for u in urls)
    leaving = [u for u in urls if urlparse(u).scheme not in LOCAL_SCHEMES
               and urlparse(u).hostname not in LOCAL_HOSTS]  # fmt: skip
    assert not leaving, f"requests that leave localhost: {leaving}"


def folded_network():
    """The network the page differentiates: the weights it runs, BatchNorm folded, in float64
    torch (tests/test_draw_net.folded_torch), with its input normalisation."""
    from test_draw_net import folded_torch

    from mnist.fold import fold, read_exported

    exported = read_exported(weights_path())
    return folded_torch(fold(exported.model)), exported.mean, exported.std


class RoutedPool(torch.nn.Module):
    """A max-pool whose windows route through given winners (flat indices into its input)."""

    def __init__(self, winners: np.ndarray) -> None:
        super().__init__()
        self.winners = torch.from_numpy(winners)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten()[self.winners].unsqueeze(0)


def routed_like_the_page(net, pixels: list[float], tmp_path):
    """net with each max-pool routing through the winners the page's own forward picks (its
    code run in Node on the same input: the same float64 operations as in the browser). A drawn
    stroke is saturated, so neighbouring conv outputs are equal up to rounding, and which of two
    near-equal values is larger differs between the page's loops and torch's kernels."""
    from test_draw_net import run_in_node

    from mnist.fold import fold, read_exported
    from sitegen.draw_net import forward_module, network_json

    exported = read_exported(weights_path())
    stages = fold(exported.model)
    module = forward_module(exported, stages, "test")
    network = network_json(exported, stages, "test")
    [result] = run_in_node(module, network, [np.array(pixels)], tmp_path)
    layers, at = [], 0
    for layer in net:
        if isinstance(layer, torch.nn.MaxPool2d):
            c, h, w = stages[at - 1].shape
            x = np.array(result["maps"][at - 1]).reshape(c, h, w)
            k, s = layer.kernel_size, layer.stride
            oh, ow = (h - k) // s + 1, (w - k) // s + 1
            winners = np.empty((c, oh, ow), dtype=np.int64)
            for ci in range(c):
                for i in range(oh):
                    for j in range(ow):
                        window = x[ci, i * s : i * s + k, j * s : j * s + k]
                        ki, kj = divmod(int(np.argmax(window)), k)  # the first maximum
                        winners[ci, i, j] = (ci * h + i * s + ki) * w + j * s + kj
            layer = RoutedPool(winners)
        at += isinstance(layer, torch.nn.Conv2d | RoutedPool | torch.nn.MaxPool2d)
        layers.append(layer)
    return torch.nn.Sequential(*layers)


def test_backprop_on_a_drawing_equals_torch_and_one_step_equals_torch_sgd(page, tmp_path):
    """Draw a 7, choose 1 as the right digit: the page's loss, every weight and bias gradient of
    the folded network and every pixel's gradient equal torch autograd's (float64, 1e-9 of the
    largest); one SGD step in the page gives the loss torch's SGD step gives; Reset restores."""
    canvas = page.find_element(By.ID, "draw-canvas")
    stroke(page, canvas, SEVEN)
    page.execute_script(
        "const s = document.getElementById('draw-label'); s.value = '1';"
        "s.dispatchEvent(new Event('change'));"
    )
    found = page.execute_script("return window.drawDigit;")
    back = found["backward"]
    assert back["label"] == 1
    net, mean, std = folded_network()
    ink = torch.tensor(found["input"], dtype=torch.float64).reshape(1, 1, SIDE, SIDE)
    ink.requires_grad_(True)
    routed = routed_like_the_page(net, found["input"], tmp_path)  # shares net's convs
    loss = torch.nn.functional.cross_entropy(routed((ink - mean) / std), torch.tensor([1]))
    loss.backward()
    assert back["loss"] == pytest.approx(loss.item(), rel=1e-10)
    expected = ink.grad.numpy().ravel()
    assert np.abs(np.array(back["dPixels"]) - expected).max() <= 1e-9 * np.abs(expected).max()
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    grads = [g for g in back["grads"] if g is not None]
    assert len(grads) == len(convs)
    for conv, g in zip(convs, grads, strict=True):
        expected = conv.weight.grad.numpy().ravel()
        assert np.abs(np.array(g["dWeight"]) - expected).max() <= 1e-9 * np.abs(expected).max()
    rows = page.find_elements(By.CSS_SELECTOR, "#draw-grad-rows tr")
    assert len(rows) == len(convs)

    # A small step, so that it lowers the loss: a 1 read in a confident 7 has a large gradient,
    # and the page's default 0.05 can overshoot (nano seed-1: from 15.4 to 21.1).
    page.execute_script("document.getElementById('draw-lr').value = '0.005';")
    page.find_element(By.ID, "draw-step").click()
    stepped = page.execute_script("return window.drawDigit.backward.loss;")
    torch.optim.SGD(net.parameters(), lr=0.005).step()
    with torch.no_grad():
        after = torch.nn.functional.cross_entropy(net((ink - mean) / std), torch.tensor([1]))
    assert stepped == pytest.approx(after.item(), rel=1e-10)
    assert stepped < back["loss"]
    status = page.find_element(By.ID, "draw-step-status").text
    assert "the loss went from" in status and "probability of a 1 from" in status
    page.find_element(By.ID, "draw-reset").click()
    assert page.execute_script("return window.drawDigit.backward.loss;") == back["loss"]


INK_AT = """
const [x, y] = arguments;
const pad = document.getElementById('draw-canvas');
const [r, g, b] = pad.getContext('2d').getImageData(x, y, 1, 1).data;
const want = getComputedStyle(pad).color.match(/[\\d.]+/g).slice(0, 3).map(Number);
return {ink: [r, g, b], want};
"""


def test_strokes_redraw_in_the_new_palette_and_a_phone_sees_the_answer_while_drawing(page):
    """After the palette toggle the strokes already drawn take the new text colour (they were
    black on black in the dark); at 390 px the ten probabilities sit right under the box."""
    canvas = page.find_element(By.ID, "draw-canvas")
    stroke(page, canvas, SEVEN)
    before = page.execute_script(INK_AT, *SEVEN[1])
    assert before["ink"] == before["want"]
    toggle = "form[data-md-component=palette] label:not([hidden])"
    page.find_element(By.CSS_SELECTOR, toggle).click()
    after = page.execute_script(INK_AT, *SEVEN[1])
    assert after["want"] != before["want"], "the toggle should change the text colour"
    assert after["ink"] == after["want"]

    page.set_window_size(390, 844)
    page.execute_script("document.getElementById('draw-canvas').scrollIntoView();")
    pad_top, bars_bottom, view = page.execute_script(
        "const pad = document.getElementById('draw-canvas').getBoundingClientRect();"
        "const bars = document.getElementById('draw-bars').getBoundingClientRect();"
        "return [pad.top, bars.bottom, window.innerHeight];"
    )
    assert bars_bottom - pad_top <= view, "box and probabilities should fit one phone screen"


def test_a_dot_is_unsure_and_a_seven_is_read(page):
    """A tap leaves a dot, scaled to MNIST's box a filled disc: more ink than almost any test
    digit, so the page says unsure and why; a drawn 7 is read plainly."""
    if not page.find_element(By.ID, "draw-app").get_attribute("data-threshold"):
        pytest.fail("the page has no calibration (mnist/reference/<model>/seed-1/calibration.json)")
    canvas = page.find_element(By.ID, "draw-canvas")
    stroke(page, canvas, [(140, 140)])
    status = page.find_element(By.ID, "draw-status").text
    assert status.startswith("Unsure:") and "more ink than almost any MNIST digit" in status
    page.find_element(By.ID, "draw-clear").click()
    stroke(page, canvas, SEVEN)
    assert page.find_element(By.ID, "draw-status").text.startswith("The network reads a 7")


def test_clicking_a_map_shows_its_value_and_gradient_as_torch_computes_them(page):
    """Click a pixel of the first layer's first map: the page explains that value with the
    products of its patch and the gradient flowing back through it, both equal to torch's on the
    folded network; a max-pool pixel names its window's winner."""
    canvas = page.find_element(By.ID, "draw-canvas")
    stroke(page, canvas, SEVEN)
    first = page.find_element(By.CSS_SELECTOR, ".draw-layer[data-stage='0'] .draw-maps canvas")
    size = first.rect["width"]
    # The centre of map pixel (row 13, column 10) of a 26 x 26 map.
    page.execute_script(
        "const c = arguments[0], w = c.clientWidth, h = c.clientHeight;"
        "c.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX:"
        " c.getBoundingClientRect().left + (10.5 / 26) * w,"
        " clientY: c.getBoundingClientRect().top + (13.5 / 26) * h}));",
        first,
    )
    shown = page.execute_script("return window.drawDigit.inspected;")
    assert (shown["stage"], shown["channel"], shown["i"], shown["j"]) == (0, 0, 13, 10), size
    found = page.execute_script("return window.drawDigit;")
    net, mean, std = folded_network()
    ink = torch.tensor(found["input"], dtype=torch.float64).reshape(1, 1, SIDE, SIDE)
    x = (ink - mean) / std
    first_out = net[1](net[0](x))
    first_out.retain_grad()
    label = found["backward"]["label"]
    loss = torch.nn.functional.cross_entropy(net[2:](first_out), torch.tensor([label]))
    loss.backward()
    assert shown["value"] == pytest.approx(first_out[0, 0, 13, 10].item(), rel=1e-9, abs=1e-12)
    assert shown["delta"] == pytest.approx(first_out.grad[0, 0, 13, 10].item(), rel=1e-9, abs=1e-15)
    text = page.find_element(By.ID, "draw-inspect").text
    assert "The products summed, plus the bias" in text and "input channel" in text

    pool = next(k for k, s in enumerate(found_stages(page)) if s == "maxpool")
    map_ = page.find_element(By.CSS_SELECTOR, f".draw-layer[data-stage='{pool}'] .draw-maps canvas")
    map_.send_keys(Keys.ENTER)
    assert "winner" in page.find_element(By.ID, "draw-inspect").text


def found_stages(page) -> list[str]:
    network = page.execute_script(
        "return fetch(document.getElementById('draw-app').dataset.network).then((r) => r.json());"
    )
    return [stage["kind"] for stage in network["stages"]]

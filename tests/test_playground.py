"""The Playground: JavaScript printed from the SymPy derivation, and the page that runs it.

The generated module is run in Node.js and compared with the NumPy Evaluator for networks that
use every custom function; the page is driven in headless Chromium (typing and clicking, as a
reader would) and its numbers compared with `python -m derive gradients` / `derive table`, with an
independent gradient descent in PyTorch (autograd, float64), and with the numbers Matt Mazur
published in "A Step by Step Backpropagation Example" (2015).
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import classic_oracle as oracle
import numpy as np
import pytest

from derive.config import Values, load_config, parse_config
from derive.evaluate import evaluator_for
from derive.javascript import javascript_module

ROOT = Path(__file__).resolve().parent.parent

# Networks that use sigmoid, tanh, relu (and its step), linear, softmax (logsumexp) and biases.
CONFIGS = {
    "relu-softmax": """
[network]
layers = [3, 4, 3]
activation = ["relu", "softmax"]
loss = "cross_entropy"
bias = "trained"
[values]
inputs = [0.5, -1.2, 2.0]
targets = [0.2, 0.7, 0.1]
weights = [0.3, -0.8, 0.5, 0.9, 0.1, -0.4, -0.6, 0.7, 0.2, 0.05, -0.3, 0.8,
           0.4, -0.9, 0.6, 0.1, -0.2, 0.3, 0.7, -0.5, 0.25, 0.15, -0.35, 0.45]
biases = [0.1, -0.2, 0.05, 0.3, -0.1, 0.2, 0.0]
""",
    "tanh-linear": """
[network]
layers = [2, 3, 2, 1]
activation = ["tanh", "sigmoid", "linear"]
loss = "mse"
bias = "fixed"
[values]
inputs = [0.4, -0.7]
targets = [0.3]
weights = [0.2, -0.5, 0.8, 0.1, -0.3, 0.6, 0.7, -0.2, 0.4, 0.5, -0.6, 0.9, 0.3, -0.8]
biases = [0.1, 0.0, -0.1, 0.2, -0.2, 0.05]
""",
}


def run_module(node: str, module: str, arguments: list[list[float]], folder: Path) -> list[dict]:
    """evaluate(...) of the module for each argument list, in Node.js."""
    (folder / "derived.mjs").write_text(module)
    script = (
        "import { evaluate } from './derived.mjs';\n"
        f"const calls = {json.dumps(arguments)};\n"
        "console.log(JSON.stringify(calls.map((args) => evaluate(...args))));\n"
    )
    (folder / "run.mjs").write_text(script)
    done = subprocess.run(
        [node, "run.mjs"], cwd=folder, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generated_javascript_equals_the_evaluator(name, node, tmp_path):
    config = parse_config(CONFIGS[name], name)
    evaluator = evaluator_for(config.network)
    rng = np.random.default_rng(7)
    base = np.array(config.values.inputs + config.values.targets + config.values.weights
                    + config.values.biases)  # fmt: skip
    # The config's values, random ones, and large ones where a naive exp would overflow.
    calls = [base, *(base + rng.normal(0, 1.5, base.size) for _ in range(5)), base * 300]
    results = run_module(node, javascript_module(evaluator, config.values),
                         [list(c) for c in calls], tmp_path)  # fmt: skip
    for args, got in zip(calls, results, strict=True):
        expected = {s.name: float(v) for s, v in evaluator(*args).items()}
        assert set(got) == set(expected)
        for key, value in expected.items():
            assert math.isfinite(value), key
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-300), (key, args)


CONFIGS_DIR = ROOT / "derive" / "configs"
TRAIN_JS = ROOT / "docs" / "javascripts" / "playground" / "train.js"


def stall_report(node: str, config_path: Path, lr: float, steps: int, folder: Path) -> dict:
    """The Playground's train() on a config's printed module, in Node.js: the run's lowest
    reachable error, its last E_total and where (if anywhere) it reports a stall."""
    config = load_config(config_path)
    (folder / "derived.mjs").write_text(
        javascript_module(evaluator_for(config.network), config.values)
    )
    script = (
        "import * as model from './derived.mjs';\n"
        f"import {{ lowestError, train }} from '{TRAIN_JS.as_uri()}';\n"
        "const { network } = model;\n"
        "const targets = network.targets.map((t) => network.defaults[t]);\n"
        f"const lowest = lowestError({json.dumps(config.network.loss)}, targets);\n"
        f"const run = train(model, network.defaults, {lr}, {steps}, lowest);\n"
        "console.log(JSON.stringify({lowest, stalled: run.stalled,\n"
        "  last: run.value(run.length - 1, network.loss)}));\n"
    )
    (folder / "stall.mjs").write_text(script)
    done = subprocess.run(
        [node, "stall.mjs"], cwd=folder, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def test_a_stall_is_told_from_convergence(node, tmp_path):
    # lr 1000 on the classic net: E_total stays 1e-4 above its floor of 0 from step 1 on.
    classic = stall_report(node, CONFIGS_DIR / "classic.toml", 1000.0, 20, tmp_path)
    assert classic["lowest"] == 0 and classic["stalled"]["step"] == 1
    # Cross-entropy with soft targets cannot go below their entropy, -sum t ln t; a run that
    # gets there with vanishing gradients has converged, and is not reported as stalled.
    deep = ROOT / "tests" / "configs" / "table_deep_softmax.toml"
    targets = load_config(deep).values.targets
    entropy = -sum(t * math.log(t) for t in targets)
    softmax = stall_report(node, deep, 2.0, 400, tmp_path)
    assert softmax["lowest"] == pytest.approx(entropy, rel=1e-12)
    assert softmax["last"] == pytest.approx(entropy, abs=1e-6)
    assert softmax["stalled"] is None


NETWORKS = {"classic": "classic.toml", "mazur": "mazur.toml",
            "mazur_trained_biases": "mazur_trained_biases.toml"}  # fmt: skip


@pytest.mark.parametrize("key", sorted(NETWORKS))
def test_each_network_is_printed_from_its_config(site_dir, key):
    config = load_config(CONFIGS_DIR / NETWORKS[key])
    built = (site_dir / "generated" / "playground" / f"{key}.js").read_text()
    source = f"derive/configs/{NETWORKS[key]}"
    assert built == javascript_module(evaluator_for(config.network), config.values, source)
    assert ("b1" in built) == (key != "classic")


def test_other_values_print_another_module():
    classic = load_config(None)
    other = parse_config(CONFIGS["tanh-linear"], "other")
    built = javascript_module(evaluator_for(classic.network), classic.values)
    tanh_net = javascript_module(evaluator_for(other.network), other.values)

    def program(module: str) -> str:
        return module[module.index("export function descend") :]

    assert "tanh(" in program(tanh_net) and "tanh(" not in program(built)
    moved = Values(classic.values.inputs, classic.values.targets, (0.5,) * 8)
    assert javascript_module(evaluator_for(classic.network), moved) != built


def test_no_javascript_library_is_committed():
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.js", "*.mjs"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    modules = ("chain", "chart", "diagram", "dom", "form", "numbers", "steps", "train")
    ours = {"docs/javascripts/mathjax.js", "docs/javascripts/playground.js"}
    ours |= {f"docs/javascripts/playground/{name}.js" for name in modules}
    ours |= {"docs/javascripts/practice.js", "docs/javascripts/practice/formula.js"}
    # The derive package's own JavaScript (derive/cnn/) is the project's too.
    theirs = {p for p in listed if p.startswith("derive/")}
    assert set(listed) - {"docs/javascripts/site.js", "docs/javascripts/draw.js"} - theirs == ours


# Independent references ---------------------------------------------------------------------


def torch_descent(config_path: Path, lr: float, steps: int) -> list[dict[str, float]]:
    """Gradient descent on a 2-2-2 sigmoid net with PyTorch autograd (float64), written from the
    textbook definition, not from derive: each step's parameters, E_total and gradients."""
    torch = pytest.importorskip("torch")
    config = load_config(config_path)
    v = config.values
    f64 = functools.partial(torch.tensor, dtype=torch.float64)
    x, target = f64(v.inputs), f64(v.targets)
    w = f64(v.weights).requires_grad_()
    trained = config.network.bias == "trained"
    b = f64(v.biases or (0.0,) * 4).requires_grad_(trained)
    rows = []
    for step in range(steps + 1):
        hidden = torch.sigmoid(w[:4].view(2, 2) @ x + b[:2])
        out = torch.sigmoid(w[4:].view(2, 2) @ hidden + b[2:])
        loss = 0.5 * ((target - out) ** 2).sum()
        params = [w, b] if trained else [w]
        grads = torch.autograd.grad(loss, params)
        row = {"step": step, "E_total": loss.item()}
        for j in range(8):
            row[f"w{j + 1}"] = w[j].item()
            row[f"dE_total/dw{j + 1}"] = grads[0][j].item()
        for j in range(4 if v.biases else 0):
            row[f"b{j + 1}"] = b[j].item()
            if trained:
                row[f"dE_total/db{j + 1}"] = grads[1][j].item()
        rows.append(row)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= lr * g
    return rows


# In the browser ---------------------------------------------------------------------------


def derive_cli(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "derive", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def table_rows(*args: str) -> list[dict[str, float]]:
    table = derive_cli("table", *args, "--format", "json")
    return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]


def config_file(folder: Path, values: dict[str, float]) -> Path:
    """The classic network with the page's current values, as a derive config."""

    def numbers(prefix, count):
        return ", ".join(repr(values[f"{prefix}{j}"]) for j in range(1, count + 1))

    path = folder / "page.toml"
    path.write_text(
        "[network]\nlayers = [2, 2, 2]\n[values]\n"
        f"inputs = [{numbers('i', 2)}]\ntargets = [{numbers('t', 2)}]\n"
        f"weights = [{numbers('w', 8)}]\n"
    )
    return path


def load_classic_values() -> dict[str, float]:
    v = load_config(None).values
    names = ["i1", "i2", "t1", "t2", *(f"w{j}" for j in range(1, 9))]
    return dict(zip(names, v.inputs + v.targets + v.weights, strict=True))


def settle(browser) -> None:
    """Wait two animation frames: the page recomputes on the frame after an edit."""
    browser.execute_async_script(
        "const done = arguments[0];"
        "requestAnimationFrame(() => requestAnimationFrame(() => done()));"
    )


def type_into(browser, name: str, text: str) -> None:
    """Replace a field's text with the keyboard, as a reader would."""
    from selenium.webdriver.common.keys import Keys

    field = browser.find_element("id", f"pg-{name}")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE, text)
    settle(browser)


def choose(browser, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", select_id)).select_by_value(value)
    settle(browser)


def shown_values(browser) -> dict[str, float]:
    """The list of every value at the chosen step, as {name: exact number}."""
    return browser.execute_script(
        """return Object.fromEntries([...document.querySelectorAll('#pg-values dd[data-name]')]
             .map((dd) => [dd.dataset.name, Number(dd.dataset.value)]));"""
    )


def shown_rows(browser) -> list[dict[str, float]]:
    """The table's rows as {name: exact number}, its highlighted row marked by "current"."""
    return browser.execute_script(
        """return [...document.querySelectorAll('#pg-rows tr:has([data-name])')].map((tr) => ({
             current: tr.classList.contains('pg-current'),
             ...Object.fromEntries([...tr.querySelectorAll('[data-name]')].map(
               (c) => [c.dataset.name, Number(c.dataset.value)]))}));"""
    )


def total(browser) -> float:
    return float(browser.find_element("id", "pg-total").get_attribute("data-value"))


def diagram(browser) -> dict[str, float]:
    """Every number written on the diagram, by the symbol it shows."""
    return browser.execute_script(
        """return Object.fromEntries([...document.querySelectorAll('#pg-diagram text[data-symbol]')]
             .map((t) => [t.dataset.symbol, Number(t.dataset.value)]));"""
    )


def open_playground(browser, url: str) -> None:
    browser.get("about:blank")
    browser.get(url)
    for _ in range(200):
        if browser.execute_script("return document.querySelector('[data-ready]') !== null"):
            settle(browser)
            return
        time.sleep(0.05)
    raise AssertionError("the Playground did not start")


def message(browser) -> str:
    return browser.find_element("id", "pg-message").text


def console_errors(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.browser
def test_page_equals_derive_for_the_values_typed(server, browser, screenshot, tmp_path):
    open_playground(browser, f"{server}/playground/")
    typed = {"w1": "0.7", "i2": "0.3", "t1": "0.2", "w6": "-1.25", "lr5": "0.9", "steps": "20"}
    for name, text in typed.items():
        type_into(browser, name, text)
    choose(browser, "pg-show", "0.9")
    values = {**load_classic_values(), **{k: float(v) for k, v in typed.items() if k[0] in "iwt"}}
    config = config_file(tmp_path, values)

    expected = derive_cli("gradients", "--config", str(config), "--format", "json")
    shown = shown_values(browser)
    assert shown["E_total"] == pytest.approx(expected["loss"], rel=1e-12)
    assert total(browser) == shown["E_total"]
    for name, value in expected["gradients"].items():
        assert shown[f"dE_total/d{name}"] == pytest.approx(value, rel=1e-12), name
        assert diagram(browser)[f"dE_total/d{name}"] == shown[f"dE_total/d{name}"]
    for name, value in expected["outputs"].items():
        assert shown[name] == pytest.approx(value, rel=1e-12), name
    assert diagram(browser)["w6"] == -1.25
    assert browser.execute_script(
        "return document.querySelector('#pg-diagram text[data-symbol=w6]').classList"
        ".contains('pg-negative')"
    )

    rows = table_rows("--config", str(config), "--lr", "0.9", "--steps", "20")
    got = shown_rows(browser)
    assert [r["step"] for r in got] == list(range(7)) and got[0]["current"]
    for row in got:
        want = rows[int(row["step"])]
        for name in ("w1", "w6", "E_total", "dE/dw1", "dE/dw8"):
            assert row[name.replace("dE/", "dE_total/")] == pytest.approx(want[name], rel=1e-12)
    assert "every value finite" in message(browser)
    screenshot("playground-typed.png")

    # The link restores the same numbers.
    link = browser.current_url
    assert "w1=0.7" in link and "show=0.9" in link
    open_playground(browser, link)
    assert shown_values(browser) == shown
    assert not console_errors(browser)


@pytest.mark.browser
def test_playing_lr_1_to_step_50_equals_derive_table_and_torch(server, browser, screenshot):
    open_playground(browser, f"{server}/playground/")
    choose(browser, "pg-show", "1")
    browser.find_element("id", "pg-play").click()
    for _ in range(400):
        if browser.find_element("id", "pg-play").get_attribute("aria-pressed") == "false":
            break
        time.sleep(0.02)
    assert browser.find_element("id", "pg-step-out").text == "50"
    want = table_rows("--lr", "1", "--steps", "50")[50]
    reference = torch_descent(CONFIGS_DIR / "classic.toml", 1.0, 50)[50]
    assert total(browser) == pytest.approx(want["E_total"], rel=1e-12)
    assert total(browser) == pytest.approx(reference["E_total"], rel=1e-12)
    by_hand = oracle.descend(1.0, 50)[50]  # plain Python, the chain rule written out
    assert total(browser) == pytest.approx(oracle.total_error(by_hand), rel=1e-12)
    drawn = diagram(browser)
    for j in range(1, 9):
        assert drawn[f"w{j}"] == pytest.approx(reference[f"w{j}"], rel=1e-12)
        grad = f"dE_total/dw{j}"
        assert drawn[grad] == pytest.approx(reference[grad], rel=1e-9, abs=1e-15)
    (current,) = [row for row in shown_rows(browser) if row["current"]]
    assert current["step"] == 50 and current["E_total"] == total(browser)
    # The chart's marker sits at step 50, the right end of the step axis.
    marker, cursor, last = browser.execute_script(
        """const svg = document.querySelector('#pg-chart svg');
           const xs = [...svg.querySelectorAll('polyline')].flatMap((p) =>
             p.getAttribute('points').split(' ').map((xy) => Number(xy.split(',')[0])));
           return [Number(svg.querySelector('.pg-marker').getAttribute('cx')),
                   Number(svg.querySelector('.pg-cursor').getAttribute('x1')), Math.max(...xs)];"""
    )
    assert marker == cursor == pytest.approx(last, abs=0.06)
    screenshot("playground-played.png")


@pytest.mark.browser
def test_lr_1000_is_reported_as_saturated(server, browser, screenshot):
    # Independently: at lr 1000 one step drives both outputs to the sigmoid's flat ends, the
    # gradients vanish while E_total stays at 1e-4, and it never moves again.
    reference = torch_descent(CONFIGS_DIR / "classic.toml", 1000.0, 3)
    for row in reference[1:]:
        largest = max(abs(v) for k, v in row.items() if k.startswith("dE_total/"))
        assert largest < 1e-30 and row["E_total"] == pytest.approx(1e-4, rel=1e-6)
    open_playground(browser, f"{server}/playground/")
    type_into(browser, "lr6", "1000")
    text = message(browser)
    assert "lr 1000 stalls from step 1" in text and "is not yet 0" in text
    assert "not converged" in text
    assert text.count("stalls") == 1  # the other rates train normally
    # Stalled, and still the lowest error of the six runs (torch, at the page's step count): the
    # message says both rather than calling 1e-4 far from 0.
    steps = int(browser.find_element("id", "pg-steps").get_attribute("value"))
    others = [torch_descent(CONFIGS_DIR / "classic.toml", lr, steps)[-1]["E_total"]
              for lr in (0.1, 0.2, 0.5, 0.8, 1.0)]  # fmt: skip
    assert reference[-1]["E_total"] < min(others)
    assert "the lowest of all the runs" in text
    assert browser.find_element("id", "pg-message").get_attribute("data-kind") == "warn"
    assert "lr 1000, stalled from step 1" in browser.find_element("id", "pg-legend").text
    # The log axis shows how far above 0 the stalled run stays.
    browser.find_element("id", "pg-log").click()
    settle(browser)
    ticks = browser.execute_script(
        "return [...document.querySelectorAll('#pg-chart text')].map((t) => t.textContent)"
    )
    assert "1e−4" in ticks and "1e−1" in ticks
    screenshot("playground-saturated.png")


@pytest.mark.browser
def test_link_with_invalid_fields_uses_the_config_for_them(server, browser, screenshot):
    open_playground(browser, f"{server}/playground/#w1=banana&steps=99999&w2=0.3")
    text = message(browser)
    assert 'ignored w1 ("banana" is not a finite number)' in text
    assert "steps (99999 must be a whole number from 1 to 10000)" in text
    ignored = text.split("ignored ")[1].split(";")[0]
    assert ignored.count("(") == 2, ignored  # exactly the two bad fields
    assert browser.find_element("id", "pg-w1").get_attribute("value") == "0.15"
    assert browser.find_element("id", "pg-steps").get_attribute("value") == "50"
    assert browser.find_element("id", "pg-w2").get_attribute("value") == "0.3"
    want = torch_descent(CONFIGS_DIR / "classic.toml", 0.1, 0)[0]
    derived = derive_cli("gradients", "--format", "json")
    assert derived["loss"] == pytest.approx(want["E_total"], rel=1e-12)  # w2 = 0.2 there
    shown = shown_values(browser)
    values = {**load_classic_values(), "w2": 0.3}
    hidden = 1 / (1 + math.exp(-(values["w1"] * values["i1"] + values["w2"] * values["i2"])))
    assert shown["a_h1"] == pytest.approx(hidden, rel=1e-12)
    assert int(browser.find_element("id", "pg-step").get_attribute("max")) == 50
    screenshot("playground-bad-link.png")


@pytest.mark.browser
def test_bad_input_and_divergence_are_reported(server, browser, tmp_path):
    open_playground(browser, f"{server}/playground/")
    before = shown_values(browser)
    type_into(browser, "w2", "abc")
    assert 'w2: "abc" is not a finite number.' in message(browser)
    assert browser.find_element("id", "pg-w2").get_attribute("aria-invalid") == "true"
    assert shown_values(browser) == before  # the last valid values
    type_into(browser, "lr2", "1e999")
    assert 'run 2: "1e999" is not a finite number.' in message(browser)

    # Finite inputs whose weighted sum overflows: h1 = 1e308 * 10 + (-1e308) * 10 = inf - inf.
    overflow = {"w1": "1e308", "i1": "10", "w2": "-1e308", "i2": "10", "lr2": "0.2"}
    for name, text in overflow.items():
        type_into(browser, name, text)
    values = {**load_classic_values(), **{k: float(v) for k, v in overflow.items() if k[0] in "iw"}}
    table = derive_cli("table", "--config", str(config_file(tmp_path, values)), "--lr", "0.1",
                       "--steps", "5", "--format", "json")  # fmt: skip
    (diverged,) = table["diverged"]
    assert f"lr 0.1 diverged at step {diverged['step']}: " in message(browser)
    assert "h1" in message(browser)
    assert "No finite error to draw" in browser.find_element("id", "pg-chart").text
    assert not console_errors(browser)

    browser.find_element("id", "pg-reset").click()
    settle(browser)
    assert shown_values(browser) == before


@pytest.mark.browser
def test_mazur_networks_give_his_published_numbers(server, browser, screenshot):
    open_playground(browser, f"{server}/playground/")
    choose(browser, "pg-net", "mazur")
    # Matt Mazur, "A Step by Step Backpropagation Example" (2015): E_total = 0.298371109 and
    # dE_total/dw5 = 0.082167041, both rounded to 9 decimals there.
    assert total(browser) == pytest.approx(0.298371109, abs=5e-10)
    assert shown_values(browser)["dE_total/dw5"] == pytest.approx(0.082167041, abs=5e-10)
    assert diagram(browser)["b3"] == 0.6
    assert "net=mazur&" in browser.current_url
    screenshot("playground-mazur.png")

    # His code never updates the biases; this variant does. One step at lr 0.5, against torch.
    open_playground(browser, f"{server}/playground/#net=mazur_trained_biases&show=0.5&step=1")
    assert total(browser) != pytest.approx(0.298371109, abs=1e-3)
    want = torch_descent(CONFIGS_DIR / "mazur_trained_biases.toml", 0.5, 1)[1]
    drawn = diagram(browser)
    for name in ("b1", "b2", "b3", "b4", "w5", "dE_total/db3"):
        assert drawn[name] == pytest.approx(want[name], rel=1e-12), name
    assert total(browser) == pytest.approx(want["E_total"], rel=1e-12)
    fixed = torch_descent(CONFIGS_DIR / "mazur.toml", 0.5, 1)[1]
    assert fixed["b1"] == 0.35 and want["b1"] != 0.35


@pytest.mark.browser
def test_a_slider_drag_recomputes_while_it_moves(server, browser):
    """Drag w5's slider with the mouse at 5,000 steps: the page recomputes (6 runs of 5,000 steps)
    while it moves, at most once a frame, and ends on where it was let go, step 0 and step 5,000
    alike, against the plain-Python oracle. How fast each update is: benchmarks/page_speed.py."""
    from selenium.webdriver.common.action_chains import ActionChains

    open_playground(browser, f"{server}/playground/")
    type_into(browser, "steps", "5000")
    slider = browser.find_element("css selector", "[data-slider-for=w5]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    before = browser.execute_script("return window.playgroundTimings.length")
    drag = ActionChains(browser).click_and_hold(slider)
    for _ in range(8):
        drag = drag.move_by_offset(6, 0).pause(0.05)
    drag.release().perform()
    settle(browser)
    positions = browser.execute_script("return window.playgroundTimings.length") - before
    assert positions >= 2  # while it moves, not only where it was let go
    weights = list(oracle.WEIGHTS)
    weights[4] = float(slider.get_attribute("value"))
    assert weights[4] != oracle.WEIGHTS[4]
    assert diagram(browser)["w5"] == pytest.approx(weights[4], abs=1e-12)
    assert total(browser) == pytest.approx(oracle.total_error(weights), rel=1e-12)
    lr = float(browser.find_element("id", "pg-show").get_attribute("value"))
    browser.execute_script(
        """const step = document.getElementById('pg-step');
           step.value = step.max;
           step.dispatchEvent(new Event('input', {bubbles: true}));"""
    )
    settle(browser)
    last = oracle.descend(lr, 5000, weights)[-1]
    assert total(browser) == pytest.approx(oracle.total_error(last), rel=1e-9)


def svg_text_boxes(browser, selector: str) -> list[dict]:
    return browser.execute_script(
        """return [...document.querySelectorAll(arguments[0] + ' text')]
             .filter((t) => t.textContent.trim()).map((t) => {
               const r = t.getBoundingClientRect();
               return {text: t.textContent, x0: r.left, x1: r.right, y0: r.top, y1: r.bottom,
                       size: parseFloat(getComputedStyle(t).fontSize)};
             });""",
        selector,
    )


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_layout_at_both_widths_and_palettes(server, browser, screenshot, width, scheme):
    browser.set_window_size(width, 900)
    try:
        open_playground(browser, f"{server}/playground/")
        browser.execute_script(
            "document.body.setAttribute('data-md-color-scheme', arguments[0]);", scheme
        )
        browser.execute_script("window.dispatchEvent(new Event('resize'))")
        settle(browser)
        page = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert page[0] <= page[1], f"the page scrolls sideways: {page}"
        boxes = svg_text_boxes(browser, "#pg-diagram")
        labelled = set(diagram(browser))
        assert {f"w{j}" for j in range(1, 9)} | {f"dE_total/dw{j}" for j in range(1, 9)} <= labelled
        for j, a in enumerate(boxes):
            assert a["size"] >= 11, a
            for b in boxes[j + 1 :]:
                apart = (
                    a["x1"] <= b["x0"]
                    or b["x1"] <= a["x0"]
                    or a["y1"] <= b["y0"]
                    or b["y1"] <= a["y0"]
                )
                assert apart, (a, b)
        assert min(box["size"] for box in svg_text_boxes(browser, "#pg-chart")) >= 11
        # Text drawn in the theme's colours: readable on its background in both palettes.
        contrast = browser.execute_script(
            """const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
               const lum = ([r, g, b]) => [r, g, b].map((v) => v / 255)
                 .map((v) => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
                 .reduce((s, v, k) => s + v * [0.2126, 0.7152, 0.0722][k], 0);
               const bg = lum(rgb(getComputedStyle(document.body).backgroundColor));
               const texts = document.querySelectorAll('#pg-diagram text, #pg-chart text');
               return [...texts].map((t) => {
                 const fg = lum(rgb(getComputedStyle(t).fill));
                 return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
               });"""
        )
        assert min(contrast) >= 4.5, min(contrast)
        results = browser.find_element("id", "pg-diagram").rect
        form = browser.find_element("id", "pg-form").rect
        if width == 390:
            assert results["y"] + results["height"] <= form["y"], "the inputs come first"
        else:
            assert form["x"] + form["width"] <= results["x"], "inputs and results side by side"
            # Editing the last field of the panel leaves E_total and the diagram in view.
            browser.find_element("id", "pg-steps").click()
            view = browser.execute_script(
                "return ['pg-total', 'pg-diagram'].map((id) => "
                "document.getElementById(id).getBoundingClientRect())"
                ".map((r) => [r.top, r.bottom, innerHeight])"
            )
            for top, bottom, height in view:
                assert top >= 0 and bottom <= height, view
        screenshot(f"playground-{width}-{'dark' if scheme == 'slate' else 'light'}.png")
    finally:
        browser.set_window_size(1280, 900)


@pytest.mark.browser
def test_keyboard_reaches_every_control(server, browser):
    from selenium.webdriver.common.keys import Keys

    open_playground(browser, f"{server}/playground/")
    unlabelled = browser.execute_script(
        """return [...document.querySelectorAll('#pg-playground input:not([type=range]), '
                                               + '#pg-playground select, #pg-step')]
             .filter((f) => !f.labels.length).map((f) => f.id)"""
    )
    assert unlabelled == []
    browser.find_element("id", "pg-i1").click()
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "pg-i2"
    step = browser.find_element("id", "pg-step")
    step.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    settle(browser)
    assert browser.find_element("id", "pg-step-out").text == "2"
    (current,) = [row for row in shown_rows(browser) if row["current"]]
    assert current["step"] == 2
    play = browser.find_element("id", "pg-play")
    play.send_keys(Keys.ENTER)
    assert play.get_attribute("aria-pressed") == "true"
    play.send_keys(Keys.SPACE)
    assert play.get_attribute("aria-pressed") == "false"


@pytest.mark.browser
def test_mazurs_ten_thousand_rounds_are_reachable(site_dir, server, browser):
    """The Explained page's link opens his network at lr 0.5, step 10,000 (the step cap): the
    error there is torch's after 10,000 steps of the same descent."""
    link = "playground/#net=mazur&steps=10000&show=0.5&step=10000"
    explained = (site_dir / "explained" / "index.html").read_text(encoding="utf-8")
    assert f'href="../{link}"' in explained
    open_playground(browser, f"{server}/{link}")
    assert browser.find_element("id", "pg-step").get_attribute("value") == "10000"
    last = torch_descent(CONFIGS_DIR / "mazur.toml", 0.5, 10_000)[-1]
    assert total(browser) == pytest.approx(last["E_total"], rel=1e-9)


@pytest.mark.browser
def test_weight_labels_stand_clear_of_thick_edges(server, browser):
    """At large weights the edges are at their thickest: every weight and gradient label on the
    diagram has a plate of the page's background under it and above every edge."""
    open_playground(browser, f"{server}/playground/#w5=-71.8&w6=40&w1=9&w4=-12")
    found = browser.execute_script(
        """const svg = document.querySelector('.pg-network');
           const kids = [...svg.children];
           const lastEdge = Math.max(...[...svg.querySelectorAll('.pg-edge')].map(
             (e) => kids.indexOf(e.closest('svg > *'))));
           const plates = [...svg.querySelectorAll('.pg-plate')].map(
             (p) => [p.getBBox(), kids.indexOf(p)]);
           const bg = getComputedStyle(document.body).backgroundColor;
           const plate = svg.querySelector('.pg-plate');
           return [...svg.querySelectorAll('.pg-weight, .pg-gradient')].map((t) => {
             const b = t.getBBox();
             const under = plates.filter(([p, at]) => at > lastEdge && at < kids.indexOf(t)
               && p.x <= b.x + 0.5 && p.y <= b.y + 0.5 && p.x + p.width >= b.x + b.width - 0.5
               && p.y + p.height >= b.y + b.height - 0.5);
             return {text: t.textContent, covered: under.length > 0,
                     fill: under.length ? getComputedStyle(plate).fill : null,
                     bg};
           });"""
    )
    assert found and any("−71.8" in f["text"] or "-71.8" in f["text"] for f in found), found
    for label in found:
        assert label["covered"], label
        assert label["fill"] == label["bg"], label


@pytest.mark.browser
def test_every_weight_label_is_named_on_a_phone(server, browser):
    """At 390 px each edge's label says which weight it is: where w2 and w3 cross, a bare value
    could belong to either line."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        open_playground(browser, f"{server}/playground/")
        labels = browser.execute_script(
            "return [...document.querySelectorAll('.pg-network .pg-weight')]"
            ".map((t) => [t.dataset.symbol, t.textContent])"
        )
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert sorted(symbol for symbol, _ in labels) == [f"w{k}" for k in range(1, 9)]
    for symbol, text in labels:
        assert text.startswith(f"{symbol} "), text


@pytest.mark.browser
def test_form_says_what_its_fields_are_and_starts_like_explained(site_dir, server, browser):
    open_playground(browser, f"{server}/playground/")
    legends = [e.text for e in browser.find_elements("css selector", ".pg-inputs legend")]
    assert "Initial weights (step 0)" in legends and "Learning rates, one run each" in legends
    labels = browser.execute_script(
        "return [...document.querySelectorAll('.pg-inputs input[data-kind=rate]')]"
        ".map((i) => i.labels[0].textContent)"
    )
    assert labels == [f"run {k}" for k in range(1, 7)]
    # The rate shown first is the one Backpropagation explained takes its step with.
    explained = page_text_of(site_dir / "explained" / "index.html")
    eta = re.search(r"by the learning rate\s*<span[^>]*>\\\(\\eta = ([\d.]+)\\\)", explained)
    assert eta and browser.find_element("id", "pg-show").get_attribute("value") == eta.group(1)
    # A link's step past its run's end shows the last step, and says so.
    open_playground(browser, f"{server}/playground/#steps=10&step=20")
    assert browser.find_element("id", "pg-step").get_attribute("value") == "10"
    assert "past this run's 10 steps; showing the last step, 10" in message(browser)


def page_text_of(path: Path) -> str:
    return html.unescape(path.read_text(encoding="utf-8"))

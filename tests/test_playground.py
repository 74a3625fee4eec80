"""The Playground: JavaScript printed from the SymPy derivation, and the page that runs it.

The generated module is run in Node.js and compared with the NumPy Evaluator for networks that
use every custom function; the page is driven in headless Chromium (typing, as a reader would) and
its numbers compared with `python -m derive gradients` and `python -m derive table`.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from derive.config import Values, load_config, parse_config
from derive.evaluate import evaluator_for
from derive.javascript import javascript_module

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")

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


def run_module(module: str, arguments: list[list[float]], folder: Path) -> list[dict]:
    """evaluate(...) of the module for each argument list, in Node.js."""
    (folder / "derived.mjs").write_text(module)
    script = (
        "import { evaluate } from './derived.mjs';\n"
        f"const calls = {json.dumps(arguments)};\n"
        "console.log(JSON.stringify(calls.map((args) => evaluate(...args))));\n"
    )
    (folder / "run.mjs").write_text(script)
    done = subprocess.run(
        [NODE, "run.mjs"], cwd=folder, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(NODE is None, reason="needs Node.js (the project's npm ci needs it too)")
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generated_javascript_equals_the_evaluator(name, tmp_path):
    config = parse_config(CONFIGS[name], name)
    evaluator = evaluator_for(config.network)
    rng = np.random.default_rng(7)
    base = np.array(config.values.inputs + config.values.targets + config.values.weights
                    + config.values.biases)  # fmt: skip
    # The config's values, random ones, and large ones where a naive exp would overflow.
    calls = [base, *(base + rng.normal(0, 1.5, base.size) for _ in range(5)), base * 300]
    results = run_module(javascript_module(evaluator, config.values), [list(c) for c in calls],
                         tmp_path)  # fmt: skip
    for args, got in zip(calls, results, strict=True):
        expected = {s.name: float(v) for s, v in evaluator(*args).items()}
        assert set(got) == set(expected)
        for key, value in expected.items():
            assert math.isfinite(value), key
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-300), (key, args)


def test_generated_module_follows_the_config(site_dir):
    classic = load_config(None)
    other = parse_config(CONFIGS["tanh-linear"], "other")
    built = (site_dir / "generated" / "derived.js").read_text()
    assert built == javascript_module(
        evaluator_for(classic.network), classic.values, "derive/configs/classic.toml"
    )
    changed = javascript_module(evaluator_for(other.network), other.values)
    assert "Math.tanh(" in changed and "Math.tanh(" not in built
    moved = Values(classic.values.inputs, classic.values.targets, (0.5,) * 8)
    assert javascript_module(evaluator_for(classic.network), moved) != built
    assert "sigmoid(" in built and "function sigmoid(x)" in built


def test_no_javascript_library_is_committed():
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.js", "*.mjs"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert sorted(listed) == ["docs/javascripts/mathjax.js", "docs/javascripts/playground.js"]


# In the browser ---------------------------------------------------------------------------


def derive_cli(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "derive", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


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


def type_into(browser, name: str, text: str) -> None:
    """Replace a field's text with the keyboard, as a reader would."""
    from selenium.webdriver.common.keys import Keys

    field = browser.find_element("id", f"pg-{name}")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE, text)


def page_numbers(browser, selector: str) -> list[dict[str, float]]:
    """Each row of a table of the page as {name: exact number}."""
    return browser.execute_script(
        """return [...document.querySelectorAll(arguments[0])].map((tr) => Object.fromEntries(
             [...tr.querySelectorAll('td[data-name]')].map(
               (td) => [td.dataset.name, Number(td.dataset.value)])));""",
        selector,
    )


def open_playground(browser, url: str) -> None:
    browser.get("about:blank")
    browser.get(url)
    for _ in range(200):
        if browser.execute_script("return document.querySelector('[data-ready]') !== null"):
            return
        time.sleep(0.05)
    raise AssertionError("the Playground did not start")


def message(browser) -> str:
    return browser.find_element("id", "pg-message").text


@pytest.mark.browser
def test_page_equals_derive_for_the_values_typed(server, browser, screenshot, tmp_path):
    open_playground(browser, f"{server}/playground/")
    typed = {"w1": "0.7", "i2": "0.3", "t1": "0.2", "w6": "-1.25", "lr5": "0.9", "steps": "20"}
    for name, text in typed.items():
        type_into(browser, name, text)
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "pg-show")).select_by_value("0.9")
    values = {**load_classic_values(), **{k: float(v) for k, v in typed.items() if k[0] in "iwt"}}
    config = config_file(tmp_path, values)

    expected = derive_cli("gradients", "--config", str(config), "--format", "json")
    (shown,) = page_numbers(browser, "#pg-values tr:has(td)")
    assert shown["E_total"] == pytest.approx(expected["loss"], rel=1e-12)
    for name, value in expected["gradients"].items():
        assert shown[f"dE_total/d{name}"] == pytest.approx(value, rel=1e-12), name
    for name, value in expected["outputs"].items():
        assert shown[name] == pytest.approx(value, rel=1e-12), name

    table = derive_cli("table", "--config", str(config), "--lr", "0.9", "--steps", "20",
                       "--format", "json")  # fmt: skip
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]
    shown_rows = page_numbers(browser, "#pg-rows tr:has(td)")
    assert len(shown_rows) == 6
    for got, want in zip(shown_rows, rows, strict=False):
        for name in ("step", "w1", "w6", "E_total", "dE/dw1", "dE/dw8"):
            key = name.replace("dE/", "dE_total/")
            assert got[key] == pytest.approx(want[name], rel=1e-12), (got["step"], name)
    assert "every value finite" in message(browser)
    screenshot("playground-typed.png")

    # The link restores the same numbers.
    link = browser.current_url
    assert "w1=0.7" in link and "show=0.9" in link
    open_playground(browser, link)
    assert page_numbers(browser, "#pg-values tr:has(td)") == [shown]
    assert page_numbers(browser, "#pg-rows tr:has(td)") == shown_rows


def load_classic_values() -> dict[str, float]:
    v = load_config(None).values
    names = ["i1", "i2", "t1", "t2", *(f"w{j}" for j in range(1, 9))]
    return dict(zip(names, v.inputs + v.targets + v.weights, strict=True))


@pytest.mark.browser
def test_bad_input_and_divergence_are_reported(server, browser, screenshot, tmp_path):
    open_playground(browser, f"{server}/playground/")
    (before,) = page_numbers(browser, "#pg-values tr:has(td)")
    type_into(browser, "w2", "abc")
    assert 'w2: "abc" is not a finite number.' in message(browser)
    assert browser.find_element("id", "pg-w2").get_attribute("aria-invalid") == "true"
    assert page_numbers(browser, "#pg-values tr:has(td)") == [before]  # the last valid values
    type_into(browser, "lr2", "1e999")
    assert 'learning rate 2: "1e999" is not a finite number.' in message(browser)
    screenshot("playground-bad-input.png")

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
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors

    browser.find_element("id", "pg-reset").click()
    assert page_numbers(browser, "#pg-values tr:has(td)") == [before]


@pytest.mark.browser
def test_narrow_screen_and_keyboard(server, browser, screenshot):
    browser.set_window_size(400, 900)
    try:
        open_playground(browser, f"{server}/playground/")
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert width[0] <= width[1], f"the page scrolls sideways: {width}"
        # Every field has a label, and Tab walks the text fields in order.
        unlabelled = browser.execute_script(
            """return [...document.querySelectorAll('#pg-form input[type=text], #pg-form select')]
                 .filter((f) => !document.querySelector(`label[for="${f.id}"]`)).length"""
        )
        assert unlabelled == 0
        browser.find_element("id", "pg-i1").click()
        from selenium.webdriver.common.keys import Keys

        browser.switch_to.active_element.send_keys(Keys.TAB)
        assert browser.switch_to.active_element.get_attribute("id") == "pg-i2"
        screenshot("playground-narrow.png")
    finally:
        browser.set_window_size(1280, 900)

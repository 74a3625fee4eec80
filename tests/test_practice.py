"""Practice on Backpropagation explained, in a real browser: a reader's value or spreadsheet
formula for a gradient is judged right in any equivalent form, and the classic mistakes are named
as `derive check` names them.

The right numbers come from SymPy differentiating a forward pass written out here by hand (not
from derive); the expected diagnoses are written out by hand, in derive check's words.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sympy as sp

pytestmark = pytest.mark.browser


def hand_gradients() -> dict[str, float]:
    """dE_total/dw at the classic config's numbers: the 2-2-2 sigmoid net written out here."""
    from derive.config import load_config

    v = load_config(None).values
    w = sp.symbols("w1:9")
    i1, i2 = v.inputs
    t1, t2 = v.targets
    s = lambda x: 1 / (1 + sp.exp(-x))  # noqa: E731
    h1, h2 = s(w[0] * i1 + w[1] * i2), s(w[2] * i1 + w[3] * i2)
    o1, o2 = s(w[4] * h1 + w[5] * h2), s(w[6] * h1 + w[7] * h2)
    loss = (t1 - o1) ** 2 / 2 + (t2 - o2) ** 2 / 2
    at = dict(zip(w, v.weights, strict=True))
    return {f"w{k + 1}": float(sp.diff(loss, w[k]).subs(at)) for k in range(8)}


def open_practice(browser, server: str) -> None:
    """Backpropagation explained with its practice form started (loaded once for many tests)."""
    if browser.current_url == f"{server}/explained/" and browser.execute_script(
        "return document.querySelector('#pr-form[data-ready]') !== null"
    ):
        return
    browser.get("about:blank")
    browser.get(f"{server}/explained/")
    for _ in range(200):
        if browser.execute_script("return document.querySelector('#pr-form[data-ready]') !== null"):
            return
        time.sleep(0.05)
    raise AssertionError("the practice form did not start")


def verdict(browser, parameter: str, answer: str) -> tuple[str, str]:
    """Choose the gradient, type the answer and press Enter, as a reader does: (kind, text)."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "pr-gradient")).select_by_value(parameter)
    field = browser.find_element("id", "pr-answer")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE, answer, Keys.ENTER)
    shown = browser.find_element("id", "pr-verdict")
    return shown.get_attribute("data-kind"), shown.text


RIGHT_FORMS = {
    "w5": [
        "=(a_o1-t1)*a_o1*(1-a_o1)*a_h1",  # the issue's own example
        "=A_H1*(A_O1 - T1)*(A_O1 - A_O1^2)",  # names in capitals, multiplied out
        "= -(t1 − a_o1) · a_o1 · (1 − a_o1) · a_h1",  # as a reader copies it from the page
        "=(1/(1+EXP(-o1))-t1)*a_o1*(1-a_o1)/(1+EXP(-(w1*i1+w2*i2)))",  # through the nets
    ],
    "w1": [
        "=((a_o1-t1)*a_o1*(1-a_o1)*w5+(a_o2-t2)*a_o2*(1-a_o2)*w7)*a_h1*(1-a_h1)*i1",
        "=(a_o1-t1)*a_o1*(1-a_o1)*w5*a_h1*(1-a_h1)*i1+(a_o2-t2)*a_o2*(1-a_o2)*w7*a_h1*(1-a_h1)*i1",
    ],
    "w8": ["=POWER(a_o2,1)*(a_o2-t2)*(1-a_o2)*a_h2"],
}


def test_right_answers_in_equivalent_forms_are_accepted(server, browser, screenshot):
    open_practice(browser, server)
    for parameter, forms in RIGHT_FORMS.items():
        for form in forms:
            kind, text = verdict(browser, parameter, form)
            assert kind == "right", f"{parameter} {form!r}: {text}"
    # A value: the gradient SymPy finds by differentiating the hand-written net, to 4 digits.
    for parameter, value in hand_gradients().items():
        kind, text = verdict(browser, parameter, f"{value:.4g}".replace("-", "−"))
        assert kind == "right", f"{parameter} {value:.4g}: {text}"
        assert f"{value:.6g}"[:6] in text.replace("−", "-")
    screenshot("practice-right.png")


# The classic slips, each typed as a reader would, and the words derive check uses for it.
MISTAKES = [
    (
        "w1",
        "=((a_o1-t1)*a_o1*(1-a_o1)*w5+(a_o2-t2)*a_o2*(1-a_o2)*w7)*a_h2*(1-a_h2)*i1",
        "uses a_h2·(1 − a_h2) where a_h1·(1 − a_h1) belongs",
    ),
    (
        "w3",
        "=((a_o1-t1)*a_o1*(1-a_o1)*w6+(a_o2-t2)*a_o2*(1-a_o2)*w8)*a_h1*(1-a_h1)*i1",
        "uses a_h1·(1 − a_h1) where a_h2·(1 − a_h2) belongs",
    ),
    ("w5", "=(t1-a_o1)*a_o1*(1-a_o1)*a_h1", "has the wrong sign"),
    ("w5", "=(o1-t1)*o1*(1-o1)*a_h1", "uses o1·(1 − o1)·(o1 − t1) where a_o1·(1 − a_o1)"),
    ("w5", "=(a_o1-t1)*a_o1*(1-a_o1)*a_h2", "uses a_h2 where a_h1 belongs"),
    ("w5", "=(a_o1-t2)*a_o1*(1-a_o1)*a_h1", "uses t2 where t1 belongs"),
    ("w1", "=(a_o1-t1)*a_o1*(1-a_o1)*w5*a_h1*(1-a_h1)*i1", "the o2 path is missing"),
    (
        "w1",
        "=((a_o1-t1)*a_o1*(1-a_o1)*w5+(a_o2-t2)*a_o2*(1-a_o2)*w7)*a_h1*(1-a_h1)",
        "is missing the factor i1",
    ),
    (
        "w1",
        "=((a_o1-t1)*a_o1*(1-a_o1)*w5+(a_o2-t2)*a_o2*(1-a_o2)*w7)*i1",
        "is missing the factor a_h1·(1 − a_h1)",
    ),
    (
        "w2",
        "=((a_o1-t1)*a_o1*(1-a_o1)*w6+(a_o2-t2)*a_o2*(1-a_o2)*w7)*a_h1*(1-a_h1)*i2",
        "uses w6 where w5 belongs",
    ),
]


@pytest.mark.parametrize(("parameter", "formula", "diagnosis"), MISTAKES)
def test_classic_mistakes_are_named(parameter, formula, diagnosis, server, browser):
    open_practice(browser, server)
    kind, text = verdict(browser, parameter, formula)
    assert kind == "wrong", text
    assert f"∂E_total/∂{parameter}" in text and diagnosis in text, text


def test_values_and_unreadable_formulas(server, browser, screenshot):
    open_practice(browser, server)
    right = hand_gradients()
    # The sign slip typed as a number is recognised by its value.
    kind, text = verdict(browser, "w5", f"{-right['w5']:.5g}")
    assert kind == "wrong" and "has the wrong sign" in text, text
    kind, text = verdict(browser, "w5", f"{right['w5'] * 1.5:.5g}")
    assert kind == "wrong" and "not the value of any mistake" in text, text
    kind, text = verdict(browser, "w5", f"{right['w5']:.1g}")
    assert kind == "warn" and "at least 3" in text, text
    # A constant that equals the gradient here is a different function: found at other points.
    kind, text = verdict(browser, "w5", f"={right['w5']!r}")
    assert kind == "wrong" and "happens to agree here" in text, text
    # A spreadsheet's order: unary minus before ^, so =-a_h1^2 is a_h1 squared.
    kind, text = verdict(browser, "w5", "=(a_o1-t1)*a_o1*(1-a_o1)*(-a_h1^2)^0.5")
    assert kind == "right", text
    kind, text = verdict(browser, "w5", "=3*(a_o1-t1)*a_o1*(1-a_o1)*a_h1")
    assert kind == "wrong" and "3 times" in text, text
    for formula, words in [
        ("=a_o3*t1", '"a_o3" is not a name of this network'),
        ("=(a_o1-t1", 'expected ")"'),
        ("=SIGMOID(o1)", "SIGMOID() is not a function this page knows"),
        ("=a_o1 $ 2", 'cannot read "$ 2"'),
        ("", "Type a number"),
        ("=" + "(" * 300 + "a_o1" + ")" * 300, "nests deeper than 200 levels"),
        ("=a_o1" + "+a_o1" * 500, "longer than 2000 characters"),
    ]:
        kind, text = verdict(browser, "w5", formula)
        assert kind == "warn" and words in text, f"{formula!r}: {text}"
    screenshot("practice-unreadable.png")


def test_every_gradient_of_the_page_can_be_practised(server, browser):
    open_practice(browser, server)
    options = browser.execute_script(
        "return [...document.querySelectorAll('#pr-gradient option')].map((o) => o.textContent)"
    )
    assert options == [f"∂E_total/∂w{k}" for k in range(1, 9)]
    names = browser.find_element("id", "pr-names").get_attribute("textContent")
    assert "a_o1 = " in names and "i1 = 0.05" in names and "w5 = 0.4" in names


def test_a_network_past_the_bounds_gets_no_practice_and_no_work():
    from derive.config import load_config
    from derive.evaluate import evaluator_for
    from sitegen import practice

    deep = load_config(Path(__file__).parent / "configs" / "table_deep_softmax.toml")
    evaluator = evaluator_for(deep.network)  # 26 parameters, closed forms of up to 58 operations
    assert not practice.practicable(evaluator)
    started = time.perf_counter()
    assert practice.catalogue(deep, evaluator) is None
    assert time.perf_counter() - started < 5


def test_the_catalogue_is_worked_out_in_the_build_when_no_process_starts(monkeypatch):
    import json
    import subprocess

    from derive.config import default_config_path
    from sitegen import practice

    def refused(*args, **kwargs):
        raise OSError("no more processes")

    monkeypatch.setattr(subprocess, "Popen", refused)
    data = json.loads(str(practice.Catalogue(default_config_path())))
    assert [g["parameter"] for g in data["gradients"]] == [f"w{k}" for k in range(1, 9)]
    assert data["points"][0][:4] == [0.05, 0.1, 0.01, 0.99]  # this page's numbers first

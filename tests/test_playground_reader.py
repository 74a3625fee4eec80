"""The Playground as a student reads it: Mazur's own bias names, sliders fine enough for a mouse
and arrow keys in the number fields, gradients written ∂E_total/∂w and one kind of minus sign.

Numbers are compared with tests/classic_oracle.py (the 2-2-2 network in plain Python floats).
"""

from __future__ import annotations

import classic_oracle as oracle
import pytest
from test_playground import choose, diagram, open_playground, settle, total, type_into

pytestmark = pytest.mark.browser


def fields(browser) -> dict[str, str]:
    """Each form field's label -> its text."""
    return browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#pg-fields input[type=text]')]"
        ".map((i) => [i.labels[0].textContent, i.value]))"
    )


def bias_labels(browser) -> dict[str, str]:
    """The diagram's bias labels, by the network's own bias name: the text drawn."""
    return browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll("
        "'#pg-diagram text[data-symbol^=b]')].map((t) => [t.dataset.symbol, t.textContent]))"
    )


def test_mazurs_fixed_biases_have_his_names(server, browser, screenshot):
    open_playground(browser, f"{server}/playground/")
    choose(browser, "pg-net", "mazur")
    shown = fields(browser)
    # His b1 is the hidden layer's bias, his b2 = 0.60 the output layer's: one field each.
    assert shown["b1 (hidden layer)"] == "0.35" and shown["b2 (output layer)"] == "0.6"
    assert not {"b3", "b4", "b2"} & set(shown)
    labels = bias_labels(browser)
    assert labels == {"b1": "b1 0.35", "b2": "b1 0.35", "b3": "b2 0.6", "b4": "b2 0.6"}
    assert total(browser) == pytest.approx(0.298371109, abs=5e-10)  # his E_total
    # His b2 moves both outputs' bias, and only theirs.
    type_into(browser, "b2", "0.7")
    expected = oracle.total_error(oracle.WEIGHTS, (0.35, 0.35, 0.7, 0.7))
    assert total(browser) == pytest.approx(expected, rel=1e-12)
    assert "b2=0.7" in browser.current_url
    screenshot("playground-mazur-names.png")
    # A link with his names opens with them.
    open_playground(browser, f"{server}/playground/#net=mazur&b1=0.3&b2=0.5")
    expected = oracle.total_error(oracle.WEIGHTS, (0.3, 0.3, 0.5, 0.5))
    assert total(browser) == pytest.approx(expected, rel=1e-12)
    # Trained, each neuron's bias is its own: four fields, as the config numbers them.
    choose(browser, "pg-net", "mazur_trained_biases")
    assert {"b1", "b2", "b3", "b4"} <= set(fields(browser))


def test_a_slider_makes_fine_changes_and_arrow_keys_step(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_playground(browser, f"{server}/playground/")
    slider = browser.find_element("css selector", "[data-slider-for=w5]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    width = slider.size["width"]
    span = float(slider.get_attribute("max")) - float(slider.get_attribute("min"))
    assert span / width < 0.03, f"{span} in {width} px"  # was 8 in about 85 px
    # A drag of 2 px from the middle: a change a mouse can make, under 0.1 (the thumb's own
    # width shortens the track a little).
    ActionChains(browser).click_and_hold(slider).move_by_offset(2, 0).release().perform()
    settle(browser)
    moved = float(browser.find_element("id", "pg-w5").get_attribute("value"))
    assert 0 < abs(moved - 0.4) < 0.1
    # Let go, the slider is centred on its value again.
    low, high = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
    assert (low + high) / 2 == pytest.approx(moved, abs=1e-9)
    # Arrow keys in the text field: 0.01, with Shift 0.1; the page recomputes each time.
    type_into(browser, "w5", "0.4")
    field = browser.find_element("id", "pg-w5")
    field.send_keys(Keys.ARROW_UP)
    settle(browser)
    assert field.get_attribute("value") == "0.41"
    field.send_keys(Keys.SHIFT, Keys.ARROW_DOWN)
    settle(browser)
    assert field.get_attribute("value") == "0.31"
    weights = list(oracle.WEIGHTS)
    weights[4] = 0.31
    assert diagram(browser)["w5"] == 0.31
    assert total(browser) == pytest.approx(oracle.total_error(weights), rel=1e-12)
    low, high = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
    assert (low + high) / 2 == pytest.approx(0.31, abs=1e-9)
    # A value typed in the field centres the slider on it, however fast the keys come: here one
    # key a frame, as a reader types, so the page sees "-3" (past the ends) before "-3.5".
    type_into(browser, "w5", "")
    for key in "-3.5":
        field.send_keys(key)
        settle(browser)
    assert float(slider.get_attribute("value")) == -3.5
    assert float(slider.get_attribute("min")) == -4.5
    assert float(slider.get_attribute("max")) == -2.5


def test_names_and_minus_signs_as_on_every_page(server, browser):
    open_playground(browser, f"{server}/playground/#steps=50&step=30&show=2")
    texts = browser.execute_script(
        "return [...document.querySelectorAll('#pg-rows th, #pg-rows td, #pg-values dt, "
        "#pg-values dd, #pg-diagram text, #pg-total')].map((e) => e.textContent)"
    )
    headings = browser.execute_script(
        "return [...document.querySelectorAll('#pg-rows th[scope=col]')].map((e) => e.textContent)"
    )
    assert "∂E_total/∂w1" in headings and not [h for h in headings if h.startswith("dE")]
    negative = [t for t in texts if "−" in t]
    assert negative, "no negative value to look at"
    assert not [t for t in texts if "-" in t], [t for t in texts if "-" in t][:5]


def chain_after_click(browser, selector: str) -> list[str]:
    """Click the diagram's element, as a reader does; the chain's lines, minus signs as '-'."""
    element = browser.find_element("css selector", f"#pg-diagram {selector}")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    settle(browser)
    lines = browser.find_elements("css selector", "#pg-chain p")
    return [line.text.replace("−", "-") for line in lines]


def numbers_in(line: str) -> list[float]:
    import re

    return [float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?|(?<=[ (])\d+(?=[ )]|$)", line)]


def test_clicking_a_weight_or_neuron_shows_its_chain_with_the_numbers(server, browser, screenshot):
    # At step 2 of lr 1: the weights have moved, so the chain uses this step's numbers.
    open_playground(browser, f"{server}/playground/#show=1&step=2")
    weights = oracle.descend(1.0, 2)[2]
    h1, _, o1, o2 = oracle.forward(weights)
    d1 = (o1 - oracle.TARGETS[0]) * o1 * (1 - o1)
    d2 = (o2 - oracle.TARGETS[1]) * o2 * (1 - o2)
    grads = oracle.gradients(weights)

    lines = chain_after_click(browser, "text.pg-weight[data-pick=w5]")
    assert "δ_o1 × a_h1" in lines[1]
    delta, activation, gradient = numbers_in(lines[1].split("=", 2)[2])
    assert delta == pytest.approx(d1, rel=1e-5) and activation == pytest.approx(h1, rel=1e-5)
    assert gradient == pytest.approx(grads[4], rel=1e-5)
    assert "Without the chain rule" in lines[2]
    assert numbers_in(lines[2].split("=")[-2])[-1] == pytest.approx(grads[4], rel=1e-5)

    lines = chain_after_click(browser, "circle[data-pick=h1]")
    assert lines[0].startswith("δ_h1 = (w5 × δ_o1 + w7 × δ_o2) × sigmoid′(h1)")
    w5, dd1, w7, dd2, slope, e1 = numbers_in(lines[1])
    assert (w5, w7) == (pytest.approx(weights[4], rel=1e-5), pytest.approx(weights[6], rel=1e-5))
    assert dd1 == pytest.approx(d1, rel=1e-5) and dd2 == pytest.approx(d2, rel=1e-5)
    assert slope == pytest.approx(h1 * (1 - h1), rel=1e-5)
    assert e1 == pytest.approx(grads[0] / oracle.INPUTS[0], rel=1e-5)
    assert any(line.startswith("∂E_total/∂w2 = δ_h1 × i2") for line in lines)

    lines = chain_after_click(browser, "circle[data-pick=o2]")
    assert lines[0] == "δ_o2 = ∂E_total/∂a_o2 × sigmoid′(o2) = (a_o2 - t2) × sigmoid′(o2)"
    gap, slope, delta = numbers_in(lines[1])
    assert gap == pytest.approx(o2 - oracle.TARGETS[1], rel=1e-5)
    assert delta == pytest.approx(d2, rel=1e-5)

    assert "is an input" in chain_after_click(browser, "circle[data-pick=i2]")[0]
    # The chain follows the step shown.
    browser.get(f"{server}/playground/#show=1&step=0")
    open_playground(browser, f"{server}/playground/#show=1&step=0")
    lines = chain_after_click(browser, "text.pg-weight[data-pick=w5]")
    assert numbers_in(lines[1].split("=", 2)[2])[-1] == pytest.approx(
        oracle.gradients(oracle.WEIGHTS)[4], rel=1e-5
    )
    screenshot("playground-chain.png")


def test_the_table_shows_nine_significant_digits_as_every_page(server, browser):
    open_playground(browser, f"{server}/playground/#steps=50&step=3&show=1")
    cells = browser.execute_script(
        "return [...document.querySelectorAll('#pg-rows td[data-name], #pg-values dd')]"
        ".map((c) => [c.textContent, Number(c.dataset.value)])"
    )
    assert len(cells) > 50
    for text, value in cells:
        assert float(text.replace("−", "-")) == float(f"{value:.9g}"), (text, value)

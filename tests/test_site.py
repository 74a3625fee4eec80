"""The documentation site: a strict build whose numbers agree with torch autograd and the config.

The site is built by `mkdocs build --strict` (with MkDocs' link, anchor and omitted-file checks on)
once per session for the classic network (the `site_dir` fixture), and once more here with other
initial weights and a local MNIST run, to see every number, table and plot follow.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import torch
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("index.html", "explained/index.html", "table/index.html", "check/index.html",
         "mnist/index.html", "playground/index.html", "cnn/index.html")  # fmt: skip
NAV_TITLES = ("Home", "Backpropagation explained", "The table", "Check your sheet", "MNIST",
              "Playground", "Backprop through a CNN")  # fmt: skip
GENERATED = ("network.svg", "iteration-table.csv", "iteration-table.xlsx", "learning-rates.png",
             "sheet-with-mistakes.xlsx", "playground/classic.js",
             "mazur.toml")  # fmt: skip

CLASSIC = {
    "inputs": [0.05, 0.1],
    "targets": [0.01, 0.99],
    "weights": [0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55],
}
OTHER = {**CLASSIC, "weights": [0.1, -0.3, 0.6, 0.2, -0.5, 0.9, 0.35, -0.15]}


def page_text(site: Path, page: str) -> str:
    return html.unescape((site / page).read_text(encoding="utf-8"))


def display_math(text: str) -> list[str]:
    r"""The LaTeX of every display equation, \[ ... \]."""
    return re.findall(r"\\\[(.*?)\\\]", text, flags=re.S)


def latex_float(text: str) -> float:
    r"""A number as the page prints it: 0.25, \left(-0.04\right), 1.5 \times 10^{-5}."""
    text = text.strip().removeprefix(r"\left(").removesuffix(r"\right)").strip()
    match = re.fullmatch(r"(-?[\d.]+)(?: \\times 10\^\{(-?\d+)\})?", text)
    assert match, f"not a number: {text!r}"
    mantissa, exponent = match.groups()
    return float(mantissa) * 10 ** int(exponent or 0)


def torch_reference(values: dict, lr: float = 0.0) -> dict[str, float]:
    """The 2-2-2 sigmoid network with half squared error, in float64 torch with autograd: the
    forward values, each weight's gradient, each neuron's delta (dE/d net input) and, for lr > 0,
    each weight and E_total after one torch.optim.SGD step."""
    x = torch.tensor(values["inputs"], dtype=torch.float64)
    t = torch.tensor(values["targets"], dtype=torch.float64)
    w = torch.tensor(values["weights"], dtype=torch.float64, requires_grad=True)

    def forward():
        # w1 = i1->h1, w2 = i2->h1, w3 = i1->h2, ...: rows are destinations, columns sources.
        h = w[:4].reshape(2, 2) @ x
        a_h = torch.sigmoid(h)
        o = w[4:].reshape(2, 2) @ a_h
        a_o = torch.sigmoid(o)
        errors = 0.5 * (t - a_o) ** 2
        return h, a_h, o, a_o, errors, errors.sum()

    h, a_h, o, a_o, errors, total = forward()
    h.retain_grad()
    o.retain_grad()
    total.backward()
    named = {"h_{1}": h[0], "h_{2}": h[1], "a_{h1}": a_h[0], "a_{h2}": a_h[1], "o_{1}": o[0],
             "o_{2}": o[1], "a_{o1}": a_o[0], "a_{o2}": a_o[1], "E_{1}": errors[0],
             "E_{2}": errors[1], r"E_{\text{total}}": total}  # fmt: skip
    result = {name: float(v.detach()) for name, v in named.items()}
    result.update({f"w{k + 1}": float(g) for k, g in enumerate(w.grad)})
    result.update({"delta_h1": float(h.grad[0]), "delta_h2": float(h.grad[1]),
                   "delta_o1": float(o.grad[0]), "delta_o2": float(o.grad[1])})  # fmt: skip
    if lr:
        torch.optim.SGD([w], lr=lr).step()
        with torch.no_grad():
            result["E_after"] = float(forward()[-1])
        result.update({f"w{k + 1}_after": float(v) for k, v in enumerate(w.detach())})
    return result


def aligned_lines(block: str) -> list[str]:
    return block.removeprefix(r"\begin{aligned}").removesuffix(r"\end{aligned}").split(r" \\ ")


def explained_numbers(site: Path) -> dict:
    """From the explained page: forward values, per weight (factor values, gradient), per neuron
    (factor values, delta), the update step's new weights and E_total after it."""
    text = page_text(site, "explained/index.html")
    blocks = display_math(text)
    forward = next(b for b in blocks if r"E_{\text{total}} &= " in b)
    values = {}
    for line in aligned_lines(forward):
        name, _, rest = line.partition(" &= ")
        values[name.strip()] = latex_float(rest.rpartition(" = ")[2])
    gradients, deltas, after = {}, {}, {}
    partial = r"\\frac\{\\partial E_\{\\text\{total\}\}\}\{\\partial "
    weight = re.compile(r"\\begin\{aligned\}" + partial + r"w_\{(\d+)\}\} &= ")
    delta = re.compile(r"\\begin\{aligned\}\\delta_\{(\w+)\} = ")
    update = re.compile(r"w_\{(\d+)\}\^\{\+\} &= ")  # then &= w - lr * gradient, then &= new
    for block in blocks:
        lines = aligned_lines(block)
        found = weight.match(block) or delta.match(block)
        if found and (found.re is delta or r"&= \delta_" in block):  # not the closed forms
            factors = [latex_float(f) for f in lines[-2].removeprefix("&= ").split(r" \cdot ")]
            result = latex_float(lines[-1].removeprefix("&= "))
            key = f"w{found.group(1)}" if found.re is weight else f"delta_{found.group(1)}"
            (gradients if found.re is weight else deltas)[key] = (factors, result)
        for k, line in enumerate(lines):
            if match := update.match(line):
                after[f"w{match.group(1)}_after"] = latex_float(lines[k + 2].removeprefix("&= "))
    total = re.search(
        r"the forward pass gives\s*(?:<[^>]+>)?\\\(E_\{\\text\{total\}\} = ([\d.]+)\\\)", text
    )
    after["E_after"] = float(total.group(1)) if total else None
    return {"forward": values, "gradients": gradients, "deltas": deltas, "after": after}


def assert_page_matches_torch(site: Path, values: dict) -> None:
    reference = torch_reference(values, lr=1.0)
    page = explained_numbers(site)
    assert set(page["forward"]) == {k for k in reference if "_" in k and "{" in k}
    for name, value in page["forward"].items():
        assert value == pytest.approx(reference[name], rel=1e-8), name
    assert sorted(page["gradients"]) == [f"w{k}" for k in range(1, 9)]
    assert sorted(page["deltas"]) == ["delta_h1", "delta_h2", "delta_o1", "delta_o2"]
    for name, (factors, result) in (page["gradients"] | page["deltas"]).items():
        assert len(factors) >= 2, name
        # Each factor as printed, multiplied here: the product is torch's gradient (or delta).
        assert np.prod(factors) == pytest.approx(reference[name], rel=1e-7, abs=1e-15), name
        assert result == pytest.approx(reference[name], rel=1e-8, abs=1e-15), name
    # The update step: one torch SGD step at lr 1, weight by weight, and E_total after it.
    assert sorted(page["after"]) == sorted(["E_after", *(f"w{k}_after" for k in range(1, 9))])
    for name, value in page["after"].items():
        assert value == pytest.approx(reference[name], rel=1e-8), name


def csv_rows(site: Path) -> list[dict[str, float]]:
    lines = (site / "generated" / "iteration-table.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]


# The classic site -------------------------------------------------------------------------


def test_strict_build_has_every_page_and_file(site_dir):
    for page in PAGES:
        text = page_text(site_dir, page)
        assert "{{" not in text and "{%" not in text, f"{page}: template code left"
        for title in NAV_TITLES:
            assert f">{title}<" in text or f"> {title} <" in re.sub(r"\s+", " ", text), title
    for name in GENERATED:
        assert (site_dir / "generated" / name).stat().st_size > 0, name
    served = (site_dir / "javascripts" / "tex-svg.js").read_bytes()
    assert served == (ROOT / "node_modules/mathjax/es5/tex-svg.js").read_bytes()
    assert "tex-svg.js" in page_text(site_dir, "explained/index.html")


def test_explained_page_numbers_equal_torch_autograd(site_dir):
    assert_page_matches_torch(site_dir, CLASSIC)


def test_explained_update_step_is_derive_tables_step_one(site_dir):
    done = subprocess.run(
        [sys.executable, "-m", "derive", "table", "--lr", "1", "--steps", "1"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    step1 = next(r for r in rows if r["step"] == "1")
    after = explained_numbers(site_dir)["after"]
    for k in range(1, 9):
        assert after[f"w{k}_after"] == pytest.approx(float(step1[f"w{k}"]), rel=1e-8)
    assert after["E_after"] == pytest.approx(float(step1["E_total"]), abs=1e-10)
    # The course spreadsheet's value for E_total after one step at lr 1 (by hand, independent).
    assert after["E_after"] == pytest.approx(0.2285477653, abs=1e-10)


def test_explained_page_teaches_output_layer_first_and_names_delta(site_dir):
    article = page_text(site_dir, "explained/index.html").split("<article", 1)[1]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", article))
    output, hidden = text.index("The output layer"), text.index("Hidden layer 1")
    assert text.index("Forward pass") < output < hidden < text.index("One step of gradient descent")
    assert "error term" in text[output:hidden]
    # The path sum through the output layer is written once per hidden neuron, not per weight.
    blocks = display_math(page_text(site_dir, "explained/index.html"))
    sums = [b for b in blocks if r"\delta_{o1} \cdot w_{5} + \delta_{o2} \cdot w_{7}" in b]
    assert len(sums) == 1
    assert "E_{total}" not in "".join(blocks)  # the subscript is upright: E_{\text{total}}
    assert "0.298371109" in text  # Matt Mazur's E_total, computed from derive/configs/mazur.toml
    assert (site_dir / "generated" / "mazur.toml").read_bytes() == (
        ROOT / "derive" / "configs" / "mazur.toml"
    ).read_bytes()


def test_network_diagram_labels_every_weight_and_error(site_dir):
    svg = (site_dir / "generated" / "network.svg").read_text()
    text = re.sub(r"<[^>]+>", "", re.sub(r"<style>.*?</style>", "", svg, flags=re.S))
    for name in ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "E1", "E2", "Etotal"):
        assert name in text.replace(" ", ""), name
    assert text.count("σ") == 4  # four sigmoid neurons


def test_table_page_shows_the_course_numbers(site_dir):
    # E_total at learning rate 1.0, before and after the first update, as an independent course
    # spreadsheet gives them (0.2425198573, 0.2285477653), rounded to the page's 9 digits.
    text = page_text(site_dir, "table/index.html")
    labels = re.findall(r"<label for=\"__tabbed_[^\"]+\">([^<]+)</label>", text)
    tabs = text.split('<div class="tabbed-block">')[1:]
    assert labels == ["lr 0.1", "lr 0.2", "lr 0.5", "lr 0.8", "lr 1", "lr 2"]
    errors = tabs[labels.index("lr 1")].split(">E<sub>total</sub><")[1].split("</table>")[0]
    assert re.search(r"<td>0</td>\s*(<td[^>]*>[\d.]+</td>\s*){2}<td[^>]*>0.242519857</td>", errors)
    assert re.search(r"<td>1</td>\s*(<td[^>]*>[\d.]+</td>\s*){2}<td[^>]*>0.228547765</td>", errors)
    rows = [r for r in csv_rows(site_dir) if r["lr"] == 1.0]
    assert rows[0]["E_total"] == pytest.approx(0.2425198573, abs=1e-10)
    assert rows[1]["E_total"] == pytest.approx(0.2285477653, abs=1e-10)
    assert "lr 0.1" in text and "lr 2" in text


def test_check_page_finds_exactly_the_planted_mistakes(site_dir):
    book = openpyxl.load_workbook(site_dir / "generated" / "sheet-with-mistakes.xlsx")
    sheet = book.worksheets[1]
    header = [c.value for c in sheet[1]]
    formula = {name: sheet.cell(2, header.index(name) + 1).value for name in header}
    assert "EXP(-ABS(-" in formula["a_h1"]  # the sigmoid's minus sign dropped
    text = page_text(site_dir, "check/index.html")
    found = re.findall(r"<td>(a_h1|a_h2|h1|h2|o1|o2|a_o1|a_o2|E1|E2|E_total|dE/dw\d)</td>", text)
    assert sorted(found) == ["a_h1", "dE/dw2", "dE/dw3"]
    assert "3 finding(s)" in text


LARGE = [4, 12, 12, 2]  # 242 trained parameters: past derive's closed-form limit of 150


def write_large_config(folder: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A 4-12-12-2 sigmoid net with trained biases and seeded random values."""
    sizes = list(zip(LARGE[1:], LARGE[:-1], strict=True))
    rng = np.random.default_rng(7)
    weights = rng.uniform(-0.8, 0.8, sum(o * i for o, i in sizes))
    biases = rng.uniform(-0.3, 0.3, sum(LARGE[1:]))
    path = folder / "large.toml"
    path.write_text(
        f'[network]\nlayers = {LARGE}\nactivation = "sigmoid"\nbias = "trained"\n\n[values]\n'
        f"inputs = [0.1, 0.5, -0.3, 0.8]\ntargets = [0.2, 0.7]\n"
        f"weights = {weights.tolist()}\nbiases = {biases.tolist()}\n"
    )
    return path, weights, biases


def test_explained_page_of_a_large_network_is_bounded_and_right(tmp_path):
    """Past derive's closed-form limit the page shows a sample of chains; each sampled chain's
    factors multiply to torch's gradient, and the page's text stays small."""
    from derive.chain import CLOSED_FORM_MAX_PARAMETERS
    from derive.config import load_config
    from derive.evaluate import evaluator_for
    from sitegen import page_explained
    from sitegen.site_common import Settings, Site

    path, weights, biases = write_large_config(tmp_path)
    sizes = list(zip(LARGE[1:], LARGE[:-1], strict=True))
    assert len(weights) + len(biases) > CLOSED_FORM_MAX_PARAMETERS
    config = load_config(path)
    settings = Settings(ROOT, path, ROOT / "mnist" / "reference", None)
    page = page_explained.build(Site(settings, config, evaluator_for(config.network)))
    assert not page.context["complete"] and "sample" in page.context["note"]
    assert len(str(page.context)) < 200_000
    # torch autograd on the same network: weights numbered destination by destination.
    x = torch.tensor([0.1, 0.5, -0.3, 0.8], dtype=torch.float64)
    w = torch.tensor(weights, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(biases, dtype=torch.float64, requires_grad=True)
    a, wk, bk = x, 0, 0
    for out, inp in sizes:
        a = torch.sigmoid(w[wk : wk + out * inp].reshape(out, inp) @ a + b[bk : bk + out])
        wk, bk = wk + out * inp, bk + out
    (0.5 * ((torch.tensor([0.2, 0.7], dtype=torch.float64) - a) ** 2).sum()).backward()
    grads = {f"w{k + 1}": float(g) for k, g in enumerate(w.grad)}
    grads |= {f"b{k + 1}": float(g) for k, g in enumerate(b.grad)}
    steps = [p for layer in page.context["layers"] for n in layer["neurons"] for p in n["params"]]
    assert 3 <= len(steps) < 20
    for step in steps:
        assert np.prod(step.factors) == pytest.approx(grads[step.name], rel=1e-9, abs=1e-15)


def test_a_large_network_builds_every_page(tmp_path, mkdocs_build):
    path, _, _ = write_large_config(tmp_path)
    site = mkdocs_build(tmp_path / "site", {"BACKPROP_CONFIG": str(path)})
    check = re.sub(r"\s+", " ", page_text(site, "check/index.html"))
    assert "at most 150 trained parameters" in check and "has 242" in check
    explained = page_text(site, "explained/index.html")
    assert "A sample of the chains" in explained
    assert len(explained) < 400_000 and len(page_text(site, "table/index.html")) < 400_000


# Other settings ---------------------------------------------------------------------------


RUN_METRICS = [
    {"epoch": 1, "lr": 0.1, "train_loss": 0.61, "train_acc": 0.8123, "test_loss": 0.2,
     "test_acc": 0.9417, "seconds": 12.0},
    {"epoch": 2, "lr": 0.05, "train_loss": 0.19, "train_acc": 0.9333, "test_loss": 0.1,
     "test_acc": 0.9689, "seconds": 11.0},
]  # fmt: skip


def write_run(folder: Path) -> None:
    """A small MNIST run folder: two epochs of metrics and the two plots training draws."""
    folder.mkdir()
    (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in RUN_METRICS))
    for name in ("confusion.png", "misclassified.png"):
        figure = Figure(figsize=(2, 2))
        figure.text(0.5, 0.5, name)
        figure.savefig(folder / name)


def other_settings(folder: Path) -> dict[str, str]:
    """Other initial weights for the same network, and a local MNIST run: the build's
    environment."""
    config = folder / "other.toml"
    values = "\n".join(f"{k} = {v}" for k, v in OTHER.items())
    config.write_text(f"[network]\nlayers = [2, 2, 2]\n\n[values]\n{values}\n")
    write_run(folder / "run")
    return {"BACKPROP_CONFIG": str(config), "BACKPROP_MNIST_RUN": str(folder / "run")}


@pytest.fixture(scope="module")
def other_site(shared_site) -> Path:
    """The site for the same network with other initial weights, and a local MNIST run."""
    return shared_site("other", other_settings)


def test_other_weights_change_the_equations_numbers(site_dir, other_site):
    assert_page_matches_torch(other_site, OTHER)
    assert explained_numbers(other_site) != explained_numbers(site_dir)
    assert (other_site / "generated" / "network.svg").read_bytes() == (
        site_dir / "generated" / "network.svg"
    ).read_bytes()  # same shape, same drawing


def test_other_weights_change_the_table_and_plot(site_dir, other_site):
    reference = torch_reference(OTHER)
    rows = csv_rows(other_site)
    assert rows != csv_rows(site_dir)
    for row in (r for r in rows if r["step"] == 0):
        assert row["E_total"] == pytest.approx(reference[r"E_{\text{total}}"], rel=1e-12)
    # One step of gradient descent at lr 0.5, by hand from torch's gradients.
    stepped = {**OTHER, "weights": [w - 0.5 * reference[f"w{k + 1}"]
                                    for k, w in enumerate(OTHER["weights"])]}  # fmt: skip
    after = next(r for r in rows if r["lr"] == 0.5 and r["step"] == 1)
    assert after["E_total"] == pytest.approx(
        torch_reference(stepped)[r"E_{\text{total}}"], rel=1e-12
    )
    for name in ("iteration-table.xlsx", "learning-rates.png"):
        assert (other_site / "generated" / name).read_bytes() != (
            site_dir / "generated" / name
        ).read_bytes(), name
    assert page_text(other_site, "table/index.html") != page_text(site_dir, "table/index.html")
    book = openpyxl.load_workbook(
        io.BytesIO((other_site / "generated/iteration-table.xlsx").read_bytes())
    )
    numbers = [c.value for row in book["Summary"].iter_rows() for c in row]
    assert all(w in numbers for w in OTHER["weights"])


def test_mnist_page_shows_a_local_run(other_site):
    text = page_text(other_site, "mnist/index.html")
    for m in RUN_METRICS:
        assert f"{100 * m['test_acc']:.2f}" in text
    for name in ("mnist-run-curves.png", "mnist-run-confusion.png", "mnist-run-misclassified.png"):
        assert (other_site / "generated" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"generated/{name}" in text
    assert "BACKPROP_MNIST_RUN=runs/mine" not in re.sub(r"<[^>]+>", "", text)


# Failures ---------------------------------------------------------------------------------


def test_missing_mathjax_is_one_clear_error(mkdocs_run, tmp_path):
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "overrides", tmp_path / "overrides")
    shutil.copytree(
        ROOT / "sitegen", tmp_path / "sitegen", ignore=shutil.ignore_patterns("__pycache__")
    )
    done = mkdocs_run(tmp_path / "site", cwd=tmp_path)
    assert done.returncode != 0
    assert "run `npm ci`" in done.stderr and "node_modules/mathjax" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_derive_config_is_one_clear_error(mkdocs_run, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[network]\nlayers = [2, 0]\n[values]\n")
    done = mkdocs_run(tmp_path / "site", {"BACKPROP_CONFIG": str(config)})
    assert done.returncode != 0
    assert f"derive config: {config}: network.layers = [2, 0]" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_source_date_epoch_is_one_clear_error(mkdocs_run, tmp_path):
    # Without the site's own check, numpy (numpy.f2py, imported mid-build) stops with a traceback.
    done = mkdocs_run(tmp_path / "site", {"SOURCE_DATE_EPOCH": "yesterday"})
    assert done.returncode != 0
    assert (
        "SOURCE_DATE_EPOCH must be a whole number of seconds since 1970 before the year 10000, "
        "got 'yesterday'"
    ) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "site").exists()


def test_explained_page_derives_the_sigmoid_and_the_half_in_the_loss(site_dir):
    text = page_text(site_dir, "explained/index.html")
    blocks = display_math(text)
    assert r"\sigma(x) = \frac{1}{1 + e^{- x}}" in blocks
    sigmoid = aligned_lines(next(b for b in blocks if b.startswith(r"\begin{aligned}\sigma'(x)")))
    assert sigmoid[0] == r"\sigma'(x) &= \frac{d}{dx}\left(1 + e^{- x}\right)^{-1}"
    assert sigmoid[-1] == r"&= \sigma\left(x\right) \left(1 - \sigma\left(x\right)\right)"
    assert len(sigmoid) >= 4  # the steps between, each with the rule that gives it
    half = aligned_lines(next(b for b in blocks if r"\frac{\partial}{\partial a}\," in b))
    assert half[-1] == "&= a - t"
    assert r"\frac{\partial}{\partial a}\,\left(t - a\right)^{2} = 2 \left(a - t\right)" in blocks
    # The worked numbers for o1: sigma and its slope from torch autograd, independent of SymPy.
    article = re.sub(r"\s+", " ", text.split("<article", 1)[1])
    found = re.search(
        r"a_\{o1\} = \\sigma\(o_\{1\}\) = \\sigma\(([\d.]+)\) = ([\d.]+)\\\).*?"
        r"a_\{o1\}\\,\(1 - a_\{o1\}\) = ([\d.]+)\\\).*? by ([\d.]+) times",
        article,
    )
    assert found, "the sigmoid's worked example for o1"
    net, out, slope, difference = map(float, found.groups())
    o1 = torch.tensor(torch_reference(CLASSIC)["o_{1}"], dtype=torch.float64, requires_grad=True)
    a = torch.sigmoid(o1)
    a.backward()
    assert net == pytest.approx(o1.item(), rel=1e-8)
    assert out == pytest.approx(a.item(), rel=1e-8)
    assert slope == pytest.approx(o1.grad.item(), rel=1e-8)
    assert difference == pytest.approx(o1.grad.item(), rel=1e-6)
    assert "½" in article and "cancels" in article


def test_a_wrong_step_in_a_derivation_stops_the_build():
    from sitegen.local_derivatives import Line, X, proven
    from sitegen.site_common import SiteError

    right = [Line("x^2", X**2), Line("x x", X * X)]
    assert proven("square", "f(x)", right).startswith(r"\[\begin{aligned}f(x) &= x^2")
    with pytest.raises(SiteError, match="does not follow"):
        proven("square", "f(x)", [*right, Line("2 x", 2 * X)])


def test_table_of_contents_and_search_show_no_tex(site_dir):
    tex = re.compile(r"\\[(\[]|\\(frac|delta|partial|text)\b")
    for page in PAGES:
        text = page_text(site_dir, page)
        nav = re.findall(r'class="md-ellipsis">(.*?)</span>', text, flags=re.S)
        assert nav and not [t for t in nav if tex.search(t)], f"{page}: TeX in the navigation"
    index = json.loads((site_dir / "search" / "search_index.json").read_text(encoding="utf-8"))
    pages = {page.removesuffix("index.html") for page in PAGES}
    for entry in (e for e in index["docs"] if e["location"].partition("#")[0] in pages):
        found = tex.search(entry["title"] + entry["text"])
        assert not found, f"{entry['location']}: {found[0]!r} in search"
    titles = {e["location"]: e["title"] for e in index["docs"]}
    assert titles["explained/#delta_o1"] == "Delta of o1, δ<sub>o1</sub>"
    gradients = next(e["text"] for e in index["docs"] if e["title"].endswith("All the gradients"))
    assert "∂E<sub>total</sub>/∂p" in gradients


def test_table_chart_takes_the_playgrounds_colour_for_each_rate(site_dir):
    from sitegen.page_table import DARK_LINES, LIGHT_LINES

    css = (ROOT / "docs" / "stylesheets" / "playground.css").read_text(encoding="utf-8")
    light = dict(re.findall(r"^\.pg-c(\d) \{ --pg-colour: (#\w+); \}", css, flags=re.M))
    dark = light | dict(
        re.findall(r'^\[data-md-color-scheme="slate"\] \.pg-c(\d) \{ --pg-colour: (#\w+); \}', css,
                   flags=re.M)
    )  # fmt: skip
    assert tuple(light[str(k)] for k in range(6)) == LIGHT_LINES
    assert tuple(dark[str(k)] for k in range(6)) == DARK_LINES
    for name, colours in (("learning-rates.svg", LIGHT_LINES), ("learning-rates-dark.svg",
                                                                 DARK_LINES)):  # fmt: skip
        svg = (site_dir / "generated" / name).read_text(encoding="utf-8")
        strokes = re.findall(r"stroke: (#\w+)", svg)
        assert all(c in strokes for c in colours), name
    page = page_text(site_dir, "table/index.html")
    assert "learning-rates-dark.svg#only-dark" in page and "learning-rates.svg#only-light" in page


# Matt Mazur's post, as printed there (typed from the post, in its order).
MAZUR_PRINTED = [
    "0.3775",
    "0.593269992",
    "0.596884378",
    "1.105905967",
    "0.75136507",
    "0.772928465",
    "0.274811083",
    "0.023560026",
    "0.298371109",
    "0.74136507",
    "0.186815602",
    "0.593269992",
    "0.082167041",
    "0.35891648",
    "0.408666186",
    "0.511301270",
    "0.561370121",
    "0.138498562",
    "0.055399425",
    "−0.019049119",
    "0.036350306",
    "0.241300709",
    "0.05",
    "0.000438568",
    "0.149780716",
    "0.19956143",
    "0.24975114",
    "0.29950229",
    "0.291027924",
    "0.0000351085",
    "0.015912196",
    "0.984065734",
]


def mazur_torch_round(stale: bool) -> tuple[float, list[float]]:
    """One round of Mazur's network at lr 0.5 in torch: E_total after it and the new weights; with
    `stale`, the hidden gradients use the already updated output weights (his code's order)."""
    x, t = (
        torch.tensor([0.05, 0.1], dtype=torch.float64),
        torch.tensor([0.01, 0.99], dtype=torch.float64),
    )
    w = torch.tensor([0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55], dtype=torch.float64)

    def error(w_hidden, w_out):
        a_h = torch.sigmoid(w_hidden.reshape(2, 2) @ x + 0.35)
        return (0.5 * (t - torch.sigmoid(w_out.reshape(2, 2) @ a_h + 0.6)) ** 2).sum()

    hidden, out = w[:4].clone().requires_grad_(), w[4:].clone().requires_grad_()
    error(hidden, out).backward()
    new_out = (out - 0.5 * out.grad).detach()
    if stale:  # the output deltas of the old weights, pushed back through the new ones
        a_h = torch.sigmoid(w[:4].reshape(2, 2) @ x + 0.35)
        a_o = torch.sigmoid(w[4:].reshape(2, 2) @ a_h + 0.6)
        delta_o = (a_o - t) * a_o * (1 - a_o)
        delta_h = (new_out.reshape(2, 2).T @ delta_o) * a_h * (1 - a_h)
        new_hidden = w[:4] - 0.5 * torch.outer(delta_h, x).reshape(4)
    else:
        new_hidden = (hidden - 0.5 * hidden.grad).detach()
    return float(error(new_hidden, new_out)), [*new_hidden.tolist(), *new_out.tolist()]


def test_explained_page_gives_every_number_of_mazurs_post(site_dir):
    article = page_text(site_dir, "explained/index.html").split('id="matt-mazurs-version"', 1)[1]
    table = article.split("<table>", 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S) for r in table.split("<tr>")[2:]]
    assert [r[1] for r in rows] == MAZUR_PRINTED
    for quantity, printed, ours, same in rows:
        decimals = len(printed.partition(".")[2])
        agree = abs(float(ours.replace("−", "-")) - float(printed.replace("−", "-"))) <= (
            0.5 * 10**-decimals
        )
        assert same == "yes" if agree else same.startswith("no: note "), quantity
    assert sum(r[3] == "yes" for r in rows) == 27
    # torch: the order his text describes gives this code's numbers; his code's order gives his.
    exact, weights = mazur_torch_round(stale=False)
    assert float(rows[28][2]) == pytest.approx(exact, rel=1e-9)
    assert [float(r[2]) for r in rows[24:28]] == pytest.approx(weights[:4], rel=1e-9)
    assert [float(r[2]) for r in rows[13:17]] == pytest.approx(weights[4:], rel=1e-9)
    stale, _ = mazur_torch_round(stale=True)
    assert round(stale, 9) == pytest.approx(0.291027924, abs=1e-12)


def test_home_lists_every_page_in_the_menus_order(site_dir):
    from test_browser import nav_pages

    home = page_text(site_dir, "index.html")
    start = home.split('id="start-here"', 1)[1].split("<h2", 1)[0]
    listed = re.findall(r'<li><strong><a href="([^"]+)"', start)
    assert listed == [page for page in nav_pages() if page], listed


def test_mkdocs_serve_watches_what_the_pages_are_made_from(tmp_path):
    from sitegen import mkdocs_hooks
    from sitegen.site_common import Settings

    run = tmp_path / "run"
    run.mkdir()
    extra = {"derive_config": "derive/configs/mazur.toml", "mnist_reference": "mnist/reference",
             "mnist_run": str(run)}  # fmt: skip
    settings = Settings.from_mkdocs(str(ROOT / "mkdocs.yml"), extra)
    seen = []

    class Server:  # records what MkDocs' LiveReloadServer would be asked to watch
        def watch(self, path):
            seen.append(path)

    mkdocs_hooks._settings = settings
    try:
        mkdocs_hooks.on_serve(Server(), None, None)
    finally:
        mkdocs_hooks._settings = None
    expected = ["derive/configs/mazur.toml", "derive", "sitegen", "mnist", "mnist/reference"]
    assert seen == [str(ROOT / p) for p in expected] + [str(run)]


def test_every_gradient_has_a_central_difference_beside_it(site_dir):
    text = page_text(site_dir, "explained/index.html")
    section = text.split('id="5-all-the-gradients"', 1)[1].split("</table>", 1)[0]
    assert "central difference</th>" in section
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S) for r in section.split("<tr>")[2:]]
    reference = torch_reference(CLASSIC)
    assert len(rows) == 8
    for k, cells in enumerate(rows, start=1):
        # Printed to 6 digits (minus signs, as every page); torch's autograd gradient is the
        # independent value.
        _, _, gradient, central, _ = (c.replace("−", "-") for c in cells)
        assert float(central) == pytest.approx(reference[f"w{k}"], rel=1e-5), k
        assert float(central) == pytest.approx(float(gradient), rel=1e-5), k


def test_table_charts_draw_in_a_fresh_interpreter():
    # matplotlib.style is a submodule: the dark charts must not rely on another page importing it.
    code = (
        "from derive.config import load_config; from derive import table as t;"
        "from sitegen.page_table import charts;"
        "files = charts(t.iteration_table(load_config('derive/configs/classic.toml')));"
        "print(sorted(files))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "generated/learning-rates-dark.svg" in done.stdout

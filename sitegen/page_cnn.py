"""Backprop through a CNN: the teaching net of derive/configs/cnn.toml, forward and back, with every
number from derive's scalar derivation (derive/cnn/symbolic.py), each gradient proven equal to
sympy.diff while the site builds, and the feature maps and gradients drawn as grids of numbers."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import numpy as np
import sympy as sp

from derive.cnn.config import load_cnn_config
from derive.cnn.explain import CNNDerivation, derivation, latex_names
from derive.cnn.numbers import descend, table_columns
from derive.cnn.symbolic import delta_symbol
from derive.config import ConfigError
from sitegen.site_common import PageData, Site, SiteError, latex_number, text_number

CONFIG = Path("derive", "configs", "cnn.toml")
UPDATE_LR = 0.5  # the worked update step's learning rate


def build(site: Site) -> PageData:
    path = site.settings.root / CONFIG
    try:
        config = load_cnn_config(path)
    except ConfigError as exc:
        raise SiteError(f"Backprop through a CNN: {exc}") from None
    d = derivation(config)
    unproven = [v.name for v, r in d.residuals.items() if r != 0]
    if unproven:
        raise SiteError(f"Backprop through a CNN: not proven equal to sympy.diff: {unproven[:5]}")
    return PageData(context(d, site.settings.shown(path)))


def values_of(d: CNNDerivation, symbols: np.ndarray, delta: bool = False) -> np.ndarray:
    key = delta_symbol if delta else (lambda s: s)
    # + 0.0 turns -0.0 (a zero gradient times a negative weight) into 0.0: no "-0" on the page
    return np.vectorize(lambda s: d.values[key(s)] + 0.0, otypes=[float])(symbols)


def math_caption(text: str) -> str:
    r"""A caption whose \(...\) parts MathJax typesets (it reads only what arithmatex marks)."""
    return re.sub(r"(\\\(.*?\\\))", r'<span class="arithmatex">\1</span>', text)


def grid(name: str, values: np.ndarray, caption: str, marked: np.ndarray | None = None) -> str:
    """A 2-D array as an HTML table of numbers named `name` (data-grid, for tests and links);
    `marked` cells (True) are outlined."""
    rows = []
    for i, row in enumerate(values):
        cells = []
        for j, value in enumerate(row):
            kind = "pos" if value > 0 else "neg" if value < 0 else "zero"
            mark = " mark" if marked is not None and marked[i, j] else ""
            cells.append(f'<td class="{kind}{mark}">{escape(text_number(float(value), 3))}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<figure class="grid" data-grid="{name}">'
        f'<table class="grid-numbers"><tbody>{"".join(rows)}</tbody></table>'
        f"<figcaption>{math_caption(caption)}</figcaption></figure>"
    )


def grids(name: str, arrays, captions, marked=None) -> str:
    """Grids side by side, named name0, name1, ..."""
    marks = marked if marked is not None else [None] * len(arrays)
    figures = (
        grid(f"{name}{k}", a, c, m)
        for k, (a, c, m) in enumerate(zip(arrays, captions, marks, strict=True))
    )
    return f'<div class="grids">{"".join(figures)}</div>'


def tex(d: CNNDerivation, expr: sp.Expr) -> str:
    return sp.latex(expr, symbol_names=latex_names(d.net), order="none")


def with_numbers(d: CNNDerivation, expr: sp.Expr) -> str:
    """The expression with every symbol replaced by its value (LaTeX, 4 significant digits)."""
    names = {s: latex_number(d.values[s] + 0.0, 4) for s in expr.free_symbols}
    return sp.latex(expr, symbol_names=names, order="none", mul_symbol="dot")


def worked(d: CNNDerivation, symbol: sp.Symbol, expr: sp.Expr) -> str:
    """symbol = expr = (expr with numbers) = value, as one LaTeX equation."""
    lhs = latex_names(d.net).get(symbol, symbol.name)
    return (
        rf"{lhs} &= {tex(d, expr)} \\ &= {with_numbers(d, expr)} "
        rf"\\ &= {latex_number(d.values[symbol], 6, factor=False)}"
    )


def flipped_steps(d: CNNDerivation) -> dict:
    """dE/dx as the padded deltas of each kernel correlated with that kernel flipped."""
    net = d.net
    kernels = values_of(d, net.arrays[next(k for k in net.trained if ".weight" in k)])
    deltas = values_of(d, net.outputs[0], delta=True)
    k = kernels.shape[-1]
    padded = [np.pad(delta, k - 1) for delta in deltas]
    flips = [kernel[0, ::-1, ::-1] for kernel in kernels]
    return {"kernels": kernels, "padded": padded, "flips": flips}


def context(d: CNNDerivation, source: str) -> dict:
    net = d.net
    conv, relu_out, pooled = net.outputs[0], net.outputs[1], net.outputs[2]
    definitions = dict(net.equations)
    kernel_key = next(k for k in net.trained if k.endswith(".weight"))
    kernel = net.arrays[kernel_key]
    image = values_of(d, net.pixels)[0]
    z, r, m = values_of(d, conv), values_of(d, relu_out), values_of(d, pooled)
    winners = [values_of(d, relu_out, delta=True)[c] != 0 for c in range(len(r))]
    dz, dr = values_of(d, conv, delta=True), values_of(d, relu_out, delta=True)
    dk = values_of(d, kernel, delta=True)
    dx = values_of(d, net.pixels, delta=True)[0]
    bias_key = kernel_key.replace("weight", "bias")
    biases = [text_number(v, 3) for v in values_of(d, net.arrays[bias_key])]
    steps = flipped_steps(d)
    n_kernels = len(z)
    run = descend(d.net.config, UPDATE_LR, 1)
    names = [c.name for c in table_columns(d.net.config)][2:]
    before, after = dict(zip(names, run[0], strict=True)), dict(zip(names, run[1], strict=True))
    # The worked pixel: the one inside the image (under four windows) whose gradient is largest.
    inner = net.pixels[0, 1:-1, 1:-1].ravel()
    pixel = max(inner, key=lambda s: abs(d.values[delta_symbol(s)]))
    first_k = kernel[0, 0, 1, 0]
    logits = net.logits
    target = int(np.argmax(d.net.config.values.target))
    return {
        "source": source,
        "image": grids("image", [image], [r"the image \(x\), 5 × 5"]),
        "kernels": grids(
            "kernels",
            [values_of(d, kernel)[o, 0] for o in range(n_kernels)],
            [rf"kernel \(K_{{{o}}}\), bias \(b_{{{o}}} = {b}\)" for o, b in enumerate(biases)],
        ),
        "z_example": worked(d, conv[0, 0, 0], definitions[conv[0, 0, 0]]),
        "z": grids("z", list(z), [rf"\(z_{{{o}}}\) (kernel {o})" for o in range(n_kernels)]),
        "r": grids(
            "r", list(r), [rf"\(r_{{{o}}} = \max(0, z_{{{o}}})\)" for o in range(n_kernels)]
        ),
        "m": grids("m", list(m), [rf"\(m_{{{o}}}\)" for o in range(n_kernels)]),
        "r_winners": grids(
            "r_winners",
            list(r),
            [rf"\(r_{{{o}}}\), each window's winner outlined" for o in range(n_kernels)],
            winners,
        ),
        "s_example": worked(d, logits[0], definitions[logits[0]]),
        "scores": [
            {
                "k": k,
                "s": text_number(d.values[s], 6),
                "p": text_number(d.values[p], 6),
                "t": text_number(float(d.net.config.values.target[k]), 6),
                "ds": text_number(d.values[delta_symbol(s)], 6),
            }
            for k, (s, p) in enumerate(zip(logits, net.probabilities, strict=True))
        ],
        "target": target,
        "loss": text_number(d.values[net.loss], 9),
        "lse": worked(d, net.lse, definitions[net.lse]),
        "softmax_sympy": tex(d, d.softmax[target]),
        "dense_example": worked(d, delta_symbol(pooled[0, 0, 0]), d.back.delta[pooled[0, 0, 0]]),
        "dm": grids(
            "dm",
            list(values_of(d, pooled, delta=True)),
            [rf"\(\partial E / \partial m_{{{o}}}\)" for o in range(n_kernels)],
        ),
        "dr": grids(
            "dr",
            list(dr),
            [rf"\(\partial E / \partial r_{{{o}}}\): the winners only" for o in range(n_kernels)],
            winners,
        ),
        "dz": grids(
            "dz",
            list(dz),
            [rf"\(\partial E / \partial z_{{{o}}}\) = that × 1[z > 0]" for o in range(n_kernels)],
        ),
        "dk_example": worked(d, delta_symbol(first_k), d.back.delta[first_k]),
        "dk": grids(
            "dk",
            [dk[o, 0] for o in range(n_kernels)],
            [rf"\(\partial E / \partial K_{{{o}}}\)" for o in range(n_kernels)],
        ),
        "dx_example": worked(d, delta_symbol(pixel), d.back.delta[pixel]),
        "dx_pixel": latex_names(net)[pixel],
        "flipped": grids(
            "flipped",
            [a for o in range(n_kernels) for a in (steps["kernels"][o, 0], steps["flips"][o])],
            [c for o in range(n_kernels) for c in (rf"\(K_{{{o}}}\)", rf"\(K_{{{o}}}\) flipped")],
        ),
        "padded": grids(
            "padded",
            steps["padded"],
            [rf"\(\partial E / \partial z_{{{o}}}\) padded with zeros" for o in range(n_kernels)],
        ),
        "dx": grids("dx", [dx], [r"\(\partial E / \partial x\)"]),
        "proven": len(d.residuals),
        "n_parameters": len(net.parameters),
        "n_pixels": net.pixels.size,
        "update_lr": text_number(UPDATE_LR),
        "update": [
            {
                "name": name,
                "before": text_number(before[name], 6),
                "grad": text_number(before[f"dE/d{name}"], 6),
                "after": text_number(after[name], 6),
            }
            for name in [
                f"{kernel_key}[0,0,0,0]",
                f"{kernel_key}[0,0,0,1]",
                f"{kernel_key}[1,0,0,1]",
            ]
        ],
        "loss_after": text_number(after["E"], 9),
        "p_after": text_number(after[f"p[{target}]"], 6),
        "p_before": text_number(before[f"p[{target}]"], 6),
    }

"""What `derive show` prints for a CNN, and the site's page reads: the forward pass and every delta
and gradient, each as the sum the chain rule gives and its value, then the proofs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from derive.cnn.batchnorm import fold_derivation, fold_residual
from derive.cnn.spec import CNNConfig
from derive.cnn.symbolic import (
    Backprop,
    ScalarNet,
    backprop,
    delta_symbol,
    evaluate,
    proof_residual,
    scalar_network,
)


@dataclass(frozen=True)
class Line:
    symbol: sp.Symbol  # what the line defines: a forward value, or a delta / gradient symbol
    expr: sp.Expr  # how the chain rule computes it
    value: float


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[Line, ...]
    note: str = ""


@dataclass(frozen=True)
class CNNDerivation:
    net: ScalarNet
    back: Backprop
    values: dict[sp.Symbol, float]
    sections: tuple[Section, ...]
    softmax: tuple[sp.Expr, ...]  # dE/ds_k as SymPy gives it: p_k (t_0 + ... + t_n) - t_k
    residuals: dict[sp.Symbol, sp.Expr]  # every parameter and pixel: derived - sympy.diff


def derivation(config: CNNConfig, prove: bool = True) -> CNNDerivation:
    net = scalar_network(config)
    back = backprop(net)
    values = evaluate(back)

    defined = dict(net.equations)

    def lines(symbols, delta: bool = False) -> tuple[Line, ...]:
        return tuple(
            Line(delta_symbol(s), back.delta[s], values[delta_symbol(s)])
            if delta
            else Line(s, defined[s], values[s])
            for s in symbols
        )

    outputs = [tuple(out.ravel()) for out in net.outputs]
    sections = [
        Section(f"Layer {k + 1}: {layer.kind}", lines(out))
        for k, (layer, out) in enumerate(zip(net.spec.layers, outputs, strict=True))
    ]
    sections.append(
        Section("Softmax and cross-entropy", lines((net.lse, *net.probabilities, net.loss)))
    )
    sections.append(
        Section(
            "dE/ds: through softmax and cross-entropy",
            lines(net.logits, delta=True),
            "SymPy gives p_k (t_0 + ... + t_n) - t_k; the targets sum to 1, so it is p_k - t_k.",
        )
    )
    for layer, below in reversed(
        list(zip(net.spec.layers, [net.pixels, *net.outputs[:-1]], strict=True))
    ):
        if layer.name:
            keys = [k for k in net.trained if k.startswith(f"{layer.name}.")]
            params = [s for k in keys for s in net.arrays[k].ravel()]
            sections.append(
                Section(f"Gradients of {layer.name}'s parameters", lines(params, delta=True))
            )
        inputs = tuple(below.ravel())
        what = "the input pixels" if below is net.pixels else "the layer below"
        note = FLIPPED if layer.kind == "conv" else ROUTED if layer.kind == "maxpool" else ""
        sections.append(
            Section(f"Back through layer {layer.kind} to {what}", lines(inputs, True), note)
        )
    if any(layer.kind == "batchnorm" for layer in net.spec.layers):
        sections.append(batchnorm_section())
    variables = (*net.parameters, *net.pixels.ravel())
    residuals = {v: proof_residual(back, v) for v in variables} if prove else {}
    softmax = tuple(back.delta[s] for s in net.logits)
    return CNNDerivation(net, back, values, tuple(sections), softmax, residuals)


def batchnorm_section() -> Section:
    """BatchNorm folded into the conv before it, as derive/cnn/batchnorm.py derives it."""
    fold = fold_derivation()
    proven = "proven" if fold_residual(fold) == 0 else "NOT proven"
    return Section(
        "BatchNorm (evaluation) folded into the conv before it",
        (),
        f"K' = dy/dx = {sp.sstr(fold.folded_kernel[0])} (for kernel entry K0); "
        f"b' = y at x = 0 = {sp.sstr(fold.folded_bias)}; BatchNorm(conv) - folded conv = 0: "
        f"{proven} for every x.",
    )


FLIPPED = (
    "Each pixel's sum runs over the windows that cover it, with the kernel entry at its offset "
    "in that window: the deltas, padded with kernel - 1 zeros, correlated with the kernel "
    "flipped in both directions."
)
ROUTED = "Each window's delta goes to its winner (the first maximum) and 0 to the other three."


def document(d: CNNDerivation, style: str = "text") -> str:
    """The derivation as plain text or LaTeX, one line per value, sections apart."""
    expr, name = text_printers() if style == "text" else latex_printers(d.net)
    blocks = []
    for section in d.sections:
        body = [
            f"{name(line.symbol)} = {expr(line.expr)} = {line.value:.9g}" for line in section.lines
        ]
        blocks.append(
            "\n".join([f"# {section.title}", *body, *([section.note] if section.note else [])])
        )
    if d.residuals:
        proven = sum(r == 0 for r in d.residuals.values())
        blocks.append(
            f"# Proof\nEach gradient above minus sympy.diff of E written out in that variable: 0 "
            f"for {proven} of {len(d.residuals)} (parameters and pixels)."
        )
    return "\n\n".join(blocks) + "\n"


def text_printers() -> tuple[Callable, Callable]:
    return (lambda e: sp.sstr(e, order="none")), (lambda s: s.name)


def latex_names(net: ScalarNet) -> dict[sp.Symbol, str]:
    """LaTeX for every symbol: the net's own, and dE/dv as a partial derivative."""
    names = dict(net.latex_names)
    for symbol, text in net.latex_names.items():
        names[delta_symbol(symbol)] = rf"\frac{{\partial E}}{{\partial {text}}}"
    return names


def latex_printers(net: ScalarNet) -> tuple[Callable, Callable]:
    names = latex_names(net)
    return (
        lambda e: sp.latex(e, symbol_names=names, order="none"),
        lambda s: names.get(s, s.name),
    )

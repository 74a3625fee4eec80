"""The two derivatives inside every chain, derived line by line for the Explained page: the
sigmoid's sigma'(x) = sigma(x)(1 - sigma(x)) and the half squared error's a - t.

Each line is LaTeX built from SymPy expressions, and SymPy proves every line equal to the one
before it while the site builds; the lines SymPy computes itself (a derivative) are its own.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import sympy as sp

from derive.functions import sigmoid
from sitegen.backprop_steps import aligned
from sitegen.site_common import SiteError

X = sp.Symbol("x", real=True)
A, T = sp.symbols("a t", real=True)


@dataclass(frozen=True)
class Line:
    """One line of a derivation: its LaTeX, the expression it stands for, why it follows."""

    tex: str
    expr: sp.Expr
    why: str = ""  # LaTeX, shown at the right


def proven(name: str, lhs: str, lines: list[Line]) -> str:
    """`lhs` = the lines, one aligned block, after SymPy proves each equal to the line before."""
    for before, line in itertools.pairwise(lines):
        difference = (line.expr - before.expr).rewrite(sp.exp)
        if sp.simplify(difference) != 0:
            raise SiteError(f"{name}: '{line.tex}' does not follow from '{before.tex}'")
    rows = [rf"{lhs} &= {lines[0].tex}"] + [rf"&= {line.tex}" for line in lines[1:]]
    rows = [
        row + (rf"&&{line.why}" if line.why else "") for row, line in zip(rows, lines, strict=True)
    ]
    return aligned(rows)


def latex(expr: sp.Expr) -> str:
    return sp.latex(expr, order="none")


def sigmoid_definition() -> str:
    return rf"\sigma(x) = {latex(sigmoid(X).rewrite(sp.exp))}"


def sigmoid_derivation() -> str:
    """sigma'(x) from 1 / (1 + e^-x) to sigma(x)(1 - sigma(x)), one rule per line."""
    u = 1 + sp.exp(-X)
    inverse = 1 / u
    du = sp.diff(u, X)  # -e^{-x}
    sigma = sigmoid(X)
    lines = [
        Line(r"\frac{d}{dx}\left(" + latex(u) + r"\right)^{-1}", sp.diff(inverse, X)),
        Line(
            rf"-\left({latex(u)}\right)^{{-2}} \cdot \left({latex(du)}\right)",
            -(u**-2) * du,
            r"\text{power rule, then the chain rule}",
        ),
        Line(latex(sp.diff(inverse, X)), sp.diff(inverse, X), r"\text{the two minus signs cancel}"),
        Line(
            rf"{latex(inverse)} \cdot {latex(sp.exp(-X) / u)}",
            inverse * (sp.exp(-X) / u),
            r"\text{split the fraction}",
        ),
        Line(
            rf"{latex(inverse)} \cdot \left(1 - {latex(inverse)}\right)",
            inverse * (1 - inverse),
            r"\text{since } e^{-x} = \left(1 + e^{-x}\right) - 1",
        ),
        Line(rf"{latex(sigma)} \left(1 - {latex(sigma)}\right)", sigma * (1 - sigma)),
    ]
    # The last line is what derive differentiates sigma to (derive.functions.sigmoid.fdiff).
    if sp.diff(sigma, X) - lines[-1].expr != 0:
        raise SiteError("sigmoid: derive's derivative is not sigma(x)(1 - sigma(x))")
    return proven("sigmoid", r"\sigma'(x)", lines)


def half_sse_derivation() -> dict[str, str]:
    """d/da of 1/2 (t - a)^2, and of (t - a)^2 without the half, for comparison."""
    half = sp.Rational(1, 2) * (T - A) ** 2
    lines = [
        Line(
            rf"\frac{{1}}{{2}} \cdot 2\left({latex(T - A)}\right) \cdot \left(-1\right)",
            sp.Rational(1, 2) * 2 * (T - A) * (-1),
            r"\text{power rule, then the chain rule}",
        ),
        Line(latex(sp.diff(half, A)), sp.diff(half, A)),
    ]
    whole, doubled = (T - A) ** 2, sp.Mul(2, A - T, evaluate=False)
    if sp.expand(sp.diff(whole, A) - doubled) != 0:
        raise SiteError("squared error: its derivative is not 2(a - t)")
    without = rf"\frac{{\partial}}{{\partial a}}\,{latex(whole)} = {latex(doubled)}"
    lhs = rf"\frac{{\partial}}{{\partial a}}\,{latex(half)}"
    return {"half": proven("half squared error", lhs, lines), "without": rf"\[{without}\]"}


def sigmoid_at(net: float, step: float = 1e-6) -> dict[str, float]:
    """sigma at a net input, sigma(1 - sigma) there, and the central difference that checks it."""
    a = 1 / (1 + math.exp(-net))
    up, down = 1 / (1 + math.exp(-(net + step))), 1 / (1 + math.exp(-(net - step)))
    return {"net": net, "a": a, "slope": a * (1 - a), "difference": (up - down) / (2 * step)}

"""The derivation as LaTeX or plain text: forward equations, chains, path sums, closed forms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
from sympy.printing.str import StrPrinter

from derive.backward import ProductSums, Step
from derive.chain import Factor, Gradient, PathSum
from derive.explain import Derivation
from derive.network import Network


@dataclass(frozen=True)
class Style:
    """How one output format writes a symbol, an expression, a derivative, a product and `=`."""

    expr: Callable[[sp.Expr], str]
    derivative: Callable[[sp.Symbol, sp.Symbol], str]
    times: str
    equals: str


def latex_expr(expr: sp.Expr) -> str:
    return sp.latex(expr, order="none")


def latex_derivative(of: sp.Symbol, by: sp.Symbol) -> str:
    return rf"\frac{{\partial {latex_expr(of)}}}{{\partial {latex_expr(by)}}}"


class TextPrinter(ProductSums, StrPrinter):
    """sympy.sstr with factors and terms in the order they were built (order="none")."""

    def __init__(self):
        super().__init__({"order": "none"})


def text_expr(expr: sp.Expr) -> str:
    return TextPrinter().doprint(expr)


def text_derivative(of: sp.Symbol, by: sp.Symbol) -> str:
    return f"d{of.name}/d{by.name}"


LATEX = Style(latex_expr, latex_derivative, r" \cdot ", " = ")
TEXT = Style(text_expr, text_derivative, " * ", " = ")


def forward_lines(network: Network, style: Style) -> list[str]:
    """One line per forward equation: h1 = w1 i1 + w2 i2, a_h1 = sigma(h1), ..., E_total = ..."""
    return [style.expr(s) + style.equals + style.expr(e) for s, e in network.equations]


def product(factors: tuple[Factor, ...], style: Style) -> str:
    return style.times.join(style.derivative(f.of, f.by) for f in factors)


def factor_lines(factors: tuple[Factor, ...], style: Style) -> list[str]:
    return [style.derivative(f.of, f.by) + style.equals + style.expr(f.value) for f in factors]


def path_sum_line(path_sum: PathSum, style: Style) -> str:
    """dE_total/da_h1 = sum over paths of the path's factors = the sum's value."""
    terms = " + ".join(product(path, style) for path in path_sum.paths)
    return (
        style.derivative(path_sum.of, path_sum.by)
        + style.equals
        + terms
        + style.equals
        + style.expr(path_sum.value)
    )


def gradient_lines(gradient: Gradient, style: Style) -> list[str]:
    """The chain, each factor's derivative, the path sums behind it, then the closed form."""
    loss = gradient.chain[0].of
    head = style.derivative(loss, gradient.parameter)
    # A factor that a path sum expands is written once, as that sum.
    expanded = {(s.of, s.by) for s in gradient.sums}
    plain = tuple(f for f in gradient.chain if (f.of, f.by) not in expanded)
    return [
        head + style.equals + product(gradient.chain, style),
        *factor_lines(plain, style),
        *(path_sum_line(s, style) for s in gradient.sums),
        head + style.equals + style.expr(gradient.closed_form),
    ]


def assignment_lines(steps: tuple[Step, ...], style: Style) -> list[str]:
    return [style.expr(s) + style.equals + style.expr(e) for s, e in steps]


def document(derivation: Derivation, style: Style) -> str:
    """The whole derivation as text, a blank line between sections (what `derive show` prints):
    forward equations, the delta recursion and gradient rules, then each chain; past the size
    limit a note first says which chains are shown."""
    sections = [
        [derivation.note] if derivation.note else [],
        forward_lines(derivation.network, style),
        assignment_lines(derivation.deltas, style),
        [
            style.derivative(derivation.network.loss, p) + style.equals + style.expr(e)
            for p, e in derivation.gradient_rules
        ],
        *(gradient_lines(g, style) for g in derivation.chains),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"

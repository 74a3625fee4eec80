"""The activation functions as SymPy functions, so that equations read a_h1 = sigma(h1).

Each one knows its own derivative (`fdiff`) and how to be rewritten in elementary functions
(`rewrite(sympy.exp)`, `rewrite(sympy.Piecewise)`); `lemmas()` proves those two agree, so every
derivative SymPy takes through these functions rests on plain calculus.
"""

from __future__ import annotations

import sympy as sp


class sigmoid(sp.Function):
    r"""The logistic function 1 / (1 + e^{-x})."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _latex(self, printer) -> str:
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


class relu(sp.Function):
    """max(0, x)."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return step(self.args[0])

    def _eval_rewrite_as_Piecewise(self, x, **kwargs):
        return sp.Piecewise((x, x > 0), (0, True))

    def _latex(self, printer) -> str:
        return rf"\operatorname{{ReLU}}\left({printer._print(self.args[0])}\right)"


class step(sp.Function):
    """ReLU's derivative: 1 for x > 0, else 0 (0 at x = 0, as PyTorch takes it)."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero

    def _eval_rewrite_as_Piecewise(self, x, **kwargs):
        return sp.Piecewise((1, x > 0), (0, True))

    def _latex(self, printer) -> str:
        return rf"\mathbb{{1}}\left[{printer._print(self.args[0])} > 0\right]"


class logsumexp(sp.Function):
    """ln(e^x1 + ... + e^xn); softmax outputs are exp(o_k - logsumexp(o)), safe from overflow."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.exp(self.args[argindex - 1] - self)

    def _eval_rewrite_as_exp(self, *xs, **kwargs):
        return sp.log(sp.Add(*(sp.exp(x) for x in xs)))

    def _latex(self, printer) -> str:
        terms = " + ".join(rf"e^{{{printer._print(x)}}}" for x in self.args)
        return rf"\ln\left({terms}\right)"


class linear(sp.Function):
    """The identity, kept as a function so a_h1 = h1 stays one term that SymPy does not merge."""

    is_real = True

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.One

    def _latex(self, printer) -> str:
        return printer._print(self.args[0])


def activate(name: str, x: sp.Expr) -> sp.Expr:
    """The activation `name` applied to x (softmax is built per layer, see network.py)."""
    return {"sigmoid": sigmoid, "tanh": sp.tanh, "relu": relu, "linear": linear}[name](x)


def lemmas() -> dict[str, sp.Expr]:
    """Each function's `fdiff` minus the derivative of its elementary form: all must be 0."""
    x, y = sp.symbols("x y", real=True)
    lse = logsumexp(x, y)
    return {
        "sigmoid": _rewritten(sp.diff(sigmoid(x), x) - sp.diff(sigmoid(x).rewrite(sp.exp), x)),
        "logsumexp": _rewritten(sp.diff(lse, x) - sp.diff(lse.rewrite(sp.exp), x)),
        "relu": sp.piecewise_fold(
            (sp.diff(relu(x), x) - sp.diff(relu(x).rewrite(sp.Piecewise), x)).rewrite(sp.Piecewise)
        ),
    }


def _rewritten(expr: sp.Expr) -> sp.Expr:
    return sp.simplify(expr.rewrite(sp.exp))

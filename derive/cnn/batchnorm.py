"""BatchNorm in evaluation mode is an affine map, so it folds into the convolution before it.

After training, y = gamma (z - mu) / sqrt(var + eps) + beta per channel, with z = sum K x + b the
convolution. That is linear in every x: SymPy differentiates y by each x to find the folded
kernel entry, and evaluates y at x = 0 to find the folded bias. `fold_residual` proves the folded
convolution equal to BatchNorm of the original one for every x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

TERMS = 4  # a 2x2 kernel's worth of terms shows the pattern; the result holds for any count


@dataclass(frozen=True)
class Fold:
    xs: tuple[sp.Symbol, ...]
    kernel: tuple[sp.Symbol, ...]
    bias: sp.Symbol
    gamma: sp.Symbol
    beta: sp.Symbol
    mean: sp.Symbol
    var: sp.Symbol
    eps: sp.Symbol
    normalised: sp.Expr  # BatchNorm of the convolution
    folded_kernel: tuple[sp.Expr, ...]  # d normalised / d x_i
    folded_bias: sp.Expr  # normalised at x = 0

    @property
    def folded(self) -> sp.Expr:
        return sp.Add(*(k * x for k, x in zip(self.folded_kernel, self.xs, strict=True))) + (
            self.folded_bias
        )


def fold_derivation() -> Fold:
    xs = sp.symbols(f"x0:{TERMS}", real=True)
    kernel = sp.symbols(f"K0:{TERMS}", real=True)
    b, gamma, beta, mean = sp.symbols("b gamma beta mu", real=True)
    var, eps = sp.symbols("sigma^2 epsilon", positive=True)
    z = sp.Add(*(k * x for k, x in zip(kernel, xs, strict=True))) + b
    normalised = gamma * (z - mean) / sp.sqrt(var + eps) + beta
    folded_kernel = tuple(sp.diff(normalised, x) for x in xs)
    folded_bias = sp.factor_terms(normalised.subs(dict.fromkeys(xs, 0)))
    return Fold(xs, kernel, b, gamma, beta, mean, var, eps, normalised, folded_kernel, folded_bias)


def fold_residual(fold: Fold) -> sp.Expr:
    """BatchNorm(conv(x)) minus the folded conv(x), expanded: 0 for every x and parameter."""
    return sp.expand(fold.normalised - fold.folded)


def fold_arrays(conv: dict, norm: dict, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of the conv with the BatchNorm after it folded in, from the derived forms."""
    fold = fold_derivation()
    scale = sp.lambdify((fold.gamma, fold.var, fold.eps), fold.folded_kernel[0] / fold.kernel[0])
    shift = sp.lambdify(
        (fold.bias, fold.gamma, fold.beta, fold.mean, fold.var, fold.eps), fold.folded_bias
    )
    factor = scale(norm["weight"], norm["running_var"], eps)
    bias = conv.get("bias", np.zeros(len(factor)))
    weight = conv["weight"] * factor[:, None, None, None]
    return weight, shift(
        bias, norm["weight"], norm["bias"], norm["running_mean"], norm["running_var"], eps
    )

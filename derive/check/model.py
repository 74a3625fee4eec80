"""What each column of a sheet must hold: the derived expression of every forward symbol and
gradient in the columns of the same row, as SymPy (to compare formulas) and as NumPy functions
and the rounding each carries from its arguments (to compare typed values at the precision they
carry)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import sympy as sp

from derive.backward import backward_program, softmax_symbols
from derive.chain import backward, gradients
from derive.config import Config
from derive.evaluate import NUMPY_FUNCTIONS, gradient_symbol, values_args
from derive.functions import elementary as elementary  # re-exported (check.explain)
from derive.network import Network, build_network

PREVIOUS = "@prev"  # suffix of a symbol that stands for the row above's value
LEARNING_RATE = sp.Symbol("lr", real=True)


@dataclass(frozen=True)
class Equation:
    """key = expr in the symbols `args`; `function` the same in NumPy."""

    key: str
    expr: sp.Expr
    args: tuple[str, ...]
    function: Callable

    def carried(self, values: Sequence[np.ndarray], units: Sequence[np.ndarray | float]):
        """The rounding the arguments carry (`units`: half a unit of each one's last digit, 0 for
        an exact one) carried into the result: the sum of |d function / d arg| times it. Each
        slope is a central difference: a relative step of 1e-6 is exact enough for a tolerance,
        and takes microseconds where a SymPy derivative lambdified takes milliseconds (a
        64-64-64-64 net's 49,920 took minutes)."""
        total = np.zeros(np.shape(values[0]) if values else ())
        for k, unit in enumerate(units):
            if np.isscalar(unit) and unit == 0:
                continue  # an exact argument carries nothing
            x = np.asarray(values[k], dtype=float)
            step = 1e-6 * np.maximum(np.abs(x), 1e-6)
            up, down = list(values), list(values)
            up[k], down[k] = x + step, x - step
            with np.errstate(all="ignore"):
                rise = np.asarray(self.function(*up), float) - self.function(*down)
                slope = np.abs(rise / (2 * step))
                total = total + np.nan_to_num(slope * unit, nan=0.0, posinf=0.0)
        return total


@dataclass(frozen=True)
class Model:
    network: Network
    equations: dict[str, Equation]  # forward symbols in order, then gradients
    definitions: dict[sp.Symbol, sp.Expr]  # forward symbol or delta -> its expression
    defaults: dict[str, float]  # the config's inputs, targets, weights and biases
    givens: frozenset[str]  # inputs, targets, weights, biases: typed, not computed
    # written_out's points, by the constants they hold: made when first needed
    points: dict[tuple, list[dict]] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def fixed_biases(self) -> dict[sp.Symbol, sp.Expr]:
        """Each bias the network holds fixed, at its value (as the sheet would type it); worked
        out once (nsimplify takes milliseconds), not for every formula judged."""
        trained = set(self.network.trained)
        return {
            b: sp.nsimplify(self.defaults[b.name], rational=True)
            for b in self.network.biases
            if b not in trained
        }

    @cached_property
    def target_sum(self) -> dict[sp.Symbol, sp.Expr]:
        """Under a softmax with cross-entropy, the last target as 1 minus the others: the targets
        are a distribution (a one-hot label), so a_o1 − t1, the gradient as students write it, is
        right where the sheet's targets do sum to 1 (equivalent's `distribution`)."""
        targets = self.network.targets
        if self.network.spec.loss != "cross_entropy":
            return {}
        return {targets[-1]: 1 - sp.Add(*targets[:-1])}


def equation(key: str, expr: sp.Expr) -> Equation:
    args = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    modules = [NUMPY_FUNCTIONS, "numpy"]
    function = sp.lambdify(args, expr, modules=modules)
    return Equation(key, expr, tuple(a.name for a in args), function)


def build_model(config: Config) -> Model:
    network = build_network(config.network)
    # A softmax's lse_o and s_o, as derive's own export writes them beside the closed forms.
    shared = set(softmax_symbols(network))
    steps = backward_program(network).steps if shared else ()
    pairs = list(network.equations) + [(s, e) for s, e in steps if s in shared]
    back = backward(network)
    deltas = [(sp.Symbol(f"delta_{n.name}", real=True), back.delta[n.net]) for n in network.neurons]
    pairs += deltas
    pairs += [(gradient_symbol(g.parameter), g.closed_form) for g in gradients(network)]
    equations = {symbol.name: equation(symbol.name, expr) for symbol, expr in pairs}
    numbers = values_args(config.values)
    defaults = {s.name: v for s, v in zip(network.values_args, numbers, strict=True)}
    return Model(
        network,
        equations,
        dict(pairs) | dict(deltas),
        defaults,
        frozenset(s.name for s in network.values_args),
    )


@lru_cache(maxsize=1 << 16)
def evaluated(expr: sp.Expr) -> sp.Expr:
    """The expression as SymPy builds it by default, as a formula is read (translate.py): derive's
    own steps keep their terms in the order they are printed (evaluate=False)."""
    if not expr.args:
        return expr
    return expr.func(*(evaluated(arg) for arg in expr.args))


def previous(name: str) -> sp.Symbol:
    return sp.Symbol(name + PREVIOUS, real=True)


def update_expr(parameter: str, model: Model) -> sp.Expr:
    """The next row's weight: the row above's weight minus lr times the row above's gradient."""
    gradient = gradient_symbol(sp.Symbol(parameter)).name
    return previous(parameter) - LEARNING_RATE * previous(gradient)


def written_out(
    model: Model, fixed: dict[sp.Symbol, sp.Expr], signed: bool = False
) -> list[dict[sp.Symbol, sp.Float]]:
    """Points at which every forward symbol and delta holds what its definition gives from random
    givens (`fixed` worked out first; `signed`: inputs, weights and biases of both signs):
    comparing two formulas there is comparing them with everything written out in the givens,
    without writing out expressions (a whole 4-12-12-3 network under a sheet's MAX(o1, o2, o3)
    took SymPy minutes). Made once per model."""
    key = (tuple(sorted(fixed.items(), key=str)), signed)
    if key not in model.points:
        givens = {s for d in model.definitions.values() for s in d.free_symbols}
        givens |= {s for e in fixed.values() for s in e.free_symbols}
        points = random_points(givens - model.definitions.keys() - fixed.keys(), signed=signed)
        for point in points:
            for symbol, expr in (*fixed.items(), *model.definitions.items()):
                point[symbol] = sp.Float(evaluate(expr, point))
        model.points[key] = points
    return model.points[key]


def evaluate(expr: sp.Expr, point: dict[sp.Symbol, float]) -> float:
    value = elementary(expr).xreplace(point)
    if overflows(value):
        return float("nan")
    try:
        return complex(value.evalf()).real
    except (TypeError, ValueError):
        return float("nan")


MAX_EXPONENT = 1e4  # e^10000 is past any float: EXP of more is not worked out


def overflows(value: sp.Expr) -> bool:
    """An exp of an exp whose argument is past MAX_EXPONENT (EXP(EXP(EXP(100))) would have SymPy
    work out a number of 10^43 digits), checked innermost first."""
    for node in sp.postorder_traversal(value):
        if node.func is sp.exp and node.args[0].has(sp.exp):
            try:
                if abs(complex(node.args[0].evalf())) > MAX_EXPONENT:
                    return True
            except (TypeError, ValueError):
                return False
    return False


def random_points(
    symbols, count: int = 3, seed: int = 7, signed: bool = False
) -> list[dict[sp.Symbol, float]]:
    """Points to compare expressions at: values in (0.1, 0.9), away from any special value;
    `signed`: of either sign, but for targets and activations (t1, a_h1), which a logarithm
    may take."""
    rng = np.random.default_rng(seed + signed)
    ordered = sorted(symbols, key=lambda s: s.name)
    points = []
    for _ in range(count):
        values = rng.uniform(0.1, 0.9, len(ordered))
        signs = rng.choice([-1.0, 1.0], len(ordered)) if signed else np.ones(len(ordered))
        points.append(
            {
                s: sp.Float(float(v if s.name[0] == "t" or s.name.startswith("a_") else m * v))
                for s, v, m in zip(ordered, values, signs, strict=True)
            }
        )
    return points


KINKED = (sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign)


def kinked(expr: sp.Expr) -> bool:
    """A function that takes another form past a point (ReLU's max(0, h1), IF, ABS): positive
    points alone would take h1 for it."""
    return elementary(expr).has(*KINKED)


def same(a: sp.Expr, b: sp.Expr, points: list[dict]) -> bool:
    """a and b agree at every point (to 1e-9 relative): the same function of their symbols."""
    for point in points:
        x, y = evaluate(a, point), evaluate(b, point)
        if not (np.isfinite(x) and np.isfinite(y)) or abs(x - y) > 1e-9 * max(
            abs(x), abs(y), 1e-12
        ):
            return False
    return True


def equivalent(sheet: sp.Expr, derived: sp.Expr, model: Model, distribution: bool = False) -> bool:
    """The same function, column by column, or once every forward symbol is written out (at
    written_out's points). A fixed bias is a constant: typed as its number in a formula
    (=w1*i1+w2*i2+0.35) it is right; so is a softmax's last target (Model.target_sum) where the
    sheet's targets sum to 1."""
    fixed = model.fixed_biases | (model.target_sum if distribution else {})
    sheet, derived = sheet.xreplace(fixed), derived.xreplace(fixed)
    signs = (False, True) if kinked(sheet) or kinked(derived) else (False,)
    return all(agree(sheet, derived, model, fixed, signed) for signed in signs)


def agree(sheet: sp.Expr, derived: sp.Expr, model: Model, fixed: dict, signed: bool) -> bool:
    """equivalent's comparison at points of one kind: positive, or `signed` (either sign)."""
    symbols = sheet.free_symbols | derived.free_symbols
    if same(sheet, derived, random_points(symbols, signed=signed)):
        return True
    points = written_out(model, fixed, signed)
    rest = random_points(symbols - points[0].keys(), signed=signed)  # lr, a cell not known
    return same(sheet, derived, [p | q for p, q in zip(points, rest, strict=True)])

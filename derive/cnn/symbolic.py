"""A small CNN scalar by scalar in SymPy, and its backpropagation derived one local derivative at a
time.

Every pixel, kernel entry, feature-map value and class score is a symbol; the forward pass is one
equation per value (z[0,1,2] = K[0,0,0] x[1,2] + ... + b[0]). Backpropagation is then the chain
rule and nothing else: a value's delta, dE/d(value), is the sum over the equations that use it of
their delta times SymPy's derivative of that equation by it. What a reader learns about a CNN
falls out of those sums instead of being asserted:

- a kernel entry is used at every output position, so dE/dK[o,c,u,v] is a sum over positions;
- a pixel is used by every window that covers it, with the kernel entry at its offset there, so
  dE/dx is the deltas correlated with the kernel flipped;
- the derivative of a window's maximum is 1 for its winner and 0 for the rest (maximum.fdiff,
  proven in derive/cnn/functions.py), so a max-pool routes each delta to one value;
- through softmax and cross-entropy, dE/dz_k comes out as p_k (t_0 + ... + t_n) - t_k: p_k - t_k.

`proof_residual` compares each result with sympy.diff of the loss written out in that variable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from derive.chain import written_out
from derive.cnn.functions import maximum, numpy_maximum, numpy_winner
from derive.cnn.spec import CNNConfig, CNNSpec, Layer
from derive.functions import logsumexp, relu
from derive.limits import TooLarge
from derive.numpy_program import NUMPY_FUNCTIONS

# Past this many scalar equations a written-out derivation stops being something to read (the
# teaching net has 79); the array program (derive/cnn/engine.py) computes every size.
MAX_EQUATIONS = 1_500

# The letter of each layer kind's outputs, and of each array (LaTeX).
OUTPUT_LETTERS = {
    "conv": "z",
    "batchnorm": "y",
    "relu": "r",
    "maxpool": "m",
    "gap": "g",
    "dense": "s",
}
ARRAY_LETTERS = {
    ("conv", "weight"): "K",
    ("conv", "bias"): "b",
    ("dense", "weight"): "W",
    ("dense", "bias"): "c",
    ("batchnorm", "weight"): r"\gamma",
    ("batchnorm", "bias"): r"\beta",
    ("batchnorm", "running_mean"): r"\mu",
    ("batchnorm", "running_var"): r"\sigma^2",
}

Step = tuple[sp.Symbol, sp.Expr]


@dataclass(frozen=True)
class ScalarNet:
    config: CNNConfig
    pixels: np.ndarray  # symbols shaped (C, H, W)
    targets: tuple[sp.Symbol, ...]
    arrays: dict[str, np.ndarray]  # "layer.array" -> symbols, every array in the config's order
    trained: tuple[str, ...]  # the keys of `arrays` that gradient descent updates
    outputs: tuple[np.ndarray, ...]  # each layer's output symbols
    equations: tuple[Step, ...]  # the forward pass in order, ending in E
    probabilities: tuple[sp.Symbol, ...]
    lse: sp.Symbol
    loss: sp.Symbol
    latex_names: dict[sp.Symbol, str]

    @property
    def spec(self) -> CNNSpec:
        return self.config.network

    @property
    def logits(self) -> tuple[sp.Symbol, ...]:
        return tuple(self.outputs[-1].ravel())

    @property
    def parameters(self) -> tuple[sp.Symbol, ...]:
        """Every trained scalar, in the config's order."""
        return tuple(s for key in self.trained for s in self.arrays[key].ravel())

    @property
    def arguments(self) -> tuple[sp.Symbol, ...]:
        """Every free symbol: pixels, targets, then every array (held ones too), config order."""
        arrays = (s for array in self.arrays.values() for s in array.ravel())
        return (*self.pixels.ravel(), *self.targets, *arrays)

    def argument_values(self) -> tuple[float, ...]:
        values = self.config.values
        arrays = (v for group in values.arrays.values() for a in group.values() for v in a.ravel())
        return (*values.image.ravel(), *values.target, *arrays)


def index_text(index: tuple[int, ...]) -> str:
    return ",".join(map(str, index))


def symbol_array(
    name: str, latex: str, shape: tuple[int, ...], names: dict, keep: tuple[bool, ...]
) -> np.ndarray:
    """Real symbols name[i,j,...] shaped `shape`; LaTeX latex_{...} showing the axes in `keep`."""
    array = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        symbol = sp.Symbol(f"{name}[{index_text(index)}]", real=True)
        shown = tuple(i for i, k in zip(index, keep, strict=True) if k)
        names[symbol] = f"{latex}_{{{index_text(shown)}}}" if shown else latex
        array[index] = symbol
    return array


def layer_letters(spec: CNNSpec) -> list[str]:
    """Each layer's output letter; numbered (z1, z2) where a kind occurs more than once."""
    kinds = [layer.kind for layer in spec.layers]
    seen: dict[str, int] = {}
    letters = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        number = str(seen[kind]) if kinds.count(kind) > 1 else ""
        letters.append(OUTPUT_LETTERS[kind] + number)
    return letters


def unevaluated_sum(terms: list[sp.Expr]) -> sp.Expr:
    # Unevaluated: the terms already read in the order of the kernel's rows and columns.
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]


def conv_equations(layer: Layer, x: np.ndarray, kernel: np.ndarray, bias, out: np.ndarray):
    c_in = x.shape[0]
    per_group_in, per_group_out = c_in // layer.groups, layer.channels // layer.groups
    q = layer.padding
    for o, i, j in np.ndindex(out.shape):
        first = (o // per_group_out) * per_group_in
        terms = [
            sp.Mul(kernel[o, c, u, v], x[first + c, i + u - q, j + v - q], evaluate=False)
            for c in range(per_group_in)
            for u in range(layer.kernel)
            for v in range(layer.kernel)
            if 0 <= i + u - q < x.shape[1] and 0 <= j + v - q < x.shape[2]
        ]
        if bias is not None:
            terms.append(bias[o])
        yield out[o, i, j], unevaluated_sum(terms)


def layer_equations(layer: Layer, x: np.ndarray, arrays: dict, out: np.ndarray):
    """(symbol, expression) for each of the layer's outputs, given its input symbols x."""
    get = arrays.get
    name = layer.name
    if layer.kind == "conv":
        yield from conv_equations(layer, x, arrays[f"{name}.weight"], get(f"{name}.bias"), out)
    elif layer.kind == "relu":
        yield from ((out[i], relu(x[i])) for i in np.ndindex(out.shape))
    elif layer.kind == "maxpool":
        for c, i, j in np.ndindex(out.shape):
            window = x[c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].ravel()
            yield out[c, i, j], maximum(*window)
    elif layer.kind == "batchnorm":
        g, b = arrays[f"{name}.weight"], arrays[f"{name}.bias"]
        mu, var = arrays[f"{name}.running_mean"], arrays[f"{name}.running_var"]
        for c, i, j in np.ndindex(out.shape):
            scale = g[c] / sp.sqrt(var[c] + sp.Float(layer.eps))
            yield out[c, i, j], scale * (x[c, i, j] - mu[c]) + b[c]
    elif layer.kind == "gap":
        for c in range(out.shape[0]):
            yield out[c], sp.Rational(1, x[c].size) * unevaluated_sum(list(x[c].ravel()))
    else:  # dense, on the input flattened in C order as torch's Flatten
        flat, weight, bias = x.ravel(), arrays[f"{name}.weight"], get(f"{name}.bias")
        for k in range(out.shape[0]):
            terms = [sp.Mul(weight[k, j], flat[j], evaluate=False) for j in range(flat.size)]
            yield out[k], unevaluated_sum([*terms, *([bias[k]] if bias is not None else [])])


def scalar_network(config: CNNConfig) -> ScalarNet:
    """Symbols and forward equations of a small CNN; TooLarge past MAX_EQUATIONS."""
    spec = config.network
    shapes = spec.shapes()
    n_equations = sum(math.prod(s) for s in shapes) + 2 * shapes[-1][0] + 2
    if n_equations > MAX_EQUATIONS:
        raise TooLarge(
            f"{n_equations:,} scalar equations: a CNN is derived scalar by scalar up to "
            f"{MAX_EQUATIONS:,} (its numbers come from the array program at every size)"
        )
    names: dict[sp.Symbol, str] = {}
    c = spec.input_shape[0]
    pixels = symbol_array("x", "x", spec.input_shape, names, (c > 1, True, True))
    kinds = {layer.name: layer for layer in spec.layers if layer.name}
    arrays, trained = {}, []
    for name, group in config.values.arrays.items():
        layer = kinds[name]
        for key, values in group.items():
            letter = ARRAY_LETTERS[layer.kind, key]
            same_kind = [x for x in spec.layers if x.kind == layer.kind]
            if len(same_kind) > 1:
                letter = f"{letter}^{{({same_kind.index(layer) + 1})}}"
            keep = tuple(n > 1 for n in values.shape)
            if layer.kind in ("conv", "dense") and key == "weight":
                keep = (True, values.shape[1] > 1, True, True)[: values.ndim]
            arrays[f"{name}.{key}"] = symbol_array(
                f"{name}.{key}", letter, values.shape, names, keep
            )
            if key in layer.trained_arrays:
                trained.append(f"{name}.{key}")
    equations: list[Step] = []
    outputs = []
    x = pixels
    for layer, shape, letter in zip(spec.layers, shapes, layer_letters(spec), strict=True):
        out = symbol_array(letter, letter, shape, names, tuple(True for _ in shape))
        equations += layer_equations(layer, x, arrays, out)
        outputs.append(out)
        x = out
    logits = tuple(x.ravel())
    targets = tuple(symbol_array("t", "t", (len(logits),), names, (True,)))
    lse = sp.Symbol("lse", real=True)
    names[lse] = r"\operatorname{lse}"
    probabilities = tuple(symbol_array("p", "p", (len(logits),), names, (True,)))
    equations.append((lse, logsumexp(*logits)))
    equations += [(p, sp.exp(z - lse)) for p, z in zip(probabilities, logits, strict=True)]
    loss = sp.Symbol("E", real=True)
    names[loss] = "E"
    terms = [-t * sp.log(p) for t, p in zip(targets, probabilities, strict=True)]
    equations.append((loss, sp.Add(*terms)))
    return ScalarNet(
        config,
        pixels,
        targets,
        arrays,
        tuple(trained),
        tuple(outputs),
        tuple(equations),
        probabilities,
        lse,
        loss,
        names,
    )


def delta_symbol(symbol: sp.Symbol) -> sp.Symbol:
    """dE/dz[0,1,2]: the delta of a value, or the gradient of a parameter or pixel."""
    return sp.Symbol(f"dE/d{symbol.name}", real=True)


@dataclass(frozen=True)
class Term:
    """One use of a variable: the equation of `user` uses it, with d user / d variable = local."""

    user: sp.Symbol
    local: sp.Expr


@dataclass(frozen=True)
class Backprop:
    """dE/dv = sum over the equations that use v of dE/d(user) x d user / dv, for every v."""

    net: ScalarNet
    uses: dict[sp.Symbol, tuple[Term, ...]]  # every forward value, parameter and pixel
    # dE/dv as an expression in the users' delta symbols (softmax and cross-entropy inlined)
    delta: dict[sp.Symbol, sp.Expr]
    order: tuple[sp.Symbol, ...]  # forward values, last first, whose delta is a program step

    @cached_property
    def closed(self) -> dict[sp.Symbol, sp.Expr]:
        """dE/dv written out in forward values: every delta symbol replaced by its expression."""
        done: dict[sp.Symbol, sp.Expr] = {}
        for v in self.order:
            done[delta_symbol(v)] = self.delta[v].xreplace(done)
        variables = (*self.net.parameters, *self.net.pixels.ravel())
        return {
            **{v: done[delta_symbol(v)] for v in self.order},
            **{v: self.delta[v].xreplace(done) for v in variables},
        }

    def steps(self) -> tuple[Step, ...]:
        """The backward program: one delta per forward value, then every gradient."""
        variables = (*self.net.parameters, *self.net.pixels.ravel())
        return tuple((delta_symbol(v), self.delta[v]) for v in (*self.order, *variables))


def backprop(net: ScalarNet) -> Backprop:
    """Each variable's uses and delta, from SymPy's derivative of each equation that uses it."""
    definitions = dict(net.equations)
    # Derivatives come back in terms of the definitions (d relu(z)/dz = step(z), d exp(s - lse)/ds
    # = exp(s - lse)): written back as the symbols they define (p_k), they read as they should.
    as_symbol = {e: s for s, e in net.equations if isinstance(e, sp.Function | sp.exp)}
    variables = {*net.parameters, *net.pixels.ravel(), *definitions}
    uses: dict[sp.Symbol, list[Term]] = {}
    for user, expr in net.equations:
        for v in sorted(expr.free_symbols & variables, key=sp.default_sort_key):
            # Twice: xreplace rebuilds exp(s - logsumexp(s)) as exp(s - lse) without matching
            # the result against the map again.
            local = sp.diff(expr, v).xreplace(as_symbol).xreplace(as_symbol)
            uses.setdefault(v, []).append(Term(user, local))
    # Softmax and cross-entropy are inlined: their deltas multiply out (-t_k / p_k x p_k = -t_k),
    # so dE/ds_k is finite and reads p_k (t_0 + ... + t_n) - t_k.
    inlined = {net.loss: sp.S.One}
    for v in (*net.probabilities, net.lse):
        inlined[v] = sp.Add(*(inlined[t.user] * t.local for t in uses[v]))
    order = tuple(s for s, _ in reversed(net.equations) if s not in inlined)
    delta: dict[sp.Symbol, sp.Expr] = {}

    def user_delta(user: sp.Symbol) -> sp.Expr:
        return inlined[user] if user in inlined else delta_symbol(user)

    for v in (*order, *net.parameters, *net.pixels.ravel()):
        terms = [
            user_delta(t.user) * t.local
            if t.user in inlined
            else sp.Mul(delta_symbol(t.user), t.local, evaluate=False)
            for t in uses.get(v, ())
        ]
        delta[v] = sp.Add(*terms) if terms else sp.S.Zero
    return Backprop(net, {v: tuple(ts) for v, ts in uses.items()}, delta, order)


def proof_residual(back: Backprop, variable: sp.Symbol) -> sp.Expr:
    """The derived dE/d(variable) minus sympy.diff of E written out in the variable: 0 when
    proven (as derive.chain.proof_residual does for dense nets)."""
    out = written_out(back.net, variable)
    expected = sp.diff(out[back.net.loss], variable)
    derived = back.closed[variable].xreplace(out)
    renaming = {expr: symbol for symbol, expr in out.items()}
    return sp.expand((derived - expected).xreplace(renaming))


SCALAR_FUNCTIONS = {
    **NUMPY_FUNCTIONS,
    "maximum": numpy_maximum,
    "winner": numpy_winner,
}


def evaluate(back: Backprop) -> dict[sp.Symbol, float]:
    """Every forward value, delta and gradient at the config's values (the scalar program run
    step by step on floats)."""
    net = back.net
    known: dict[sp.Symbol, float] = dict(zip(net.arguments, net.argument_values(), strict=True))
    modules = [SCALAR_FUNCTIONS, "numpy"]
    for symbol, expr in (*net.equations, *back.steps()):
        free = sorted(expr.free_symbols, key=lambda s: s.name)
        function = sp.lambdify(free, expr, modules=modules)
        with np.errstate(all="ignore"):
            known[symbol] = float(function(*(known[s] for s in free)))
    return known

"""The network's functions, one record each: everything every printer and evaluator takes of them.

A record holds the function's definition and its derivative as SymPy text (derive/functions.py
turns them into SymPy functions and proves the derivative), its NumPy and plain-Python forms,
its spreadsheet formula, its LaTeX and the short name the diagrams draw. Its JavaScript is the
function of the same name in derive/operations.js. Adding an activation is one record here and
one function there; tests/test_operations.py runs every record through every backend.

No SymPy here: configs, the cached NumPy program and the table's loop read these records
without loading it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LARGEST_EXP_ARGUMENT = 709.78  # math.exp(709.79) overflows float64
LEAKY_SLOPE = 0.01  # leaky ReLU's slope below 0, PyTorch's default negative_slope


@dataclass(frozen=True)
class Operation:
    """One function f of the network. `definition` and `derivative` are SymPy text: the
    definition in the arguments as `elementary(*args)` writes them, the derivative in `x` (the
    argument differentiated by) and `y` (= f itself), and may use the other records."""

    name: str  # in every language: sigmoid(h1)
    about: str  # one line for people
    elementary: Callable[..., str]  # SymPy text of the definition in plain functions
    derivative: str  # df/dx, in x and y = f(...)
    numpy: Callable  # on arrays; a result that is finite is computed without overflow
    scalar: Callable  # on Python floats: inf or nan where NumPy gives them, never OverflowError
    # Formula text from the arguments' (derive/spreadsheet.py's Argument: the text as it reads
    # inside a call, `.operand` as it reads next to an operator).
    spreadsheet: Callable[..., str]
    latex: Callable[..., str]  # LaTeX from the arguments' LaTeX
    label: str  # drawn beside a neuron: σ, ReLU
    activation: bool = True  # a layer may use it (network.activation in a config)
    arity: int | None = 1  # None: any number of arguments


def scalar_exp(x: float) -> float:
    """e^x on a Python float: inf past the largest float, where math.exp raises."""
    if x <= LARGEST_EXP_ARGUMENT:
        return math.exp(x)
    return math.inf if x > 0 else x  # nan stays nan


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = scalar_exp(x)  # nan stays nan
    return e / (1 + e)


def _logsumexp(*xs: float) -> float:
    top = max(xs)
    if math.isnan(top) or any(math.isnan(x) for x in xs):
        return math.nan
    if math.isinf(top):
        return top
    return top + math.log(math.fsum(math.exp(x - top) for x in xs))


def _logsumexp_formula(*xs: str) -> str:
    # max + ln(sum of e^(x - max)): the largest term is e^0, so nothing overflows.
    top = f"MAX({','.join(xs)})"
    return f"({top}+LN({'+'.join(f'EXP({x}-{top})' for x in xs)}))"


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "sigmoid",
            "the logistic function 1 / (1 + e^-x)",
            elementary=lambda x: f"1/(1 + exp(-({x})))",
            derivative="y*(1 - y)",
            # exp(-log(1 + e^-x)): never overflows, unlike 1 / (1 + exp(-x)) for x << 0.
            numpy=lambda x: np.exp(-np.logaddexp(0.0, -x)),
            scalar=_sigmoid,
            # e^min(0,x) / (1 + e^-|x|): 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below.
            spreadsheet=lambda x: f"(EXP(MIN(0,{x}))/(1+EXP(-ABS({x}))))",
            latex=lambda x: rf"\sigma\left({x}\right)",
            label="σ",
        ),
        Operation(
            "tanh",
            "the hyperbolic tangent (e^x - e^-x) / (e^x + e^-x)",
            elementary=lambda x: f"tanh({x})",
            derivative="1 - y**2",
            numpy=np.tanh,
            scalar=math.tanh,
            spreadsheet=lambda x: f"TANH({x})",
            latex=lambda x: rf"\tanh\left({x}\right)",
            label="tanh",
        ),
        Operation(
            "relu",
            "max(0, x)",
            elementary=lambda x: f"Piecewise(({x}, {x} > 0), (0, True))",
            derivative="step(x)",
            numpy=lambda x: np.maximum(x, 0.0),
            scalar=lambda x: x if x > 0 else (0.0 if x <= 0 else x),  # nan stays nan
            spreadsheet=lambda x: f"MAX(0,{x})",
            latex=lambda x: rf"\operatorname{{ReLU}}\left({x}\right)",
            label="ReLU",
        ),
        Operation(
            "leaky_relu",
            f"x for x > 0, else {LEAKY_SLOPE} x",
            elementary=lambda x: f"Piecewise(({x}, {x} > 0), ({x}/100, True))",
            derivative="1/100 + 99*step(x)/100",
            numpy=lambda x: np.where(np.asarray(x) > 0, x, LEAKY_SLOPE * np.asarray(x)),
            scalar=lambda x: x if x > 0 else LEAKY_SLOPE * x,
            spreadsheet=lambda x: f"MAX({x},{LEAKY_SLOPE}*{x.operand})",
            latex=lambda x: rf"\operatorname{{LeakyReLU}}\left({x}\right)",
            label="LReLU",
        ),
        Operation(
            "linear",
            "the identity, kept as a function so a_h1 = h1 stays one term",
            elementary=lambda x: f"({x})",
            derivative="1",
            numpy=lambda x: x,
            scalar=lambda x: x,
            spreadsheet=lambda x: x.operand,
            latex=lambda x: x,
            label="id",
        ),
        Operation(
            "step",
            "ReLU's derivative: 1 for x > 0, else 0 (0 at x = 0, as PyTorch takes it)",
            elementary=lambda x: f"Piecewise((1, {x} > 0), (0, True))",
            derivative="0",
            numpy=lambda x: np.where(np.asarray(x) > 0, 1.0, 0.0),
            scalar=lambda x: 1.0 if x > 0 else 0.0,
            spreadsheet=lambda x: f"IF({x}>0,1,0)",
            latex=lambda x: rf"\mathbb{{1}}\left[{x} > 0\right]",
            label="step",
            activation=False,
        ),
        Operation(
            "logsumexp",
            "ln(e^x1 + ... + e^xn); softmax outputs are exp(o_k - logsumexp(o))",
            elementary=lambda *xs: f"log({' + '.join(f'exp({x})' for x in xs)})",
            derivative="exp(x - y)",
            numpy=lambda *xs: np.logaddexp.reduce(np.broadcast_arrays(*xs), axis=0),
            scalar=_logsumexp,
            spreadsheet=_logsumexp_formula,
            latex=lambda *xs: r"\ln\left(" + " + ".join(f"e^{{{x}}}" for x in xs) + r"\right)",
            label="lse",
            activation=False,
            arity=None,
        ),
    )
}

ACTIVATIONS = tuple(name for name, op in OPERATIONS.items() if op.activation)
NUMPY_FUNCTIONS = {name: op.numpy for name, op in OPERATIONS.items()}
SCALAR_FUNCTIONS = {name: op.scalar for name, op in OPERATIONS.items()}

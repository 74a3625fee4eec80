"""Running a printed NumPy program (derive/evaluate.py prints it): the network's functions in NumPy,
loading the printed source, calling it on arrays. No SymPy here, so a program printed before
(derive/program_cache.py) runs without loading it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from derive.config import Values


def _sigmoid(x):
    # exp(-log(1 + e^-x)): never overflows, unlike 1 / (1 + exp(-x)) for x << 0.
    return np.exp(-np.logaddexp(0.0, -x))


def _logsumexp(*xs):
    return np.logaddexp.reduce(np.broadcast_arrays(*xs), axis=0)


NUMPY_FUNCTIONS = {
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0.0),
    "step": lambda x: np.where(np.asarray(x) > 0, 1.0, 0.0),
    "logsumexp": _logsumexp,
    "linear": lambda x: x,
}


def load_program(source: str) -> Callable:
    """The function `program` defined by printed NumPy source."""
    namespace = {"numpy": np, **NUMPY_FUNCTIONS}
    exec(compile(source, "<derived program>", "exec"), namespace)  # our own printed code
    return namespace["program"]


def run_program(function: Callable, n_outputs: int, args: Sequence) -> list[np.ndarray]:
    """The program's results on float arrays (broadcast together), each of the inputs' shape."""
    # NumPy numbers, not Python floats: an overflow then gives inf (reported by the callers)
    # where Python's ** and math functions would raise OverflowError.
    arrays = [np.asarray(a, dtype=float) for a in args]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    with np.errstate(all="ignore"):
        results = function(*arrays)
    if len(results) != n_outputs:
        raise ValueError(f"the program returned {len(results)} values, not {n_outputs}")
    # A constant expression comes back as a scalar: broadcast it to the inputs' shape.
    return [np.broadcast_to(np.asarray(r, dtype=float), shape) for r in results]


def values_args(values: Values) -> tuple[float, ...]:
    """The config's numbers in the order of Network.values_args."""
    return values.inputs + values.targets + values.weights + values.biases

"""Running a printed NumPy program (derive/evaluate.py prints it): the network's functions in NumPy,
loading the printed source, calling it on arrays. No SymPy here, so a program printed before
(derive/program_cache.py) runs without loading it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from derive.config import Values
from derive.operations import NUMPY_FUNCTIONS, OPERATIONS


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


# A program as data: a list of operations, each [kind, operand, ...], evaluated in order by
# run_operations. An operand is the index of an earlier operation (for "add", "mul", "pow" and the
# functions), the argument's position ("arg") or the number itself ("num"). Nothing in it is run
# as code, so a stored program (derive/program_cache.py) can at worst be refused, never run.
OPERATION_FUNCTIONS: dict[str, Callable] = {
    **NUMPY_FUNCTIONS,
    "exp": np.exp,
    "log": np.log,
    "abs": np.abs,
    "max": lambda *xs: np.maximum.reduce(np.broadcast_arrays(*xs)),
    "min": lambda *xs: np.minimum.reduce(np.broadcast_arrays(*xs)),
}
ONE_ARGUMENT = {"exp", "log", "abs", *(name for name, op in OPERATIONS.items() if op.arity == 1)}


class BadProgram(ValueError):
    """Operations that are not a program run_operations can run; the message says where."""


def check_operations(operations: object, n_arguments: int, outputs: object) -> None:
    """Refuse anything but a well-formed program: known kinds, the right number of operands,
    each an earlier operation, an argument or a finite number, and outputs that exist."""
    if not isinstance(operations, list):
        raise BadProgram("the operations are not a list")
    for k, op in enumerate(operations):
        if not isinstance(op, list) or not op or not isinstance(op[0], str):
            raise BadProgram(f"operation {k} is not [kind, operand, ...]")
        kind, operands = op[0], op[1:]
        if kind == "num":
            if len(operands) != 1 or type(operands[0]) not in (int, float):
                raise BadProgram(f"operation {k}: a number is one int or float")
            if not np.isfinite(operands[0]):
                raise BadProgram(f"operation {k}: the number is not finite")
            continue
        if not all(type(i) is int for i in operands):
            raise BadProgram(f"operation {k}: operands are not indexes")
        if kind == "arg":
            if len(operands) != 1 or not 0 <= operands[0] < n_arguments:
                raise BadProgram(f"operation {k}: no argument {operands}")
            continue
        arity = {"pow": (2, 2), **{f: (1, 1) for f in ONE_ARGUMENT}}.get(kind, (1, None))
        if kind not in OPERATION_FUNCTIONS and kind not in ("add", "mul", "pow"):
            raise BadProgram(f"operation {k}: unknown kind {kind[:40]!r}")
        if len(operands) < arity[0] or (arity[1] is not None and len(operands) > arity[1]):
            raise BadProgram(f"operation {k}: {len(operands)} operand(s) for {kind}")
        if not all(0 <= i < k for i in operands):
            raise BadProgram(f"operation {k}: an operand is not an earlier operation")
    if not isinstance(outputs, list) or not all(
        type(i) is int and 0 <= i < len(operations) for i in outputs
    ):
        raise BadProgram("the outputs are not operations of the program")


def run_operations(operations: list[list], outputs: list[int], args: Sequence) -> tuple:
    """The values of the `outputs` operations, the arguments being `args` (checked first with
    check_operations: this trusts its input)."""
    values: list = []
    for op in operations:
        kind = op[0]
        if kind == "arg":
            value = args[op[1]]
        elif kind == "num":
            value = float(op[1])
        elif kind == "add":
            value = values[op[1]]
            for i in op[2:]:
                value = value + values[i]
        elif kind == "mul":
            value = values[op[1]]
            for i in op[2:]:
                value = value * values[i]
        elif kind == "pow":
            value = np.power(values[op[1]], values[op[2]])
        else:
            value = OPERATION_FUNCTIONS[kind](*(values[i] for i in op[1:]))
        values.append(value)
    return tuple(values[i] for i in outputs)

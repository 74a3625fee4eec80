"""The iteration table: every value and gradient, update after update, for several learning rates.

Each learning rate starts from the config's values; at every step all trained parameters update
together from the same forward pass, p <- p - lr * dE_total/dp. The numbers come from the one
backward program of derive/backward.py, printed as a Python loop over the steps
(derive/descent.py) and run once per learning rate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import orjson
import sympy as sp

from derive.config import Config
from derive.descent import compile_descent, run_descent
from derive.evaluate import Evaluator, evaluator_for, gradient_symbol, values_args
from derive.limits import LEARNING_RATES, MAX_STEPS, STEPS, TableError
from derive.network import Network

# learning rates x (steps + 1) x columns; 20 million float64 cells are 160 MB.
MAX_CELLS = 20_000_000

LR = sp.Symbol("lr", positive=True)
STEP = sp.Symbol("step", integer=True)

# Column kinds.
RATE = "lr"
COUNTER = "step"
CONSTANT = "constant"  # inputs, targets and fixed biases: the same in every row
PARAMETER = "parameter"  # trained weights and biases: updated from the row above
FORWARD = "forward"  # net inputs, activations, errors, E_total: from the row's parameters
GRADIENT = "gradient"  # dE_total/dp at the row's parameters


@dataclass(frozen=True)
class Column:
    name: str  # the header: "w1", "a_h1", "dE/dw1"
    symbol: sp.Symbol  # what it holds: w1, a_h1, dE_total/dw1 (LR and STEP for the first two)
    kind: str
    parameter: sp.Symbol | None = None  # for a gradient column, the parameter it differentiates by


@dataclass(frozen=True)
class Divergence:
    """The first step of one learning rate's run at which some value is not a finite number."""

    lr: float
    step: int
    columns: tuple[str, ...]

    @property
    def message(self) -> str:
        names = ", ".join(self.columns[:6]) + (", ..." if len(self.columns) > 6 else "")
        return f"lr {self.lr!r} diverged at step {self.step}: {names} not finite"


@dataclass(frozen=True)
class Table:
    config: Config
    evaluator: Evaluator
    columns: tuple[Column, ...]
    learning_rates: tuple[float, ...]
    steps: int
    values: np.ndarray  # (learning rates, steps + 1, columns), float64
    divergences: tuple[Divergence, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> np.ndarray:
        """One column's values, shaped (learning rates, steps + 1)."""
        return self.values[:, :, self.names.index(name)]

    @property
    def rows(self) -> np.ndarray:
        """Every row, learning rate by learning rate, step by step: (rows, columns)."""
        return self.values.reshape(-1, len(self.columns))


def table_columns(network: Network) -> tuple[Column, ...]:
    """The table's columns in the classic sheet's order, generalised to every shape.

    lr, step, targets, inputs; then for each layer the weights (and biases) into it and each
    neuron's net input and activation; then E1.., E_total and dE/dp for every trained parameter.
    """
    trained = set(network.trained)

    def value_column(symbol: sp.Symbol) -> Column:
        return Column(symbol.name, symbol, PARAMETER if symbol in trained else CONSTANT)

    columns = [Column("lr", LR, RATE), Column("step", STEP, COUNTER)]
    columns += [value_column(s) for s in network.targets + network.inputs]
    for layer in network.layers:
        columns += [value_column(w.symbol) for w in network.weights if w.dest in layer]
        columns += [value_column(n.bias) for n in layer if n.bias is not None]
        for neuron in layer:
            columns += [Column(s.name, s, FORWARD) for s in (neuron.net, neuron.out)]
    columns += [Column(s.name, s, FORWARD) for s in (*network.errors, network.loss)]
    columns += [Column(f"dE/d{p.name}", gradient_symbol(p), GRADIENT, p) for p in network.trained]
    return tuple(columns)


def check_settings(learning_rates: Sequence[float], steps: int, n_columns: int) -> None:
    """TableError unless the learning rates and step count make a table we can hold."""
    if not learning_rates:
        raise TableError("give at least one learning rate")
    for lr in learning_rates:
        if not (math.isfinite(lr) and lr > 0):
            raise TableError(f"learning rate {lr!r} is not a finite number above 0")
        if learning_rates.count(lr) > 1:
            raise TableError(f"learning rate {lr!r} is given twice; give each once")
    if not 1 <= steps <= MAX_STEPS:
        raise TableError(f"steps = {steps!r}; give a whole number from 1 to {MAX_STEPS}")
    cells = len(learning_rates) * (steps + 1) * n_columns
    if cells > MAX_CELLS:
        raise TableError(
            f"{len(learning_rates)} learning rates x {steps + 1} rows x {n_columns} columns "
            f"is {cells:,} cells, more than {MAX_CELLS:,}; use fewer steps or learning rates"
        )


def iteration_table(
    config: Config,
    learning_rates: Iterable[float] = LEARNING_RATES,
    steps: int = STEPS,
    evaluator: Evaluator | None = None,
) -> Table:
    """Gradient descent from the config's values, one run per learning rate, every value kept."""
    learning_rates = tuple(float(lr) for lr in learning_rates)
    evaluator = evaluator or evaluator_for(config.network)
    columns = table_columns(evaluator.network)
    check_settings(learning_rates, steps, len(columns))
    values = assemble(evaluator, columns, learning_rates, steps, config)
    divergences = find_divergences(columns, learning_rates, values)
    return Table(config, evaluator, columns, learning_rates, steps, values, divergences)


def assemble(
    evaluator: Evaluator,
    columns: tuple[Column, ...],
    learning_rates: tuple[float, ...],
    steps: int,
    config: Config,
) -> np.ndarray:
    """The (learning rates, steps + 1, columns) table: one run of the printed descent per rate.

    A diverging run overflows to inf and nan by design; find_divergences reports it."""
    network = evaluator.network
    numbers = values_args(config.values)
    fixed = dict(zip(network.values_args, numbers, strict=True))
    # Each run's rows: the trained parameters, then every output of the evaluator.
    position = {s: j for j, s in enumerate((*network.trained, *evaluator.outputs))}
    width = len(position)
    descend = compile_descent(evaluator)
    values = np.empty((len(learning_rates), steps + 1, len(columns)))
    for j, lr in enumerate(learning_rates):
        run = run_descent(descend, width, lr, steps, numbers)
        for k, column in enumerate(columns):
            if column.kind == RATE:
                values[j, :, k] = lr
            elif column.kind == COUNTER:
                values[j, :, k] = np.arange(steps + 1)
            elif column.kind == CONSTANT:
                values[j, :, k] = fixed[column.symbol]
            else:
                values[j, :, k] = run[:, position[column.symbol]]
    return values


def find_divergences(
    columns: tuple[Column, ...], learning_rates: tuple[float, ...], values: np.ndarray
) -> tuple[Divergence, ...]:
    finite = np.isfinite(values)
    found = []
    for j, lr in enumerate(learning_rates):
        bad_rows = np.flatnonzero(~finite[j].all(axis=1))
        if bad_rows.size:
            step = int(bad_rows[0])
            names = tuple(c.name for c, ok in zip(columns, finite[j, step], strict=True) if not ok)
            found.append(Divergence(lr, step, names))
    return tuple(found)


def _text_rows(table: Table, number: Callable[[float], str]) -> Iterator[tuple[str, ...]]:
    """Each row's cells as text: the step as an integer, every other value through `number`.

    Column by column (map runs in C), and a value that repeats down a column (a learning rate,
    an input) is formatted once per run: formatting is most of the time of a long table."""
    repeated = {RATE, CONSTANT}
    columns = []
    for k, column in enumerate(table.columns):
        block = table.values[:, :, k]
        if column.kind == COUNTER:
            cells = list(map(str, block.astype(np.int64).ravel().tolist()))
        elif column.kind in repeated:
            cells = [
                text for run in block[:, 0].tolist() for text in [number(run)] * block.shape[1]
            ]
        else:
            cells = list(map(number, block.ravel().tolist()))
        columns.append(cells)
    return zip(*columns, strict=True)


def csv_chunks(table: Table) -> Iterator[bytes]:
    """The CSV file in pieces: the header, then one learning rate's rows at a time. Each row is
    lr, step, then every value in its shortest exact form (the digits of Python's repr; float()
    reads each back exactly).

    The numbers are formatted by orjson (in C): a 100,000-step table has 20 million of them,
    which repr formats at under a microsecond each, too slow. A row with a value that is not
    finite (a diverged run) is written with repr instead, which orjson writes as null. Names and
    numbers hold no comma, quote or newline, so no cell needs quoting."""
    assert table.names[:2] == ("lr", "step"), "lr and step come first"
    yield ",".join(table.names).encode() + b"\n"
    steps = [f",{k},".encode() for k in range(table.steps + 1)]
    for lr, block in zip(table.learning_rates, table.values[:, :, 2:], strict=True):
        text = orjson.dumps(np.ascontiguousarray(block), option=orjson.OPT_SERIALIZE_NUMPY)
        # [[a,b],[c,d]] -> one bytes object per row: b"a,b", b"c,d"
        lines = text[2:-2].split(b"],[")
        del text
        for k in np.flatnonzero(~np.isfinite(block).all(axis=1)).tolist():
            lines[k] = ",".join(map(repr, block[k].tolist())).encode()
        # Each row: lr, ",step,", the values and a newline; the pieces joined in one pass.
        heads = [repr(lr).encode()] * len(steps)
        pieces = zip(heads, steps, lines, [b"\n"] * len(steps), strict=True)
        yield b"".join(chain.from_iterable(pieces))


def csv_text(table: Table) -> str:
    """The whole CSV file as text (see csv_chunks)."""
    return b"".join(csv_chunks(table)).decode("ascii")


def markdown_text(table: Table) -> str:
    """A Markdown table for reading (10 significant digits), then a line per diverged run."""
    lines = [
        "| " + " | ".join(table.names) + " |",
        "|" + "---:|" * len(table.columns),
        *("| " + " | ".join(cells) + " |" for cells in _text_rows(table, "{:.10g}".format)),
    ]
    lines += [f"\n**{d.message}**" for d in table.divergences]
    return "\n".join(lines) + "\n"


def json_text(table: Table) -> str:
    """{"columns", "learning_rates", "steps", "rows", "diverged"}; a non-finite value is null."""
    rows = [
        [v if math.isfinite(v) else None for v in row]
        for row in table.rows.tolist()  # floats print as repr: exact round trip
    ]
    step = table.names.index("step")
    for row in rows:
        row[step] = int(row[step])
    document = {
        "columns": list(table.names),
        "learning_rates": list(table.learning_rates),
        "steps": table.steps,
        "rows": rows,
        "diverged": [
            {"lr": d.lr, "step": d.step, "columns": list(d.columns)} for d in table.divergences
        ],
    }
    return json.dumps(document, allow_nan=False) + "\n"


TEXT_FORMATS = {"csv": csv_text, "md": markdown_text, "json": json_text}

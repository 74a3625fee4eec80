"""A CNN config's numbers from the array program (derive/cnn/engine.py): the loss and every
gradient at its values, and gradient descent from them as derive's iteration table."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import sympy as sp

from derive.cnn import engine
from derive.cnn.spec import CNNConfig, parameter_names
from derive.limits import LEARNING_RATES, STEPS, TableError
from derive.table import (
    COUNTER,
    FORWARD,
    GRADIENT,
    LR,
    PARAMETER,
    RATE,
    STEP,
    Column,
    Table,
    check_settings,
    find_divergences,
)

# NumPy's einsum does 0.5 to a few billion multiply-adds a second here: this bounds a table to
# a minute or less (nano's default table, 6 x 51 passes of 831,576 each way and back, is about 8e8).
MAX_MULTIPLY_ADDS = 3e10


def run_once(config: CNNConfig, arrays: dict | None = None):
    """(forward pass, backward pass) of the config's image and target at `arrays` (its own)."""
    arrays = arrays if arrays is not None else config.values.arrays
    image, target = config.values.image[None], config.values.target[None]
    run = engine.forward(config.network, arrays, image, target)
    return run, engine.backward(config.network, arrays, run, target)


def flat_gradients(config: CNNConfig, gradients: dict) -> np.ndarray:
    """Every trained scalar's gradient in the config's order (as parameter_names lists them)."""
    return engine.gradient_vector(config.values.trained(config.network), gradients)


def gradients_report(config: CNNConfig) -> dict:
    """{"loss", "outputs": {"p[0]": ...}, "gradients": {"conv.weight[0,0,0,0]": ...}}, the
    schema of derive's dense report."""
    run, back = run_once(config)
    names = parameter_names(config.network, config.values)
    return {
        "loss": run.loss,
        "outputs": {f"p[{k}]": float(p) for k, p in enumerate(run.probabilities[0])},
        "gradients": dict(zip(names, flat_gradients(config, back.gradients).tolist(), strict=True)),
    }


def table_columns(config: CNNConfig) -> tuple[Column, ...]:
    """lr, step, every trained scalar, E, the class probabilities, then every gradient."""
    names = parameter_names(config.network, config.values)
    classes = config.network.n_classes
    symbol = sp.Symbol
    return (
        Column("lr", LR, RATE),
        Column("step", STEP, COUNTER),
        *(Column(n, symbol(n, real=True), PARAMETER) for n in names),
        Column("E", symbol("E", real=True), FORWARD),
        *(Column(f"p[{k}]", symbol(f"p[{k}]", real=True), FORWARD) for k in range(classes)),
        *(
            Column(f"dE/d{n}", symbol(f"dE/d{n}", real=True), GRADIENT, symbol(n, real=True))
            for n in names
        ),
    )


def descend(config: CNNConfig, lr: float, steps: int) -> np.ndarray:
    """One run: (steps + 1, columns after lr and step) of parameters, E, p and gradients."""
    trained = config.values.trained(config.network)
    arrays = {name: dict(group) for name, group in config.values.arrays.items()}
    rows = []
    with np.errstate(all="ignore"):  # a diverging run overflows; find_divergences says where
        for _ in range(steps + 1):
            run, back = run_once(config, arrays)
            flat = np.concatenate(
                [arrays[k.split(".")[0]][k.split(".")[1]].ravel() for k in trained]
            )
            grads = flat_gradients(config, back.gradients)
            rows.append(np.concatenate([flat, [run.loss], run.probabilities[0], grads]))
            for key in trained:
                name, array = key.split(".")
                arrays[name][array] = arrays[name][array] - lr * back.gradients[name][array]
    return np.array(rows)


def iteration_table(
    config: CNNConfig, learning_rates: Iterable[float] = LEARNING_RATES, steps: int = STEPS
) -> Table:
    """Gradient descent from the config's values, one run per learning rate (derive.table's
    Table: its CSV, Markdown and JSON writers print it)."""
    learning_rates = tuple(float(lr) for lr in learning_rates)
    columns = table_columns(config)
    check_settings(learning_rates, steps, len(columns))
    passes = len(learning_rates) * (steps + 1)
    work = 3 * config.network.multiply_adds() * passes  # a forward and a backward pass each
    if work > MAX_MULTIPLY_ADDS:
        raise TableError(
            f"{passes:,} passes of this network are about {work:.1e} multiply-adds, more than "
            f"the {MAX_MULTIPLY_ADDS:.0e} a table computes (a minute or less); use fewer steps or "
            f"learning rates"
        )
    values = np.empty((len(learning_rates), steps + 1, len(columns)))
    for j, lr in enumerate(learning_rates):
        values[j, :, 0] = lr
        values[j, :, 1] = np.arange(steps + 1)
        values[j, :, 2:] = descend(config, lr, steps)
    divergences = find_divergences(columns, learning_rates, values)
    return Table(config, None, columns, learning_rates, steps, values, divergences)

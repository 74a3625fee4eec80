"""Check your sheet: `derive check` run on the project's own workbook with planted mistakes.

The mistakes are the ones hand-made course sheets carry. Each is planted in the derivation itself
(an equation or a gradient's chain changed), the wrong derivation is compiled and run like the real
one, and derive.xlsx prints it to a workbook: wrong formulas, with the numbers they compute, and
every cell downstream of a mistake computed from it, just as in a student's sheet.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

import sympy as sp

from derive import check, xlsx
from derive import table as iteration
from derive.chain import CLOSED_FORM_MAX_PARAMETERS, Factor, Gradient, closed_forms_made
from derive.evaluate import Evaluator, compile_network
from derive.functions import sigmoid
from derive.network import Network
from sitegen.site_common import PageData, Site, number, site_path

LEARNING_RATE = 0.5
STEPS = 10
EXAMPLE = "sheet-with-mistakes.xlsx"


@dataclasses.dataclass(frozen=True)
class Mistake:
    """One planted mistake: what a student did, and the change it makes to the derivation."""

    description: str
    plant: Callable[[Network, tuple[Gradient, ...]], tuple[Network, tuple[Gradient, ...]]]


def dropped_minus(network: Network, grads: tuple[Gradient, ...]):
    """The first sigmoid neuron's activation written 1/(1+EXP(h)) instead of 1/(1+EXP(-h))."""
    neuron = next(n for n in network.neurons if n.activation == "sigmoid")
    equations = tuple(
        (s, sigmoid(-neuron.net)) if s == neuron.out else (s, e) for s, e in network.equations
    )
    return dataclasses.replace(network, equations=equations), grads


def dropped_factor(network: Network, grads: tuple[Gradient, ...]):
    """The second weight's gradient without its last factor (the input it multiplies)."""
    g = grads[1]
    return network, _replace_gradient(grads, dataclasses.replace(g, chain=g.chain[:-1]))


def one_output_path(network: Network, grads: tuple[Gradient, ...]):
    """The first weight of the second hidden neuron: its path sum keeps only the first path."""
    hidden = network.layers[0][1]
    g = next(g for g in grads if g.chain[-1].of == hidden.net and g.chain[-1].value != 1)
    path_sum = g.sums[0]
    first_path = sp.Mul(*(f.value for f in path_sum.paths[0]))
    wrong = Factor(path_sum.of, path_sum.by, first_path)
    chain = tuple(wrong if (f.of, f.by) == (path_sum.of, path_sum.by) else f for f in g.chain)
    return network, _replace_gradient(grads, dataclasses.replace(g, chain=chain))


def _replace_gradient(grads: tuple[Gradient, ...], new: Gradient) -> tuple[Gradient, ...]:
    return tuple(new if g.parameter == new.parameter else g for g in grads)


def mistakes_for(network: Network) -> list[Mistake]:
    """The mistakes this network's shape allows (a sigmoid, two weights, a hidden layer of two)."""
    found = []
    if any(n.activation == "sigmoid" for n in network.neurons):
        found.append(Mistake("a sigmoid with its minus sign dropped", dropped_minus))
    if len(network.weights) >= 2:
        found.append(Mistake("a factor dropped from a gradient", dropped_factor))
    if len(network.layers) > 1 and len(network.layers[0]) > 1 and len(network.outputs) > 1:
        found.append(Mistake("a hidden-layer gradient that follows one output path only",
                             one_output_path))  # fmt: skip
    return found


def wrong_evaluator(evaluator: Evaluator, mistakes: list[Mistake]) -> Evaluator:
    network, grads = evaluator.network, evaluator.gradients
    for mistake in mistakes:
        network, grads = mistake.plant(network, grads)
    return compile_network(network, grads)


def build(site: Site) -> PageData:
    config, evaluator = site.config, site.evaluator
    if not closed_forms_made(evaluator.network):
        # Mistakes are planted in the closed forms, which a network this large does not get.
        return PageData({"example": "", "too_large": len(evaluator.network.trained),
                         "limit": CLOSED_FORM_MAX_PARAMETERS})  # fmt: skip
    mistakes = mistakes_for(evaluator.network)
    wrong = iteration.iteration_table(
        config, (LEARNING_RATE,), STEPS, wrong_evaluator(evaluator, mistakes)
    )
    workbook = xlsx.workbook_bytes(wrong)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, EXAMPLE)
        path.write_bytes(workbook)
        # Named as a reader who downloads it would: not by this build's temporary folder.
        report = dataclasses.replace(check.check_file(path, config), path=EXAMPLE)
    return PageData(
        {
            "example": site_path(EXAMPLE),
            "example_name": EXAMPLE,
            "mistakes": [m.description for m in mistakes],
            "lr": number(LEARNING_RATE),
            "steps": STEPS,
            "findings": check.render_markdown(report),
            "text": check.render_text(report),
        },
        {site_path(EXAMPLE): workbook},
    )

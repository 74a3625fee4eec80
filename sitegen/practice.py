"""Practice on Backpropagation explained: the reader types a value or a spreadsheet formula for a
gradient, and the page says whether it is right and, when not, names the mistake.

There is no server, so the judging is prepared here, while the site builds. For each gradient: its
derived expression and a catalogue of classic wrong ones (the sign flipped, one symbol in place of
its neighbour, an activation's net input in place of its output, a factor dropped, an output path
left out or taken twice), each named by `derive check`'s own diagnosis (derive.check.explain), and
the values of all of them at this page's numbers and at a few random points of the network. A
point is a whole forward pass (random inputs, targets and parameters, every activation computed
from them), so a formula written with any of the network's names, nets or outputs, expanded or
not, is judged by what it computes, not by how it is written. The page's script only evaluates the
reader's formula at the same points and compares numbers.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import sympy as sp

from derive.chain import closed_forms_made
from derive.check.explain import explain
from derive.check.model import Model
from derive.config import Config, load_config
from derive.evaluate import NUMPY_FUNCTIONS, Evaluator, evaluator_for, values_args
from derive.network import Network
from sitegen.site_common import script_json

POINTS = 6  # this page's numbers, then random forward passes
SEED = 22
AGREE = 1e-9  # relative: the same function at every point
ROOT = Path(__file__).resolve().parent.parent  # where `python -m sitegen.practice` finds sitegen
# Bounded work (explain() tries its diagnoses one by one, in SymPy): the classic net's gradients
# have at most 15 operations each, 8 of them; a net past either bound gets no practice section.
MAX_GRADIENTS = 16
MAX_OPERATIONS = 30  # sympy.count_ops of one gradient's closed form


class Catalogue:
    """The practice data for the network of a derive config, worked out by a Python process of
    its own while the other pages build (seconds of SymPy: explain() tries its diagnoses one by
    one); str() is its JSON, waited for when the page is rendered. Where that process cannot be
    started or fails, it is worked out here: the same numbers, later."""

    def __init__(self, config_path: Path):
        self._path, self._json = config_path, None
        command = [sys.executable, "-m", "sitegen.practice", str(config_path)]
        try:
            self._process = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
        except OSError:
            self._process = None

    def __str__(self) -> str:
        if self._json is None and self._process is not None:
            out, _ = self._process.communicate()
            if self._process.returncode == 0 and out:
                self._json = out.decode("utf-8")
            self._process = None
        if self._json is None:
            self._json = catalogue_json(self._path)
        return self._json


def catalogue_json(config_path: Path) -> str:
    config = load_config(config_path)
    return script_json(catalogue(config, evaluator_for(config.network)))


def practicable(evaluator: Evaluator) -> bool:
    """The network is small enough for a practice catalogue (see MAX_GRADIENTS)."""
    network = evaluator.network
    if not closed_forms_made(network) or len(network.trained) > MAX_GRADIENTS:
        return False
    return all(sp.count_ops(g.closed_form) <= MAX_OPERATIONS for g in evaluator.gradients)


def catalogue(config: Config, evaluator: Evaluator) -> dict | None:
    """What the page's practice script needs, or None for a network past practicable()."""
    network = evaluator.network
    if not practicable(evaluator):
        return None
    names, points = sample(evaluator, values_args(config.values))
    row = {name: k for k, name in enumerate(names)}
    # explain() reads only the model's network (its outputs name the paths of a sum).
    model = Model(network, {}, {}, {}, frozenset())
    gradients = []
    for gradient in evaluator.gradients:
        derived = gradient.closed_form
        what = f"∂{network.loss.name}/∂{gradient.parameter.name}"
        right = values_at(derived, row, points)
        found, seen = [], [right]
        for wrong in mistakes(derived, network):
            values = values_at(wrong, row, points)
            if not np.all(np.isfinite(values)) or any(agree(values, v) for v in seen):
                continue  # the same function as the right one or as a mistake already listed
            seen.append(values)
            diagnosis = explain(wrong, derived, what, model, {})
            found.append({"values": rounded(values), "diagnosis": diagnosis})
        gradients.append(
            {
                "parameter": gradient.parameter.name,
                "label": what,
                "formula": spreadsheet(derived),
                "values": rounded(right),
                "mistakes": found,
            }
        )
    return {"names": names, "points": [rounded(p) for p in points.T], "gradients": gradients}


def sample(evaluator: Evaluator, page: list[float]) -> tuple[list[str], np.ndarray]:
    """The names a formula may use (givens, then every forward value) and their values, one row
    per name and one column per point: this page's numbers first, then random forward passes
    (inputs and targets in (0.1, 0.9), parameters in (-1, 1))."""
    network = evaluator.network
    rng = np.random.default_rng(SEED)
    parameters = {*network.weight_symbols, *network.biases}
    givens = []
    for symbol, value in zip(network.values_args, page, strict=True):
        low, high = (-1.0, 1.0) if symbol in parameters else (0.1, 0.9)
        givens.append(np.concatenate([[value], rng.uniform(low, high, POINTS - 1)]))
    computed = evaluator(*givens)
    forward = [s for s, _ in network.equations]
    names = [s.name for s in network.values_args] + [s.name for s in forward]
    rows = givens + [np.broadcast_to(computed[s], (POINTS,)) for s in forward]
    return names, np.vstack(rows)


def values_at(expr: sp.Expr, row: dict[str, int], points: np.ndarray) -> np.ndarray:
    """expr at every point; `row` says which row of `points` holds each name's values."""
    ordered = sorted(expr.free_symbols, key=lambda s: row[s.name])
    function = sp.lambdify(ordered, expr, modules=[NUMPY_FUNCTIONS, "numpy"])
    values = function(*(points[row[s.name]] for s in ordered))
    return np.broadcast_to(np.asarray(values, dtype=float), (POINTS,))


def agree(a: np.ndarray, b: np.ndarray) -> bool:
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300)
    return bool(np.all(np.abs(a - b) <= AGREE * scale))


def rounded(values) -> list[float]:
    """Floats as JSON: 17 significant digits, enough to give back the same double."""
    return [float(f"{v:.17g}") for v in values]


def spreadsheet(expr: sp.Expr) -> str:
    """A derived expression as a spreadsheet formula: =a_h1*(1-a_h1)*..."""
    return "=" + sp.sstr(expr, order="none").replace("**", "^").replace(" ", "")


def mistakes(derived: sp.Expr, network: Network) -> Iterator[sp.Expr]:
    """The catalogue: the classic slips, each one change of the derived expression."""
    yield -derived  # (t - a) for (a - t)
    for old in sorted(derived.free_symbols, key=lambda s: s.name):
        for new in neighbours(old, network):
            yield derived.xreplace({old: new})
    for factor in sp.Mul.make_args(derived):
        if not factor.is_number:
            yield derived / factor
    for product in [m for m in sp.preorder_traversal(derived) if isinstance(m, sp.Mul)]:
        for neuron in network.neurons:  # an activation's slope a·(1 - a) left out
            slope = {neuron.out, 1 - neuron.out}
            if slope <= set(product.args):
                rest = [f for f in product.args if f not in slope]
                yield derived.xreplace({product: sp.Mul(*rest)})
    weights = set(network.weight_symbols)
    for total in [a for a in sp.preorder_traversal(derived) if isinstance(a, sp.Add)]:
        terms = total.args  # a sum over the output paths: each term goes through a weight
        if len(terms) < 2 or not all(t.free_symbols & weights for t in terms):
            continue
        for i, term in enumerate(terms):
            others = [t for j, t in enumerate(terms) if j != i]
            yield derived.xreplace({total: sp.Add(*others)})  # a path left out
            yield derived.xreplace({total: sp.Add(*others[1:], term, term)})  # one taken twice


def neighbours(symbol: sp.Symbol, network: Network) -> list[sp.Symbol]:
    """What a reader writes in place of `symbol` by mistake: another of its kind in the same
    layer (a_h2 for a_h1, t2 for t1), a weight that shares a neuron with it (w6 or w7 for w5),
    or a neuron's net input for its output."""
    groups = [network.inputs, network.targets]
    groups += [tuple(n.out for n in layer) for layer in network.layers]
    groups += [tuple(n.bias for n in layer if n.bias is not None) for layer in network.layers]
    found = [s for g in groups if symbol in g for s in g if s != symbol]
    weight = next((w for w in network.weights if w.symbol == symbol), None)
    if weight is not None:  # a weight into the same neuron, or out of the same one
        found += [
            w.symbol
            for w in network.weights
            if w != weight and (w.dest == weight.dest or w.source == weight.source)
        ]
    found += [n.net for n in network.neurons if n.out == symbol]
    return found


if __name__ == "__main__":  # the process a Catalogue starts: python -m sitegen.practice CONFIG
    sys.stdout.write(catalogue_json(Path(sys.argv[1])))

"""What a sheet's own formulas, else its values, show of the functions of the net it models:
each layer's activation (a_h1's formula or numbers against each of derive's activations of h1,
softmax too for the outputs), the loss (E1's, else E_total's, against each of derive's losses)
and fixed biases typed as numbers in the weighted inputs (=w1*i1+w2*i2+0.35, Mazur's net without
bias cells). A formula is compared with each candidate at points of both signs, so ReLU, leaky
ReLU and the identity are told apart; typed numbers within the rounding they carry, so where
every h1 is positive those three are one, and which was taken is said.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import sympy as sp

from derive.check.learning_rate import labelled_givens
from derive.check.model import equation, same
from derive.check.table import Column, Sheet, Table
from derive.check.translate import Unsupported, translate
from derive.config import LOSSES, OUTPUT_ONLY_ACTIVATIONS, NetworkSpec
from derive.labels import LR, Labels
from derive.network import Network, build_network
from derive.operations import ACTIVATIONS

MAX_COLUMNS = 4  # columns looked at for one layer's activation or for the loss
POINTS = 6  # points a formula is compared with a candidate at


@dataclass(frozen=True)
class Evidence:
    """A column's formula in SymPy, else its table's numbers (each symbol's, with half a unit of
    their last digit)."""

    key: str
    formula: sp.Expr | None
    numbers: dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Shown:
    """What the sheet shows: per non-input layer its activation (None: nothing shows it), the
    loss, the biases typed in formulas or numbers (per neuron; None: none), a phrase for each
    taken from several that agree with the sheet alike, and what has columns that agree with
    none of derive's."""

    activations: tuple[str | None, ...]
    loss: str | None
    biases: tuple[float, ...] | None
    alike: tuple[str, ...]  # 'the hidden activation taken as relu: ... fit as well'
    unmatched: frozenset[str]  # 'the loss' where its columns are none of derive's


def shown(sheets: list[Sheet], network: Network) -> Shown:
    """The activations, loss and typed biases the sheet's tables show for `network`'s sizes."""
    found = Found(sheets, network)
    biases = found.biases() if not network.biases else None
    definitions = dict(network.equations)
    if biases:
        for neuron, bias in zip(network.neurons, biases, strict=True):
            definitions[neuron.net] = definitions[neuron.net] + sp.nsimplify(bias, rational=True)
    activations, alike, unmatched = [], [], set()
    for k, layer in enumerate(network.layers):
        output = k == len(network.layers) - 1
        names = ACTIVATIONS + (OUTPUT_ONLY_ACTIVATIONS if output and len(layer) > 1 else ())
        candidates = {name: activated(network, k, name) for name in names}
        name, others, seen = found.best([n.out for n in layer], candidates, definitions)
        activations.append(name)
        if others:
            alike.append(f"{layer_name(network, k)} taken as {name}: {fits(others)}")
        if name is not None:
            definitions |= candidates[name]
        elif seen:
            unmatched.add(layer_name(network, k))
    # Over two outputs mse is half_sse, (t - a)^2 / 2: one candidate, not two alike.
    names = [n for n in LOSSES if n != "mse" or len(network.errors) != 2]
    losses = {name: errors(network, name) for name in names}
    loss, others, seen = found.best(list(network.errors), losses, definitions)
    if loss is None and not seen:  # E_total, where no E1 column shows the loss
        totals = {n: {network.loss: sp.Add(*e.values())} for n, e in losses.items()}
        loss, others, seen = found.best([network.loss], totals, definitions)
    if others:
        alike.append(f"the loss taken as {loss}: {fits(others)}")
    if loss is None and seen:
        unmatched.add("the loss")
    return Shown(tuple(activations), loss, biases, tuple(alike), frozenset(unmatched))


def fits(others: tuple[str, ...]) -> str:
    return f"{' and '.join(others)} {'fits' if len(others) == 1 else 'fit'} the sheet as well"


def layer_name(network: Network, k: int) -> str:
    """'the hidden activation', 'the output activation'; with two hidden layers, 'the
    activation of layer k'."""
    if k == len(network.layers) - 1:
        return "the output activation"
    if len(network.layers) == 2:
        return "the hidden activation"
    return f"the activation of layer {network.layers[k][0].name[0]}"


def activated(network: Network, k: int, name: str) -> dict[sp.Symbol, sp.Expr]:
    """Each output of layer k under the activation `name`, as network.py writes it: a_h1 in h1
    alone, so one net with `name` in every layer (a softmax only at the output) serves each."""
    spec = network.spec
    every = (
        (*spec.activations[:-1], name)
        if name in OUTPUT_ONLY_ACTIVATIONS
        else (name,) * len(spec.activations)
    )
    built = equations_of(replace(spec, activations=every))
    return {n.out: built[n.out] for n in network.layers[k]}


def errors(network: Network, loss: str) -> dict[sp.Symbol, sp.Expr]:
    """Each output's error under the loss `loss`, as network.py writes it."""
    built = equations_of(replace(network.spec, loss=loss))
    return {e: built[e] for e in network.errors}


@functools.lru_cache(maxsize=16)
def equations_of(spec: NetworkSpec) -> dict[sp.Symbol, sp.Expr]:
    """The net's equations, built once per spec (a 64-64-64-64 net takes half a second)."""
    return dict(build_network(spec).equations)


class Found:
    """The sheet's evidence for one symbol at a time: the formula most of its column's cells
    hold, else its numbers and those of the symbols beside it."""

    def __init__(self, sheets: list[Sheet], network: Network):
        self.sheets, self.network = sheets, network
        self.labels = Labels(network)
        self.points = np.random.default_rng(21)
        self.memo: dict[int, dict] = {}  # id of a sheet or table -> its givens or numbers
        self.named: dict[int, frozenset] = {}  # id of a table's numbers -> their symbols

    def columns(self, key: str) -> Iterator[tuple[Sheet, Table, Column]]:
        for sheet in self.sheets:
            for table in sheet.tables:
                column = table.keyed.get(key)
                if column is not None:
                    yield sheet, table, column

    def evidence(self, key: str) -> Evidence | None:
        """The first table's column `key`: its formula in SymPy, else every symbol's numbers."""
        for sheet, table, column in self.columns(key):
            ids = column.formula_ids()
            ids = ids[ids >= 0]
            if len(ids):
                formula = table.formulas[Counter(ids.tolist()).most_common(1)[0][0]]
                try:
                    resolve = self.resolver(sheet, table, formula.row)
                    expr = translate(formula.text, formula.row, formula.column, resolve)
                    return Evidence(key, expr, {})
                except Unsupported:
                    pass  # a formula this cannot read (IF): its numbers may tell
            numbers = self.numbers(sheet, table)
            if np.isfinite(numbers[key][0]).any():
                return Evidence(key, None, numbers)
        return None

    def resolver(self, sheet: Sheet, table: Table, at: int):
        """A reference as the symbol its column holds in the same row, a labelled given, or the
        number typed in a cell; anything else is not read."""
        by_index = {c.index: c for c in table.columns}
        rows = set(table.rows)
        givens = self.givens(sheet)

        def resolve(row: int, column: int, absolute: bool) -> sp.Expr:
            target = by_index.get(column) if row in rows else None
            if target is not None:
                if target.key is None or target.key == LR or row != at:
                    raise Unsupported("a cell of another row or column")
                return sp.Symbol(target.key, real=True)
            key = givens.get((row, column))
            if key is not None and key != LR:
                return sp.Symbol(key, real=True)
            cell = sheet.loose.get((row, column))
            if (
                key is None
                and cell is not None
                and cell.formula is None
                and isinstance(cell.value, float)
            ):
                return sp.Float(cell.value)
            raise Unsupported("a cell this does not read")

        return resolve

    def givens(self, sheet: Sheet) -> dict[tuple[int, int], str]:
        """The cells outside tables a label names as a given (not sheet.memo's: those are the
        labels of the net the check is made with, which this is still finding)."""
        if id(sheet) not in self.memo:
            self.memo[id(sheet)] = labelled_givens(sheet, self.labels)
        return self.memo[id(sheet)]

    def numbers(self, sheet: Sheet, table: Table) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each symbol's numbers in the table with half a unit of their last digit: its column's,
        else a labelled given's."""
        if id(table) in self.memo:
            return self.memo[id(table)]
        n = len(table.rows)
        found = {k: (c.values(), units(c)) for k, c in table.keyed.items()}
        for place, key in self.givens(sheet).items():
            value = sheet.loose[place].value
            if key not in found and isinstance(value, float):
                found[key] = (np.full(n, value), np.zeros(n))
        self.memo[id(table)] = found
        return found

    def agree(self, evidence: Evidence, expected: sp.Expr, definitions: dict) -> int:
        """How many rows (a formula: all its points, 1) bear `expected` out; 0 where it cannot
        be written in the symbols the evidence has."""
        formula = evidence.formula
        if formula is None:
            have = self.symbols(evidence.numbers) - {sp.Symbol(evidence.key, real=True)}
        else:
            have = formula.free_symbols
        expected = written_in(expected, have, definitions)
        if expected is None:
            return 0
        if formula is None:
            return agreeing_rows(evidence.key, expected, evidence.numbers)
        return int(same(formula, expected, self.spread(have | expected.free_symbols)))

    def symbols(self, numbers: dict) -> frozenset[sp.Symbol]:
        """The symbols a table has numbers for, made once per table (a wide net's are 25,000)."""
        if id(numbers) not in self.named:
            self.named[id(numbers)] = frozenset(sp.Symbol(k, real=True) for k in numbers)
        return self.named[id(numbers)]

    def spread(self, symbols) -> list[dict[sp.Symbol, sp.Float]]:
        """Points of both signs (0.2 to 1.5 from 0); targets and outputs in (0.1, 0.9), where
        a logarithm of them is defined."""
        ordered = sorted(symbols, key=lambda s: s.name)
        points = []
        for _ in range(POINTS):
            size = self.points.uniform(0.2, 1.5, len(ordered))
            sign = self.points.choice([-1.0, 1.0], len(ordered))
            share = self.points.uniform(0.1, 0.9, len(ordered))
            points.append(
                {
                    s: sp.Float(float(p if s.name[0] == "t" or s.name.startswith("a_") else m * v))
                    for s, m, v, p in zip(ordered, sign, size, share, strict=True)
                }
            )
        return points

    def best(self, keys: list[sp.Symbol], candidates: dict, definitions: dict):
        """The candidate most of `keys`' columns agree with (None if none does), the others
        that agree as well, and whether any column was seen."""
        votes: Counter[str] = Counter()
        seen = 0
        for key in keys:
            evidence = self.evidence(key.name)
            if evidence is None:
                continue
            scores = {
                name: self.agree(evidence, exprs[key], definitions)
                for name, exprs in candidates.items()
            }
            top = max(scores.values())
            votes.update(name for name, score in scores.items() if top and score == top)
            seen += 1
            if seen == MAX_COLUMNS:
                break
        if not votes:
            return None, (), seen > 0
        most = max(votes.values())
        tied = [name for name in candidates if votes[name] == most]
        return tied[0], tuple(tied[1:]), True

    def biases(self) -> tuple[float, ...] | None:
        """Each neuron's bias: the number its layer's weighted inputs add, in their formulas or
        the same in every row of their numbers; None where none adds one."""
        network = self.network
        found: dict[str, float] = {}
        nets = dict(network.equations)  # w1*i1 + w2*i2: a net without biases
        for neuron in network.neurons:
            evidence = self.evidence(neuron.net.name)
            if evidence is None:
                continue
            if evidence.formula is None:
                bias = typed_bias(evidence, nets[neuron.net])
                if bias is not None:
                    found[neuron.name] = bias
                continue
            rest = sp.expand(evidence.formula - nets[neuron.net])
            if rest.is_Number:
                found[neuron.name] = float(rest)
        if not any(found.values()):
            return None
        # One number a layer, as Mazur's: the one most of its neurons add (the first's where
        # as many add another). A neuron that adds another, or none, is a mistake the check
        # finds, not a bias of its own; a net of such biases is given with --config.
        biases = []
        for layer in network.layers:
            typed = Counter(found[n.name] for n in layer if found.get(n.name))
            biases += [typed.most_common(1)[0][0] if typed else 0.0] * len(layer)
        return tuple(biases)


def units(column: Column) -> np.ndarray:
    """Half a unit of the last digit of each number of the column; none for a column of zeros
    (a dead ReLU's 0, written without decimals, is no rounding of 0.3)."""
    values = column.values()
    if not values[np.isfinite(values)].any():
        return np.zeros(len(values))
    return column.units()


def written_in(expr: sp.Expr, have: set, definitions: dict) -> sp.Expr | None:
    """`expr` with each symbol the evidence lacks written out by its definition, as far as it
    takes; None where it still needs one the evidence lacks."""
    for _ in range(len(definitions) + 1):
        missing = {s: definitions[s] for s in expr.free_symbols - have if s in definitions}
        if not missing:
            break
        expr = expr.xreplace(missing)
    return expr if expr.free_symbols <= have else None


def agreeing_rows(key: str, expected: sp.Expr, numbers: dict) -> int:
    """The rows where column `key`'s numbers are `expected` of the others' within the rounding
    they carry; 0 unless they are most of its rows."""
    values, correct, allowed = compared(key, expected, numbers)
    shown = np.isfinite(values) & np.isfinite(correct)
    with np.errstate(invalid="ignore"):
        count = int((shown & (np.abs(values - correct) <= allowed)).sum())
    return count if 2 * count > int(shown.sum()) else 0


def typed_bias(evidence: Evidence, net: sp.Expr) -> float | None:
    """The number each row's weighted input has over w1*i1 + w2*i2, within the rounding they
    carry and the same in every row (then written with the fewest decimals that are within
    it); None where there is none or it changes (a trained bias)."""
    if any(s.name not in evidence.numbers for s in net.free_symbols):
        return None
    values, correct, allowed = compared(evidence.key, net, evidence.numbers)
    shown = np.isfinite(values) & np.isfinite(correct)
    if not shown.any():
        return None
    rest, allowed = (values - correct)[shown], allowed[shown]
    middle, near = float(np.median(rest)), float(allowed.min())
    if np.ptp(rest) > 2 * float(allowed.max()) or abs(middle) <= near:
        return None
    return next(
        (round(middle, d) for d in range(16) if abs(round(middle, d) - middle) <= near), middle
    )


def compared(key: str, expected: sp.Expr, numbers: dict) -> tuple[np.ndarray, ...]:
    """Column `key`'s numbers, `expected` at the others' in each row, and how far apart the
    rounding they carry lets them be (half a unit of each last digit, through the slopes),
    twice over."""
    made = equation(key, expected)
    values, own = numbers[key]
    args = [numbers[a][0] for a in made.args]
    with np.errstate(all="ignore"):
        correct = np.broadcast_to(np.asarray(made.function(*args), dtype=float), values.shape)
        carried = made.carried(args, [numbers[a][1] for a in made.args])
        allowed = 2 * (own + carried) + 1e-9 * np.maximum(1.0, np.abs(values))
    return values, correct, allowed

"""Columns known by what they compute, not by their label: every factor a careful student writes
beside the gradients (∂a_h1/∂h1 = a_h1·(1 − a_h1), ∂o1/∂a_h1 = w5, ∂E1/∂a_o1 = a_o1 − t1,
∂E_total/∂a_h1, δ_o1, a copy of a weight or an input, a second a_h1), each as an Equation over the
row's symbols. A column whose label this does not know is matched to the one whose values it holds
at the precision it carries, else to the one its label names (∂a_h1/∂h1, δ_o1); then it is checked
as any other column, its formulas judged and its values compared. One that matches none, but whose
numbers are a catalogued mistake (mistakes.py) in one quantity and no other, is that quantity's
column holding that mistake: a finding, named as in a column labelled with the quantity.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace

import numpy as np
import sympy as sp

from derive.check.mistakes import Mistake, mistakes
from derive.check.model import Equation, Model
from derive.check.program import printed_steps
from derive.check.table import Column, Table
from derive.check.values import filled
from derive.labels import normalize
from derive.network import Network

MAX_HELPERS = 500  # partial derivatives made for one network (a lambdify each); past it, only
# its own columns and copies of its givens are candidates
# "∂num/∂den" as normalize writes it: "dah1/dh1", "deltao1", "do1" (δ_o1).
HELPER_LABEL = re.compile(r"^d(?P<num>[a-z]+\d*)/?d(?P<den>[a-z]+\d*)$")
# Unknown columns of one table identified by their numbers (each compared with every candidate
# and catalogued mistake): a 2-2-2 net's 700 in about 1 s. Past it the sheet is another net's.
MAX_UNKNOWN = 1_000
# Rows with a number a column needs to be taken for a mistake: in one row a quantity with nice
# first weights and inputs (i2 = 2·i1) can have another's number, as two rows of updates do not.
MIN_ROWS = 2
DELTA_LABEL = re.compile(r"^(?:delta|d)(?P<name>[a-z]\d+)$")


def helper_equations(model: Model) -> dict[str, Equation]:
    """Every quantity a sheet may hold beyond the model's own columns, by a reader's name: the
    local partials of every forward equation, E_total's and each error's derivative with respect
    to every forward symbol, the givens themselves."""
    made = network_helpers(model.network)
    return {k: e for k, e in made.items() if k not in model.equations}


@functools.lru_cache(maxsize=4)
def network_helpers(network: Network) -> dict[str, Equation]:
    """helper_equations' quantities, made once per network (only when a sheet needs them)."""
    order = [symbol for symbol, _ in network.equations]
    definitions = dict(network.equations)
    found: dict[str, sp.Expr] = {}
    partials = sum(len(d.free_symbols) for _, d in network.equations)
    for symbol, definition in network.equations if partials <= MAX_HELPERS else ():
        for x in sorted(definition.free_symbols, key=lambda s: s.name):
            found.setdefault(f"∂{symbol.name}/∂{x.name}", sp.diff(definition, x))
    local = list(found)
    if partials + len(order) ** 2 <= MAX_HELPERS:
        for top in (network.loss, *network.errors):
            for k, x in enumerate(order):
                if x == top or x in network.errors or x == network.loss:
                    continue
                expr = definitions[top]
                for later in reversed(order[k + 1 :]):
                    expr = expr.xreplace({later: definitions[later]})
                if x in expr.free_symbols:
                    found.setdefault(f"∂{top.name}/∂{x.name}", sp.diff(expr, x))
    for symbol in network.values_args:  # not by its own name: that would make it a given
        found.setdefault(f"copy of {symbol.name}", symbol)
    # Every other factor of a chain a student may write (∂a_o1/∂w5, 1 − a_h1): a column holding
    # one is right, never taken for a catalogued mistake that has its values (mistakes.py).
    givens = [x for x in network.values_args if x not in network.biases or x in network.trained]
    if partials + len(order) * (len(order) + len(givens)) <= MAX_HELPERS:
        chain = chain_rule(network)
        for k, top in enumerate(order):
            for x in (*order[:k], *givens):
                if chain(top, x) != 0:
                    found.setdefault(f"∂{top.name}/∂{x.name}", chain(top, x))
    # Written in the row's own symbols, as a sheet writes them: a_h1·(1 − a_h1), not σ'(h1).
    own = {definitions[n.out]: n.out for n in network.neurons}
    found = {key: expr.xreplace(own) for key, expr in found.items()}
    for key in local:  # and the factors of each step's partial: 1 − a_h1, a_o1 − t1
        for factor in sp.Mul.make_args(found[key]):
            if not factor.is_Symbol and factor.free_symbols:
                found.setdefault(sp.sstr(factor, order="none"), factor)
    steps = [(sp.Symbol(key), expr) for key, expr in found.items() if expr.free_symbols]
    return printed_steps(steps)  # printed in one go


def chain_rule(network: Network):
    """d y / d x for forward symbols y, through every path, each step a local partial written in
    the row's symbols (∂a_o1/∂w5 = a_o1·(1 − a_o1)·a_h1)."""
    definitions = dict(network.equations)
    below: dict[sp.Symbol, set] = {}  # what each forward symbol is computed from, all the way
    for symbol, definition in network.equations:
        below[symbol] = set(definition.free_symbols).union(
            *(below.get(s, set()) for s in definition.free_symbols)
        )
    local = functools.cache(lambda y, s: sp.diff(definitions[y], s))

    @functools.cache
    def derivative(y: sp.Symbol, x: sp.Symbol) -> sp.Expr:
        if y == x:
            return sp.Integer(1)
        if x not in below.get(y, ()):
            return sp.Integer(0)
        steps = [s for s in definitions[y].free_symbols if s == x or x in below.get(s, ())]
        return sp.Add(*(local(y, s) * derivative(s, x) for s in steps))

    return derivative


def named(label: str, model: Model) -> str | None:
    """The quantity a helper column's label names, if it names one: '∂a_h1/∂h1', 'δ_o1'."""
    text = normalize(label)
    names = {normalize(k): k for k in (*model.equations, *helper_equations(model))}
    for symbol, _ in model.network.equations:
        names.setdefault(normalize(symbol.name), symbol.name)
    names.setdefault("e", model.network.loss.name)
    match = DELTA_LABEL.match(text)
    if match and f"delta_{match['name']}" in model.equations:
        return f"delta_{match['name']}"
    match = HELPER_LABEL.match(text)
    if not match:
        return None
    num, den = names.get(match["num"]), names.get(match["den"])
    key = f"∂{num}/∂{den}"
    if key in helper_equations(model):
        return key
    if num == model.network.loss.name and f"delta_{den}" in model.equations:
        return f"delta_{den}"  # ∂E/∂h1: the delta of h1
    return None


def candidates(model: Model) -> dict[str, Equation]:
    """What an unknown column may hold: the model's own columns first, then the helpers."""
    return {**model.equations, **helper_equations(model)}


def matching(values: np.ndarray, computed: np.ndarray, allowed: np.ndarray) -> bool:
    """The column's numbers are the quantity's wherever it has a number, and it has some."""
    finite = np.isfinite(values)
    if not finite.any():
        return False
    with np.errstate(invalid="ignore"):
        return bool((np.abs(values[finite] - computed[finite]) <= allowed[finite]).all())


def holds_numbers(column: Column) -> bool:
    """A column with a formula or a number in it: something to check, not a note beside a table."""
    return any(f >= 0 for f in column.formulas) or bool(np.isfinite(column.values()).any())


class Quantities:
    """Every candidate quantity and catalogued mistake at the numbers in use, with the rounding
    its arguments carry into it: worked out when first asked for, once for all of a table's
    unknown columns (they are the same for each)."""

    def __init__(self, check: UnknownColumns, used: dict[str, np.ndarray]):
        self.candidates = candidates(check.model)
        self.check, self.used = check, used
        self.found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.wrong: dict[int, np.ndarray] = {}

    def quantity(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(its value, the rounding carried into it) in each row."""
        if key not in self.found:
            equation = self.candidates[key]
            self.found[key] = (
                self.check.computed(equation, self.used),
                self.check.carried_units(equation, self.used),
            )
        return self.found[key]

    def mistaken(self, k: int, mistake: Mistake) -> np.ndarray:
        """The k-th catalogued mistake's value in each row."""
        if k not in self.wrong:
            self.wrong[k] = self.check.computed(mistake.step, self.used)
        return self.wrong[k]


class UnknownColumns:
    """TableCheck's (diagnose.py) columns whose label it does not know: each identified by what
    it computes and checked as the column of that quantity, or listed as unchecked."""

    table: Table
    model: Model
    last: int
    tolerance: float
    mistaken: dict[int, str]  # column index -> the catalogued mistake its numbers hold

    def check_unknown(self, used: dict[str, np.ndarray]) -> None:
        unknown = [c for c in self.table.columns if c.key is None and holds_numbers(c)]
        if len(unknown) > MAX_UNKNOWN:
            first = unknown[0]
            self.verdict.unchecked.append(
                f"{self.table.worksheet}!{self.table.span}: {len(unknown):,} columns with labels "
                f"this does not know (the first {first.label!r}, from {self.first_cell(first)}): "
                f"more than the {MAX_UNKNOWN:,} it identifies by their numbers; the sheet may "
                "model another net than the one it is checked as (give --config for its net)"
            )
            return
        at_used = Quantities(self, used)
        for column in unknown:
            key = self.identify(column, at_used)
            mistake = None if key is not None else self.mistake(column, at_used)
            if mistake is not None:
                # As a column labelled with its quantity and holding this mistake: the mistake
                # is named at its cells, and what reads the column reads the sheet's numbers.
                key = mistake.key
                self.mistaken[column.index] = mistake.diagnosis
                if key not in self.keyed:
                    used[key] = filled(column.values(), used[key])
                    at_used = Quantities(self, used)
            if key is None:
                self.verdict.unchecked.append(
                    f"{self.table.worksheet}!{self.table.span}: column {column.label!r} (from "
                    f"{self.first_cell(column)}): a label this does not know, and its numbers are "
                    "none of the quantities this computes"
                )
                continue
            known = replace(column, key=key)
            # From here on the column is that quantity's: a formula reading it (a weight's update
            # reading a gradient column) reads the quantity, not the column's formula written out.
            self.by_index[column.index] = known
            self.keyed.setdefault(key, known)
            self.check_column(known, candidates(self.model)[key], used)
            if normalize(column.label) != normalize(key):
                self.verdict.columns[-1] = f"{column.label} (as {key})"

    def identify(self, column: Column, at_used: Quantities) -> str | None:
        """The quantity the column holds at the precision it carries (the one its label names
        first), else the one its label names, else None."""
        hint = named(column.label, self.model)
        order = [hint] if hint else []
        order += [key for key in at_used.candidates if key != hint]
        positions = self.positions(column)
        values, units = column.values()[positions], column.units()[positions]
        for key in order:
            computed, carried = at_used.quantity(key)
            computed = computed[positions]
            allowed = 1.5 * (units + carried[positions]) + self.tolerance * np.abs(computed)
            if matching(values, computed, allowed):
                return key
        return hint

    def mistake(self, column: Column, at_used: Quantities) -> Mistake | None:
        """The catalogued mistake (mistakes.py) the column's numbers are at the precision they
        carry, in MIN_ROWS rows or more, if they are one quantity's mistakes only (else it cannot
        tell which): None when none is."""
        positions = self.positions(column)
        positions = positions[np.isfinite(column.values()[positions])]
        found = self.mistakes_held(column, positions, at_used)
        return found[0] if len({m.key for m in found}) == 1 else None

    def name_mistake(self, column: Column, wrong: np.ndarray, used: dict[str, np.ndarray]) -> None:
        """A labelled column whose numbers are wrong at positions `wrong`, and there one of the
        catalogued mistakes of its quantity: that mistake is named at its cells, as it is where a
        formula makes it."""
        found = self.mistakes_held(column, wrong, Quantities(self, used), column.key)
        if found:
            self.mistaken[column.index] = found[0].diagnosis

    def mistakes_held(
        self, column: Column, positions: np.ndarray, at_used: Quantities, key: str | None = None
    ) -> list[Mistake]:
        """The catalogued mistakes (of quantity `key`, else of any) that the column's numbers at
        `positions` are, at the precision they carry; none in fewer than MIN_ROWS rows."""
        if len(positions) < MIN_ROWS:
            return []
        values, units = column.values()[positions], column.units()[positions]
        found = []
        for k, mistake in enumerate(mistakes(self.model)):
            if key is not None and mistake.key != key:
                continue
            computed = at_used.mistaken(k, mistake)[positions]
            allowed = 1.5 * (units + at_used.quantity(mistake.key)[1][positions])
            if matching(values, computed, allowed + self.tolerance * np.abs(computed)):
                found.append(mistake)
        return found

    def first_cell(self, column: Column) -> str:
        ids = column.formula_ids()
        filled = np.flatnonzero(np.isfinite(column.values()) | (ids >= 0))
        row = int(self.table.rows[int(filled[0])]) if len(filled) else self.table.header_row
        return self.table.place(row, column.index)

"""The mistakes the checker names, worked out ahead as quantities: each column's derived expression
with one of explain.py's catalogued changes (a symbol in place of a like one, a path left out or
taken twice, a factor missing or doubled, the sign, a sigmoid without its minus sign), each with
the sentence a formula making that change is named by. A column no label names and no correct
quantity matches, whose numbers are one of these, is that mistake (helpers.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from derive.check.explain import changes
from derive.check.formulas import display_name
from derive.check.model import Equation, Model
from derive.check.program import printed_steps
from derive.network import Network

MAX_MISTAKES = 2_000  # wrong quantities worked out for one network; past it, none are


@dataclass(frozen=True)
class Mistake:
    key: str  # the quantity it is a wrong version of
    step: Equation  # its expression and NumPy function
    sentence: Callable[[], str]  # what it is, in explain's words (printed when needed)

    @property
    def diagnosis(self) -> str:
        return self.sentence()


def mistakes(model: Model) -> tuple[Mistake, ...]:
    """Every catalogued wrong version of every column the model computes, in explain's order."""
    equations = tuple((key, equation.expr) for key, equation in model.equations.items())
    return network_mistakes(model.network, equations)


@functools.lru_cache(maxsize=4)
def network_mistakes(network: Network, equations: tuple[tuple[str, sp.Expr], ...]):
    """mistakes', made once per network (only when a sheet has a column nothing else matches)."""
    like = likenesses(network)
    found: list[tuple[str, sp.Expr, Callable[[], str]]] = []
    for key, derived in equations:
        seen = {derived}
        names = {s: display_name(s, False) for s in derived.free_symbols | set(like)}
        what = display_name(sp.Symbol(key), False)
        own = sorted(derived.free_symbols, key=lambda s: s.name)
        for wrong, sentence in changes(derived, what, network, names, like.get, own):
            if wrong in seen or not wrong.free_symbols:
                continue
            seen.add(wrong)
            found.append((key, wrong, sentence))
            if len(found) > MAX_MISTAKES:
                return ()
    steps = printed_steps([(sp.Symbol(f"mistake {k}"), e) for k, (_, e, _) in enumerate(found)])
    return tuple(
        Mistake(key, step, said) for (key, _, said), step in zip(found, steps.values(), strict=True)
    )


def likenesses(network: Network) -> dict[sp.Symbol, list[sp.Symbol]]:
    """What may stand in a symbol's place by mistake: a symbol of its kind (a_h2 for a_h1, w7 for
    w6, t2 for t1), or its neuron's net input for its output and back (h2 for a_h2)."""
    symbols = [*network.values_args, *(symbol for symbol, _ in network.equations)]
    kind = {s: re.sub(r"\d+$", "", s.name) for s in symbols}
    pairs = {n.out: n.net for n in network.neurons} | {n.net: n.out for n in network.neurons}
    return {
        s: [o for o in symbols if o != s and (kind[o] == kind[s] or pairs.get(s) == o)]
        for s in symbols
    }

"""Name what is wrong in a formula: the one change that turns the derived expression into the
sheet's. Tried in turn: a sigmoid without its minus sign, one symbol in place of another (named
with the factor it sits in: "a_h1·(1 − a_h1) where a_h2·(1 − a_h2) belongs"), a path of a hidden
sum taken twice or left out, a factor missing or extra, the sign; else the factors that differ."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sympy as sp

from derive.check.model import Model, elementary, evaluated, random_points, same
from derive.functions import sigmoid
from derive.network import Network


def show(expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
    """Plain text as a reader writes it: a_h2·(1 − a_h2), a typed decimal as typed (0.35, not
    7/20; a half stays 1/2)."""
    printable = as_max(expr).xreplace(
        {s: sp.Symbol(names.get(s, s.name)) for s in expr.free_symbols}
    )
    fractions = [r for r in printable.atoms(sp.Rational) if r.q % 5 == 0]
    typed = {r: sp.sign(r) * sp.Symbol(repr(float(abs(r)))) for r in fractions}
    printable = printable.xreplace(typed)
    text = sp.sstr(printable, order="none")
    return text.replace("**", "^").replace("*", "·").replace(" - ", " − ")


def as_max(expr: sp.Expr) -> sp.Expr:
    """ReLU's Piecewise((h1, h1 > 0), (0, True)) as Max(0, h1), a leaky ReLU's as
    Max(h1/100, h1): as a sheet writes them."""

    def written(piecewise: sp.Piecewise) -> sp.Expr:
        (x, condition), (other, _) = piecewise.args
        return sp.Max(other, x, evaluate=False) if condition == (x > 0) else piecewise

    def two_pieces(node: sp.Basic) -> bool:
        return isinstance(node, sp.Piecewise) and len(node.args) == 2 and node.args[1][1] == sp.true

    return expr.replace(two_pieces, written)


def context(expr: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    """The smallest group of factors or terms of `expr` that holds `symbol`."""
    while isinstance(expr, sp.Mul | sp.Add):
        parts = [p for p in expr.args if symbol in p.free_symbols]
        if len(parts) != 1:
            return expr.func(*parts)
        if not isinstance(parts[0], sp.Mul | sp.Add):
            return parts[0]
        expr = parts[0]
    return expr


def sums(expr: sp.Expr) -> list[sp.Add]:
    return [a for a in sp.preorder_traversal(expr) if isinstance(a, sp.Add) and len(a.args) > 1]


def path_name(term: sp.Expr, network: Network) -> str | None:
    outs = [n for n in network.outputs if n.out in term.free_symbols]
    return outs[0].name if len(outs) == 1 else None


def factors(expr: sp.Expr) -> dict[sp.Expr, sp.Expr]:
    sign, rest = (-1, -expr) if expr.could_extract_minus_sign() else (1, expr)
    raw = sp.Mul(rest).as_powers_dict() if isinstance(rest, sp.Mul) else {rest: 1}
    powers: dict[sp.Expr, sp.Expr] = {}
    for base, exponent in raw.items():
        if not sp.sympify(exponent).is_number:  # exp(o1 − MAX(o1, o2)) is E^(o1 − ...): whole
            base, exponent = base**exponent, sp.Integer(1)
        powers[base] = powers.get(base, 0) + exponent
    if sign < 0:
        powers[sp.Integer(-1)] = 1
    return powers


Change = tuple[sp.Expr, Callable[[], str]]  # a wrong expression, and the sentence naming it


def explain(
    sheet: sp.Expr, derived: sp.Expr, what: str, model: Model, names: dict[sp.Symbol, str]
) -> str:
    """One sentence: what the sheet's formula for `what` does where the derived one belongs."""
    points = random_points(sheet.free_symbols | derived.free_symbols, count=2)
    used = sorted(sheet.free_symbols, key=lambda s: s.name)
    for candidate, sentence in changes(derived, what, model.network, names, lambda _: used, used):
        if same(sheet, candidate, points):
            return sentence()
    return _difference(sheet, derived, what, names)


def changes(
    derived: sp.Expr,
    what: str,
    network: Network,
    names: dict[sp.Symbol, str],
    swaps: Callable[[sp.Symbol], list[sp.Symbol]],
    extra: list[sp.Symbol],
) -> Iterator[Change]:
    """The catalogue of mistakes this names, in the order they are tried: a sigmoid without its
    minus sign, one symbol in place of another (`swaps` says which may stand for a symbol), a
    path taken twice or left out, a factor missing, an extra factor (of `extra`), the sign."""
    yield from _minus_sign(derived, what)
    yield from _swap(derived, what, names, swaps)
    yield from _paths(derived, what, network)
    yield from _factor(derived, what, names, extra)
    yield -derived, lambda: f"{what} has the wrong sign"


def _minus_sign(derived, what) -> Iterator[Change]:
    for call in derived.atoms(sigmoid):
        (x,) = call.args
        said = f"sigmoid of {sp.sstr(x)} is missing its minus sign"
        yield derived.xreplace({call: sigmoid(-x)}), lambda said=said: said


def _swap(derived, what, names, swaps) -> Iterator[Change]:
    for old in sorted(derived.free_symbols, key=lambda s: s.name):
        for new in swaps(old):
            if new == old:
                continue

            def said(old=old, new=new) -> str:
                place = context(derived, old)
                return (
                    f"{what} uses {show(place.xreplace({old: new}), names)} where "
                    f"{show(place, names)} belongs"
                )

            yield derived.xreplace({old: new}), said


def _paths(derived, what, network) -> Iterator[Change]:
    for total in sums(derived):
        terms = total.args
        for i, term in enumerate(terms):
            name = path_name(term, network)
            if name is None:
                continue
            others = [t for j, t in enumerate(terms) if j != i]
            missing = f"{what}: the {name} path is missing"
            yield derived.xreplace({total: sp.Add(*others)}), lambda said=missing: said
            for other in others:
                twice = path_name(other, network)
                if not twice:
                    continue
                replaced = sp.Add(*[t for t in others if t is not other], term, term)
                said = f"{what}: the {name} path appears twice (the {twice} path is missing)"
                yield derived.xreplace({total: replaced}), lambda said=said: said


def _factor(derived, what, names, extra) -> Iterator[Change]:
    groups = set(sp.Mul.make_args(derived))
    for symbol in derived.free_symbols:
        groups.add(context(derived, symbol))
    for group in sorted(groups, key=sp.default_sort_key):
        if group.is_number:
            continue
        yield derived / group, lambda g=group: f"{what} is missing the factor {show(g, names)}"
    for symbol in extra:
        yield derived * symbol, lambda s=symbol: f"{what} has an extra factor {show(s, names)}"


def _difference(sheet, derived, what, names) -> str:
    """The factors the two products do not share (path by path inside a sum), else both in full."""
    found = _differing(elementary(sheet), elementary(derived), names)
    if found:
        return f"{what} {found}"
    return f"{what} is {show(sheet, names)} where {show(derived, names)} belongs"


def _differing(sheet: sp.Expr, derived: sp.Expr, names, depth: int = 0) -> str | None:
    mine, theirs = factors(sheet), factors(derived)
    change = {b: mine.get(b, 0) - theirs.get(b, 0) for b in {*mine, *theirs}}
    extra = {b: e for b, e in change.items() if e > 0}
    missing = {b: -e for b, e in change.items() if e < 0}
    if not extra or not missing:
        return None
    if depth < 2 and len(extra) == len(missing) == 1:
        a, b = next(iter(extra)), next(iter(missing))
        if isinstance(a, sp.Add) and isinstance(b, sp.Add):  # the one term of a sum that differs
            a_own, b_own = own_terms(a, b), own_terms(b, a)
            if all(t.is_number for t in a.args if t not in a_own):
                a_own = b_own = []  # 1 − a_o1 where 1 − a_o2 belongs: named whole
            if not a_own and len(b_own) == 1:
                return f"is missing the term {show(b_own[0], names)}"
            if not b_own and len(a_own) == 1:
                return f"has an extra term {show(a_own[0], names)}"
            if len(a_own) == len(b_own) == 1 and len(a_own) < len(a.args):
                found = _differing(a_own[0], b_own[0], names, depth + 1)
                return (
                    found or f"uses {show(a_own[0], names)} where {show(b_own[0], names)} belongs"
                )
        if isinstance(a, sp.Add) and isinstance(b, sp.Add) and len(a.args) == len(b.args):
            pairs = zip(_by_path(a), _by_path(b), strict=True)
            parts = [_differing(x, y, names, depth + 1) for x, y in pairs]
            if all(parts):
                return "; ".join(dict.fromkeys(parts))
    used = sp.Mul(*(b**e for b, e in extra.items()), evaluate=False)
    belongs = sp.Mul(*(b**e for b, e in missing.items()), evaluate=False)
    return f"uses {show(used, names)} where {show(belongs, names)} belongs"


def own_terms(total: sp.Add, other: sp.Add) -> list[sp.Expr]:
    """The terms of `total` that `other` does not have (as values: w7·a_h1 is a_h1·w7)."""
    theirs = {evaluated(u) for u in other.args}
    return [t for t in total.args if evaluated(t) not in theirs]


def _by_path(total: sp.Add) -> list[sp.Expr]:
    """A sum's terms in the order of the output neurons they go through."""
    return sorted(
        total.args, key=lambda t: sorted(s.name for s in t.free_symbols if "_o" in s.name)
    )

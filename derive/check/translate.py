"""A cell formula as a SymPy expression: openpyxl's Tokenizer splits it, a small precedence parser
builds the expression, and `resolve` turns each cell reference into a symbol (a column of this
row, of the row above, the learning rate) or a number, or says it cannot."""

from __future__ import annotations

import re
from collections.abc import Callable

import sympy as sp
from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.utils import column_index_from_string

CELL = re.compile(r"^(\$?)([A-Za-z]{1,3})(\$?)(\d+)$")
# Excel's precedence: negation binds tighter than ^, and ^ groups left to right; a comparison
# binds loosest (h1+1>0 is (h1+1)>0).
COMPARISONS = {"=": sp.Eq, "<>": sp.Ne, "<": sp.Lt, ">": sp.Gt, "<=": sp.Le, ">=": sp.Ge}
INFIX = {"+": 10, "-": 10, "*": 20, "/": 20, "^": 30} | dict.fromkeys(COMPARISONS, 5)
PREFIX_POWER = 40
MAX_BITS = 100_000  # of an exact number a power may work out
MAX_DEPTH = 100  # Excel nests functions 64 deep; each level here is an expression or operand


class Unsupported(ValueError):
    """A formula this cannot translate; the message says what in it."""


Resolve = Callable[[int, int, bool], sp.Expr]  # (row, column, row is absolute) -> expression


def _power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    """base^exponent; refused where SymPy would work out an exact number of more than MAX_BITS
    bits (=2^2^2^... squares its way to billions of digits)."""
    if base.is_Rational and exponent.is_Number:
        bits = max(abs(base.p).bit_length(), abs(base.q).bit_length())
        if bits > 1 and abs(exponent) * bits > MAX_BITS:
            raise Unsupported("a power too large to work out")
    return sp.Pow(base, exponent)


def total(left: sp.Expr, terms: list[sp.Expr]) -> sp.Expr:
    """left + terms[0] + terms[1] + ..., as one Add: added one at a time, a sum of n terms (a
    neuron of 64 inputs) would be flattened and sorted again at each, n times over."""
    return sp.Add(number(left), *map(number, terms)) if terms else left


def number(value: sp.Basic) -> sp.Expr:
    """A comparison as the number Excel makes of it in a sum or product: 1 if true, else 0."""
    if isinstance(value, sp.core.relational.Relational):
        return sp.Piecewise((1, value), (0, True))
    return value


def condition(value: sp.Basic) -> sp.Basic:
    """IF's first argument as a condition: a comparison, or a number that is true if not 0."""
    if isinstance(value, sp.core.relational.Relational):
        return value
    return sp.Ne(value, 0)


def _if(test: sp.Basic, then: sp.Basic, otherwise: sp.Basic) -> sp.Expr:
    return sp.Piecewise((number(then), condition(test)), (number(otherwise), True))


def _log(x: sp.Expr, base: sp.Expr | None = None) -> sp.Expr:
    return sp.log(x) / sp.log(10 if base is None else base)


FUNCTIONS: dict[str, Callable[..., sp.Expr]] = {
    "EXP": sp.exp,
    "LN": sp.log,
    "LOG": _log,
    "LOG10": lambda x: sp.log(x) / sp.log(10),
    "SQRT": sp.sqrt,
    "POWER": _power,
    "ABS": sp.Abs,
    "MIN": sp.Min,
    "MAX": sp.Max,
    "SUM": lambda *xs: sp.Add(*xs),
    "PRODUCT": lambda *xs: sp.Mul(*xs),
    "TANH": sp.tanh,
    "IF": _if,  # with three arguments: IF(h1>0,h1,0)
}


class Parser:
    def __init__(self, formula: str, row: int, column: int, resolve: Resolve):
        try:
            tokens = Tokenizer(formula).items
        except Exception as exc:  # the tokenizer raises on unbalanced input
            raise Unsupported(f"cannot read {formula!r}: {exc}") from None
        self.tokens = [t for t in tokens if t.type != Token.WSPACE]
        self.position = 0
        self.depth = 0  # expressions open: parentheses, arguments, operands of an operator
        self.row, self.column, self.resolve = row, column, resolve

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise Unsupported("the formula ends too early")
        self.position += 1
        return token

    def parse(self) -> sp.Expr:
        expr = self.expression(0)
        if self.peek() is not None:
            raise Unsupported(f"unexpected {self.peek().value!r}")
        return expr

    def expression(self, power: int) -> sp.Expr:
        self.depth += 1
        try:
            return self.operations(power)
        finally:
            self.depth -= 1

    def operations(self, power: int) -> sp.Expr:
        if self.depth > MAX_DEPTH:
            raise Unsupported(f"a formula nested more than {MAX_DEPTH} deep")
        left = self.prefix()
        terms: list[sp.Expr] = []  # what is added to `left`, in one sum when it is complete
        while True:
            token = self.peek()
            if token is None:
                return total(left, terms)
            if token.type == Token.OP_POST and token.value == "%":
                self.take()
                left, terms = total(left, terms) / 100, []
                continue
            if token.type != Token.OP_IN or INFIX.get(token.value, -1) <= power:
                if token.type == Token.OP_IN and token.value not in INFIX:
                    raise Unsupported(f"the operator {token.value!r}")
                return total(left, terms)
            self.take()
            right = self.expression(INFIX[token.value])
            if token.value in ("+", "-"):
                terms.append(right if token.value == "+" else -right)
            else:
                left, terms = self.apply(token.value, total(left, terms), right), []

    @staticmethod
    def apply(op: str, left: sp.Expr, right: sp.Expr) -> sp.Expr:
        if op in COMPARISONS:
            return COMPARISONS[op](number(left), number(right))
        left, right = number(left), number(right)
        if op == "*":
            return left * right
        if op == "/":
            return left / right
        return _power(left, right)

    def prefix(self) -> sp.Expr:
        token = self.take()
        if token.type == Token.OP_PRE:
            value = number(self.expression(PREFIX_POWER))
            return -value if token.value == "-" else value
        if token.type == Token.PAREN and token.subtype == Token.OPEN:
            inner = self.expression(0)
            self.close()
            return inner
        if token.type == Token.FUNC and token.subtype == Token.OPEN:
            return self.function(token.value[:-1].upper())
        if token.type == Token.OPERAND:
            return self.operand(token)
        raise Unsupported(f"unexpected {token.value!r}")

    def close(self) -> None:
        token = self.take()
        if token.subtype != Token.CLOSE:
            raise Unsupported(f"unexpected {token.value!r}")

    def function(self, name: str) -> sp.Expr:
        name = name.removeprefix("_XLFN.")
        if name not in FUNCTIONS:
            raise Unsupported(f"the function {name}")
        args: list[sp.Expr] = []
        if self.peek() is not None and self.peek().subtype == Token.CLOSE:
            self.take()
        else:
            while True:
                args.extend(self.argument())
                token = self.take()
                if token.subtype == Token.CLOSE:
                    break
                if token.type != Token.SEP:
                    raise Unsupported(f"unexpected {token.value!r}")
        try:
            return FUNCTIONS[name](*args)
        except TypeError:
            raise Unsupported(f"{name} with {len(args)} argument(s)") from None

    def argument(self) -> list[sp.Expr]:
        token = self.peek()
        if token is not None and token.type == Token.OPERAND and ":" in token.value:
            self.take()
            return self.range(token.value)
        return [self.expression(0)]

    def range(self, text: str) -> list[sp.Expr]:
        first, _, last = text.partition(":")
        (r1, c1, a1), (r2, c2, _) = self.reference(first), self.reference(last)
        if (r2 - r1 + 1) * (c2 - c1 + 1) > 64:
            raise Unsupported(f"the range {text}")
        return [self.resolve(r, c, a1) for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)]

    @staticmethod
    def reference(text: str) -> tuple[int, int, bool]:
        match = CELL.match(text)
        if not match:
            raise Unsupported(f"the reference {text}")
        return int(match[4]), column_index_from_string(match[2].upper()), bool(match[3])

    def operand(self, token: Token) -> sp.Expr:
        if token.subtype == Token.NUMBER:
            return sp.Rational(token.value) if len(token.value) < 30 else sp.Float(token.value)
        if token.subtype == Token.RANGE:
            if "!" in token.value:
                raise Unsupported(f"a reference to another worksheet ({token.value})")
            row, column, absolute = self.reference(token.value)
            return self.resolve(row, column, absolute)
        raise Unsupported(f"the operand {token.value!r}")


def translate(formula: str, row: int, column: int, resolve: Resolve) -> sp.Expr:
    """The formula (in the cell at row, column) as a SymPy expression; Unsupported if it can't."""
    return number(Parser(formula, row, column, resolve).parse())  # =h1>0 shows TRUE: 1

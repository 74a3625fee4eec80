"""SymPy expressions as spreadsheet formulas (Excel, LibreOffice): each symbol becomes a cell
reference, and the network's functions formulas that do not overflow."""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.printing.str import StrPrinter

from derive.functions import prints_operations
from derive.operations import OPERATIONS


class Argument(str):
    """An argument's formula text as it reads inside a call (A1+B1); `.operand` as it reads
    next to an operator: in parentheses unless one cell, number or call ((A1+B1))."""

    operand: str


def _argument(printer: SpreadsheetPrinter, expr: sp.Expr) -> Argument:
    argument = Argument(printer._print(expr))
    argument.operand = printer._operand(expr)
    return argument


def _operation_formula(printer: SpreadsheetPrinter, expr: sp.Expr) -> str:
    operation = OPERATIONS[type(expr).__name__]
    return operation.spreadsheet(*(_argument(printer, a) for a in expr.args))


@prints_operations(_operation_formula)
class SpreadsheetPrinter(StrPrinter):
    """SymPy expressions as spreadsheet formulas (Excel, LibreOffice): each symbol becomes the
    cell `cells` names, powers ^, and the network's functions overflow-free formulas."""

    def __init__(self, cells: Mapping[sp.Symbol, str]):
        super().__init__({"order": "none"})
        self.cells = cells

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        try:
            return self.cells[expr]
        except KeyError:
            raise ValueError(f"no cell holds the symbol {expr.name}") from None

    def _operand(self, expr: sp.Expr) -> str:
        """The printed expression, in parentheses unless it is one cell, number or call."""
        text = self._print(expr)
        single = expr.is_Symbol or isinstance(expr, sp.Function)
        if single or (expr.is_Number and expr >= 0 and "/" not in text):
            return text
        return f"({text})"

    def _print_Add(self, expr: sp.Add, order=None) -> str:
        terms = [self._print(t) for t in self._as_ordered_terms(expr, order="none")]
        return terms[0] + "".join(t if t.startswith("-") else f"+{t}" for t in terms[1:])

    def _print_Mul(self, expr: sp.Mul) -> str:
        coeff, rest = expr.as_coeff_Mul()
        if coeff < 0:
            # Unary minus binds before ^ in spreadsheets (-A1^2 is (-A1)^2): keep it outside.
            return "-" + self._operand(sp.Mul(-coeff, rest))
        return super()._print_Mul(expr)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exponent = expr.as_base_exp()
        if exponent == -1:
            return f"1/{self._operand(base)}"
        return f"{self._operand(base)}^{self._operand(exponent)}"

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr)).upper()  # shortest exact form; 1e-05 -> 1E-05

    def _print_Integer(self, expr: sp.Integer) -> str:
        return str(expr.p)

    def _print_Rational(self, expr: sp.Rational) -> str:
        return f"{expr.p}/{expr.q}"

    def _call(self, name: str, *args: sp.Expr) -> str:
        return f"{name}({','.join(self._print(a) for a in args)})"

    def _print_exp(self, expr: sp.Expr) -> str:
        return self._call("EXP", *expr.args)

    def _print_log(self, expr: sp.Expr) -> str:
        return self._call("LN", *expr.args)

    def _print_Abs(self, expr: sp.Expr) -> str:
        return self._call("ABS", *expr.args)

    def _print_Max(self, expr: sp.Expr) -> str:
        return self._call("MAX", *expr.args)

    def _print_Min(self, expr: sp.Expr) -> str:
        return self._call("MIN", *expr.args)

    def _print_maximum(self, expr: sp.Expr) -> str:
        return self._call("MAX", *expr.args)

    def _print_winner(self, expr: sp.Expr) -> str:
        # 1 where x_k is the window's first maximum: above every earlier value, at least every
        # later one (derive/cnn/functions.py).
        k, *xs = expr.args
        k = int(k)
        here = self._print(xs[k])
        tests = [f"{here}>{self._print(x)}" for x in xs[:k]]
        tests += [f"{here}>={self._print(x)}" for x in xs[k + 1 :]]
        return f"IF(AND({','.join(tests)}),1,0)"

    def _print_Function(self, expr: sp.Expr) -> str:
        raise ValueError(f"no spreadsheet formula for the function {expr.func.__name__}")


def spreadsheet_formula(expr: sp.Expr, cells: Mapping[sp.Symbol, str]) -> str:
    """`expr` as a formula ("=..."), each symbol replaced by the cell `cells` names for it."""
    return "=" + SpreadsheetPrinter(cells).doprint(expr)

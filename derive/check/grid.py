"""A sheet as both readers hand it on (read_xlsx.py, read_csv.py): worksheets, each a stream of rows
of cells, a number with the digits it was written with; the bounds both readers share; and
SheetError, the one-line refusal every stage of the check raises.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from safeio.cli import visible

MAX_CELLS = 25_000_000  # derive table writes at most table.MAX_CELLS = 20,000,000
MAX_TEXT = 32_767


class SheetError(ValueError):
    """A sheet that cannot be checked; the message is one line saying why (what it quotes from
    the file, such as a worksheet's name, with its control characters escaped)."""

    def __init__(self, message: str):
        super().__init__(visible(message))


class Cell(NamedTuple):  # a tuple: a large sheet makes millions of them, a tuple is made fastest
    value: float | str  # a number, a text or an error value such as '#N/A'
    formula: str | None  # '=E21-$G$19*X21', or None for a typed value
    digits: tuple[int, int] = (0, 0)  # a number's (significant digits, decimals) as written


Row = tuple[int, dict[int, Cell]]  # (row number, column number -> cell), 1-based


@dataclass(frozen=True)
class Worksheet:
    name: str
    rows: Iterator[Row]
    notes: list[str] = field(default_factory=list)  # what reading it found to say, once read


def is_error_value(value: object) -> bool:
    """A cell's text that shows a failed computation: #DIV/0!, #N/A, #REF!, #NAME?, #VALUE!, #NUM!,
    #NULL!, #SPILL!, #CALC! (any #-text), or a number that is not one (NaN, inf)."""
    if not isinstance(value, str):
        return False
    text = value.strip().lower()
    return text.startswith("#") or text.lstrip("+-") in ("nan", "inf", "infinity")


def number_digits(text: str) -> tuple[int, int]:
    """(significant digits, decimals) of a number as written: '0.000123' -> (3, 6), '1.5E-05' ->
    (2, 6); what a value rounded when it was typed or pasted still carries."""
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.lstrip("+-").partition(".")
    digits = (whole + fraction).lstrip("0")
    return max(len(digits), 1), len(fraction) - int(exponent or 0)


def number(text: str) -> Cell | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return Cell(text, None)
    # To 15 significant digits, as spreadsheets show them: 0.0009990000000000001 is 0.000999.
    return Cell(value, None, number_digits(f"{value:.15g}"))

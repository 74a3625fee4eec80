"""derive check on columns whose labels it does not know: one whose numbers are a catalogued
mistake (a symbol in place of a like one, a factor missing, the sign) is a finding named as the
same mistake in a labelled column is; one that is right is checked; one that is a chain factor a
careful student writes (1 − a_h1, ∂a_o1/∂w5) is right, though a mistake has its numbers; one that
matches nothing, or mistakes of two quantities, is listed as unchecked with its label and first
cell.

One sheet holds every such column beside course_sheet's table (test_check.py), recomputed by the
`formulas` engine, once with its formulas and once pasted as values; the expected diagnoses are
written out here by hand.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import openpyxl
import pytest
from test_check import (
    COLUMNS,
    GIVENS,
    WEIGHTS,
    course_sheet,
    fill,
    paste_values,
    save_recalculated,
)

from derive.__main__ import main

pytestmark = pytest.mark.core

NAMES = [*GIVENS, *WEIGHTS[:4], "h1", "a_h1", "h2", "a_h2", *WEIGHTS[4:], *list(COLUMNS)[4:]]
COURSE = {name: k for k, name in enumerate(NAMES, 1)}  # course_sheet's columns, A..AE
# dE/dw3 with a_h1·(1 − a_h1) where a_h2·(1 − a_h2) belongs (YETI-WU's mistake), named in the
# words test_check's labelled dE/dw3 column with this formula is named in.
SWAPPED = COLUMNS["dE/dw3"].replace("{a_h2}", "{a_h1}")
SWAPPED_SAID = "dE/dw3 uses a_h1·(1 − a_h1) where a_h2·(1 − a_h2) belongs"
SCRATCH = {  # column: (label, template)
    "AF": ("scratch 1", SWAPPED),
    "AG": ("scratch 2", COLUMNS["dE/dw3"].replace("*(1-{a_h2})", "")),
    "AH": ("scratch 3", "-" + COLUMNS["dE/dw5"]),
    "AI": ("scratch 4", COLUMNS["dE/dw3"]),
    "AJ": ("scratch 5", "1-{a_h1}"),  # a sigmoid without its minus sign has these numbers
    "AK": ("scratch 6", "{a_o1}*(1-{a_o1})*{a_h1}"),  # so has dE/dw5 without a_o1 − t1
    "AL": ("scratch 7", "2*{a_h1}"),  # nothing this computes, nor a mistake in one
    "AM": ("scratch 8", "{w3}*{i1}+{w2}*{i2}"),  # h1 with w3 for w1, or h2 with w2 for w4?
}
NAMED = [
    ("AF5", SWAPPED_SAID),
    ("AG5", "dE/dw3 is missing the factor 1 − a_h2"),
    ("AH5", "dE/dw5 has the wrong sign"),
]


def checked(path: Path) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", str(path), "--format", "json"])
    return code, json.loads(out.getvalue())


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[bool, tuple[int, dict]]:
    """The sheet's report with its formulas (False) and pasted as values (True)."""
    path = course_sheet(tmp_path_factory.mktemp("mistaken") / "scratch.xlsx", rows=3)
    book = openpyxl.load_workbook(path)
    sheet = book["Backprop"]
    for letter, (label, template) in SCRATCH.items():
        sheet[f"{letter}4"] = label
        for row in range(5, 8):
            sheet[f"{letter}{row}"] = fill(template, COURSE, row)
    save_recalculated(book, path)
    found = {False: checked(path)}
    paste_values(path, decimals=None)
    found[True] = checked(path)
    return found


@pytest.mark.parametrize(("typed", "kind"), [(False, "wrong formula"), (True, "wrong value")])
def test_a_column_holding_a_catalogued_mistake_is_a_finding_naming_it(typed, kind, reports):
    code, report = reports[typed]
    assert code == 1
    assert [(f["cell"], f["kind"], f["count"], f["diagnosis"]) for f in report["findings"]] == [
        (cell, kind, 3, said) for cell, said in NAMED
    ]
    assert [f["label"] for f in report["findings"]] == ["scratch 1", "scratch 2", "scratch 3"]


@pytest.mark.parametrize("typed", [False, True])
def test_right_columns_and_chain_factors_are_checked_as_what_they_compute(typed, reports):
    _, report = reports[typed]
    assert report["tables"][0]["columns"][-6:] == [
        "scratch 1 (as dE_total/dw3)",
        "scratch 2 (as dE_total/dw3)",
        "scratch 3 (as dE_total/dw5)",
        "scratch 4 (as dE_total/dw3)",
        "scratch 5 (as 1 - a_h1)",
        "scratch 6 (as ∂a_o1/∂w5)",
    ]
    assert report["cells_checked"] == 3 * (19 + 6) + 2 * 8


@pytest.mark.parametrize("typed", [False, True])
def test_a_column_matching_nothing_or_two_quantities_mistakes_is_unchecked(typed, reports):
    _, report = reports[typed]
    assert report["unchecked"] == [
        f"Backprop!A4:AM7: column 'scratch {k}' (from {letter}5): a label this does not know, "
        "and its numbers are none of the quantities this computes"
        for k, letter in ((7, "AL"), (8, "AM"))
    ]

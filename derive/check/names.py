"""A workbook's defined names (=E5-eta*X5, eta naming $C$3), resolved so that a formula is read as
the cells it reads: a name for a cell or range of the formula's own worksheet becomes that
reference; any other name (another worksheet, a constant, #REF!) is left as written, so the
formula is compared by its values, and the worksheet's notes say which name and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from xml.etree import ElementTree

from derive.check.package import MAIN_NAMESPACES

MAX_NAMES = 10_000  # defined names read; a workbook with more is refused
AREA = r"\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?"
# A name as a formula writes it (not a function: no "(" after it; not a sheet: no "!"); looked up
# in a dict, so the cost does not grow with the number of names the workbook defines.
NAME = re.compile(r"(?<![\w.!$'\"])([A-Za-z_\\][\w.]*)(?![\w.(!])")
TARGET = re.compile(rf"^\s*(?:'((?:[^']|'')+)'|([^!'\s]+))!({AREA})\s*$")


def defined_names(book: ElementTree.Element) -> list[tuple[str, int | None, str]]:
    """(name, index of the worksheet it is local to or None, what it refers to), as written;
    Excel's own (_xlnm.Print_Area ...) left out."""
    found = []
    elements = [e for ns in MAIN_NAMESPACES for e in book.iter(f"{{{ns}}}definedName")]
    for element in elements:
        name = element.get("name", "")
        if not name or name.lower().startswith("_xlnm."):
            continue
        local = element.get("localSheetId")
        index = int(local) if local is not None and local.isdigit() else None
        found.append((name, index, (element.text or "").strip()))
    return found


def substitution(
    names: list[tuple[str, int | None, str]], sheet: str, index: int, notes: list[str]
) -> Callable[[str], str] | None:
    """The function that writes a formula of worksheet `sheet` (the index-th) with each name
    resolved; None when the workbook names nothing. Names used but not resolved go to `notes`."""
    visible: dict[str, str] = {}
    for name, local, target in names:  # a name local to this worksheet wins over a global one
        if (local is None and name.lower() not in visible) or local == index:
            visible[name.lower()] = target
    if not visible:
        return None
    noted: set[str] = set()

    def resolve(match: re.Match) -> str:
        name = match[1]
        target = visible.get(name.lower())
        if target is None:  # a cell reference, TRUE, or a name this workbook does not define
            return name
        found = TARGET.match(target)
        if found and sheet in ((found[1] or "").replace("''", "'"), found[2]):
            return found[3]
        if name.lower() not in noted:
            noted.add(name.lower())
            notes.append(
                f"the defined name {name!r} refers to {target!r}, not to a cell of this "
                "worksheet: the cells of formulas that use it are compared by their values"
            )
        return name

    def rewrite(formula: str) -> str:
        if '"' in formula:  # text in quotes is left as written
            parts = formula.split('"')
            return '"'.join(NAME.sub(resolve, p) if k % 2 == 0 else p for k, p in enumerate(parts))
        return NAME.sub(resolve, formula)

    return rewrite

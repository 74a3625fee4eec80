"""Read an .xlsx workbook (Transitional or Strict OOXML) as worksheets of rows of cells, streamed,
within bounds checked before and while reading (never after loading):
- the zip package: its members, parts and inflated bytes (package.py);
- at most MAX_WORKSHEETS worksheets and MAX_NAMES defined names;
- all worksheets together at most MAX_XLSX_CELLS cells (empty ones too) and, with the shared
  strings, MAX_TAGS XML tags, counted in the inflated bytes before any is parsed, so a small file
  of millions of cells is refused in seconds; at most MAX_SHARED_STRINGS shared strings, likewise;
- a worksheet: its <dimension> (the sheet's own statement of its used range) spans at most
  MAX_CELLS cells (grid.py); every cell reference a cell of a worksheet (A1 to XFD1048576);
- a cell: text at most MAX_TEXT characters (Excel's own limit), counted as the parser reads it.

Worksheets are parsed with expat in chunks: only one row is held at a time.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree
from xml.parsers import expat

from openpyxl.formula.translate import Translator
from openpyxl.utils.cell import column_index_from_string

from derive.check.grid import MAX_CELLS, MAX_TEXT, Cell, Row, SheetError, Worksheet, number
from derive.check.names import MAX_NAMES, defined_names, substitution
from derive.check.package import MAIN_NAMESPACES, REL_NAMESPACES, Inflated, open_package

MAX_XLSX_CELLS = 1_000_000  # all worksheets together; derive table writes at most 250,000
MAX_TAGS = 10 * MAX_XLSX_CELLS  # XML tags of the worksheets and shared strings parsed
MAX_SHARED_STRINGS = MAX_XLSX_CELLS
MAX_WORKSHEETS = 255
MAX_ROW, MAX_COLUMN = 1_048_576, 16_384  # a worksheet's last cell, XFD1048576
REFERENCE = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
# The elements a worksheet's parser acts on, by the names expat gives them (namespace}local, or
# local alone), so that most elements are told apart by one look-up; others by their local name.
TAGS = {
    f"{namespace}{local}": local
    for namespace in ("", *(f"{ns}}}" for ns in MAIN_NAMESPACES))
    for local in ("c", "v", "f", "t", "row", "dimension")
}
NO_ATTRIBUTES: dict[str, str] = {}


class Workbook:
    """An .xlsx package: its sheets' names and parts, its shared strings, read within bounds."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = open_package(path)
        self.inflated = Inflated(path, self.zip)
        self.parts = self.inflated.parts
        self.tags = 0  # counted before parsing, in every part parsed by the element

    def fail(self, what: str) -> SheetError:
        return self.inflated.fail(what)

    def chunks(self, name: str) -> Iterator[bytes]:
        return self.inflated.chunks(name)

    def counted(self, name: str, element: bytes) -> int:
        """The `element`s in the part, counted before it is parsed; its tags are added up."""
        found, tags = self.inflated.count(name, element)
        self.tags += tags
        return found

    def check_tags(self) -> None:
        """All parts counted together hold at most MAX_TAGS tags (a parser call each)."""
        if self.tags > MAX_TAGS:
            raise SheetError(
                f"{self.path}: more than {MAX_TAGS:,} XML tags in its worksheets and strings, "
                "the most this reads"
            )

    def small_xml(self, name: str) -> ElementTree.Element:
        data = self.inflated.small(name)
        try:
            return ElementTree.fromstring(data)
        except ElementTree.ParseError as exc:
            raise self.fail(f"part {name}: {exc}") from None

    def worksheets(self) -> list[Worksheet]:
        book = self.small_xml("xl/workbook.xml")
        rels = self.small_xml("xl/_rels/workbook.xml.rels")
        targets = {
            rel.get("Id"): rel.get("Target", "")
            for rel in rels.iter(f"{{{PKG_REL_NS}}}Relationship")
        }
        listed = [s for ns in MAIN_NAMESPACES for s in book.iter(f"{{{ns}}}sheet")]
        if len(listed) > MAX_WORKSHEETS:
            raise SheetError(
                f"{self.path}: {len(listed):,} worksheets, more than the {MAX_WORKSHEETS} "
                "this reads"
            )
        names = defined_names(book)
        if len(names) > MAX_NAMES:
            raise SheetError(
                f"{self.path}: {len(names):,} defined names, more than the {MAX_NAMES:,} this reads"
            )
        found = []
        for index, sheet in enumerate(listed):
            rel = next(
                (sheet.get(f"{{{ns}}}id") for ns in REL_NAMESPACES if sheet.get(f"{{{ns}}}id")), ""
            )
            target = targets.get(rel, "")
            part = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
            part = posixpath.normpath(part)
            if part in self.parts:
                found.append((index, sheet.get("name", "?"), part))
        if not found:
            raise self.fail("it has no worksheets")
        cells = 0
        for k, (_, name, part) in enumerate(found):  # counted before any is parsed
            cells += self.counted(part, b"c")
            if cells > MAX_XLSX_CELLS:
                what = f"worksheet {name!r} holds" if k == 0 else f"its worksheets to {name!r} hold"
                raise SheetError(
                    f"{self.path}: {what} {cells:,} cells, more than the {MAX_XLSX_CELLS:,} "
                    "this reads (empty ones too)"
                )
            self.check_tags()
        strings = self.shared_strings()
        sheets = []
        for index, name, part in found:
            notes: list[str] = []
            parser = SheetParser(self, name, part, strings)
            parser.rewrite = substitution(names, name, index, notes)
            sheets.append(Worksheet(name, parser.rows(), notes))
        return sheets

    def shared_strings(self) -> list[str]:
        name = "xl/sharedStrings.xml"
        if name not in self.parts:
            return []
        found = self.counted(name, b"si")
        if found > MAX_SHARED_STRINGS:
            raise SheetError(
                f"{self.path}: its shared strings part holds {found:,} strings, more than the "
                f"{MAX_SHARED_STRINGS:,} this reads"
            )
        self.check_tags()
        strings: list[str] = []
        text: list[str] = []
        state = {"in_t": False, "in_rph": False, "length": 0}

        def start(tag: str, _attrs) -> None:
            local = tag.rpartition("}")[2]
            if local == "si":
                text.clear()
                state["length"] = 0
            elif local == "t":
                state["in_t"] = True
            elif local == "rPh":
                state["in_rph"] = True

        def end(tag: str) -> None:
            local = tag.rpartition("}")[2]
            if local == "si":
                strings.append("".join(text))
            elif local == "t":
                state["in_t"] = False
            elif local == "rPh":
                state["in_rph"] = False

        def data(chunk: str) -> None:
            if state["in_t"] and not state["in_rph"]:
                state["length"] += len(chunk)
                if state["length"] > MAX_TEXT:
                    raise self.too_long(f"shared string {len(strings)}")
                text.append(chunk)

        self.parse(name, start, end, data)
        return strings

    def too_long(self, where: str) -> SheetError:
        return SheetError(
            f"{self.path}: {where} holds more than {MAX_TEXT:,} characters, the most a cell holds"
        )

    def parse(self, name: str, start, end, data) -> None:
        """Feed the whole part to expat, a chunk at a time."""
        parser = expat.ParserCreate(namespace_separator="}")
        parser.buffer_text = True
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = data
        try:
            for chunk in self.chunks(name):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise self.fail(f"part {name}: {expat.errors.messages[exc.code]}") from None


class SheetParser:
    """One worksheet part, streamed: cells with their cached values and formulas, row by row.
    The handlers run for every element of a sheet of up to a million cells: they keep what the
    open cell holds in plain attributes and tell the elements they act on by one look-up."""

    def __init__(self, book: Workbook, name: str, part: str, strings: list[str]):
        self.book, self.name, self.part, self.strings = book, name, part, strings
        self.done: list[Row] = []
        self.row: dict[int, Cell] = {}
        self.row_number = 0
        self.cell: dict[str, str] = {}  # the open cell's attributes
        self.value: str | None = None  # its <v> (or inline <t>) text
        self.formula: str | None = None  # its <f> text
        self.formula_attrs: dict[str, str] = {}
        self.text: list[str] = []
        self.length = 0
        self.target = ""  # the element whose text is being collected: v, f or t
        # si -> (formula, origin cell, its Translator once made: it tokenizes the formula, so
        # a column filled down from one formula has it tokenized once, not once a cell)
        self.shared: dict[str, list] = {}
        self.cells = 0
        self.column = 0  # the column of the row's last cell: a cell without a reference is next
        self.rewrite: Callable[[str], str] | None = None  # defined names -> references (names.py)

    def rows(self) -> Iterator[Row]:
        """Rows as the handlers complete them, handed out after each chunk of bytes."""
        parser = expat.ParserCreate(namespace_separator="}")
        parser.buffer_text = True
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.data
        try:
            for chunk in self.book.chunks(self.part):
                parser.Parse(chunk, False)
                yield from self.done
                self.done.clear()
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise self.book.fail(f"{self.name}: {expat.errors.messages[exc.code]}") from None
        yield from self.done
        self.done.clear()

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        local = TAGS.get(tag) or tag.rpartition("}")[2]
        if local == "c":
            self.cell, self.value, self.formula = attrs, None, None
            self.formula_attrs, self.target = NO_ATTRIBUTES, ""
        elif local == "v" or local == "f" or local == "t":
            self.target, self.text, self.length = local, [], 0
            if local == "f":
                self.formula_attrs = attrs
        elif local == "row":
            number = attrs.get("r")
            if number is None:
                self.row_number += 1
            elif number.isdigit() and 0 < int(number[:8]) <= MAX_ROW:
                self.row_number = int(number)
            else:
                raise self.book.fail(f"{self.name}: row number {number[:40]!r}")
            self.column = 0
        elif local == "dimension":
            self.dimension(attrs.get("ref", ""))

    def data(self, chunk: str) -> None:
        if self.target:
            self.length += len(chunk)
            if self.length > MAX_TEXT:
                raise self.book.too_long(f"{self.name}!{self.cell.get('r', '?')}")
            self.text.append(chunk)

    def end(self, tag: str) -> None:
        local = TAGS.get(tag) or tag.rpartition("}")[2]
        if local == "c":
            self.add_cell()
        elif local == "v" or local == "t":
            self.value, self.target = "".join(self.text), ""
        elif local == "f":
            self.formula, self.target = "".join(self.text), ""
        elif local == "row":
            if self.row:
                self.done.append((self.row_number, self.row))
            self.row = {}

    def dimension(self, ref: str) -> None:
        """Refuse a sheet whose own stated used range is past the bound, before reading it."""
        first, _, last = ref.partition(":")
        try:
            top, left = self.position(first)
            bottom, right = self.position(last or first)
        except ValueError:
            return  # a malformed statement: the cells are counted while streaming instead
        area = (bottom - top + 1) * (right - left + 1)
        if area > MAX_CELLS:
            raise SheetError(
                f"{self.book.path}: worksheet {self.name!r} spans {ref} ({area:,} cells), more "
                f"than the {MAX_CELLS:,} this reads"
            )

    @staticmethod
    def position(ref: str) -> tuple[int, int]:
        """(row, column) of a cell reference such as B7; ValueError for anything that is not a
        cell of a worksheet (A0, ZZZZ1, A99999999)."""
        match = REFERENCE.match(ref)
        if not match:
            raise ValueError(ref)
        row, column = int(match[2]), column_index_from_string(match[1].upper())
        if not (0 < row <= MAX_ROW and 0 < column <= MAX_COLUMN):
            raise ValueError(ref)
        return row, column

    def add_cell(self) -> None:
        ref = self.cell.get("r")
        try:
            row, column = self.position(ref) if ref else (self.row_number, self.column + 1)
        except ValueError:
            raise self.book.fail(f"{self.name}: cell reference {ref[:40]!r}") from None
        if column > MAX_COLUMN:
            raise self.book.fail(f"{self.name}: a cell past column XFD in row {row}")
        self.row_number, self.column = row, column
        formula = self.formula_text(ref) if self.formula is not None else None
        if self.value is None:
            if formula is None:
                return
            cell = Cell("", formula)  # a formula without a saved value
        else:
            cell = self.cell_value(self.value)
            if formula is not None:
                cell = Cell(cell.value, formula, cell.digits)
        self.cells += 1
        if self.cells > MAX_CELLS:
            raise SheetError(
                f"{self.book.path}: worksheet {self.name!r} has more than {MAX_CELLS:,} cells, "
                "the most this reads"
            )
        self.row[column] = cell

    def cell_value(self, text: str) -> Cell:
        kind = self.cell.get("t", "n")
        if kind == "n":
            return number(text) or Cell(text, None)
        if kind == "s":
            try:
                return Cell(self.strings[int(text)], None)
            except (ValueError, IndexError):
                where = f"{self.name}!{self.cell.get('r')}"
                raise self.book.fail(f"{where}: shared string {text!r}") from None
        if kind == "b":
            return Cell("TRUE" if text.strip() == "1" else "FALSE", None)
        return Cell(text, None)  # str, inlineStr, e (an error value such as #N/A), d

    def formula_text(self, ref: str | None) -> str | None:
        text = self.formula
        si = self.formula_attrs.get("si")
        if self.formula_attrs.get("t") == "shared" and si is not None:
            if text.strip():
                text = self.rewrite(text) if self.rewrite is not None else text
                self.shared[si] = [text, ref or "A1", None]
            elif si in self.shared and ref:
                master = self.shared[si]
                try:
                    if master[2] is None:
                        master[2] = Translator("=" + master[0], origin=master[1])
                    return master[2].translate_formula(ref)
                except Exception:  # openpyxl raises several kinds on odd input
                    return None
            else:
                return None
        if not text.strip():
            return None
        return "=" + (self.rewrite(text) if self.rewrite is not None else text)

"""Read an .xlsx workbook as worksheets of rows of cells, streamed, within bounds checked before
and while reading (never after loading):
- every part's uncompressed size, as the zip directory states it, at most MAX_PART_BYTES and all
  together at most MAX_XML_BYTES; the bytes really inflated are counted too, so a zip whose
  directory lies is cut off at the same bound;
- a worksheet: its <dimension> (the sheet's own statement of its used range) spans at most
  MAX_CELLS cells (grid.py); cells are counted while streaming too (a sheet may omit or
  misstate it);
- a cell: text at most MAX_TEXT characters (Excel's own limit), counted as the parser reads it.

Worksheets are parsed with expat in chunks: only one row is held at a time.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree
from xml.parsers import expat

from openpyxl.formula.translate import Translator
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

from derive.check.grid import MAX_CELLS, MAX_TEXT, Cell, Row, SheetError, Worksheet, number
from derive.check.names import MAX_NAMES, defined_names, substitution

MAX_PART_BYTES = 1 * 2**30
MAX_XML_BYTES = 2 * 2**30
CHUNK = 1 << 20
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


class Workbook:
    """An .xlsx package: its sheets' names and parts, its shared strings, read within bounds."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError):
            raise SheetError(f"{path}: not an .xlsx workbook (not a zip archive)") from None
        self.parts = {info.filename: info for info in self.zip.infolist()}
        total = 0
        for info in self.parts.values():
            if info.file_size > MAX_PART_BYTES:
                raise SheetError(
                    f"{path}: part {info.filename} inflates to {info.file_size:,} bytes, more "
                    f"than the {MAX_PART_BYTES:,} this reads"
                )
            total += info.file_size
        if total > MAX_XML_BYTES:
            raise SheetError(
                f"{path}: inflates to {total:,} bytes, more than the {MAX_XML_BYTES:,} this reads"
            )
        self.inflated = 0

    def fail(self, what: str) -> SheetError:
        return SheetError(f"{self.path}: not an .xlsx workbook this can read: {what}")

    def chunks(self, name: str) -> Iterator[bytes]:
        """The part's bytes, a chunk at a time, counted against MAX_XML_BYTES as they inflate."""
        if name not in self.parts:
            raise self.fail(f"part {name} is missing")
        try:
            with self.zip.open(name) as stream:
                while chunk := stream.read(CHUNK):
                    self.inflated += len(chunk)
                    if self.inflated > MAX_XML_BYTES:
                        raise SheetError(
                            f"{self.path}: inflates to more than {MAX_XML_BYTES:,} bytes, "
                            "the most this reads"
                        )
                    yield chunk
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise self.fail(f"part {name}: {exc}") from None

    def small_xml(self, name: str) -> ElementTree.Element:
        data = b"".join(self.chunks(name))
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
        strings = self.shared_strings()
        names = defined_names(book)
        if len(names) > MAX_NAMES:
            raise SheetError(
                f"{self.path}: {len(names):,} defined names, more than the {MAX_NAMES:,} this reads"
            )
        sheets = []
        for index, sheet in enumerate(book.iter(f"{{{MAIN_NS}}}sheet")):
            target = targets.get(sheet.get(f"{{{REL_NS}}}id"), "")
            part = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
            part = posixpath.normpath(part)
            name = sheet.get("name", "?")
            if part in self.parts:
                notes: list[str] = []
                parser = SheetParser(self, name, part, strings)
                parser.rewrite = substitution(names, name, index, notes)
                sheets.append(Worksheet(name, parser.rows(), notes))
        if not sheets:
            raise self.fail("it has no worksheets")
        return sheets

    def shared_strings(self) -> list[str]:
        name = "xl/sharedStrings.xml"
        if name not in self.parts:
            return []
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
    """One worksheet part, streamed: cells with their cached values and formulas, row by row."""

    def __init__(self, book: Workbook, name: str, part: str, strings: list[str]):
        self.book, self.name, self.part, self.strings = book, name, part, strings
        self.done: list[Row] = []
        self.row: dict[int, Cell] = {}
        self.row_number = 0
        self.cell: dict[str, str] = {}
        self.formula: dict[str, str] = {}
        self.text: list[str] = []
        self.length = 0
        self.target = ""  # the element whose text is being collected: v, f or t
        self.shared: dict[str, tuple[str, str]] = {}  # si -> (formula, origin cell)
        self.cells = 0
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
        local = tag.rpartition("}")[2]
        if local == "c":
            self.cell, self.formula, self.text = attrs, {}, []
            self.target, self.length = "", 0
        elif local in ("v", "t", "f"):
            self.target, self.text, self.length = local, [], 0
            if local == "f":
                self.formula = attrs
        elif local == "row":
            self.row_number = int(attrs.get("r", self.row_number + 1))
        elif local == "dimension":
            self.dimension(attrs.get("ref", ""))

    def data(self, chunk: str) -> None:
        if self.target:
            self.length += len(chunk)
            if self.length > MAX_TEXT:
                raise self.book.too_long(f"{self.name}!{self.cell.get('r', '?')}")
            self.text.append(chunk)

    def end(self, tag: str) -> None:
        local = tag.rpartition("}")[2]
        if local in ("v", "t"):
            self.cell = {**self.cell, "_value": "".join(self.text)}
            self.target = ""
        elif local == "f":
            self.cell = {**self.cell, "_formula": "".join(self.text)}
            self.target = ""
        elif local == "c":
            self.add_cell()
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
        letters, row = coordinate_from_string(ref)
        return row, column_index_from_string(letters)

    def add_cell(self) -> None:
        ref = self.cell.get("r")
        try:
            row, column = (
                self.position(ref) if ref else (self.row_number, max(self.row, default=0) + 1)
            )
        except ValueError:
            raise self.book.fail(f"{self.name}: cell reference {ref!r}") from None
        self.row_number = row
        formula = self.formula_text(ref)
        value = self.value()
        if value is None and formula is None:
            return
        self.cells += 1
        if self.cells > MAX_CELLS:
            raise SheetError(
                f"{self.book.path}: worksheet {self.name!r} has more than {MAX_CELLS:,} cells, "
                "the most this reads"
            )
        if value is None:
            value = Cell("", formula)  # a formula without a saved value
        self.row[column] = Cell(value.value, formula, value.digits)

    def value(self) -> Cell | None:
        text = self.cell.get("_value")
        if text is None:
            return None
        kind = self.cell.get("t", "n")
        if kind == "s":
            try:
                return Cell(self.strings[int(text)], None)
            except (ValueError, IndexError):
                where = f"{self.name}!{self.cell.get('r')}"
                raise self.book.fail(f"{where}: shared string {text!r}") from None
        if kind == "n":
            return number(text) or Cell(text, None)
        if kind == "b":
            return Cell("TRUE" if text.strip() == "1" else "FALSE", None)
        return Cell(text, None)  # str, inlineStr, e (an error value such as #N/A), d

    def formula_text(self, ref: str | None) -> str | None:
        text = self.cell.get("_formula")
        if text is None:
            return None
        si = self.formula.get("si")
        if self.formula.get("t") == "shared" and si is not None:
            if text.strip():
                text = self.rewrite(text) if self.rewrite is not None else text
                self.shared[si] = (text, ref or "A1")
            elif si in self.shared and ref:
                master, origin = self.shared[si]
                try:
                    return Translator("=" + master, origin=origin).translate_formula(ref)
                except Exception:  # openpyxl raises several kinds on odd input
                    return None
            else:
                return None
        if not text.strip():
            return None
        return "=" + (self.rewrite(text) if self.rewrite is not None else text)

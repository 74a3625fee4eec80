"""An .xlsx file's zip package, bounded by what its own structure says before anything is expanded:
- its members, counted from the zip's end-of-directory record (before zipfile lists them, which
  costs memory for each): at most MAX_MEMBERS, in a directory of at most MAX_DIRECTORY_BYTES;
- each part's and all parts' uncompressed size as the directory states them; the bytes really
  inflated are counted too, so a directory that lies is cut off at the same bound;
- a worksheet's cells and tags and the shared strings, counted at C speed in the inflated bytes
  before the parser (a Python call per element) sees them (read_xlsx.py).
"""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

from derive.check.grid import SheetError

MAX_MEMBERS = 10_000  # a workbook has a few dozen parts
MAX_DIRECTORY_BYTES = 4 << 20
MAX_PART_BYTES = 1 * 2**30
MAX_XML_BYTES = 2 * 2**30
MAX_SMALL_PART = 16 << 20  # workbook.xml and its relationships, read whole
CHUNK = 1 << 20
# Transitional OOXML (what Excel saves) and Strict (its "Strict Open XML" option).
MAIN_NAMESPACES = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
)
REL_NAMESPACES = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
END = b"PK\x05\x06"
END64_LOCATOR = b"PK\x06\x07"
END64 = b"PK\x06\x06"
# An element that starts a cell, <c ...> or <x:c ...>; a shared string, <si>.
PREFIXED = {name: re.compile(rb"<[A-Za-z_][\w.-]*:" + name + rb"[\s/>]") for name in (b"c", b"si")}


def directory_size(path: Path, raw) -> tuple[int, int]:
    """(members, bytes of the central directory) as the end-of-directory record states them."""
    raw.seek(0, 2)
    size = raw.tell()
    raw.seek(max(0, size - 65_557))
    tail = raw.read()
    at = tail.rfind(END)
    if at < 0 or len(tail) - at < 22:
        raise SheetError(f"{path}: not an .xlsx workbook (not a zip archive)")
    members, directory = struct.unpack("<HI", tail[at + 10 : at + 16])
    locator = tail.rfind(END64_LOCATOR, 0, at)
    if locator >= 0 and at - locator == 20:  # zip64: the real numbers are in its own record
        (offset,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
        raw.seek(offset)
        record = raw.read(56)
        if len(record) < 56 or not record.startswith(END64):
            raise SheetError(f"{path}: not an .xlsx workbook this can read: a broken zip64 record")
        members, directory = struct.unpack("<QQ", record[32:48])
    return members, directory


def open_package(path: Path) -> zipfile.ZipFile:
    """The zip, once its directory is known to be small enough to list."""
    try:
        with path.open("rb") as raw:
            members, directory = directory_size(path, raw)
    except OSError as exc:
        raise SheetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if members > MAX_MEMBERS or directory > MAX_DIRECTORY_BYTES:
        raise SheetError(
            f"{path}: a zip of {members:,} members ({directory:,} bytes of directory), more than "
            f"the {MAX_MEMBERS:,} members this reads"
        )
    try:
        package = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise SheetError(f"{path}: not an .xlsx workbook (not a zip archive)") from None
    total = 0
    for info in package.infolist():
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
    return package


class Inflated:
    """The bytes inflated from one package, counted against MAX_XML_BYTES."""

    def __init__(self, path: Path, package: zipfile.ZipFile):
        self.path, self.package, self.total = path, package, 0
        self.parts = {info.filename: info for info in package.infolist()}

    def fail(self, what: str) -> SheetError:
        return SheetError(f"{self.path}: not an .xlsx workbook this can read: {what}")

    def chunks(self, name: str) -> Iterator[bytes]:
        """The part's bytes, a chunk at a time."""
        if name not in self.parts:
            raise self.fail(f"part {name} is missing")
        try:
            with self.package.open(name) as stream:
                while chunk := stream.read(CHUNK):
                    self.total += len(chunk)
                    if self.total > MAX_XML_BYTES:
                        raise SheetError(
                            f"{self.path}: inflates to more than {MAX_XML_BYTES:,} bytes, "
                            "the most this reads"
                        )
                    yield chunk
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as exc:
            raise self.fail(f"part {name}: {exc}") from None

    def small(self, name: str) -> bytes:
        """A part read whole: at most MAX_SMALL_PART bytes."""
        info = self.parts.get(name)
        if info is not None and info.file_size > MAX_SMALL_PART:
            raise self.fail(
                f"part {name} is {info.file_size:,} bytes, more than {MAX_SMALL_PART:,}"
            )
        data = bytearray()
        for chunk in self.chunks(name):
            data += chunk
            if len(data) > MAX_SMALL_PART:
                raise self.fail(f"part {name} is more than {MAX_SMALL_PART:,} bytes")
        return bytes(data)

    def count(self, name: str, element: bytes) -> tuple[int, int]:
        """(elements `element` started, tags of any kind) in the part, counted without parsing."""
        plain = [b"<" + element + end for end in (b" ", b">", b"/>", b"\t", b"\n", b"\r")]
        found = tags = 0
        carry = b""
        for chunk in self.chunks(name):
            data = carry + chunk
            cut = data.rfind(b"<")
            cut = len(data) if cut < 0 else cut
            head, carry = data[:cut], data[cut : cut + 64]
            found += sum(head.count(p) for p in plain)
            if b":" + element in head:
                found += sum(1 for _ in PREFIXED[element].finditer(head))
            tags += head.count(b"<")
        found += sum(carry.count(p) for p in plain) + len(PREFIXED[element].findall(carry))
        return found, tags + carry.count(b"<")

"""Seconds and peak memory of `derive` refusing small hostile files (issue 24's sizes): each is a
fresh process on one thread, measured like benchmarks/check_speed.py. Target: every one refused,
exit 2 with one stderr line, in under 30 s and 1 GiB.

    python benchmarks/check_hostile.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
BOOK = (
    f'<workbook xmlns="{NS}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets>{sheets}</sheets></workbook>'
)
SHEET = '<sheet name="S{k}" sheetId="{k}" r:id="rId1"/>'
RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>'
)


def workbook(path: Path, rows: Iterator[bytes], strings=None, sheets: int = 1) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        listed = "".join(SHEET.format(k=k) for k in range(1, sheets + 1))
        z.writestr("xl/workbook.xml", BOOK.format(sheets=listed))
        z.writestr("xl/_rels/workbook.xml.rels", RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'<worksheet xmlns="{NS}"><sheetData>'.encode())
            for row in rows:
                part.write(row)
            part.write(b"</sheetData></worksheet>")
        if strings is not None:
            with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
                part.write(f'<sst xmlns="{NS}">'.encode())
                for piece in strings:
                    part.write(piece)
                part.write(b"</sst>")


def cells_16_million(path: Path) -> list[str]:
    workbook(path, (b"<row>" + b"<c/>" * 16_000 + b"</row>" for _ in range(1_000)))
    return ["check", str(path)]


def worksheets_1000(path: Path) -> list[str]:
    row = b'<row r="1">' + b"<c><v>1</v></c>" * 1_000 + b"</row>"
    workbook(path, iter([row]), sheets=1_000)
    return ["check", str(path)]


def no_references_16000_columns(path: Path) -> list[str]:
    row = b"<row>" + b"<c><v>1</v></c>" * 16_000 + b"</row>"
    workbook(path, iter([row] * 20))
    return ["check", str(path)]


def shared_strings_45_million(path: Path) -> list[str]:
    cell = [b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>']
    workbook(path, iter(cell), (b"<si/>" * 1_000_000 for _ in range(45)))
    return ["check", str(path)]


def zip_members_3_million(path: Path) -> list[str]:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", BOOK.format(sheets=SHEET.format(k=1)))
        for k in range(3_000_000):
            z.writestr(f"{k}", b"")
    return ["check", str(path)]


def csv_line_50_million_fields(path: Path) -> list[str]:
    with path.open("wb") as out:
        out.write(b"w1,w2\n")
        for _ in range(50):
            out.write(b"1," * 1_000_000)
        out.write(b"\n")
    return ["check", str(path)]


def config_1_mib_of_escapes(path: Path) -> list[str]:
    path = path.with_suffix(".toml")
    path.write_text('"\\"' * ((1 << 20) // 3))
    return ["show", "--config", str(path)]


CASES: dict[str, tuple[str, Callable[[Path], list[str]]]] = {
    "16,000,000 empty cells": (".xlsx", cells_16_million),
    "1,000 worksheets": (".xlsx", worksheets_1000),
    "16,000 columns without references": (".xlsx", no_references_16000_columns),
    "45,000,000 shared strings": (".xlsx", shared_strings_45_million),
    "3,000,000 zip members": (".xlsx", zip_members_3_million),
    "a CSV line of 50,000,000 fields": (".csv", csv_line_50_million_fields),
    "1 MiB config of escaped quotes": (".toml", config_1_mib_of_escapes),
}


def measured(args: list[str]) -> tuple[int, str, float, int]:
    """Exit code, stderr, wall seconds and peak resident bytes of one `derive` process."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "derive", *args]
    start = os.times().elapsed
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = child.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    seconds = os.times().elapsed - start
    return os.waitstatus_to_exitcode(status), err, seconds, usage.ru_maxrss * 1024


def made(name: str, path: Path) -> list[str]:
    """The input, made in a process of its own (Linux carries a process's peak memory over fork
    and exec: this one stays small for the measured ones it starts); derive's arguments."""
    command = [sys.executable, __file__, "--make", name, str(path)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.split("\0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(CASES), help="case names to run")
    parser.add_argument("--make", nargs=2, metavar=("NAME", "PATH"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.make:
        name, path = options.make
        sys.stdout.write("\0".join(CASES[name][1](Path(path))))
        return
    names = options.only
    print("| input | file size | exit | seconds | peak MB | stderr lines |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            suffix, _ = CASES[name]
            args = made(name, Path(folder) / f"hostile{suffix}")
            size = Path(args[-1]).stat().st_size
            code, err, seconds, peak = measured(args)
            lines = err.count("\n")
            print(f"| {name} | {size:,} | {code} | {seconds:.1f} | {peak / 2**20:.0f} | {lines} |")
            print(f"  {err.strip()[:160]}", file=sys.stderr)
            Path(args[-1]).unlink()


if __name__ == "__main__":
    main()

"""CPU time and peak memory of `derive check` on the project's own exports, as a user runs it.

Each case is a fresh `python -m derive check FILE --format json` process on one thread; the table
gives its CPU seconds (user + sys), peak resident memory, and both per cell beyond a 2-row CSV
export (Python, NumPy and openpyxl loading). Cases: XLSX exports of --xlsx-steps (50: the default
export, 6 learning rates x 51 rows with live formulas and their values; 1100: about 244,000
cells) and CSV exports of --steps rows per learning rate. Targets (issue 11): the default
export in under 3 s of CPU beyond the 2-row export; a CSV in under 30 us and 40 bytes a cell
(tests/test_check.py checks the memory bound only: CPU time depends on the machine).

    python benchmarks/check_speed.py [--steps 3333 100000] [--xlsx-steps 50 1100]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def export(path: Path, *options: str) -> None:
    """`derive table` into `path`, in a process of its own: Linux carries a process's peak
    memory over fork and exec, so this one stays small for the checks it starts."""
    command = [sys.executable, "-m", "derive", "table", *options, "--out", str(path)]
    subprocess.run(command, check=True)


def measured(path: Path) -> tuple[int, float, int]:
    """Exit code, CPU seconds and peak resident bytes of one `derive check` process."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "derive", "check", str(path), "--format", "json"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not all children's
    cpu_seconds = usage.ru_utime + usage.ru_stime
    return os.waitstatus_to_exitcode(status), cpu_seconds, usage.ru_maxrss * 1024


def cell_count(path: Path) -> int:
    """Rows times columns, read line by line: this process's peak memory is carried into the
    checks it starts (vfork shares its pages), so it never holds the file."""
    with open(path) as lines:
        columns = len(next(lines).split(","))
        return (1 + sum(1 for _ in lines)) * columns


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, nargs="+", default=[3333, 100000], help="CSV exports to check"
    )
    parser.add_argument(
        "--xlsx-steps", type=int, nargs="+", default=[50, 1100], help="XLSX exports to check"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder, "base.csv")
        export(base, "--steps", "1")
        _, base_cpu, base_peak = measured(base)
        print(f"2-row CSV export: {base_cpu:.2f} s CPU, {base_peak / 2**20:.0f} MB peak\n")
        print("| export | cells | exit | CPU s | beyond base | peak MB | us/cell | bytes/cell |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for steps in args.xlsx_steps:
            xlsx = Path(folder, f"steps{steps}.xlsx")
            export(xlsx, "--format", "xlsx", "--steps", str(steps))
            code, cpu, peak = measured(xlsx)
            extra = cpu - base_cpu
            print(
                f"| xlsx --steps {steps} | | {code} | {cpu:.2f} | {extra:.2f} "
                f"| {peak / 2**20:.0f} | | |"
            )
        for steps in args.steps:
            path = Path(folder, f"steps{steps}.csv")
            export(path, "--steps", str(steps))
            cells = cell_count(path)
            code, cpu, peak = measured(path)
            per_cell_us = (cpu - base_cpu) / cells * 1e6
            per_cell_bytes = (peak - base_peak) / cells
            print(
                f"| csv --steps {steps} | {cells:,} | {code} | {cpu:.1f} | {cpu - base_cpu:.1f} "
                f"| {peak / 2**20:.0f} "
                f"| {per_cell_us:.1f} | {per_cell_bytes:.1f} |"
            )
    print(f"\nload average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Wall time, CPU time and peak memory of `derive check` on the project's own exports, as a user
runs it.

Each case is a fresh `python -m derive check FILE --format json` process on one thread (with
`--config` where the net is not the classic one); the table gives its exit code, wall seconds, CPU
seconds (user + sys), peak resident memory, and both per cell beyond a 2-row CSV export (Python,
NumPy and openpyxl loading). Cases:
- XLSX exports of the classic net at --xlsx-steps (50: the default export, 6 learning rates x 51
  rows of live formulas and their values; 1100: about 244,000 cells);
- XLSX exports of other nets (--nets), seeded random values, biases trained: at the default 6
  learning rates x 50 steps where the workbook holds that many cells, else at one learning rate and
  --net-steps; the widest derive writes as XLSX is about 64-60-64 (16,384 columns);
- CSV exports of nets too wide for a worksheet (--csv-nets; derive writes them only as CSV, up to
  64-64-64-64 with trained biases: 25,539 columns), one learning rate and --net-steps;
- CSV exports of the classic net at --steps rows per learning rate.
Targets (issue 11, issue 21): the default export in under 3 s wall on an idle machine; a CSV in
under 30 us and 40 bytes a cell (tests/test_check.py checks the memory bound only: time depends on
the machine). The load average is printed before and after: others' work on the machine slows
every figure.

    python benchmarks/check_speed.py [--steps 3333 100000] [--xlsx-steps 50 1100]
        [--nets 4-12-12-2 64-60-64 ...] [--csv-nets 64-64-64 64-64-64-64] [--net-steps 1]
        [--repeat 1]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NETS = ["4-12-12-2", "64-1", "1-64", "32-32-32-32", "64-64-1", "1-64-64", "64-60-64"]
CSV_NETS = ["64-64-64", "64-64-64-64"]


def export(path: Path, *options: str) -> bool:
    """`derive table` into `path`, in a process of its own: Linux carries a process's peak
    memory over fork and exec, so this one stays small for the checks it starts. False where
    derive refuses (a workbook past its cells)."""
    command = [sys.executable, "-m", "derive", "table", *options, "--out", str(path)]
    return subprocess.run(command, stderr=subprocess.DEVNULL).returncode == 0


def net_config(folder: Path, layers: list[int]) -> Path:
    """A config of the net with seeded random inputs, targets, weights and trained biases."""
    rng = np.random.default_rng(sum(layers))
    weights = rng.uniform(-0.8, 0.8, sum(a * b for a, b in itertools.pairwise(layers)))
    path = folder / f"{'-'.join(map(str, layers))}.toml"
    path.write_text(
        f'[network]\nlayers = {layers}\nactivation = "sigmoid"\nbias = "trained"\n\n[values]\n'
        f"inputs = {rng.uniform(0, 1, layers[0]).round(4).tolist()}\n"
        f"targets = {rng.uniform(0, 1, layers[-1]).round(4).tolist()}\n"
        f"weights = {weights.round(4).tolist()}\n"
        f"biases = {rng.uniform(-0.3, 0.3, sum(layers[1:])).round(4).tolist()}\n"
    )
    return path


def measured(path: Path, *options: str) -> tuple[int, float, float, int]:
    """Exit code, wall seconds, CPU seconds and peak resident bytes of one `derive check`."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "derive", "check", str(path), *options, "--format", "json"]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not all children's
    wall = time.perf_counter() - start
    cpu_seconds = usage.ru_utime + usage.ru_stime
    return os.waitstatus_to_exitcode(status), wall, cpu_seconds, usage.ru_maxrss * 1024


def cell_count(path: Path) -> int:
    """Rows times columns, read line by line: this process's peak memory is carried into the
    checks it starts (vfork shares its pages), so it never holds the file."""
    with open(path) as lines:
        columns = len(next(lines).split(","))
        return (1 + sum(1 for _ in lines)) * columns


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_rows(name: str, path: Path, base_cpu: float, repeat: int, *options: str) -> str:
    """One table row per run of the check (every run is shown, not the best)."""
    rows = []
    for _ in range(repeat):
        code, wall, cpu, peak = measured(path, *options)
        rows.append(
            f"| {name} | | {code} | {wall:.2f} | {cpu:.2f} | {cpu - base_cpu:.2f} "
            f"| {peak / 2**20:.0f} | | |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, nargs="+", default=[3333, 100000], help="CSV exports to check"
    )
    parser.add_argument(
        "--xlsx-steps", type=int, nargs="+", default=[50, 1100], help="XLSX exports to check"
    )
    parser.add_argument("--nets", nargs="*", default=NETS, help="layer sizes of XLSX exports")
    parser.add_argument(
        "--csv-nets", nargs="*", default=CSV_NETS, help="layer sizes of CSV-only exports"
    )
    parser.add_argument(
        "--net-steps", type=int, default=1, help="steps of a net too wide for the default table"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each net's check")
    args = parser.parse_args(argv)
    print(f"load average (1, 5, 15 min) at the start: {load()}\n")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        base = folder / "base.csv"
        export(base, "--steps", "1")
        _, base_wall, base_cpu, base_peak = measured(base)
        print(
            f"2-row CSV export: {base_wall:.2f} s wall, {base_cpu:.2f} s CPU, "
            f"{base_peak / 2**20:.0f} MB peak\n"
        )
        header = ("export", "cells", "exit", "wall s", "CPU s", "beyond base", "peak MB", "us/cell")
        print(f"| {' | '.join(header)} | B/cell |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for steps in args.xlsx_steps:
            xlsx = folder / f"steps{steps}.xlsx"
            export(xlsx, "--format", "xlsx", "--steps", str(steps))
            print(
                timed_rows(f"xlsx 2-2-2 --steps {steps}", xlsx, base_cpu, args.repeat), flush=True
            )
        for net in args.nets:
            config = net_config(folder, [int(n) for n in net.split("-")])
            xlsx = config.with_suffix(".xlsx")
            how = "6 lr x 50 steps"
            if not export(xlsx, "--config", str(config), "--format", "xlsx"):
                how = f"1 lr x {args.net_steps} step(s)"
                options = ("--lr", "0.5", "--steps", str(args.net_steps))
                if not export(xlsx, "--config", str(config), "--format", "xlsx", *options):
                    print(f"| xlsx {net}: derive table refuses it | | | | | | | | |")
                    continue
            name = f"xlsx {net}, {how}"
            print(
                timed_rows(name, xlsx, base_cpu, args.repeat, "--config", str(config)), flush=True
            )
        for net in args.csv_nets:
            config = net_config(folder, [int(n) for n in net.split("-")])
            csv = config.with_suffix(".csv")
            export(csv, "--config", str(config), "--lr", "0.5", "--steps", str(args.net_steps))
            name = f"csv {net}, 1 lr x {args.net_steps} step(s)"
            print(timed_rows(name, csv, base_cpu, args.repeat, "--config", str(config)), flush=True)
        for steps in args.steps:
            path = folder / f"steps{steps}.csv"
            export(path, "--steps", str(steps))
            cells = cell_count(path)
            code, wall, cpu, peak = measured(path)
            per_cell_us = (cpu - base_cpu) / cells * 1e6
            per_cell_bytes = (peak - base_peak) / cells
            print(
                f"| csv 2-2-2 --steps {steps} | {cells:,} | {code} | {wall:.1f} | {cpu:.1f} "
                f"| {cpu - base_cpu:.1f} | {peak / 2**20:.0f} "
                f"| {per_cell_us:.1f} | {per_cell_bytes:.1f} |",
                flush=True,
            )
    print(f"\nload average (1, 5, 15 min) at the end: {load()}")


if __name__ == "__main__":
    main()

"""The derive command line: python -m derive COMMAND [--config FILE] ... (see --help)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path

from derive import limits
from derive.config import ConfigError, load_config
from derive.limits import TableError, TooLarge
from safeio.atomic import OutputError, check_writable, write_atomic, write_text_atomic
from safeio.cli import OneLineParser, run_guarded

# Each command imports its own machinery (SymPy, openpyxl, matplotlib) when it runs: `gradients`
# with a cached program (derive/program_cache.py) loads only NumPy.
PROGRAM = "python -m derive"


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="network spec (TOML); default: the classic 2-2-2 net (derive/configs/classic.toml)",
    )


def cnn_config(path: str | None):
    """The CNN config at `path` (derive/cnn), or None for a dense net's config."""
    from derive.config import is_cnn, read_toml

    if path is None:
        return None
    data = read_toml(path)
    if not is_cnn(data):
        return None
    from derive.cnn.config import cnn_config_from_tables

    return cnn_config_from_tables(data, path)


def show(args: argparse.Namespace) -> int:
    from derive import explain, latex  # here, not at the top: only `show` prints derivations
    from derive.network import build_network

    cnn = cnn_config(args.config)
    if cnn is not None:
        from derive.cnn.explain import derivation, document

        sys.stdout.write(document(derivation(cnn), "latex" if args.latex else "text"))
        return 0
    network = build_network(load_config(args.config).network)
    style = latex.LATEX if args.latex else latex.TEXT
    sys.stdout.write(latex.document(explain.derivation(network), style))
    return 0


def gradients_report(args: argparse.Namespace) -> dict:
    """{"loss": E_total, "outputs": {"a_o1": ...}, "gradients": {"w1": ...}} at the values."""
    from derive.program_cache import gradient_program

    cnn = cnn_config(args.config)
    if cnn is not None:
        from derive.cnn.numbers import gradients_report as cnn_report

        return cnn_report(cnn)
    config = load_config(args.config)
    program = gradient_program(config.network, use_cache=not args.no_cache)
    values = program.at_values(config.values)
    return {
        "loss": values[program.loss],
        "outputs": {name: values[name] for name in program.network_outputs},
        "gradients": {
            p: values[g] for p, g in zip(program.parameters, program.gradients, strict=True)
        },
    }


def not_finite(report: dict) -> list[str]:
    """The names of the report's values that overflowed to inf or nan."""
    named = {"E_total": report["loss"], **report["outputs"]}
    named |= {f"dE_total/d{p}": v for p, v in report["gradients"].items()}
    return [name for name, value in named.items() if not math.isfinite(value)]


def gradients(args: argparse.Namespace) -> int:
    """Exit 0; exit 1 when some value is not a finite number (float64 overflow), after printing
    every value (JSON: null, named in "not_finite") and one warning line on stderr."""
    report = gradients_report(args)
    bad = not_finite(report)
    if bad:
        names = ", ".join(bad[:6]) + (", ..." if len(bad) > 6 else "")
        print(f"warning: {names} not finite (float64 overflow) at these values", file=sys.stderr)
    if args.format == "json":
        finite = {
            "loss": report["loss"] if math.isfinite(report["loss"]) else None,
            **{
                key: {k: v if math.isfinite(v) else None for k, v in report[key].items()}
                for key in ("outputs", "gradients")
            },
            "not_finite": bad,
        }
        print(json.dumps(finite, indent=2, allow_nan=False))
        return 1 if bad else 0
    print(f"E_total = {report['loss']!r}")
    for name, value in report["outputs"].items():
        print(f"{name} = {value!r}")
    for name, value in report["gradients"].items():
        print(f"dE_total/d{name} = {value!r}")
    return 1 if bad else 0


def parse_learning_rate(text: str) -> float:
    """--lr: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a learning rate (a number above 0)")
    return value


def parse_steps(text: str) -> int:
    """--steps: a whole number from 1 to MAX_STEPS."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= limits.MAX_STEPS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a step count from 1 to {limits.MAX_STEPS}"
        )
    return value


def parse_tolerance(text: str) -> float:
    """--tolerance: a finite number above 0 and below 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a relative tolerance in (0, 1)")
    return value


def check_sheet(args: argparse.Namespace) -> int:
    """Exit 0 clean, 1 with findings, 2 when the sheet cannot be read, 3 when something was left
    unchecked (and no mistake found in the rest)."""
    from derive import check  # openpyxl and the sheet model load only for a check

    config = load_config(args.config)
    try:
        report = check.check_file(args.sheet, config, args.tolerance)
    except check.SheetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(check.render(report, args.format))
    return report.exit_code


def iteration_table(args: argparse.Namespace):
    """The table the flags ask for (a derive.table.Table); a stderr warning for each run that
    diverged."""
    from derive import table

    cnn = cnn_config(args.config)
    if cnn is not None:
        from derive.cnn.numbers import iteration_table as cnn_table

        result = cnn_table(cnn, args.lr, args.steps)
    else:
        result = table.iteration_table(load_config(args.config), args.lr, args.steps)
    for divergence in result.divergences:
        print(f"warning: {divergence.message}", file=sys.stderr)
    return result


def table_command(args: argparse.Namespace) -> int:
    from derive import table

    if args.format == "xlsx" and args.out is None:
        raise OutputError("--format xlsx writes a workbook: give --out FILE.xlsx")
    suffix = {"csv": ".csv", "md": ".md", "json": ".json", "xlsx": ".xlsx"}[args.format]
    if args.out is not None and not args.out.lower().endswith(suffix):
        raise OutputError(f"{args.out}: --format {args.format} writes a {suffix} file")
    if args.out is not None:
        check_writable(args.out)  # before the work, not after
    if args.format == "xlsx":
        from derive.xlsx import saved_at  # openpyxl loads only for a workbook

        saved_at()  # a bad SOURCE_DATE_EPOCH, before the work too
    cnn = cnn_config(args.config) if args.format == "xlsx" else None
    if cnn is not None:
        from derive.cnn import xlsx as cnn_xlsx  # openpyxl loads only for a workbook

        cnn_xlsx.write_workbook(cnn, args.lr, args.steps, args.out)
        return 0
    result = iteration_table(args)
    if args.format == "xlsx":
        from derive import xlsx  # openpyxl loads only for a workbook

        xlsx.write_workbook(result, args.out)
    elif args.format == "csv":
        # Piece by piece: a 100,000-step CSV is 350 MB, and need not be held whole.
        chunks = table.csv_chunks(result)
        if args.out is not None:
            write_atomic(args.out, lambda temp: write_chunks(temp, chunks))
        else:
            for chunk in chunks:  # as text: sys.stdout is guarded (safeio.cli), its buffer not
                sys.stdout.write(chunk.decode("ascii"))
    elif args.out is not None:
        write_text_atomic(args.out, table.TEXT_FORMATS[args.format](result))
    else:
        sys.stdout.write(table.TEXT_FORMATS[args.format](result))
    return 0


def write_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    with path.open("wb") as file:
        for chunk in chunks:
            file.write(chunk)


def plot_command(args: argparse.Namespace) -> int:
    from derive import plot  # matplotlib loads only for a chart

    plot.plot_format(args.out)
    check_writable(args.out)
    plot.write_plot(iteration_table(args), args.out)
    return 0


def add_table_flags(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    rates = " ".join(map(str, limits.LEARNING_RATES))
    parser.add_argument(
        "--lr",
        nargs="+",
        type=parse_learning_rate,
        default=limits.LEARNING_RATES,
        metavar="LR",
        help=f"learning rates, one run each (default: {rates})",
    )
    parser.add_argument(
        "--steps",
        type=parse_steps,
        default=limits.STEPS,
        metavar="N",
        help=f"updates per run, 1 to {limits.MAX_STEPS} (default: {limits.STEPS})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROGRAM, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    p = commands.add_parser(
        "show",
        help="print the forward equations, the deltas, each chain and closed form",
        description="Print the forward equations, the delta recursion, every gradient as delta x "
        "input, and each parameter's chain with its path sums and closed form. Past "
        f"{limits.CLOSED_FORM_MAX_PARAMETERS} trained parameters the chains of a sample of "
        "parameters only, each written down to the next layer's deltas (the output says so).",
    )
    add_config(p)
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of plain text")
    p.set_defaults(run=show)

    p = commands.add_parser(
        "gradients",
        help="print the loss and every gradient at the values",
        description="Print the loss, the outputs and every gradient at the config's values. "
        "Exit 1 when some value overflows float64 (JSON: null there, named in not_finite).",
    )
    add_config(p)
    p.add_argument("--format", choices=("json", "text"), default="text", help="(default: text)")
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="derive the program afresh, neither reading nor writing the cache of printed programs "
        "($XDG_CACHE_HOME/backprop-demystified; also BACKPROP_NO_CACHE=1)",
    )
    p.set_defaults(run=gradients)

    p = commands.add_parser("check", help="find the mistakes in a hand-made backpropagation sheet")
    p.add_argument("sheet", metavar="SHEET", help="the sheet to check: .xlsx, .xlsm or .csv")
    add_config(p)
    p.add_argument(
        "--tolerance",
        type=parse_tolerance,
        default=limits.DEFAULT_TOLERANCE,
        metavar="REL",
        help="relative tolerance beyond the digits a value carries "
        f"(default: {limits.DEFAULT_TOLERANCE:g})",
    )
    p.add_argument(
        "--format", choices=("text", "md", "json"), default="text", help="(default: text)"
    )
    p.set_defaults(run=check_sheet)

    p = commands.add_parser("table", help="every value and gradient, update by update, per lr")
    add_table_flags(p)
    p.add_argument(
        "--format", choices=("csv", "md", "json", "xlsx"), default="csv", help="(default: csv)"
    )
    p.add_argument("--out", metavar="PATH", help="write here (default: standard output)")
    p.set_defaults(run=table_command)

    p = commands.add_parser("plot", help="chart total error against step, one line per lr")
    add_table_flags(p)
    p.add_argument("--out", metavar="FILE", required=True, help="a .png or .svg file")
    p.set_defaults(run=plot_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The exit code; bad input is one line (safeio.cli, the error layer mnist shares)."""
    return run_guarded(PROGRAM, lambda: run_command(argv), (ConfigError, TableError, TooLarge))


def run_command(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

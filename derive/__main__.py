"""The derive command line: python -m derive {show,gradients} [--config FILE] ..."""

from __future__ import annotations

import argparse
import json
import sys

from derive import latex
from derive.config import ConfigError, load_config
from derive.evaluate import at_values, evaluator_for, gradient_symbol
from derive.output import OutputError


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # One line and exit code 2, as for every other bad input.
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="network spec (TOML); default: the classic 2-2-2 net (derive/configs/classic.toml)",
    )


def show(args: argparse.Namespace) -> int:
    network = evaluator_for(load_config(args.config).network)
    style = latex.LATEX if args.latex else latex.TEXT
    sys.stdout.write(latex.document(network.network, network.gradients, style))
    return 0


def gradients_report(args: argparse.Namespace) -> dict:
    """{"loss": E_total, "outputs": {"a_o1": ...}, "gradients": {"w1": ...}} at the values."""
    config = load_config(args.config)
    evaluator = evaluator_for(config.network)
    values = at_values(evaluator, config.values)
    network = evaluator.network
    return {
        "loss": values[network.loss.name],
        "outputs": {n.out.name: values[n.out.name] for n in network.outputs},
        "gradients": {
            p.name: values[gradient_symbol(p).name]
            for p in (g.parameter for g in evaluator.gradients)
        },
    }


def gradients(args: argparse.Namespace) -> int:
    report = gradients_report(args)
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    print(f"E_total = {report['loss']!r}")
    for name, value in report["outputs"].items():
        print(f"{name} = {value!r}")
    for name, value in report["gradients"].items():
        print(f"dE_total/d{name} = {value!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m derive", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = commands.add_parser("show", help="print the forward equations, each chain and closed form")
    add_config(p)
    p.add_argument("--latex", action="store_true", help="print LaTeX instead of plain text")
    p.set_defaults(run=show)

    p = commands.add_parser("gradients", help="print the loss and every gradient at the values")
    add_config(p)
    p.add_argument("--format", choices=("json", "text"), default="text", help="(default: text)")
    p.set_defaults(run=gradients)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, OutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`python -m mnist.summary [--model NAME]`: layer table, parameter count, receptive field."""

from torchinfo import summary

from mnist.cli import command
from mnist.config import DEFAULTS, check_defaults
from mnist.model import ARCHS, build_model, count_params, receptive_field
from safeio.cli import OneLineParser, say


@command
def main(argv: list[str] | None = None) -> None:
    check_defaults()
    parser = OneLineParser(description="Show an MNIST architecture.")
    parser.add_argument(
        "--model", default=DEFAULTS["model"], choices=sorted(ARCHS), help="(default: %(default)s)"
    )
    args = parser.parse_args(argv)
    model = build_model(args.model)
    table = summary(
        model, input_size=(1, 1, 28, 28), col_names=("output_size", "kernel_size", "num_params"),
        verbose=0,
    )  # fmt: skip
    say(table)
    budget = ARCHS[args.model].max_params
    say(f"{args.model}: {count_params(model):,} parameters (budget {budget:,})")
    rf = receptive_field(model)
    say(f"receptive field of the last conv layer: {rf}x{rf} pixels")


if __name__ == "__main__":
    main()

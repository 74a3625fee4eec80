"""The settings of a training run, in one place.

Each field of `Config` carries its default (read from mnist/defaults.toml, the data of the
defaults), its help text and its allowed range; the command-line flags, their checks, the checks of
a preset or a checkpoint's settings and the comments of defaults.toml are all made from them.
`python -m mnist.config --write` rewrites defaults.toml's comments from the help texts, values kept.
"""

import argparse
import json
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from mnist.cli import UsageError, command
from mnist.model import ARCHS
from mnist.names import CHECKPOINT, METRICS, SETTINGS
from safeio.atomic import write_text_atomic
from safeio.cli import OneLineParser, say
from safeio.inputs import InputError, read_text

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
PRESETS_DIR = Path(__file__).with_name("presets")
MAX_TOML_BYTES = 64 * 1024  # a settings file is a few hundred bytes
COMMENT_COLUMN = 24  # where defaults.toml's comments start


def read_toml(path: Path) -> dict:
    """A small settings file as a dict; UsageError in one line if it cannot be read or parsed."""
    try:
        return tomllib.loads(read_text(path, MAX_TOML_BYTES))
    except InputError as err:
        raise UsageError(str(err)) from None
    except (ValueError, RecursionError) as err:  # TOMLDecodeError, or an int over 4,300 digits
        raise UsageError(f"{path}: not valid TOML ({str(err).splitlines()[0]})") from None


def read_defaults() -> tuple[dict, UsageError | None]:
    """defaults.toml's values, or none and why it cannot be read (said by check_defaults when a
    command runs, in one line, not at import with a traceback)."""
    try:
        return read_toml(DEFAULTS_FILE), None
    except UsageError as err:
        return {}, err


DEFAULTS, DEFAULTS_ERROR = read_defaults()


def default(name: str):
    """defaults.toml's value for the setting `name` (None if missing: check_defaults says so)."""
    return DEFAULTS.get(name)


@dataclass(frozen=True)
class Bounds:
    """An allowed interval; an open end excludes its value."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def allows(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        low = f"> {self.low}" if self.low_open else f">= {self.low}"
        return f"{low} and {'<' if self.high_open else '<='} {self.high}"


def setting(default, text: str, bounds: Bounds | None = None, *, choices=None, flag: bool = True,
            same_on_resume: bool = True):  # fmt: skip
    """A Config field: default, help text, allowed values; same_on_resume: a resumed run must
    have the value the checkpoint was made with; flag: set from the command line."""
    meta = {"help": text, "bounds": bounds, "choices": choices, "flag": flag}
    return field(default=default, metadata=meta | {"same_on_resume": same_on_resume})


@dataclass
class Config:
    model: str = setting(default("model"), "architecture name from mnist.model.ARCHS",
                         choices=tuple(sorted(ARCHS)))  # fmt: skip
    epochs: int = setting(
        default("epochs"), "training epochs; the one-cycle schedule spans all of them",
        Bounds(0, 1000, low_open=True),
    )  # fmt: skip
    batch_size: int = setting(
        default("batch_size"),
        "images per step on each process",
        Bounds(0, 65536, low_open=True),
    )
    lr: float = setting(
        default("lr"), "peak learning rate of the one-cycle schedule (it starts at lr/25, "
        "ends at lr/250000; a function of the step, mnist/optim.py)",
        Bounds(0, 10, low_open=True),
    )  # fmt: skip
    momentum: float = setting(
        default("momentum"), "Nesterov SGD momentum at the ends of the cycle; 0.1 lower at "
        "the peak learning rate", Bounds(0.1, 1, True, True),
    )  # fmt: skip
    weight_decay: float = setting(
        default("weight_decay"), "L2 penalty on the conv weights (none on BatchNorm or biases)",
        Bounds(0, 1),
    )  # fmt: skip
    ema: float = setting(
        default("ema"), "decay per step of the moving average of the weights that is tested and "
        "saved; 0: the trained weights themselves", Bounds(0, 1, high_open=True),
    )  # fmt: skip
    pct_start: float = setting(
        default("pct_start"), "fraction of the steps spent warming up to the peak learning rate",
        Bounds(0, 1, True, True),
    )  # fmt: skip
    label_smoothing: float = setting(
        default("label_smoothing"),
        "cross-entropy label smoothing",
        Bounds(0, 1, high_open=True),
    )
    rotation: float = setting(
        default("rotation"),
        "augmentation: random rotation, uniform in +-degrees",
        Bounds(0, 180),
    )
    translation: float = setting(
        default("translation"), "augmentation: random shift, uniform in +-pixels along each axis",
        Bounds(0, 14),
    )  # fmt: skip
    shear: float = setting(
        default("shear"), "augmentation: random horizontal shear (a slant), uniform in "
        "+-this factor (x moves by factor times y); 0: none", Bounds(0, 1),
    )  # fmt: skip
    scale: float = setting(
        default("scale"), "augmentation: random zoom, uniform in 1 +- this fraction; 0: none",
        Bounds(0, 0.5),
    )  # fmt: skip
    stroke: float = setting(
        default("stroke"), "augmentation: random stroke width, each image blended up to this "
        "fraction of the way to its 3x3 grey-scale dilation (thicker) or erosion (thinner); "
        "0: none", Bounds(0, 1),
    )  # fmt: skip
    clean_epochs: int = setting(
        default("clean_epochs"), "the last N epochs train on the images as they are, with no "
        "augmentation, so that the model ends on the digits it is tested on; 0: augmented to "
        "the end", Bounds(0, 1000),
    )  # fmt: skip
    seed: int = setting(
        default("seed"), "seeds model init, data order and augmentation", Bounds(0, 2**32 - 1)
    )
    limit: int = setting(
        default("limit"), "train and test on the first N images only; 0: all", Bounds(0, 10**9)
    )
    data_dir: str = setting(
        default("data_dir"), "holds MNIST/raw/*-ubyte (fetched by python -m mnist.data)",
        same_on_resume=False,
    )  # fmt: skip
    out: str = setting(
        default("out"), f"run folder: {METRICS}, {CHECKPOINT}, {SETTINGS}, PNG plots",
        same_on_resume=False,
    )  # fmt: skip
    threads: int = setting(
        default("threads"), "torch CPU threads; 0 keeps torch's default", Bounds(0, 1024),
        same_on_resume=False,
    )  # fmt: skip
    device: str = setting(
        default("device"), "auto: the accelerator torch.accelerator finds (cuda, mps), else cpu",
        choices=("auto", "cuda", "mps", "cpu"), same_on_resume=False,
    )  # fmt: skip
    precision: str = setting(
        default("precision"), "bfloat16: the training steps' forward pass under torch.autocast "
        "(about 2x faster on a CPU with AMX or AVX-512 BF16; emulated, 2.5-14x slower, on one "
        "without); the test pass stays float32; float32 is IEEE float32 on a GPU too (no TF32 "
        "convolutions); auto: bfloat16 where the device has it natively, else float32 "
        "(settings.json and the checkpoint record which)",
        choices=("auto", "float32", "bfloat16"),
    )  # fmt: skip
    channels_last: bool = setting(
        default("channels_last"), "images and conv weights in NHWC layout (on CPU faster on one "
        "thread, slower on two or more)",
    )  # fmt: skip
    compile: bool = setting(
        default("compile"), "torch.compile the training model (needs a C++ compiler on CPU)",
        same_on_resume=False,
    )  # fmt: skip
    cuda_graphs: bool = setting(
        default("cuda_graphs"), "on a GPU, capture the training step once as a CUDA graph and "
        "replay it (not under torchrun or --compile); false: every kernel launched from Python",
        same_on_resume=False,
    )  # fmt: skip
    world_size: int = setting(1, "processes, set by torchrun", Bounds(1, 65536), flag=False)


FIELDS = {f.name: f for f in fields(Config)}
FLAGS = {name: f for name, f in FIELDS.items() if f.metadata["flag"]}
SAME_ON_RESUME = tuple(name for name, f in FIELDS.items() if f.metadata["same_on_resume"])


def recipe(cfg: Config) -> dict:
    """The settings that decide what a run computes (every one a resumed run must share): what
    a reference folder's settings.json holds. The others (folders, threads, device, compile,
    CUDA graphs) say only where and how fast it ran."""
    return {name: getattr(cfg, name) for name in SAME_ON_RESUME}


def settings_text(cfg: Config) -> str:
    """What a run folder's settings.json holds: the recipe as JSON."""
    return json.dumps(recipe(cfg), indent=1) + "\n"


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def problem(name: str, value) -> str | None:
    """Why `value` is not allowed for the setting `name`, or None if it is."""
    f = FIELDS[name]
    kind, meta = f.type, f.metadata
    ok_type = type(value) is kind or (kind is float and type(value) is int)
    if not ok_type:
        return (
            f"must be {'a number' if kind is float else f'of type {kind.__name__}'}, got {value!r}"
        )
    if meta["choices"] and value not in meta["choices"]:
        return f"must be one of {', '.join(meta['choices'])}, got {value!r}"
    bounds = meta["bounds"]
    finite = not isinstance(value, float) or math.isfinite(value)  # a huge int is exact, not inf
    if bounds and not (finite and bounds.allows(value)):
        return f"must be {bounds}, got {value!r}"
    return None


def check_settings(values: dict, where: str, *, complete: bool = False) -> None:
    """UsageError naming `where` and the key for an unknown key, a bad value or (complete) a
    missing one."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise UsageError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    missing = [name for name in FIELDS if name not in values]
    if complete and missing:
        raise UsageError(f"{where}: missing setting(s) {', '.join(missing)}")
    for name, value in values.items():
        why = problem(name, value)
        if why:
            raise UsageError(f"{where}: {name} {why}")


def check_defaults() -> None:
    """UsageError in one line if defaults.toml cannot be read, lacks a flag or holds a bad value."""
    if DEFAULTS_ERROR:
        raise DEFAULTS_ERROR
    check_settings(DEFAULTS, str(DEFAULTS_FILE))
    missing = [name for name in FLAGS if name not in DEFAULTS]
    if missing:
        raise UsageError(f"{DEFAULTS_FILE}: missing setting(s) {', '.join(missing)}")


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def load_preset(name: str | None) -> dict:
    """The settings of mnist/presets/NAME.toml, each checked; {} for no preset."""
    if name is None:
        return {}
    path = PRESETS_DIR / f"{name}.toml"
    values = read_toml(path)
    check_settings(values, str(path))
    not_flags = sorted(set(values) - set(FLAGS))
    if not_flags:
        raise UsageError(f"{path}: {', '.join(not_flags)} cannot be preset")
    return values


def parser() -> OneLineParser:
    p = OneLineParser(prog="python -m mnist.train", description="Train a small MNIST network.")
    for name, f in FLAGS.items():
        meta = f.metadata
        kind = {"action": argparse.BooleanOptionalAction} if f.type is bool else {"type": f.type}
        allowed = f"; {meta['bounds']}" if meta["bounds"] else ""
        p.add_argument(
            flag_name(name), **kind, default=argparse.SUPPRESS, choices=meta["choices"],
            help=f"{meta['help']} (default: {f.default}{allowed})",
        )  # fmt: skip
    p.add_argument("--preset", choices=presets(), help="settings from mnist/presets/NAME.toml, "
                   "over the defaults; flags win over both")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True,
                   help="write PNG plots at the end (default: %(default)s)")  # fmt: skip
    return p


def parse_args(argv: list[str] | None = None) -> tuple[Config, bool, bool]:
    """Config from the flags over the --preset over defaults.toml; plus --resume and --plots."""
    check_defaults()
    p = parser()
    given = vars(p.parse_args(argv))
    resume, plots, preset = given.pop("resume"), given.pop("plots"), given.pop("preset")
    for name, value in given.items():
        why = problem(name, value)
        if why:
            p.error(f"{flag_name(name)} {why}")
    cfg = Config(**load_preset(preset) | given)
    cpus = os.cpu_count() or 1
    if cfg.threads > cpus:
        where = flag_name("threads") if "threads" in given else f"preset {preset}: threads"
        p.error(f"{where} {cfg.threads}: this machine has {cpus} CPUs; give 1 to {cpus}, "
                f"or 0 for torch's default")  # fmt: skip
    return cfg, resume, plots


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def defaults_toml(values: dict = DEFAULTS) -> str:
    """defaults.toml with these values, one line per flag commented with its help text."""
    lines = [
        "# Defaults of `python -m mnist.train`; every key is also a command-line flag",
        "# (--batch-size, ...). A --preset NAME (mnist/presets/NAME.toml) goes over them, and the",
        "# flags over both.",
        "# Comments made by mnist/config.py (`python -m mnist.config --write`); edit values only.",
        "",
    ]
    for name, f in FLAGS.items():
        meta = f.metadata
        allowed = f" ({meta['bounds']})" if meta["bounds"] else ""
        setting_line = f"{name} = {toml_value(values[name])}"
        lines.append(f"{setting_line:<{COMMENT_COLUMN - 1}} # {meta['help']}{allowed}")
    return "\n".join(lines) + "\n"


@command
def main(argv: list[str] | None = None) -> None:
    p = OneLineParser(description="Show mnist/defaults.toml as mnist/config.py documents it.")
    p.add_argument("--write", action="store_true", help="rewrite the file with it (values kept)")
    write = p.parse_args(argv).write
    check_defaults()
    text = defaults_toml(DEFAULTS)
    if write:
        say(write_text_atomic(DEFAULTS_FILE, text))
    else:
        say(text, end="")


if __name__ == "__main__":
    main()

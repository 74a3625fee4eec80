"""Wall-clock seconds to a trained MNIST model: the `fast` preset and the default recipe, per seed.

Each run is `python -m mnist.train` in a fresh process, one at a time, as a user would start it;
the seconds run from the launch to the exit (start-up, data loading, every epoch and its test
pass, the checkpoints, the plots at the end: `--flags=--no-plots` leaves them out); the loop's
seconds are the epochs' own (training and test pass), images/s and ms per step are over those,
and "other s" is the rest (start-up and the end). The accuracy is the last epoch's test
accuracy. The load average before each run is printed: on a shared machine other processes slow
a run down, and the figure says by how much to distrust it.

Beside them, the physical limit of an epoch: its arithmetic (counted by torch's FlopCounterMode
over one training step, forward and backward) over the device's measured float32 matrix rate,
and the fewest bytes it must move (the images once; each conv's output, BatchNorm and ReLU fused
into it, and its gradient, each written once and read once) over the measured copy bandwidth.

    python benchmarks/mnist_time_to_accuracy.py [--threads N] [--seeds 1 2 3] \
        [--recipes fast default] [--flags="--no-cuda-graphs"] [--keep DIR]
"""

import argparse
import contextlib
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist.model import build_model  # noqa: E402
from mnist.names import METRICS  # noqa: E402

TARGET = 0.994
TRAIN_IMAGES = 60_000
BYTES = 4  # float32


@dataclass
class Result:
    recipe: str
    seed: int
    seconds: float  # launch to exit
    loop: float  # the epochs' own seconds (training and test pass)
    steps: int
    epochs: int
    accuracy: float
    load: float  # 1-minute load average when the run started

    @property
    def images_per_second(self) -> float:
        return self.epochs * TRAIN_IMAGES / self.loop

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.loop / self.steps


def recipe_settings(recipe: str) -> dict:
    defaults = tomllib.loads((ROOT / "mnist" / "defaults.toml").read_text())
    if recipe == "default":
        return defaults
    return defaults | tomllib.loads((ROOT / "mnist" / "presets" / f"{recipe}.toml").read_text())


def recipe_flags(recipe: str) -> list[str]:
    return [] if recipe == "default" else ["--preset", recipe]


def run(recipe: str, seed: int, threads: int | None, flags: list[str], data_dir: str,
        folder: Path) -> Result:  # fmt: skip
    out = folder / f"{recipe}-seed-{seed}"
    chosen = [] if threads is None else ["--threads", str(threads)]
    command = [sys.executable, "-m", "mnist.train", *recipe_flags(recipe), "--seed", str(seed),
               *chosen, "--data-dir", data_dir, "--out", str(out), *flags]  # fmt: skip
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    lines = [json.loads(line) for line in (out / METRICS).read_text().splitlines()]
    batch = recipe_settings(recipe)["batch_size"]
    steps = len(lines) * math.ceil(TRAIN_IMAGES / batch)
    loop = sum(line["seconds"] for line in lines)
    return Result(recipe, seed, seconds, loop, steps, len(lines), lines[-1]["test_acc"], load)


def epoch_work(model_name: str, batch: int) -> tuple[float, float]:
    """FLOPs and fewest bytes of one training epoch of the model: one step's forward and
    backward counted by FlopCounterMode, times the steps; the images once (uint8), and each
    conv's output (BatchNorm and ReLU fused into it) written and read once forward, and its
    gradient written and read once backward."""
    model = build_model(model_name)
    x = torch.randn(batch, 1, 28, 28)
    activations = []
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    hooks = [m.register_forward_hook(lambda m, i, o: activations.append(o.numel())) for m in convs]
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    for hook in hooks:
        hook.remove()
    steps = TRAIN_IMAGES / batch
    moved = TRAIN_IMAGES * 28 * 28 + steps * sum(activations) * BYTES * 4
    return counter.get_total_flops() * steps, moved


def ceilings(device: torch.device) -> tuple[float, float]:
    """The device's float32 matrix-product rate (FLOP/s) and copy bandwidth (bytes/s, read plus
    written), each the best of five after a warm-up."""
    n, size = 2048 if device.type == "cpu" else 8192, 2**28 if device.type == "cuda" else 2**26
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    src = torch.randn(size // 4, device=device)
    dst = torch.empty_like(src)

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(5):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return min(times)

    return 2 * n**3 / best(lambda: a @ b), 2 * size / best(lambda: dst.copy_(src))


def limits(recipes: list[str], device: torch.device) -> str:
    """The physical limit of one epoch of each recipe on this device."""
    rate, bandwidth = ceilings(device)
    lines = [f"device {device}: float32 matrix product {rate / 1e12:.2f} TFLOP/s, copy "
             f"{bandwidth / 1e9:.0f} GB/s (measured)"]  # fmt: skip
    for recipe in recipes:
        settings = recipe_settings(recipe)
        flops, moved = epoch_work(settings["model"], settings["batch_size"])
        floor = max(flops / rate, moved / bandwidth)
        lines.append(
            f"{recipe} ({settings['model']}, batch {settings['batch_size']}): one epoch is "
            f"{flops / 1e9:.0f} GFLOP and at least {moved / 1e6:.0f} MB moved: "
            f"{1000 * flops / rate:.1f} ms of arithmetic, {1000 * moved / bandwidth:.1f} ms of "
            f"memory traffic at those rates (at most {TRAIN_IMAGES / floor:,.0f} images/s)"
        )
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    lines = [
        "| recipe | seed | seconds | loop s | other s | images/s | ms/step | epochs "
        "| last-epoch test acc. (%) | load before |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(f"| {r.recipe} | {r.seed} | {r.seconds:.1f} | {r.loop:.1f} | "
                     f"{r.seconds - r.loop:.1f} | "
                     f"{r.images_per_second:,.0f} | {r.ms_per_step:.2f} | {r.epochs} | "
                     f"{100 * r.accuracy:.2f} | {r.load:.1f} |")  # fmt: skip
    for recipe in dict.fromkeys(r.recipe for r in results):
        mine = [r for r in results if r.recipe == recipe]
        every = all(r.accuracy >= TARGET for r in mine)
        lines.append(
            f"\n{recipe}: mean {statistics.mean(r.seconds for r in mine):.1f} s, "
            f"mean accuracy {100 * statistics.mean(r.accuracy for r in mine):.2f}%, "
            f"every seed >= {100 * TARGET:.1f}%: {every}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int,
                        help="torch threads of every run (default: each recipe's)")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recipes", nargs="+", default=["fast", "default"],
                        help="preset names, and 'default' for defaults.toml alone")  # fmt: skip
    parser.add_argument("--flags", default="", help="more mnist.train flags for every run")
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--keep", type=Path, help="keep each run's folder as KEEP/RECIPE-seed-N "
                        "(metrics, settings, results); default: a temporary folder")  # fmt: skip
    args = parser.parse_args()
    flags = shlex.split(args.flags)
    defaults = recipe_settings("default")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"default recipe: model {defaults['model']}, {defaults['epochs']} epochs; "
          f"{os.cpu_count()} CPUs, threads {args.threads or 'as each recipe sets'}; "
          f"flags {flags}", flush=True)  # fmt: skip
    print(limits(args.recipes, device), flush=True)
    results = []
    kept = contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory()
    with kept as folder:
        for recipe in args.recipes:
            for seed in args.seeds:
                results.append(run(recipe, seed, args.threads, flags, args.data_dir, Path(folder)))
                print(table(results[-1:]).splitlines()[2], flush=True)
    print(table(results))


if __name__ == "__main__":
    main()

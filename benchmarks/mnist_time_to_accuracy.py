"""Wall-clock seconds to a trained MNIST model: the `fast` preset and the default recipe, per seed.

Each run is `python -m mnist.train` in a fresh process, one at a time, as a user would start it;
the seconds run from the launch to the exit (start-up, data loading, every epoch and its test
pass, the checkpoints), images/s is the training images of all epochs over those seconds, and the
accuracy is the last epoch's test accuracy. The load average before each run is printed: on a
shared machine other processes slow a run down, and the figure says by how much to distrust it.

    python benchmarks/mnist_time_to_accuracy.py [--threads 2] [--seeds 1 2 3] \
        [--recipes fast default]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.994
TRAIN_IMAGES = 60_000


@dataclass
class Result:
    recipe: str
    seed: int
    seconds: float
    epochs: int
    accuracy: float
    load: float  # 1-minute load average when the run started

    @property
    def images_per_second(self) -> float:
        return self.epochs * TRAIN_IMAGES / self.seconds


def recipe_flags(recipe: str) -> list[str]:
    return [] if recipe == "default" else ["--preset", recipe]


def run(recipe: str, seed: int, threads: int, data_dir: str, folder: Path) -> Result:
    out = folder / f"{recipe}-seed-{seed}"
    command = [sys.executable, "-m", "mnist.train", *recipe_flags(recipe), "--seed", str(seed),
               "--threads", str(threads), "--data-dir", data_dir, "--out", str(out),
               "--no-plots"]  # fmt: skip
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    lines = (out / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    return Result(recipe, seed, seconds, last["epoch"], last["test_acc"], load)


def table(results: list[Result]) -> str:
    lines = [
        "| recipe | seed | seconds | images/s | epochs | last-epoch test acc. (%) | load before |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(f"| {r.recipe} | {r.seed} | {r.seconds:.1f} | {r.images_per_second:,.0f} | "
                     f"{r.epochs} | {100 * r.accuracy:.2f} | {r.load:.1f} |")  # fmt: skip
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
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recipes", nargs="+", default=["fast", "default"],
                        help="preset names, and 'default' for defaults.toml alone")  # fmt: skip
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    args = parser.parse_args()
    defaults = tomllib.loads((ROOT / "mnist" / "defaults.toml").read_text())
    print(f"default recipe: model {defaults['model']}, {defaults['epochs']} epochs; "
          f"{os.cpu_count()} CPUs, {args.threads} threads", flush=True)  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for recipe in args.recipes:
            for seed in args.seeds:
                results.append(run(recipe, seed, args.threads, args.data_dir, Path(folder)))
                print(table(results[-1:]).splitlines()[2], flush=True)
    print(table(results))


if __name__ == "__main__":
    main()

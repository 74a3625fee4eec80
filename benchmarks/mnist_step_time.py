"""Milliseconds per training step on this CPU, per model, precision, thread count and layout.

A step is mnist.train's own (mnist.step.TrainStep: the batched warp, forward, backward, Nesterov
SGD, the moving average) on random uint8 images, whose values do not change its time. The
settings take turns in short rounds, so a neighbour's load hits them alike; the median round is
reported. First the CPU's bfloat16 instructions, and what `--precision auto` picks on it.

    python benchmarks/mnist_step_time.py [--models tiny nano-w] [--precisions float32 bfloat16]
        [--threads 1 2] [--rounds 5] [--steps 10]
"""

import argparse
import copy
import itertools
import statistics
import time

import torch

from mnist.config import parse_args
from mnist.evaluate import prepare_model
from mnist.optim import NesterovSGD
from mnist.step import TrainStep
from mnist.train import pick_precision

CPU = torch.device("cpu")


def step_round(model: str, precision: str, channels_last: bool, steps: int):
    """A function that runs `steps` training steps of batch 128 and returns their seconds."""
    layout = "--channels-last" if channels_last else "--no-channels-last"
    cfg, _, _ = parse_args(["--model", model, "--precision", precision, layout])
    torch.manual_seed(0)
    raw = prepare_model(model, CPU, channels_last)
    optimizer = NesterovSGD(raw, cfg.weight_decay)
    optimizer.schedule(cfg.lr, cfg.momentum, 0.01)
    images = torch.randint(0, 256, (steps * cfg.batch_size, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (len(images),))
    step = TrainStep(raw, raw, copy.deepcopy(raw), optimizer, images, labels, cfg, False)
    batches = torch.arange(len(images)).split(cfg.batch_size)

    def timed() -> float:
        start = time.perf_counter()
        for idx in batches:
            step(idx)
        return time.perf_counter() - start

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "nano-w"])
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds each (default: 5)")
    parser.add_argument("--steps", type=int, default=10, help="steps per round (default: 10)")
    args = parser.parse_args()
    has = torch.cpu.get_capabilities()
    print(f"{has.get('cpu_name', '?')}, {torch.backends.cpu.get_cpu_capability()}: avx512_bf16 "
          f"{has.get('avx512_bf16', False)}, amx_bf16 {has.get('amx_bf16', False)}; --precision "
          f"auto picks {pick_precision('auto', CPU)}")  # fmt: skip
    settings = list(itertools.product(args.models, args.precisions, args.threads, (True, False)))
    rounds = {s: step_round(s[0], s[1], s[3], args.steps) for s in settings}
    times: dict[tuple, list[float]] = {s: [] for s in settings}
    for _ in range(args.rounds + 1):  # the first round warms up, and is not counted
        for s, timed in rounds.items():
            torch.set_num_threads(s[2])
            times[s].append(timed() / args.steps)
    print("model   precision  threads  layout  ms/step (median)  images/s")
    for (model, precision, threads, channels_last), seconds in times.items():
        ms = 1000 * statistics.median(seconds[1:])
        layout = "NHWC" if channels_last else "NCHW"
        rate = 128e3 / ms
        print(f"{model:<7} {precision:<10} {threads:>7}  {layout:<6}  {ms:>16.1f}  {rate:>8.0f}")


if __name__ == "__main__":
    main()

"""Milliseconds per training step on this CPU, per model, precision, thread count and layout.

A round is mnist_throughput.py's own: mnist.train.train() on STEPS_PER_ROUND batches (the batched
warp, forward, backward, Nesterov SGD, the moving average), here on random uint8 images, whose
values do not change its time. The settings take turns in rounds, so a neighbour's load hits
them alike; the median round is reported. First the CPU's bfloat16 instructions, and what
`--precision auto` picks on it.

    python benchmarks/mnist_step_time.py [--models tiny nano-w] [--precisions float32 bfloat16]
        [--threads 1 2] [--rounds 5]
"""

import argparse
import itertools
import statistics

import torch
from mnist_throughput import STEPS_PER_ROUND, images_per_s, ours

from mnist.config import parse_args
from mnist.train import pick_precision

CPU = torch.device("cpu")


def step_round(model: str, precision: str, channels_last: bool):
    """A round of training steps of `model` at these settings (mnist_throughput.ours)."""
    layout = "--channels-last" if channels_last else "--no-channels-last"
    cfg, _, _ = parse_args(["--model", model, "--precision", precision, layout])
    images = torch.randint(0, 256, (2 * STEPS_PER_ROUND * cfg.batch_size, 28, 28)).byte()
    return ours(cfg, images, torch.randint(0, 10, (len(images),))), cfg.batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "nano-w"])
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds each (default: 5)")
    args = parser.parse_args()
    has = torch.cpu.get_capabilities()
    print(f"{has.get('cpu_name', '?')}, {torch.backends.cpu.get_cpu_capability()}: avx512_bf16 "
          f"{has.get('avx512_bf16', False)}, amx_bf16 {has.get('amx_bf16', False)}; --precision "
          f"auto picks {pick_precision('auto', CPU)}")  # fmt: skip
    settings = list(itertools.product(args.models, args.precisions, args.threads, (True, False)))
    rounds = {s: step_round(s[0], s[1], s[3]) for s in settings}
    rates: dict[tuple, list[float]] = {s: [] for s in settings}
    for _ in range(args.rounds + 1):  # the first round warms up, and is not counted
        for s, (round_, _) in rounds.items():
            torch.set_num_threads(s[2])
            rates[s].append(images_per_s(round_))
    print("model   precision  threads  layout  ms/step (median)  images/s")
    for (model, precision, threads, channels_last), seen in rates.items():
        rate = statistics.median(seen[1:])
        ms = 1000 * rounds[model, precision, threads, channels_last][1] / rate
        layout = "NHWC" if channels_last else "NCHW"
        print(f"{model:<7} {precision:<10} {threads:>7}  {layout:<6}  {ms:>16.1f}  {rate:>8.0f}")


if __name__ == "__main__":
    main()

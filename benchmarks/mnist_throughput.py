"""Training images/s: mnist.train's pipeline against a pytorch/examples-style one, same model.

Ours: the whole training set as one uint8 tensor, each batch warped in one grid_sample call,
through mnist.train.train(). Theirs (pytorch/examples mnist/main.py): torchvision.datasets.MNIST
with per-sample PIL transforms (RandomAffine, ToTensor, Normalize) fed through a DataLoader.
Same architecture, batch size, augmentation and SGD. The pipelines take turns in short rounds,
so a neighbour's load on a shared machine hits both alike; medians over the rounds are reported.

    python benchmarks/mnist_throughput.py [--threads 2] [--rounds 8] [--workers 0] [--compile]
"""

import argparse
import copy
import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from mnist.data import ensure_mnist
from mnist.evaluate import MEAN, STD, prepare_model
from mnist.model import build_model
from mnist.optim import NesterovSGD
from mnist.step import TrainStep
from mnist.train import Dist, parse_args, start, train

STEPS_PER_ROUND = 20


def ours(cfg, images: torch.Tensor, labels: torch.Tensor) -> Callable[[], int]:
    """A round of mnist.train.train() on the next STEPS_PER_ROUND batches; returns images seen."""
    # Set up on the CPU as a training is (mnist.train.start(): --precision auto resolved, malloc
    # told to keep freed memory), on a copy: start() writes what it picks into the Config.
    cfg = dataclasses.replace(cfg, device="cpu")
    start(cfg)
    torch.manual_seed(cfg.seed)
    model = prepare_model(cfg.model, torch.device("cpu"), cfg.channels_last)
    if cfg.compile:
        model = torch.compile(model)
    ema = copy.deepcopy(model)
    optimizer = NesterovSGD(model, cfg.weight_decay)
    optimizer.schedule(cfg.lr, cfg.momentum, 1.0)
    chunk = STEPS_PER_ROUND * cfg.batch_size
    state = {"start": 0}

    def round_() -> int:
        start = state["start"] % (len(labels) - chunk)
        state["start"] += chunk
        part = slice(start, start + chunk)
        step = TrainStep(model, model, ema, optimizer, images[part], labels[part], cfg, False)
        train(step, cfg, 1, Dist())
        return chunk

    return round_


def endless(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def theirs(cfg, workers: int) -> Callable[[], int]:
    """A round of pytorch/examples' train() loop: STEPS_PER_ROUND batches from the DataLoader."""
    shift = cfg.translation / 28  # RandomAffine takes the shift as a fraction of the image size
    transform = transforms.Compose([
        transforms.RandomAffine(degrees=cfg.rotation, translate=(shift, shift)),
        transforms.ToTensor(),
        transforms.Normalize((MEAN,), (STD,)),
    ])  # fmt: skip
    dataset = datasets.MNIST(cfg.data_dir, train=True, download=False, transform=transform)
    batches = endless(
        DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=workers)
    )
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True)

    def round_() -> int:
        model.train()
        seen = 0
        for _ in range(STEPS_PER_ROUND):
            data, target = next(batches)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(data), target)
            loss.backward()
            optimizer.step()
            seen += len(target)
        return seen

    return round_


def images_per_s(round_: Callable[[], int]) -> float:
    start = time.perf_counter()
    seen = round_()
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--rounds", type=int, default=8, help="timed rounds each (default: 8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="DataLoader workers of the baseline, 0 as pytorch/examples on CPU (default: 0)",
    )
    parser.add_argument("--data-dir", default="data", help="MNIST folder (default: data)")
    parser.add_argument(
        "--compile", action="store_true", help="also time ours with mnist.train --compile"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg, _, _ = parse_args(["--data-dir", args.data_dir])
    mnist = ensure_mnist(Path(args.data_dir))
    pipelines = {
        f"pytorch/examples-style (DataLoader, {args.workers} workers)": theirs(cfg, args.workers),
        "mnist.train (uint8 tensor, batched warp)": ours(
            cfg, mnist.train.images, mnist.train.labels
        ),
    }
    if args.compile:
        cfg.compile = True
        pipelines["mnist.train --compile"] = ours(cfg, mnist.train.images, mnist.train.labels)
    for round_ in pipelines.values():
        round_()  # warm-up (and compilation)
    rates = {name: [] for name in pipelines}
    for _ in range(args.rounds):
        for name, round_ in pipelines.items():
            rates[name].append(images_per_s(round_))
    print(
        f"model {cfg.model}, batch {cfg.batch_size}, {args.threads} threads, "
        f"{args.rounds} rounds of {STEPS_PER_ROUND * cfg.batch_size} images each"
    )
    baseline = statistics.median(next(iter(rates.values())))
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:<45} {median:7.0f} images/s  (x{median / baseline:.2f})")


if __name__ == "__main__":
    main()

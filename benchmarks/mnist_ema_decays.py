"""One `python -m mnist.train` run, with moving averages of other decays kept beside its own.

A moving average of the weights never feeds back into training, so one run holds, for every
decay D, exactly what `python -m mnist.train --ema D` with the same settings would test and save
(the same foreach arithmetic on the same weights; D = 0 is the trained weights themselves). One
run then compares several decays on the same trajectory, paired. The run folder is the
trainer's, as usual; each average's test loss and accuracy at the end go to ema-decays.json in
it and to standard output.

    python benchmarks/mnist_ema_decays.py --decays 0 0.998 0.999 -- --seed 137 --threads 1
"""

import argparse
import copy
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mnist.step  # noqa: E402
from mnist import train  # noqa: E402
from mnist.config import parse_args  # noqa: E402
from mnist.data import load_data  # noqa: E402
from mnist.evaluate import test  # noqa: E402
from mnist.optim import ema_decay, update_ema  # noqa: E402


def keep_averages(decays: list[float]) -> dict[float, torch.nn.Module]:
    """Make every training step also update one moving average per decay (filled in at the first
    step from the trainer's own average, which still holds the initial weights then)."""
    averages: dict[float, torch.nn.Module] = {}
    steps = 0

    def update(ema, model, weight) -> None:
        nonlocal steps
        if not averages:
            averages.update({decay: copy.deepcopy(ema) for decay in decays})
        update_ema(ema, model, weight)
        for decay, average in averages.items():
            update_ema(average, model, weight.new_tensor(1 - ema_decay(steps, decay)))
        steps += 1

    mnist.step.update_ema = update
    return averages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decays", type=float, nargs="+", required=True)
    parser.add_argument("train_args", nargs="*", help="after --: python -m mnist.train's flags")
    args = parser.parse_args()
    cfg, resume, plots = parse_args(args.train_args)
    if resume:
        parser.error("--resume: the averages start with the run; train from the start")
    cfg.cuda_graphs = False  # a graph would replay the first step's averaging weights
    averages = keep_averages(args.decays)
    train.run(cfg, resume=False, make_plots=plots)
    data = load_data(Path(cfg.data_dir), cfg.limit, train.pick_device(cfg.device)).test
    results = {
        str(decay): test(average, data.images, data.labels, cfg.channels_last)[0]
        for decay, average in averages.items()
    }
    record = {"seed": cfg.seed, "model": cfg.model, "epochs": cfg.epochs, "scores": results}
    (Path(cfg.out) / "ema-decays.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()

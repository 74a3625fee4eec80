"""Search training recipes on a GPU: every seed of a recipe trained at once, as one packed network.

N copies of a model, each with its own seed, train as one network whose convs have N times the
channels and groups (copy i sees only input channel i and its own channels after it), so one
kernel serves all N: on a GPU that is bound by kernel launches, N seeds cost about what one does.
Each copy starts from exactly the weights `python -m mnist.train --seed S` starts from, reads the
training set in the same order, and gets a gradient from its own loss alone; only the augmentation
draws differ (the same distribution from another random stream) and float rounding. It is a
search tool: the figures a recipe is reported with come from `python -m mnist.train` runs.

Beside the trained weights it tracks moving averages of them with several decays (EMA), and
writes every copy's test accuracy after every epoch, for the weights and for each average.

    python benchmarks/mnist_search.py --variant base --seeds 1-16 --out search.jsonl \
        [--device cuda] [--set key=value ...] [--arch NAME]
"""

import argparse
import copy
import json
import sys
import time
import tomllib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist.config import Config  # noqa: E402
from mnist.data import load_data  # noqa: E402
from mnist.distributed import Dist, epoch_indices  # noqa: E402
from mnist.evaluate import normalize, unit_float  # noqa: E402
from mnist.model import ARCHS, Arch, build_model, count_params  # noqa: E402
from mnist.optim import NesterovSGD, ema_decay, learning_rate, momentum, update_ema  # noqa: E402
from mnist.step import augment, augments_in  # noqa: E402
from mnist.train import float32_convolutions  # noqa: E402
from mnist.train import main as train_main  # noqa: E402

EMA_DECAYS = (0.99, 0.995, 0.998, 0.999)
# Other channel plans inside nano's 4,000-parameter budget (searched, not in the registry).
CANDIDATE_ARCHS = {
    # the second conv separable too, and the layers after it wider: 3,918 and 3,998 parameters
    "nano-s5a": Arch((8, 12, 16), 0, (28, 28, 28), 0.0, 4_000, separable=5),
    "nano-s5c": Arch((8, 16, 16), 0, (24, 28, 32), 0.0, 4_000, separable=5),
}


def pack(models: list[nn.Sequential]) -> nn.Sequential:
    """One network computing all `models` side by side (channel blocks in model order)."""
    n, layers = len(models), []
    for parts in zip(*models, strict=True):
        first = parts[0]
        if isinstance(first, nn.Conv2d):
            layer = nn.Conv2d(n * first.in_channels, n * first.out_channels, first.kernel_size,
                              groups=n * first.groups, bias=first.bias is not None)  # fmt: skip
        elif isinstance(first, nn.BatchNorm2d):
            layer = nn.BatchNorm2d(n * first.num_features)
        else:
            layers.append(copy.deepcopy(first))
            continue
        states = [part.state_dict() for part in parts]
        merged = {
            k: torch.cat([s[k] for s in states]) if v.dim() else v for k, v in states[0].items()
        }
        layer.load_state_dict(merged)
        layers.append(layer)
    return nn.Sequential(*layers)


def packed_batch(images, labels, idx, cfg: Config, augmenting: bool):
    """idx (N, B) -> augmented (unless not augmenting), normalised input (B, N, 28, 28) and
    labels (B, N)."""
    n, b = idx.shape
    chosen = images[idx.reshape(-1)]
    warped = augment(chosen, cfg.rotation, cfg.translation, shear=cfg.shear, scale=cfg.scale,
                     stroke=cfg.stroke)  # fmt: skip
    if not augmenting:  # the warps drawn all the same, as mnist.train draws them
        warped = unit_float(chosen)
    x = normalize(warped, channels_last=False).reshape(n, b, 28, 28).transpose(0, 1)
    return x.contiguous(memory_format=torch.channels_last), labels[idx].T


@torch.no_grad()
def accuracies(model: nn.Module, images, labels, n: int) -> list[float]:
    """Test accuracy of each of the n packed copies."""
    model.eval()
    correct = torch.zeros(n, device=labels.device)
    for x, y in zip(images.split(1000), labels.split(1000), strict=True):
        x = normalize(x, channels_last=False).expand(-1, n, -1, -1)
        out = model(x.contiguous(memory_format=torch.channels_last)).view(len(y), n, -1)
        correct += (out.argmax(2) == y[:, None]).sum(0)
    model.train()
    return (correct / len(labels)).tolist()


def search(cfg: Config, arch: str, seeds: list[int], device: torch.device, log) -> None:
    """Train len(seeds) copies of cfg's recipe at once; log(record) after every epoch."""
    if arch in CANDIDATE_ARCHS:
        ARCHS[arch] = CANDIDATE_ARCHS[arch]
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_model(arch))
    params = count_params(models[0])
    model = pack(models).to(device, memory_format=torch.channels_last)
    emas = [copy.deepcopy(model).requires_grad_(False) for _ in EMA_DECAYS]
    mnist = load_data(Path(cfg.data_dir), cfg.limit, device)
    images, labels = mnist.train.images, mnist.train.labels
    optimizer = NesterovSGD(model, cfg.weight_decay)
    weights = [torch.zeros((), device=device) for _ in EMA_DECAYS]
    steps = -(-len(labels) // cfg.batch_size)
    total, n = steps * cfg.epochs, len(seeds)
    torch.manual_seed(seeds[0])
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        orders = torch.stack([epoch_indices(len(labels), epoch, s, Dist()) for s in seeds])
        for step, idx in enumerate(orders.to(device).split(cfg.batch_size, dim=1)):
            t = (epoch - 1) * steps + step
            lr = learning_rate(t, total, cfg.lr, cfg.pct_start)
            optimizer.schedule(lr, momentum(t, total, cfg.momentum, cfg.pct_start), 1.0)
            x, y = packed_batch(images, labels, idx, cfg, augments_in(epoch, cfg))
            out = model(x).view(len(x), n, -1)
            # The sum of each copy's mean loss: copy i's gradient is that of its own loss.
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), reduction="sum",
                                   label_smoothing=cfg.label_smoothing)  # fmt: skip
            optimizer.zero_grad()
            (loss / len(x)).backward()
            optimizer.step()
            for ema, decay, weight in zip(emas, EMA_DECAYS, weights, strict=True):
                update_ema(ema, model, weight.fill_(1 - ema_decay(t, decay)))
        test = mnist.test.images, mnist.test.labels, n
        record = {"epoch": epoch, "seconds": round(time.perf_counter() - start, 1),
                  "seeds": seeds, "params": params, "raw": accuracies(model, *test)}  # fmt: skip
        for ema, decay in zip(emas, EMA_DECAYS, strict=True):
            record[f"ema{decay}"] = accuracies(ema, *test)
        log(record)


def seed_list(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="search", help="a name for the output")
    p.add_argument("--seeds", type=seed_list, default=seed_list("1-8"), help="e.g. 1-16")
    p.add_argument("--set", nargs="*", default=[], help="Config overrides, key=value (TOML)")
    p.add_argument("--arch", default=None, help=f"model, or one of {', '.join(CANDIDATE_ARCHS)}")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", type=Path, help="JSON lines are appended here, one per epoch")
    p.add_argument("--train", nargs=argparse.REMAINDER,
                   help="instead: mnist.train with these flags, nano built as --arch")  # fmt: skip
    args = p.parse_args()
    if args.train is not None:
        ARCHS["nano"] = CANDIDATE_ARCHS.get(args.arch, ARCHS["nano"])
        train_main(args.train)
        return
    overrides = tomllib.loads("\n".join(args.set))
    cfg = Config(**overrides)
    arch = args.arch or cfg.model

    def log(record: dict) -> None:
        means = {k: sum(v) / len(v) for k, v in record.items() if k == "raw" or k[:3] == "ema"}
        text = " ".join(f"{k} {100 * v:.2f}" for k, v in means.items())
        print(f"[{args.variant}] epoch {record['epoch']} {record['seconds']} s {text}", flush=True)
        with args.out.open("a") as f:
            line = {"variant": args.variant, "arch": arch, "set": overrides} | record
            f.write(json.dumps(line) + "\n")

    float32_convolutions()  # as mnist.train does
    search(cfg, arch, args.seeds, torch.device(args.device), log)


if __name__ == "__main__":
    main()

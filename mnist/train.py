"""Train an MNIST model: `python -m mnist.train [--model tiny] [--epochs 15] ...`.

The whole dataset lives in memory as one uint8 tensor; every batch is cut from it, augmented with
one random affine warp per image (F.affine_grid / F.grid_sample on the batch) and normalised.
Under torchrun each process trains on its share of every epoch's permutation, as
DistributedSampler does, and rank 0 alone writes the run folder:
metrics.jsonl (one JSON line per epoch; accuracies are fractions, seconds the epoch's wall
time including the test pass), checkpoint.pt, results.json and PNG plots (mnist.plots).
"""

import argparse
import math
import os
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from mnist import plots
from mnist.cli import DataError, OneLineParser, UsageError, fail
from mnist.data import Mnist, ensure_mnist, load_mnist
from mnist.metrics import METRICS, read_metrics, write_metrics
from mnist.model import ARCHS, build_model, count_params
from safeio.atomic import OutputError, check_writable, write_atomic

DEFAULTS = tomllib.loads(Path(__file__).with_name("defaults.toml").read_text())
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std, as in pytorch/examples
TEST_BATCH = 1000
CHECKPOINT = "checkpoint.pt"
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "epoch", "rng", "config")
# Settings a resumed run must share with the run that wrote the checkpoint.
RESUME_KEYS = (
    *("model", "epochs", "batch_size", "lr", "momentum", "weight_decay", "pct_start"),
    *("label_smoothing", "rotation", "translation", "seed", "limit", "world_size"),
)


@dataclass
class Config:
    model: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    pct_start: float
    label_smoothing: float
    rotation: float
    translation: float
    seed: int
    data_dir: str
    out: str
    threads: int
    limit: int
    device: str
    compile: bool = False
    world_size: int = 1


@dataclass
class Dist:
    """Where this process stands: rank 0 of 1 when not under torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


# Help text of each defaults.toml key; every key becomes a flag (batch_size -> --batch-size).
FLAG_HELP = {
    "model": "architecture",
    "epochs": "training epochs",
    "batch_size": "images per step and process",
    "lr": "peak OneCycle learning rate",
    "momentum": "SGD Nesterov momentum",
    "weight_decay": "L2 penalty",
    "pct_start": "OneCycle warm-up fraction",
    "label_smoothing": "cross-entropy label smoothing",
    "rotation": "max random rotation, degrees",
    "translation": "max random shift, pixels",
    "seed": "random seed",
    "data_dir": "MNIST folder",
    "out": "run folder",
    "threads": "torch CPU threads, 0: torch's choice",
    "compile": "torch.compile the model (faster steps after a one-off compile)",
}


def positive(v) -> bool:
    return v > 0


def non_negative(v) -> bool:
    return v >= 0


def fraction(v) -> bool:
    return 0 <= v < 1


# What each numeric flag allows, as (test, wording); a float must also be finite.
RANGES = {
    "epochs": (positive, "> 0"),
    "batch_size": (positive, "> 0"),
    "lr": (positive, "> 0"),
    "momentum": (positive, "> 0 (Nesterov momentum needs some)"),
    "weight_decay": (non_negative, ">= 0"),
    "pct_start": (lambda v: 0 < v < 1, "> 0 and < 1"),
    "label_smoothing": (fraction, ">= 0 and < 1"),
    "rotation": (non_negative, ">= 0"),
    "translation": (non_negative, ">= 0"),
    "threads": (non_negative, ">= 0"),
    "limit": (non_negative, ">= 0"),
}


def parse_args(argv: list[str] | None = None) -> tuple[Config, bool, bool]:
    """Config from the command line over defaults.toml, plus the --resume and --plots flags."""
    p = OneLineParser(description="Train a small MNIST network.")
    for key, text in FLAG_HELP.items():
        default = DEFAULTS[key]
        kind = {"action": argparse.BooleanOptionalAction} if isinstance(default, bool) else {}
        p.add_argument(
            "--" + key.replace("_", "-"),
            **(kind or {"type": type(default)}),
            default=default,
            choices=sorted(ARCHS) if key == "model" else None,
            help=f"{text} (default: %(default)s)",
        )
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cuda", "mps", "cpu"],
        help="auto: cuda, then mps, then cpu (default: %(default)s)",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=0,
        help="train and test on the first N images only, 0: all (default: %(default)s)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint"
    )
    p.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write PNG plots at the end (default: %(default)s)",
    )
    a = vars(p.parse_args(argv))
    for key, (allowed, wording) in RANGES.items():
        if not (math.isfinite(a[key]) and allowed(a[key])):
            p.error(f"--{key.replace('_', '-')} must be {wording}, got {a[key]}")
    resume, plots = a.pop("resume"), a.pop("plots")
    return Config(**a), resume, plots


def pick_device(name: str) -> torch.device:
    """The requested device; 'auto' prefers cuda, then mps, then cpu."""
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(name, True):
        raise UsageError(f"--device {name}: not available on this machine (use auto or cpu)")
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def init_distributed(device: torch.device) -> Dist:
    """Join the torchrun process group when RANK is set (nccl on cuda, gloo otherwise)."""
    if "RANK" not in os.environ:
        return Dist()
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def epoch_indices(n: int, epoch: int, seed: int, ddp: Dist) -> torch.Tensor:
    """This process's share of the epoch's permutation, as DistributedSampler cuts it."""
    g = torch.Generator().manual_seed(seed + epoch)
    order = torch.randperm(n, generator=g)
    per_rank = math.ceil(n / ddp.world_size)
    padded = torch.cat([order, order[: per_rank * ddp.world_size - n]])
    return padded[ddp.rank :: ddp.world_size]


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) or float [0, 1] (B, 1, 28, 28) to normalised float (B, 1, 28, 28)."""
    if images.dtype == torch.uint8:
        images = images.unsqueeze(1).float() / 255
    return ((images - MEAN) / STD).contiguous(memory_format=torch.channels_last)


def prepare_model(name: str, device: torch.device) -> nn.Module:
    """The named model on the device in channels-last layout (on CPU ~1.4x faster conv and BN)."""
    return build_model(name).to(device, memory_format=torch.channels_last)


def augment(images: torch.Tensor, rotation: float, translation: float) -> torch.Tensor:
    """Random rotation (+-degrees) and shift (+-pixels) of every image, in one batched warp."""
    x = images.unsqueeze(1).float() / 255
    b, _, h, w = x.shape
    angle = (torch.rand(b, device=x.device) * 2 - 1) * math.radians(rotation)
    # affine_grid works in [-1, 1] coordinates: one pixel is 2 / size.
    shift = (
        (torch.rand(b, 2, device=x.device) * 2 - 1)
        * translation
        * 2
        / torch.tensor([w, h], device=x.device)
    )
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Zero padding is the black background because the warp runs before normalisation.
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def train(model, images, labels, optimizer, scheduler, cfg: Config, epoch: int, ddp: Dist) -> dict:
    """One epoch on this process's share; returns lr, train_loss, train_acc over all processes."""
    model.train()
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    order = epoch_indices(len(labels), epoch, cfg.seed, ddp).to(images.device)
    batches = order.split(cfg.batch_size)
    totals = torch.zeros(3, dtype=torch.float64, device=images.device)  # loss sum, correct, count
    quiet = ddp.rank != 0 or not sys.stderr.isatty()
    bar = tqdm(batches, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=quiet)
    start, lr = time.perf_counter(), 0.0
    for idx in bar:
        x = normalize(augment(images[idx], cfg.rotation, cfg.translation))
        y = labels[idx]
        optimizer.zero_grad(set_to_none=True)
        output = model(x)
        loss = criterion(output, y)
        loss.backward()
        optimizer.step()
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        totals += torch.stack(
            [
                loss.detach() * len(y),
                (output.argmax(1) == y).sum(),
                torch.tensor(len(y), device=y.device),
            ]
        ).double()
        seen = totals[2].item()
        bar.set_postfix(loss=f"{totals[0].item() / seen:.4f}", acc=f"{totals[1].item() / seen:.4f}",
                        img_s=f"{seen / (time.perf_counter() - start):.0f}")  # fmt: skip
    if ddp.active:
        dist.all_reduce(totals)
    loss_sum, correct, count = totals.tolist()
    return {"lr": lr, "train_loss": loss_sum / count, "train_acc": correct / count}


@torch.no_grad()
def test(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """Mean loss and accuracy on the test images, and the predicted label of each."""
    model.eval()
    loss_sum, preds = 0.0, []
    for x, y in zip(images.split(TEST_BATCH), labels.split(TEST_BATCH), strict=True):
        output = model(normalize(x))
        loss_sum += F.cross_entropy(output, y, reduction="sum").item()
        preds.append(output.argmax(1))
    pred = torch.cat(preds)
    return {
        "test_loss": loss_sum / len(labels),
        "test_acc": (pred == labels).sum().item() / len(labels),
    }, pred


def sync_buffers(model: nn.Module) -> None:
    """Give every process rank 0's BatchNorm running statistics (each saw only its own batches)."""
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def replica_max_diff(model: nn.Module, ddp: Dist) -> float:
    """Largest |difference| between this model's parameters and buffers and any other process's."""
    flat = torch.cat([t.detach().double().flatten() for t in model.state_dict().values()])
    gathered = [torch.empty_like(flat) for _ in range(ddp.world_size)]
    dist.all_gather(gathered, flat)
    return max((g - flat).abs().max().item() for g in gathered)


def rng_states(device: torch.device, ddp: Dist) -> dict:
    """Every process's random state, in rank order: each augments with its own stream."""
    mine = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        mine["cuda"] = torch.cuda.get_rng_state(device)
    if not ddp.active:
        return {key: [state] for key, state in mine.items()}
    gathered = [None] * ddp.world_size
    dist.all_gather_object(gathered, mine)
    return {key: [states[key] for states in gathered] for key in mine}


def restore_rng(rng: dict, device: torch.device, ddp: Dist) -> None:
    """This process's own entry of rng_states()."""
    torch.set_rng_state(rng["torch"][ddp.rank].cpu())
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"][ddp.rank].cpu(), device)


def save_checkpoint(run_dir: Path, model, optimizer, scheduler, epoch: int, cfg: Config,
                    rng: dict) -> None:  # fmt: skip
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "rng": rng,
        "config": asdict(cfg),
    }
    write_atomic(run_dir / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint.pt with every key mnist.train writes; UsageError in one line otherwise."""
    if not path.is_file():
        raise UsageError(f"no {CHECKPOINT} in {path.parent}")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        first = (str(err).strip().splitlines() or [""])[0]
        raise UsageError(f"{path}: cannot be loaded ({type(err).__name__}: {first})") from None
    if not isinstance(state, dict):
        raise UsageError(f"{path}: holds a {type(state).__name__}, not a checkpoint")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    config = state.get("config") if isinstance(state.get("config"), dict) else {}
    missing += [f"config.{f.name}" for f in fields(Config) if f.name not in config]
    rng = state.get("rng") if isinstance(state.get("rng"), dict) else {}
    if not isinstance(rng.get("torch"), list) or len(rng["torch"]) != config.get("world_size"):
        missing.append("rng.torch (one state per process)")
    if missing:
        raise UsageError(f"{path}: damaged checkpoint, missing {', '.join(missing)}")
    return state


def load_weights(model: nn.Module, state: dict, path: Path) -> None:
    """The checkpoint's weights into model; a mismatch is a damaged checkpoint, in one line."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError) as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise UsageError(f"{path}: damaged checkpoint, its model does not load ({first})") from None


def load_checkpoint(run_dir: Path, cfg: Config, device: torch.device) -> dict:
    """The run folder's checkpoint, refused if it was made with different settings."""
    path = run_dir / CHECKPOINT
    state = read_checkpoint(path, device)
    for key in RESUME_KEYS:
        if state["config"].get(key) != getattr(cfg, key):
            raise UsageError(
                f"{path}: was made with {key}={state['config'].get(key)!r}, "
                f"this run has {key}={getattr(cfg, key)!r}"
            )
    return state


def load_data(cfg: Config, device: torch.device) -> Mnist:
    """MNIST on the device: the official set (fetched if missing), or a --limit run's subset."""
    data_dir = Path(cfg.data_dir)
    mnist = load_mnist(data_dir) if cfg.limit else ensure_mnist(data_dir)
    for split in (mnist.train, mnist.test):
        n = cfg.limit or len(split.labels)
        split.images, split.labels = split.images[:n].to(device), split.labels[:n].to(device)
    return mnist


def run(cfg: Config, resume: bool, make_plots: bool) -> None:
    device = pick_device(cfg.device)
    ddp = init_distributed(device)
    cfg.world_size = ddp.world_size
    if device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(cfg.out)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir}: is a file, give a folder")
    if not resume and (run_dir / CHECKPOINT).exists():
        raise UsageError(f"{run_dir} already holds a run; use --resume or another --out")
    log = print if ddp.rank == 0 else (lambda *_: None)

    mnist = load_data(cfg, device)
    torch.manual_seed(cfg.seed)  # same seed on every process: identical initial weights
    raw_model = prepare_model(cfg.model, device)
    torch.manual_seed(cfg.seed + ddp.rank)  # but a different augmentation stream per process
    model = DistributedDataParallel(raw_model) if ddp.active else raw_model
    if cfg.compile:
        model = torch.compile(model)
    optimizer = torch.optim.SGD(
        raw_model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
        weight_decay=cfg.weight_decay,
    )  # fmt: skip
    steps = math.ceil(math.ceil(len(mnist.train.labels) / ddp.world_size) / cfg.batch_size)
    if cfg.pct_start * steps * cfg.epochs <= 1:  # OneCycleLR divides by (warm-up steps - 1)
        raise UsageError(
            f"too few steps for OneCycleLR: {steps * cfg.epochs} steps x --pct-start "
            f"{cfg.pct_start} leaves no warm-up; raise --epochs, --limit or --pct-start, "
            f"or lower --batch-size"
        )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps, pct_start=cfg.pct_start
    )
    first_epoch, history = 1, []
    if resume:
        state = load_checkpoint(run_dir, cfg, device)
        load_weights(raw_model, state, run_dir / CHECKPOINT)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], device, ddp)
        first_epoch = state["epoch"] + 1
        # Lines after the checkpoint's epoch were written by a run killed before its checkpoint.
        history = [m for m in read_metrics(run_dir / METRICS) if m["epoch"] <= state["epoch"]]
        if ddp.rank == 0:
            write_metrics(run_dir / METRICS, history)
    elif ddp.rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        check_writable(run_dir / METRICS)  # before training, not after the first epoch
        (run_dir / METRICS).unlink(missing_ok=True)
    log(
        f"{cfg.model}: {count_params(raw_model)} parameters, {len(mnist.train.labels)} train / "
        f"{len(mnist.test.labels)} test images, {device}, {ddp.world_size} process(es), "
        f"epochs {first_epoch}..{cfg.epochs}"
    )

    pred = None
    for epoch in range(first_epoch, cfg.epochs + 1):
        start = time.perf_counter()
        line = {"epoch": epoch}
        line |= train(
            model, mnist.train.images, mnist.train.labels, optimizer, scheduler, cfg, epoch, ddp
        )
        if ddp.active:
            sync_buffers(raw_model)
            diff = replica_max_diff(raw_model, ddp)
            same = diff == 0.0
            log(f"epoch {epoch}: replicas identical across {ddp.world_size} processes: {same}")
        scores, pred = test(raw_model, mnist.test.images, mnist.test.labels)
        line |= scores
        line["seconds"] = round(time.perf_counter() - start, 2)
        log(
            f"epoch {epoch}/{cfg.epochs} lr {line['lr']:.4f} train loss {line['train_loss']:.4f} "
            f"acc {line['train_acc']:.4%}  test loss {line['test_loss']:.4f} "
            f"acc {line['test_acc']:.2%}  ({line['seconds']:.1f} s)"
        )
        history.append(line)
        rng = rng_states(device, ddp)  # every process takes part in the gather
        if ddp.rank == 0:
            write_metrics(run_dir / METRICS, history)
            save_checkpoint(run_dir, raw_model, optimizer, scheduler, epoch, cfg, rng)
    if ddp.rank == 0 and make_plots:
        if pred is None:  # resumed a finished run: nothing trained, score the final model
            _, pred = test(raw_model, mnist.test.images, mnist.test.labels)
        written = plots.save_all(run_dir, history, mnist.test.images.cpu(),
                                 mnist.test.labels.cpu(), pred.cpu())  # fmt: skip
        log("plots: " + ", ".join(str(p) for p in written))
    if ddp.active:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> None:
    cfg, resume, make_plots = parse_args(argv)
    try:
        run(cfg, resume, make_plots)
    except (DataError, UsageError, OutputError) as err:
        fail(err)
    except OSError as err:  # e.g. --out under a folder this user cannot write
        fail(f"{err.filename}: {err.strerror}" if err.filename else err)


if __name__ == "__main__":
    main()

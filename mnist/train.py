"""Train an MNIST model: `python -m mnist.train [--preset fast] [--model tiny] [--epochs 15] ...`.

The whole dataset lives in memory as one uint8 tensor; every batch is cut from it, augmented with
one random affine warp per image (F.affine_grid / F.grid_sample on the batch) and normalised.
Under torchrun each process trains on its share of every epoch's permutation, as
DistributedSampler does, and rank 0 alone writes the run folder:
metrics.jsonl (one JSON line per epoch; accuracies are fractions, seconds the epoch's wall
time including the test pass), checkpoint.pt, results.json and PNG plots (mnist.plots).
Settings: mnist/config.py; checkpoints: mnist/checkpoint.py.
"""

import math
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from mnist import checkpoint, plots
from mnist.checkpoint import CHECKPOINT, rng_states, save_checkpoint
from mnist.cli import UsageError, command, say
from mnist.config import Config, parse_args
from mnist.data import load_data
from mnist.distributed import (
    Dist,
    earliest,
    epoch_indices,
    init_distributed,
    replicas_identical,
    sync_buffers,
)
from mnist.evaluate import normalize, prepare_model, test
from mnist.metrics import METRICS, write_metrics
from mnist.model import count_params
from mnist.run_folder import resumed_history, run_folder

CHECK_EVERY = 50  # steps between reads of the running loss (each read waits for the device)


class Diverged(UsageError):
    """The loss or a test metric stopped being a finite number: these settings do not train."""


def pick_device(name: str) -> torch.device:
    """The requested device; 'auto' prefers cuda, then mps, then cpu."""
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(name, True):
        raise UsageError(f"--device {name}: not available on this machine (use auto or cpu)")
    if name != "auto":
        return torch.device(name)
    return torch.device(next((kind for kind, ok in available.items() if ok), "cpu"))


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


def check_losses(losses: torch.Tensor, lrs: list[float], epoch: int, ddp: Dist) -> None:
    """Diverged at the first step (over all processes) whose loss is not finite."""
    bad = (~torch.isfinite(losses)).nonzero()
    first = earliest(int(bad[0]) if len(bad) else len(losses), ddp, losses.device)
    if first < len(losses):
        raise Diverged(
            f"the loss is not finite at step {first + 1} of epoch {epoch} (learning rate "
            f"{lrs[first]:.4g}); nothing of this epoch was written: lower --lr or check the data"
        )


def train(model, images, labels, optimizer, scheduler, cfg: Config, epoch: int, ddp: Dist) -> dict:
    """One epoch on this process's share; returns lr, train_loss, train_acc over all processes."""
    model.train()
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    low_precision = cfg.precision == "bfloat16"
    batches = (
        epoch_indices(len(labels), epoch, cfg.seed, ddp).to(images.device).split(cfg.batch_size)
    )
    losses = torch.empty(len(batches), device=images.device)  # read every CHECK_EVERY steps
    totals = torch.zeros(3, dtype=torch.float64, device=images.device)  # loss sum, correct, count
    quiet = ddp.rank != 0 or not sys.stderr.isatty()
    bar = tqdm(total=len(batches), desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=quiet)
    start, lrs = time.perf_counter(), []
    for step, idx in enumerate(batches):
        warped = augment(images[idx], cfg.rotation, cfg.translation)
        x, y = normalize(warped, cfg.channels_last), labels[idx]
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, torch.bfloat16, enabled=low_precision):
            output = model(x)
            loss = criterion(output, y)
        loss.backward()
        optimizer.step()
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
        losses[step] = loss.detach()
        count = torch.tensor(len(y), device=y.device)
        totals += torch.stack(
            [loss.detach() * len(y), (output.argmax(1) == y).sum(), count]
        ).double()
        if (step + 1) % CHECK_EVERY == 0 or step + 1 == len(batches):
            check_losses(losses[: step + 1], lrs, epoch, ddp)
            if not quiet:
                loss_sum, correct, seen = totals.tolist()
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}",
                                img_s=f"{seen / (time.perf_counter() - start):.0f}")  # fmt: skip
            bar.update(step + 1 - bar.n)
    bar.close()
    if ddp.active:
        dist.all_reduce(totals)
    loss_sum, correct, count = totals.tolist()
    return {"lr": lrs[-1], "train_loss": loss_sum / count, "train_acc": correct / count}


def make_optimizer(model: nn.Module, cfg: Config, steps: int):
    """Nesterov SGD with a OneCycle learning rate over all epochs of `steps` steps each."""
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
        weight_decay=cfg.weight_decay,
    )  # fmt: skip
    if cfg.pct_start * steps * cfg.epochs <= 1:  # OneCycleLR divides by (warm-up steps - 1)
        raise UsageError(
            f"too few steps for OneCycleLR: {steps * cfg.epochs} steps x --pct-start "
            f"{cfg.pct_start} leaves no warm-up; raise --epochs, --limit or --pct-start, "
            f"or lower --batch-size"
        )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps, pct_start=cfg.pct_start
    )
    return optimizer, scheduler


def finite(line: dict) -> dict:
    bad = [key for key, value in line.items() if not math.isfinite(value)]
    if bad:
        raise Diverged(f"epoch {line['epoch']}: {', '.join(bad)} not finite; nothing was written")
    return line


def report(line: dict, epochs: int) -> str:
    """An epoch's metrics line as the log shows it."""
    return (
        f"epoch {line['epoch']}/{epochs} lr {line['lr']:.4f} train loss {line['train_loss']:.4f} "
        f"acc {line['train_acc']:.4%}  test loss {line['test_loss']:.4f} "
        f"acc {line['test_acc']:.2%}  ({line['seconds']:.1f} s)"
    )


def start(cfg: Config) -> tuple[torch.device, Dist]:
    """This process's device, its place among the torchrun processes, its thread count."""
    device = pick_device(cfg.device)
    ddp = init_distributed(device)
    cfg.world_size = ddp.world_size
    if device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return device, ddp


def build(cfg: Config, device: torch.device, ddp: Dist) -> tuple[nn.Module, nn.Module]:
    """The model to train (wrapped for DDP and compiled if asked) and the plain model inside."""
    torch.manual_seed(cfg.seed)  # same seed on every process: identical initial weights
    raw_model = prepare_model(cfg.model, device, cfg.channels_last)
    torch.manual_seed(cfg.seed + ddp.rank)  # but a different augmentation stream per process
    model = DistributedDataParallel(raw_model) if ddp.active else raw_model
    return (torch.compile(model) if cfg.compile else model), raw_model


def synchronise(model: nn.Module, epoch: int, ddp: Dist) -> str:
    """Give every process rank 0's BatchNorm statistics; say whether the replicas agree."""
    sync_buffers(model)
    same = replicas_identical(model, ddp)
    return f"epoch {epoch}: replicas identical across {ddp.world_size} processes: {same}"


def save(run_dir: Path, history: list[dict], model, optimizer, scheduler, cfg: Config,
         device: torch.device, ddp: Dist) -> None:  # fmt: skip
    """metrics.jsonl, then checkpoint.pt (rank 0 writes; every process gives its RNG state)."""
    rng = rng_states(device, ddp)
    if ddp.rank == 0:
        write_metrics(run_dir / METRICS, history)
        save_checkpoint(run_dir, model, optimizer, scheduler, history[-1]["epoch"], cfg, rng)


def run(cfg: Config, resume: bool, make_plots: bool) -> None:
    """Train (from the checkpoint's epoch when resuming), writing metrics.jsonl and checkpoint.pt
    after every epoch and the plots at the end."""
    device, ddp = start(cfg)
    log = say if ddp.rank == 0 else (lambda *_: None)
    mnist = load_data(Path(cfg.data_dir), cfg.limit, device)
    model, raw_model = build(cfg, device, ddp)
    share = math.ceil(len(mnist.train.labels) / ddp.world_size)  # as DistributedSampler pads it
    steps = math.ceil(share / cfg.batch_size)
    optimizer, scheduler = make_optimizer(raw_model, cfg, steps)
    run_dir, done, history, pred = Path(cfg.out), 0, [], None
    with run_folder(run_dir, resume, writer=ddp.rank == 0):
        if resume:
            path = run_dir / CHECKPOINT
            done = checkpoint.resume(path, cfg, raw_model, optimizer, scheduler, steps, device, ddp)
            history = resumed_history(run_dir, done, writer=ddp.rank == 0)
        log(f"{cfg.model}: {count_params(raw_model)} parameters, {len(mnist.train.labels)} train"
            f" / {len(mnist.test.labels)} test images, {device}, {ddp.world_size} process(es), "
            f"epochs {done + 1}..{cfg.epochs}")  # fmt: skip
        for epoch in range(done + 1, cfg.epochs + 1):
            begin = time.perf_counter()
            line = {"epoch": epoch} | train(model, mnist.train.images, mnist.train.labels,
                                            optimizer, scheduler, cfg, epoch, ddp)  # fmt: skip
            if ddp.active:
                log(synchronise(raw_model, epoch, ddp))
            scores, pred = test(raw_model, mnist.test.images, mnist.test.labels, cfg.channels_last)
            line |= scores | {"seconds": round(time.perf_counter() - begin, 2)}
            log(report(line, cfg.epochs))
            history.append(finite(line))
            save(run_dir, history, raw_model, optimizer, scheduler, cfg, device, ddp)
        if make_plots and ddp.rank == 0:
            if pred is None:  # resumed a finished run: nothing trained, score the model
                pred = test(raw_model, mnist.test.images, mnist.test.labels, cfg.channels_last)[1]
            images, labels = mnist.test.images.cpu(), mnist.test.labels.cpu()
            written = plots.save_all(run_dir, history, images, labels, pred.cpu())
            log("plots: " + ", ".join(str(p) for p in written))
    if ddp.active:
        dist.destroy_process_group()


@command
def main(argv: list[str] | None = None) -> None:
    run(*parse_args(argv))


if __name__ == "__main__":
    main()

"""Train an MNIST model: `python -m mnist.train [--preset fast] [--model tiny] [--epochs 20] ...`.

The whole dataset lives in memory as one uint8 tensor; every batch is cut from it, augmented with
one random affine warp per image (F.grid_sample on the batch) and normalised
(mnist/step.py, which also replays the step as a CUDA graph on a GPU). What is tested after each
epoch and saved is the moving average of the weights (--ema; mnist/optim.py).
Under torchrun each process trains on its share of every epoch's permutation, as
DistributedSampler does, and rank 0 alone writes the run folder:
metrics.jsonl (one JSON line per epoch; accuracies are fractions, seconds the epoch's wall
time including the test pass), checkpoint.pt, results.json and PNG plots (mnist.plots).
Settings: mnist/config.py; checkpoints: mnist/checkpoint.py.
"""

import copy
import math
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from mnist import checkpoint, plots
from mnist.checkpoint import rng_states, save_checkpoint
from mnist.cli import UsageError, command
from mnist.config import Config, parse_args, settings_text
from mnist.data import load_data
from mnist.distributed import (
    Dist,
    earliest,
    epoch_indices,
    init_distributed,
    leave_distributed,
    replicas_identical,
    sync_buffers,
)
from mnist.evaluate import prepare_model, test
from mnist.host_memory import keep_freed_memory
from mnist.metrics import write_metrics
from mnist.model import count_params
from mnist.names import CHECKPOINT, METRICS, SETTINGS
from mnist.optim import NesterovSGD, ema_decay, learning_rate, momentum
from mnist.run_folder import resumed_history, run_folder
from mnist.step import TrainStep
from safeio.atomic import write_text_atomic
from safeio.cli import say

CHECK_EVERY = 50  # steps between reads of the running loss (each read waits for the device)


class Diverged(UsageError):
    """The loss or a test metric stopped being a finite number: these settings do not train."""


def pick_device(name: str) -> torch.device:
    """The requested device; 'auto' is the accelerator torch.accelerator finds (cuda, mps, ...:
    a torch build has at most one kind), else the cpu."""
    found = torch.accelerator.current_accelerator(check_available=True)
    if name == "auto":
        return found or torch.device("cpu")
    if name != "cpu" and (found is None or found.type != name):
        has = f"its accelerator is {found.type}" if found else "it has no accelerator"
        raise UsageError(f"--device {name}: not available on this machine ({has}; use auto or cpu)")
    return torch.device(name)


def native_bfloat16(device: torch.device) -> bool:
    """Whether the device computes bfloat16 in hardware: a CUDA GPU of compute capability 8 or
    more, an x86 CPU with AVX-512 BF16 or AMX. Elsewhere torch emulates it: on an AMD EPYC with
    AVX2 only a bfloat16 training step took 2.5 to 14 times as long as a float32 one
    (benchmarks/mnist_step_time.py)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        has = torch.cpu.get_capabilities()
        return bool(has.get("avx512_bf16") or has.get("amx_bf16"))
    return False


def pick_precision(name: str, device: torch.device) -> str:
    """The requested precision; 'auto' is bfloat16 where the device has it natively, else
    float32."""
    if name != "auto":
        return name
    return "bfloat16" if native_bfloat16(device) else "float32"


def precision_text(precision: str, device: torch.device) -> str:
    """The precision as the run's first line names it, with a warning where bfloat16 is emulated."""
    if precision == "bfloat16" and not native_bfloat16(device):
        return "bfloat16 (emulated on this device, slower than float32)"
    return precision


def float32_convolutions() -> None:
    """float32 means float32: PyTorch otherwise lets cuDNN convolve float32 tensors in TF32
    (a 10-bit mantissa) on the GPUs that have it."""
    torch.backends.cudnn.allow_tf32 = False


def check_losses(losses: torch.Tensor, lrs: list[float], epoch: int, ddp: Dist) -> None:
    """Diverged at the first step (over all processes) whose loss is not finite."""
    bad = (~torch.isfinite(losses)).nonzero()
    first = earliest(int(bad[0]) if len(bad) else len(losses), ddp, losses.device)
    if first < len(losses):
        raise Diverged(
            f"the loss is not finite at step {first + 1} of epoch {epoch} (learning rate "
            f"{lrs[first]:.4g}); nothing of this epoch was written: lower --lr or check the data"
        )


def train(step: TrainStep, cfg: Config, epoch: int, ddp: Dist) -> dict:
    """One epoch on this process's share; returns lr, train_loss, train_acc over all processes.
    The learning rate, momentum and EMA decay are functions of the step; nothing in a step waits
    for the device, and the losses are read every CHECK_EVERY steps."""
    step.model.train()
    step.set_epoch(epoch)
    images, labels = step.images, step.labels
    batches = (
        epoch_indices(len(labels), epoch, cfg.seed, ddp).to(images.device).split(cfg.batch_size)
    )
    steps, total = len(batches), len(batches) * cfg.epochs
    losses = torch.empty(steps, device=images.device)  # read every CHECK_EVERY steps
    step.totals.zero_()
    quiet = ddp.rank != 0 or not sys.stderr.isatty()
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=quiet)
    start, lrs, seen = time.perf_counter(), [], 0
    for i, idx in enumerate(batches):
        t = (epoch - 1) * steps + i
        lrs.append(learning_rate(t, total, cfg.lr, cfg.pct_start))
        step.optimizer.schedule(lrs[-1], momentum(t, total, cfg.momentum, cfg.pct_start),
                                1 - ema_decay(t, cfg.ema))  # fmt: skip
        losses[i] = step(idx)
        seen += len(idx)
        if (i + 1) % CHECK_EVERY == 0 or i + 1 == steps:
            check_losses(losses[: i + 1], lrs, epoch, ddp)
            if not quiet:
                loss_sum, correct = step.totals.tolist()
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}",
                                img_s=f"{seen / (time.perf_counter() - start):.0f}")  # fmt: skip
            bar.update(i + 1 - bar.n)
    bar.close()
    totals = torch.cat([step.totals, step.totals.new_tensor([seen])])
    if ddp.active:
        dist.all_reduce(totals)
    loss_sum, correct, count = totals.tolist()
    return {"lr": lrs[-1], "train_loss": loss_sum / count, "train_acc": correct / count}


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
    cfg.precision = pick_precision(cfg.precision, device)  # what settings.json records
    ddp = init_distributed(device)
    cfg.world_size = ddp.world_size
    if device.type == "cuda":  # one GPU per process under torchrun
        device = torch.device("cuda", ddp.local_rank)
        torch.accelerator.set_device_index(device)
    float32_convolutions()
    if device.type == "cpu":
        keep_freed_memory()  # else the first epoch pays a page fault per 4 KiB of every step
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return device, ddp


def build(cfg: Config, device: torch.device, ddp: Dist) -> tuple[nn.Module, nn.Module, nn.Module]:
    """The model to train (wrapped for DDP and compiled if asked), the plain model inside, and
    its moving average (what the run tests and saves as its result)."""
    torch.manual_seed(cfg.seed)  # same seed on every process: identical initial weights
    raw_model = prepare_model(cfg.model, device, cfg.channels_last)
    ema = copy.deepcopy(raw_model).requires_grad_(False)
    torch.manual_seed(cfg.seed + ddp.rank)  # but a different augmentation stream per process
    model = DistributedDataParallel(raw_model) if ddp.active else raw_model
    return (torch.compile(model) if cfg.compile else model), raw_model, ema


def synchronise(model: nn.Module, epoch: int, ddp: Dist) -> str:
    """Give every process rank 0's BatchNorm statistics; say whether the replicas agree."""
    sync_buffers(model)
    same = replicas_identical(model, ddp)
    return f"epoch {epoch}: replicas identical across {ddp.world_size} processes: {same}"


def save(run_dir: Path, history: list[dict], model, ema, optimizer, cfg: Config,
         device: torch.device, ddp: Dist) -> None:  # fmt: skip
    """metrics.jsonl, then checkpoint.pt (rank 0 writes; every process gives its RNG state)."""
    rng = rng_states(device, ddp)
    if ddp.rank == 0:
        write_metrics(run_dir / METRICS, history)
        save_checkpoint(run_dir, model, ema, optimizer, history[-1]["epoch"], cfg, rng)


def run(cfg: Config, resume: bool, make_plots: bool) -> None:
    """Train (from the checkpoint's epoch when resuming), writing metrics.jsonl and checkpoint.pt
    after every epoch and the plots at the end; the EMA weights are the ones tested and saved."""
    device, ddp = start(cfg)
    log = say if ddp.rank == 0 else (lambda *_: None)
    mnist = load_data(Path(cfg.data_dir), cfg.limit, device)
    model, raw_model, ema = build(cfg, device, ddp)
    optimizer = NesterovSGD(raw_model, cfg.weight_decay)
    graphs = device.type == "cuda" and cfg.cuda_graphs and not (ddp.active or cfg.compile)
    train_set = mnist.train.images, mnist.train.labels
    step = TrainStep(model, raw_model, ema, optimizer, *train_set, cfg, graphs)
    run_dir, done, history, pred = Path(cfg.out), 0, [], None
    test_set = mnist.test.images, mnist.test.labels, cfg.channels_last
    with run_folder(run_dir, resume, writer=ddp.rank == 0):
        if resume:
            path = run_dir / CHECKPOINT
            done = checkpoint.resume(path, cfg, raw_model, ema, optimizer, device, ddp)
            history = resumed_history(run_dir, done, writer=ddp.rank == 0)
        # The first line before the first file: a standard output that fails stops the run here.
        log(f"{cfg.model}: {count_params(raw_model)} parameters, {len(mnist.train.labels)} train"
            f" / {len(mnist.test.labels)} test images, {device}, "
            f"{precision_text(cfg.precision, device)}, {ddp.world_size} process(es), "
            f"epochs {done + 1}..{cfg.epochs}")  # fmt: skip
        if ddp.rank == 0:
            write_text_atomic(run_dir / SETTINGS, settings_text(cfg))
        for epoch in range(done + 1, cfg.epochs + 1):
            begin = time.perf_counter()
            line = {"epoch": epoch} | train(step, cfg, epoch, ddp)
            if ddp.active:
                log(synchronise(raw_model, epoch, ddp))
            scores, pred = test(ema, *test_set)
            line |= scores | {"seconds": round(time.perf_counter() - begin, 2)}
            log(report(line, cfg.epochs))
            history.append(finite(line))
            save(run_dir, history, raw_model, ema, optimizer, cfg, device, ddp)
        if make_plots and ddp.rank == 0:
            if pred is None:  # resumed a finished run: nothing trained, score the model
                pred = test(ema, *test_set)[1]
            images, labels = mnist.test.images.cpu(), mnist.test.labels.cpu()
            written = plots.save_all(run_dir, history, images, labels, pred.cpu())
            log("plots: " + ", ".join(str(p) for p in written))
    leave_distributed(ddp)


@command
def main(argv: list[str] | None = None) -> None:
    run(*parse_args(argv))


if __name__ == "__main__":
    main()

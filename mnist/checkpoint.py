"""A run's checkpoint.pt: the weights the run reports (the moving average, "model"), the weights
being trained ("live") and the optimizer's state, the epoch, every process's random state and the
settings. The learning rate is a function of the step (mnist.optim), so there is no scheduler
state: the epoch says where the schedule stands.

Written atomically after every epoch; read without unpickling code (weights_only) and checked field
by field (types, shapes, ranges, finiteness) against a freshly built run before anything is used,
so a damaged or tampered file is refused in one line instead of training on garbage.
"""

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from mnist.cli import UsageError
from mnist.config import FIELDS, SAME_ON_RESUME, Config, check_settings
from mnist.distributed import Dist
from mnist.finite import state_problem
from mnist.model import build_model
from mnist.names import CHECKPOINT
from mnist.optim import NesterovSGD
from safeio.atomic import write_atomic

MAX_BYTES = 256 * 1024 * 1024  # the `small` model's checkpoint is ~0.3 MB
KEYS = ("model", "optimizer", "epoch", "rng", "config")  # and "live", since the EMA
OLDER = "scheduler"  # only checkpoints of before the EMA and the step-function schedule hold it
# Settings added after checkpoints were first written: an older checkpoint, which lacks them,
# was trained with these values.
ADDED_LATER = {
    "precision": "float32",
    "channels_last": True,
    "ema": 0.0,
    "shear": 0.0,
    "scale": 0.0,
    "stroke": 0.0,
    "clean_epochs": 0,
}


def rng_states(device: torch.device, ddp: Dist) -> dict:
    """Every process's random state, in rank order: each augments with its own stream."""
    mine = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        mine["cuda"] = torch.cuda.get_rng_state(device)
    if not ddp.active:
        return {key: [state] for key, state in mine.items()}
    gathered = [None] * ddp.world_size
    torch.distributed.all_gather_object(gathered, mine)
    return {key: [states[key] for states in gathered] for key in mine}


def restore_rng(rng: dict, device: torch.device, ddp: Dist) -> None:
    """This process's own entry of rng_states()."""
    torch.set_rng_state(rng["torch"][ddp.rank].cpu())
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"][ddp.rank].cpu(), device)


def save_checkpoint(run_dir: Path, model: nn.Module, ema: nn.Module, optimizer: NesterovSGD,
                    epoch: int, cfg: Config, rng: dict) -> None:  # fmt: skip
    state = {
        "model": ema.state_dict(),
        "live": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "rng": rng,
        "config": asdict(cfg),
    }
    write_atomic(run_dir / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def kind(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {list(value.shape)}"
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {len(value)}"
    return f"{value!r}" if isinstance(value, int | float | str | None) else type(value).__name__


def unlike(reference, value, where: str) -> str | None:
    """Where and how `value` differs in structure from `reference` (same keys, lengths, types,
    tensor dtypes and shapes, finite numbers), or None."""
    if isinstance(reference, torch.Tensor):
        same = isinstance(value, torch.Tensor) and value.dtype == reference.dtype
        if not (same and value.shape == reference.shape):
            return f"{where} is {kind(value)}, expected {kind(reference)}"
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"{where} holds NaN or infinite values"
        return None
    if isinstance(reference, dict):
        if not isinstance(value, dict):
            return f"{where} is {kind(value)}, expected a dict"
        extra, missing = set(value) - set(reference), set(reference) - set(value)
        if extra or missing:
            parts = [f"lacks {sorted(map(str, missing))[:3]}"] if missing else []
            parts += [f"has unexpected {sorted(map(str, extra))[:3]}"] if extra else []
            return f"{where} {' and '.join(parts)}"
        found = (unlike(reference[k], value[k], f"{where}.{k}") for k in reference)
        return next((p for p in found if p), None)
    if isinstance(reference, list | tuple):
        if type(value) is not type(reference) or len(value) != len(reference):
            expected = f"a {type(reference).__name__} of {len(reference)}"
            return f"{where} is {kind(value)}, expected {expected}"
        pairs = enumerate(zip(reference, value, strict=True))
        found = (unlike(r, v, f"{where}[{i}]") for i, (r, v) in pairs)
        return next((p for p in found if p), None)
    number = isinstance(reference, float) and isinstance(value, int | float)
    if type(value) is not type(reference) and not (number and not isinstance(value, bool)):
        return f"{where} is {kind(value)}, expected {type(reference).__name__}"
    if number and not abs(value) < float("inf"):
        return f"{where} is {value!r}, expected a finite number"
    return None


def damaged(path: Path, problem: str) -> UsageError:
    return UsageError(f"{path}: damaged checkpoint, {problem}")


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint.pt whose settings, epoch, weights and random states are all valid;
    UsageError in one line otherwise. Its "config" is a dict (Config(**state["config"]))."""
    if not path.is_file():
        raise UsageError(f"no {CHECKPOINT} in {path.parent}")
    size = path.stat().st_size
    if size > MAX_BYTES:  # its tensors are loaded whole: bound the memory before reading
        raise UsageError(f"{path}: {size:,} bytes; a checkpoint here is at most {MAX_BYTES:,}")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        first = (str(err).strip().splitlines() or [""])[0]
        raise UsageError(f"{path}: cannot be loaded ({type(err).__name__}: {first})") from None
    if not isinstance(state, dict):
        raise UsageError(f"{path}: holds a {type(state).__name__}, not a checkpoint")
    missing = [key for key in KEYS if key not in state]
    config = state.get("config") if isinstance(state.get("config"), dict) else {}
    if config:
        config = state["config"] = ADDED_LATER | config
    missing += [f"config.{name}" for name in FIELDS if name not in config]
    rng = state.get("rng") if isinstance(state.get("rng"), dict) else {}
    if not isinstance(rng.get("torch"), list) or len(rng["torch"]) != config.get("world_size"):
        missing.append("rng.torch (one state per process)")
    if missing:
        raise damaged(path, f"missing {', '.join(missing)}")
    check_settings(config, f"{path}: config", complete=True)
    epoch = state["epoch"]
    if type(epoch) is not int or not 1 <= epoch <= config["epochs"]:
        raise damaged(path, f"epoch is {epoch!r}, expected a whole number 1..{config['epochs']}")
    with torch.random.fork_rng(devices=[]):  # building a model draws its initial weights
        reference = build_model(config["model"]).state_dict()
    problem = unlike(reference, state["model"], "model")
    if "live" in state:
        problem = problem or unlike(reference, state["live"], "live")
    expected = {"torch": torch.get_rng_state()}
    if "cuda" in rng and torch.cuda.is_available():  # restored only on a GPU
        expected["cuda"] = torch.cuda.get_rng_state()
    per_process = {key: [value] * len(rng["torch"]) for key, value in expected.items()}
    problem = problem or unlike(per_process, {key: rng.get(key) for key in expected}, "rng")
    if problem:
        raise damaged(path, problem)
    for key in ("model", "live"):  # finite but a negative variance: every output NaN
        problem = key in state and state_problem(config["model"], state[key])
        if problem:
            raise damaged(path, f"{key}: {problem}")
    return state


def settings_differ(path: Path, saved: dict, cfg: Config) -> None:
    """UsageError naming the first setting a resumed run must share but does not."""
    for key in SAME_ON_RESUME:
        mine = getattr(cfg, key)
        if saved[key] != mine:
            raise UsageError(
                f"{path}: was made with {key}={saved[key]!r}, this run has {key}={mine!r}"
            )


def training_state_problem(state: dict, optimizer: NesterovSGD) -> str | None:
    """What is wrong with the checkpoint's optimizer state (one momentum buffer per parameter,
    shaped like it) for this freshly built run."""
    return unlike(optimizer.state_dict(), state["optimizer"], "optimizer")


def resume(path: Path, cfg: Config, model: nn.Module, ema: nn.Module, optimizer: NesterovSGD,
           device: torch.device, ddp: Dist) -> int:  # fmt: skip
    """Load a checkpoint made with cfg's settings into the freshly built run, once every part of
    it is checked; the epoch it ended."""
    state = read_checkpoint(path, device)
    if OLDER in state or "live" not in state:
        raise UsageError(
            f"{path}: made by an older mnist.train (a scheduler state, no live weights beside the "
            f"averaged ones): it exports and plots, but cannot resume; start a new run"
        )
    settings_differ(path, state["config"], cfg)
    problem = training_state_problem(state, optimizer)
    if problem:
        raise damaged(path, problem)
    model.load_state_dict(state["live"])
    ema.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng(state["rng"], device, ddp)
    return state["epoch"]

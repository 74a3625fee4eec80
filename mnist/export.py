"""`python -m mnist.export RUN_DIR [--out FILE]`: a run's final weights as a safetensors file.

The file holds the model's state_dict (BatchNorm not folded, so it loads back into
`mnist.model.build_model(name)` as it is) and, as string metadata, what a reader needs to run it:
the architecture name, the epoch, the input normalisation and the layer plan as JSON.
safetensors stores raw tensors and a JSON header, never pickled code, so a browser can read it.
"""

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save
from torch import nn

from mnist.checkpoint import read_checkpoint
from mnist.cli import UsageError, command
from mnist.evaluate import MEAN, STD
from mnist.model import build_model, describe
from mnist.names import CHECKPOINT, WEIGHTS
from safeio.atomic import write_atomic
from safeio.cli import OneLineParser, say

SUFFIX = ".safetensors"
BN_EPS = nn.BatchNorm2d(1).eps  # every BatchNorm2d of mnist.model keeps torch's default


def checkpoint_weights(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The checkpoint's state_dict (contiguous CPU tensors) and the file's metadata."""
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: not a folder; give a run folder mnist.train wrote")
    path = run_dir / CHECKPOINT
    state = read_checkpoint(path)
    name = state["config"]["model"]
    model = build_model(name)
    model.load_state_dict(state["model"])  # read_checkpoint checked names and shapes
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    metadata = {
        "model": name,
        "epoch": str(state["epoch"]),
        "normalize_mean": str(MEAN),
        "normalize_std": str(STD),
        "batchnorm_eps": str(BN_EPS),
        "layers": json.dumps([asdict(layer) for layer in describe(model)]),
    }
    return tensors, metadata


def export(run_dir: Path, out: Path) -> Path:
    """Write run_dir's final weights to out (atomically); the path written."""
    if out.suffix != SUFFIX:
        raise UsageError(f"--out {out}: must end in {SUFFIX}")
    tensors, metadata = checkpoint_weights(run_dir)
    content = save(tensors, metadata=metadata)
    return write_atomic(out, lambda tmp: tmp.write_bytes(content))


@command
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description="Write a run's final weights as a safetensors file.")
    parser.add_argument("run_dir", type=Path, help=f"run folder holding {CHECKPOINT}")
    parser.add_argument("--out", type=Path, help=f"file to write (default: RUN_DIR/{WEIGHTS})")
    args = parser.parse_args(argv)
    say(f"wrote {export(args.run_dir, args.out or args.run_dir / WEIGHTS)}")


if __name__ == "__main__":
    main()

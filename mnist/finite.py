"""Whether a model's weights give finite outputs: a NaN or infinite weight, or a BatchNorm variance
that is negative (finite, so it passes a field-by-field check, yet its square root is NaN), make
every prediction NaN. Resume, export and the site's Draw page refuse such a model in one line."""

from __future__ import annotations

import torch
from torch import nn

PROBES = 4  # images: blank, white, and two of seeded noise around MNIST's own normalisation


def weights_problem(model: nn.Module) -> str | None:
    """The first weight or statistic that is not finite, or a BatchNorm variance below zero."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return f"{name} holds a value that is not finite"
        if name.endswith("running_var") and bool((tensor < 0).any()):
            return f"{name} holds a negative variance"
    return None


def output_problem(model: nn.Module, side: int = 28) -> str | None:
    """What makes the model's output not finite (None when it is finite): a weight named, else
    the output on PROBES test images, in eval mode, without touching the global random state."""
    problem = weights_problem(model)
    if problem:
        return f"{problem}: the model's outputs would not be finite"
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(PROBES - 2, 1, side, side, generator=generator)
    images = torch.cat([torch.zeros(1, 1, side, side), torch.ones(1, 1, side, side), noise])
    first = next(model.parameters(), None)
    images = images.to(first.device if first is not None else "cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(images)
    finally:
        model.train(was_training)
    if not bool(torch.isfinite(output).all()):
        return "the model's outputs are not finite on plain test images"
    return None


def state_problem(name: str, state: dict) -> str | None:
    """output_problem of the model `name` holding the weights `state` (names and shapes checked
    before), built without drawing from the global random state."""
    from mnist.model import build_model

    with torch.random.fork_rng(devices=[]):
        model = build_model(name)
    model.load_state_dict(state)
    return output_problem(model)
